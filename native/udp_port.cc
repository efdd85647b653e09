// UDP port over a kernel socket; see udp_port.h for the concept and
// src/native/binding.ts for the JS contract (descriptor and address records).
#include "udp_port.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/sock_diag.h>
#include <netinet/udp.h>
#include <time.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <string>
#include "modules.h"
#include "sys_error.h"

namespace xdpwg {

namespace {

constexpr uint32_t kDefaultFrameSize = 2048;
constexpr uint32_t kDefaultFrameCount = 4096;
/** Largest UDP payload (65535 - 8) plus slack: a jumbo datagram fits a frame. */
constexpr uint32_t kMaxPayload = 65536;

// Address record layout (kUdpAddrRecordSize bytes per packet).
constexpr uint32_t kRecRemoteIp = 0;    // 16 bytes, IPv4 as ::ffff:a.b.c.d
constexpr uint32_t kRecRemotePort = 16; // 2 bytes, big-endian
constexpr uint32_t kRecFamily = 18;     // 4 or 6
constexpr uint32_t kRecLocalIp = 20;    // 16 bytes; all zero = kernel's choice
constexpr uint32_t kRecIfindex = 36;    // uint32 little-endian; 0 = any

const uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool AllZero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

void PutMapped(uint8_t* dst16, const in_addr& a) {
  memcpy(dst16, kV4MappedPrefix, 12);
  memcpy(dst16 + 12, &a, 4);
}

uint32_t GetU32Opt(const Napi::Object& o, const char* key, uint32_t dflt) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : dflt;
}

bool GetBoolOpt(const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : dflt;
}

/**
 * Errors a send from a vanished source address produces: IPv6 refuses the
 * pktinfo (EINVAL), IPv4's route lookup finds no device owning the source
 * (ENETUNREACH). A genuine "no route" also gives ENETUNREACH: the retry
 * without source then fails the same way and is counted as an error.
 */
bool IsTxFallbackErrno(int err) { return err == EINVAL || err == EADDRNOTAVAIL || err == ENETUNREACH; }

/** Milliseconds on CLOCK_MONOTONIC_COARSE (the vDSO: no syscall; lessons last seconds). */
uint64_t MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

}  // namespace

Napi::Function UdpPort::Define(Napi::Env env) {
  return DefineClass(env, "UdpPort",
                     {
                         InstanceMethod<&UdpPort::RxBurst>("rxBurst"),
                         InstanceMethod<&UdpPort::TxBurst>("txBurst"),
                         InstanceMethod<&UdpPort::TxBurstFrom>("txBurstFrom"),
                         InstanceMethod<&UdpPort::AllocFrames>("allocFrames"),
                         InstanceMethod<&UdpPort::FreeFrames>("freeFrames"),
                         InstanceMethod<&UdpPort::Stats>("stats"),
                         InstanceMethod<&UdpPort::Info>("info"),
                         InstanceMethod<&UdpPort::SetMark>("setMark"),
                         InstanceMethod<&UdpPort::Close>("close"),
                         InstanceAccessor<&UdpPort::GetBuffer>("buffer"),
                         InstanceAccessor<&UdpPort::GetFd>("fd"),
                         InstanceAccessor<&UdpPort::GetPort>("port"),
                         InstanceAccessor<&UdpPort::GetFrameSize>("frameSize"),
                         InstanceAccessor<&UdpPort::GetHeadroom>("headroom"),
                     });
}

UdpPort::UdpPort(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UdpPort>(info) {
  Napi::Env env = info.Env();
  env_ = env;
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowType(env, "UdpPort: options object required");
    return;
  }
  if (!Open(env, info[0].As<Napi::Object>())) {
    Release();
    return;
  }
  // Context-aware addon: a worker's environment may end while this object
  // is still reachable; the hook closes the socket with it.
  if (napi_add_env_cleanup_hook(env, CleanupHook, this) == napi_ok) hook_registered_ = true;
}

UdpPort::~UdpPort() {
  if (hook_registered_) napi_remove_env_cleanup_hook(env_, CleanupHook, this);
  Release();
}

void UdpPort::CleanupHook(void* arg) {
  auto* self = static_cast<UdpPort*>(arg);
  self->hook_registered_ = false;
  self->Release();
}

void UdpPort::Release() {
  if (fd_ >= 0) {
    ReadDrops();  // keep the final count readable after close()
    close(fd_);
  }
  fd_ = -1;
}

/**
 * imissed = datagrams the kernel dropped at this socket (receive queue full,
 * bad checksum): its sk_drops, read with SO_MEMINFO. Exact and current,
 * unlike SO_RXQ_OVFL which only reports drops with the next packet queued.
 */
void UdpPort::ReadDrops() {
  uint32_t mem[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof(mem);
  if (getsockopt(fd_, SOL_SOCKET, SO_MEMINFO, mem, &len) == 0 && len > SK_MEMINFO_DROPS * sizeof(uint32_t))
    c_.imissed = mem[SK_MEMINFO_DROPS];
}

bool UdpPort::Open(Napi::Env env, const Napi::Object& opts) {
  headroom_ = GetU32Opt(opts, "headroom", kUdpDefaultHeadroom);
  uint32_t frame_size = GetU32Opt(opts, "frameSize", kDefaultFrameSize);
  uint32_t frame_count = GetU32Opt(opts, "frameCount", kDefaultFrameCount);
  if (headroom_ < 78 || headroom_ > 4096)
    return ThrowRange(env, "UdpPort: headroom must be 78..4096 (eth+ipv6+udp+wireguard header = 78)"), false;
  if (frame_size < headroom_ + 256 || frame_size > kMaxPayload + headroom_)
    return ThrowRange(env, "UdpPort: frameSize must be headroom+256 .. 65536+headroom (" +
                               std::to_string(kMaxPayload + headroom_) + ")"),
           false;
  if (frame_count < 1 || uint64_t(frame_size) * frame_count > 0xffffffffull)
    return ThrowRange(env, "UdpPort: frameCount must be >= 1 and frameSize*frameCount < 4 GiB (offsets are uint32)"),
           false;

  region_ = std::make_shared<UmemRegion>(size_t(frame_size) * frame_count);
  if (!region_->ok()) return ThrowSysError(env, "UdpPort: mmap frames", errno), false;
  pool_ = FramePool(frame_size, frame_count);

  auto* hold = new std::shared_ptr<UmemRegion>(region_);
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
      env, region_->base(), region_->size(),
      [](Napi::Env, void*, std::shared_ptr<UmemRegion>* h) { delete h; }, hold);
  buffer_ref_ = Napi::Persistent(ab);

  msgs_.assign(kUdpMaxBurst, mmsghdr{});
  iovs_.assign(kUdpMaxBurst, iovec{});
  slots_.assign(kUdpMaxBurst, Slot{});
  frames_.assign(kUdpMaxBurst, 0);
  index_.assign(kUdpMaxBurst, 0);
  retried_.assign(kUdpMaxBurst, 0);
  for (auto* v : {&seg_first_, &seg_count_, &seg_size_, &msg_bytes_, &pktinfo_len_, &seg_limit_}) v->assign(kUdpMaxBurst, 0);
  gso_learn_ttl_ms_ = GetU32Opt(opts, "gsoLearnTtlMs", 60000);
  if (gso_learn_ttl_ms_ < 1) return ThrowRange(env, "UdpPort: gsoLearnTtlMs must be >= 1"), false;

  Napi::Value fdv = opts.Get("fd");
  if (fdv.IsNumber()) {
    int given = fdv.As<Napi::Number>().Int32Value();
    if (given < 0) return ThrowRange(env, "UdpPort: fd must be >= 0"), false;
    // The port owns (and closes) its own duplicate, so several ports in
    // several threads can share one socket and close independently.
    fd_ = fcntl(given, F_DUPFD_CLOEXEC, 0);
    if (fd_ < 0) return ThrowSysError(env, "UdpPort: dup(fd " + std::to_string(given) + ")", errno), false;
    return SetupSocket(env, opts, true);
  }

  std::string bind_addr = "::";
  Napi::Value bav = opts.Get("bindAddress");
  if (bav.IsString()) bind_addr = bav.As<Napi::String>().Utf8Value();
  uint32_t port = GetU32Opt(opts, "port", 0);
  if (port > 65535) return ThrowRange(env, "UdpPort: port must be 0..65535"), false;

  sockaddr_storage ss{};
  socklen_t sl;
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  if (inet_pton(AF_INET6, bind_addr.c_str(), &s6->sin6_addr) == 1) {
    family_ = AF_INET6;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    sl = sizeof(*s6);
  } else if (inet_pton(AF_INET, bind_addr.c_str(), &s4->sin_addr) == 1) {
    family_ = AF_INET;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    sl = sizeof(*s4);
  } else {
    return ThrowType(env, "UdpPort: bindAddress '" + bind_addr + "' is not an IPv4 or IPv6 literal"), false;
  }

  fd_ = socket(family_, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd_ < 0) return ThrowSysError(env, "UdpPort: socket", errno), false;
  int one = 1, zero = 0;
  if (family_ == AF_INET6) {
    // '::' serves IPv4 too (as ::ffff:a.b.c.d), as wireguard-go's dual-stack bind.
    int v6only = GetBoolOpt(opts, "v6Only", false) ? 1 : 0;
    if (setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, v6only ? &one : &zero, sizeof(int)) < 0)
      return ThrowSysError(env, "UdpPort: setsockopt(IPV6_V6ONLY)", errno), false;
  }
  if (GetBoolOpt(opts, "reusePort", false) && setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
    return ThrowSysError(env, "UdpPort: setsockopt(SO_REUSEPORT)", errno), false;
  if (!SetupSocket(env, opts, false)) return false;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&ss), sl) < 0)
    return ThrowSysError(env, "UdpPort: bind [" + bind_addr + "]:" + std::to_string(port), errno), false;
  sockaddr_storage got{};
  socklen_t gl = sizeof(got);
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&got), &gl) < 0)
    return ThrowSysError(env, "UdpPort: getsockname", errno), false;
  port_ = ntohs(family_ == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&got)->sin6_port
                                    : reinterpret_cast<sockaddr_in*>(&got)->sin_port);
  return true;
}

/** Options common to a new and an adopted socket: pktinfo, drop counter, buffers. */
bool UdpPort::SetupSocket(Napi::Env env, const Napi::Object& opts, bool adopted) {
  int one = 1;
  if (adopted) {
    sockaddr_storage got{};
    socklen_t gl = sizeof(got);
    if (getsockname(fd_, reinterpret_cast<sockaddr*>(&got), &gl) < 0)
      return ThrowSysError(env, "UdpPort: getsockname(adopted fd " + std::to_string(fd_) + ")", errno), false;
    int type = 0;
    socklen_t tl = sizeof(type);
    if (getsockopt(fd_, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_DGRAM ||
        (got.ss_family != AF_INET && got.ss_family != AF_INET6))
      return ThrowType(env, "UdpPort: adopted fd " + std::to_string(fd_) + " is not a UDP socket"), false;
    family_ = got.ss_family;
    port_ = ntohs(family_ == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&got)->sin6_port
                                      : reinterpret_cast<sockaddr_in*>(&got)->sin_port);
    int fl = fcntl(fd_, F_GETFL);
    if (fl < 0 || fcntl(fd_, F_SETFL, fl | O_NONBLOCK) < 0)
      return ThrowSysError(env, "UdpPort: fcntl(O_NONBLOCK)", errno), false;
  }
  // UDP GSO where the kernel has it (4.18+), unless the caller says "gso": false.
  int gso_size = 0;
  socklen_t gso_len = sizeof(gso_size);
  gso_ = GetBoolOpt(opts, "gso", true) && getsockopt(fd_, IPPROTO_UDP, UDP_SEGMENT, &gso_size, &gso_len) == 0;
  // IP_PKTINFO is honoured on an AF_INET6 socket for its IPv4-mapped traffic.
  if (setsockopt(fd_, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0)
    return ThrowSysError(env, "UdpPort: setsockopt(IP_PKTINFO)", errno), false;
  if (family_ == AF_INET6 && setsockopt(fd_, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0)
    return ThrowSysError(env, "UdpPort: setsockopt(IPV6_RECVPKTINFO)", errno), false;
  // The fwmark (wg set IF fwmark N) the socket had before a rebind carries over.
  Napi::Value markv = opts.Get("mark");
  if (markv.IsNumber() && !ApplyMark(env, markv.As<Napi::Number>().Uint32Value())) return false;
  // Buffer sizes: the FORCE variants pass rmem_max/wmem_max when we are root.
  int rcv = static_cast<int>(GetU32Opt(opts, "rcvBuf", 0));
  int snd = static_cast<int>(GetU32Opt(opts, "sndBuf", 0));
  if (rcv > 0 && setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) < 0 &&
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)) < 0)
    return ThrowSysError(env, "UdpPort: setsockopt(SO_RCVBUF)", errno), false;
  if (snd > 0 && setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof(snd)) < 0 &&
      setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd)) < 0)
    return ThrowSysError(env, "UdpPort: setsockopt(SO_SNDBUF)", errno), false;
  return true;
}

/**
 * SO_MARK on the socket: every packet it sends carries the fwmark, so policy
 * routing (wg-quick's `not fwmark T table T`) keeps the tunnel's own outer
 * packets out of the tunnel. One socket serves IPv4 and IPv6 (dual-stack),
 * and the workers' duplicates share it, so one setsockopt marks them all.
 * Mark 0 clears it. Needs CAP_NET_ADMIN.
 */
bool UdpPort::ApplyMark(Napi::Env env, uint32_t mark) {
  if (setsockopt(fd_, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0)
    return ThrowSysError(env, "UdpPort: setsockopt(SO_MARK, " + std::to_string(mark) + ")", errno), false;
  return true;
}

Napi::Value UdpPort::SetMark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  if (info.Length() < 1 || !info[0].IsNumber()) return ThrowType(env, "UdpPort.setMark(mark): mark must be a number"), env.Undefined();
  double v = info[0].As<Napi::Number>().DoubleValue();
  if (!(v >= 0 && v <= 4294967295.0) || v != static_cast<double>(static_cast<uint32_t>(v)))
    return ThrowRange(env, "UdpPort.setMark(mark): mark must be an integer 0..2^32-1"), env.Undefined();
  ApplyMark(env, static_cast<uint32_t>(v));
  return env.Undefined();
}

bool UdpPort::CheckOpen(Napi::Env env) {
  if (fd_ >= 0) return true;
  Napi::Error::New(env, "UdpPort: port is closed").ThrowAsJavaScriptException();
  return false;
}

// rxBurst(desc: Uint32Array, addr: Uint8Array, max) -> n
// Takes frames from the pool, receives up to n datagrams with one recvmmsg,
// hands the filled frames to JS and returns the unused ones.
Napi::Value UdpPort::RxBurst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsNumber())
    return ThrowType(env, "rxBurst(desc: Uint32Array, addr: Uint8Array, max: number)"), env.Undefined();
  Napi::Uint32Array desc = info[0].As<Napi::Uint32Array>();
  Napi::Uint8Array addr = info[1].As<Napi::Uint8Array>();
  uint32_t max = info[2].As<Napi::Number>().Uint32Value();
  if (max > desc.ElementLength() / 2) max = desc.ElementLength() / 2;
  if (max > addr.ElementLength() / kUdpAddrRecordSize) max = addr.ElementLength() / kUdpAddrRecordSize;
  if (max > kUdpMaxBurst) max = kUdpMaxBurst;
  c_.rx_bursts++;

  uint32_t n = 0;
  const uint32_t cap = pool_.frame_size() - headroom_;
  uint8_t* base = region_->base();
  for (; n < max; n++) {
    uint64_t frame;
    if (!pool_.take(FrameOwner::kJs, &frame)) break;
    frames_[n] = frame;
    iovs_[n].iov_base = base + frame + headroom_;
    iovs_[n].iov_len = cap;
    msghdr& h = msgs_[n].msg_hdr;
    h.msg_name = &slots_[n].name;
    h.msg_namelen = sizeof(sockaddr_in6);
    h.msg_iov = &iovs_[n];
    h.msg_iovlen = 1;
    h.msg_control = slots_[n].control;
    h.msg_controllen = sizeof(slots_[n].control);
    h.msg_flags = 0;
  }
  if (n == 0) {
    if (max > 0) c_.rx_no_frames++;
    return Napi::Number::New(env, 0);
  }

  int r;
  do r = recvmmsg(fd_, msgs_.data(), n, MSG_DONTWAIT, nullptr);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) c_.ierrors++;
    r = 0;
  }

  uint32_t* d = desc.Data();
  uint8_t* rec_base = addr.Data();
  uint32_t out = 0;
  for (int i = 0; i < r; i++) {
    const msghdr& h = msgs_[i].msg_hdr;
    if (h.msg_flags & MSG_TRUNC) {
      // Larger than a frame: never hand JS a cut datagram.
      c_.rx_truncated++;
      c_.rx_invalid++;
      pool_.give_back(frames_[i]);
      continue;
    }
    uint32_t len = msgs_[i].msg_len;
    uint8_t* rec = rec_base + out * kUdpAddrRecordSize;
    memset(rec, 0, kUdpAddrRecordSize);
    const auto* name = &slots_[i].name;
    if (name->sin6_family == AF_INET6) {
      memcpy(rec + kRecRemoteIp, &name->sin6_addr, 16);
      memcpy(rec + kRecRemotePort, &name->sin6_port, 2);
      rec[kRecFamily] = IN6_IS_ADDR_V4MAPPED(&name->sin6_addr) ? 4 : 6;
    } else {
      const auto* s4 = reinterpret_cast<const sockaddr_in*>(name);
      PutMapped(rec + kRecRemoteIp, s4->sin_addr);
      memcpy(rec + kRecRemotePort, &s4->sin_port, 2);
      rec[kRecFamily] = 4;
    }
    uint32_t ifindex = 0;
    for (cmsghdr* cm = CMSG_FIRSTHDR(&h); cm; cm = CMSG_NXTHDR(const_cast<msghdr*>(&h), cm)) {
      if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
        in_pktinfo pi;
        memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
        // ipi_spec_dst: the local address a reply should come from.
        PutMapped(rec + kRecLocalIp, pi.ipi_spec_dst);
        ifindex = pi.ipi_ifindex;
      } else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
        in6_pktinfo pi;
        memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
        memcpy(rec + kRecLocalIp, &pi.ipi6_addr, 16);
        ifindex = pi.ipi6_ifindex;
      }
    }
    memcpy(rec + kRecIfindex, &ifindex, 4);  // little-endian host (x86/arm64)
    d[2 * out] = static_cast<uint32_t>(frames_[i] + headroom_);
    d[2 * out + 1] = len;
    c_.ipackets++;
    c_.ibytes += len;
    out++;
  }
  for (uint32_t i = r; i < n; i++) pool_.give_back(frames_[i]);
  return Napi::Number::New(env, out);
}

// txBurst(desc: Uint32Array, addr: Uint8Array, n) -> taken
// Sends with sendmmsg; every frame taken returns to the pool (the kernel has
// copied it). Frames after the returned count stay with JS (socket full).
// A taken descriptor that was not sent (invalid, or an error the counters
// name) gets its length zeroed, so the caller counts exactly what went out.
Napi::Value UdpPort::TxBurst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsNumber())
    return ThrowType(env, "txBurst(desc: Uint32Array, addr: Uint8Array, n: number)"), env.Undefined();
  Napi::Uint32Array desc = info[0].As<Napi::Uint32Array>();
  Napi::Uint8Array addr = info[1].As<Napi::Uint8Array>();
  uint32_t n = info[2].As<Napi::Number>().Uint32Value();
  if (n > desc.ElementLength() / 2) n = desc.ElementLength() / 2;
  if (n > addr.ElementLength() / kUdpAddrRecordSize) n = addr.ElementLength() / kUdpAddrRecordSize;
  if (n > kUdpMaxBurst) n = kUdpMaxBurst;
  c_.tx_bursts++;
  return Napi::Number::New(env, SendBurst(desc.Data(), addr.Data(), n, nullptr, 0));
}

// txBurstFrom(src: Uint8Array, desc: Uint32Array, addr: Uint8Array, n) -> taken
// As txBurst, but the datagrams lie in src (offsets are relative to its first
// byte), not in our frames: the AF_XDP UMEM, so a bulk run leaves through the
// socket with UDP GSO without a copy into our pool. sendmmsg has copied every
// datagram when this returns, so the caller frees its frames at once (all of
// them: taken, zeroed or left). Descriptors outside src are invalid.
Napi::Value UdpPort::TxBurstFrom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  if (info.Length() < 4 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsTypedArray() ||
      !info[3].IsNumber())
    return ThrowType(env, "txBurstFrom(src: Uint8Array, desc: Uint32Array, addr: Uint8Array, n: number)"),
           env.Undefined();
  Napi::Uint8Array src = info[0].As<Napi::Uint8Array>();
  Napi::Uint32Array desc = info[1].As<Napi::Uint32Array>();
  Napi::Uint8Array addr = info[2].As<Napi::Uint8Array>();
  uint32_t n = info[3].As<Napi::Number>().Uint32Value();
  if (n > desc.ElementLength() / 2) n = desc.ElementLength() / 2;
  if (n > addr.ElementLength() / kUdpAddrRecordSize) n = addr.ElementLength() / kUdpAddrRecordSize;
  if (n > kUdpMaxBurst) n = kUdpMaxBurst;
  c_.tx_bursts++;
  c_.tx_bulk_via_socket_bursts++;
  foreign_ = true;
  uint32_t taken = SendBurst(desc.Data(), addr.Data(), n, src.Data(), src.ByteLength());
  foreign_ = false;
  return Napi::Number::New(env, taken);
}

/** A datagram's frame back to the pool, unless the burst lies in a caller's buffer (txBurstFrom). */
void UdpPort::ReturnFrame(uint64_t frame) {
  if (!foreign_) pool_.give_back(frame);
}

/** The send of txBurst/txBurstFrom: src null means our own frames. Returns how many descriptors were taken. */
uint32_t UdpPort::SendBurst(uint32_t* d, uint8_t* rec_base, uint32_t n, uint8_t* src, size_t src_len) {
  uint8_t* base = src ? src : region_->base();
  const uint32_t fsize = pool_.frame_size();

  // Build one message per valid descriptor, or add the datagram to the
  // previous message as a GSO segment; invalid descriptors are consumed here.
  uint32_t m = 0, k = 0;  // messages, datagrams
  for (uint32_t i = 0; i < n; i++) {
    uint64_t off = d[2 * i], len = d[2 * i + 1];
    const uint8_t* rec = rec_base + i * kUdpAddrRecordSize;
    uint8_t fam = rec[kRecFamily];
    const bool bad_family = (fam != 4 && fam != 6) || (fam == 6 && family_ == AF_INET);
    uint64_t frame = 0;
    if (src) {
      if (len == 0 || off + len > src_len || bad_family) {
        c_.tx_invalid++;  // outside the caller's buffer: nothing of ours to give back
        d[2 * i + 1] = 0;
        continue;
      }
    } else {
      if (!pool_.in_range(off) || pool_.owner(pool_.frame_of(off)) != FrameOwner::kJs) {
        c_.tx_invalid++;  // not a frame JS owns: leave the pool untouched
        d[2 * i + 1] = 0;
        continue;
      }
      frame = pool_.frame_of(off);
      if (off + len > frame + fsize || bad_family) {
        c_.tx_invalid++;
        d[2 * i + 1] = 0;
        pool_.give_back(frame);
        continue;
      }
    }
    Slot& s = slots_[m];
    msghdr& h = msgs_[m].msg_hdr;
    memset(&s.name, 0, sizeof(s.name));
    uint32_t ifindex;
    memcpy(&ifindex, rec + kRecIfindex, 4);
    if (family_ == AF_INET6) {
      s.name.sin6_family = AF_INET6;
      if (fam == 4) {
        memcpy(&s.name.sin6_addr, kV4MappedPrefix, 12);
        memcpy(reinterpret_cast<uint8_t*>(&s.name.sin6_addr) + 12, rec + kRecRemoteIp + 12, 4);
      } else {
        memcpy(&s.name.sin6_addr, rec + kRecRemoteIp, 16);
        if (IN6_IS_ADDR_LINKLOCAL(&s.name.sin6_addr)) s.name.sin6_scope_id = ifindex;
      }
      memcpy(&s.name.sin6_port, rec + kRecRemotePort, 2);
      h.msg_namelen = sizeof(sockaddr_in6);
    } else {
      auto* s4 = reinterpret_cast<sockaddr_in*>(&s.name);
      s4->sin_family = AF_INET;
      memcpy(&s4->sin_addr, rec + kRecRemoteIp + 12, 4);
      memcpy(&s4->sin_port, rec + kRecRemotePort, 2);
      h.msg_namelen = sizeof(sockaddr_in);
    }
    // Sticky source. IPv4: the address alone, no interface, so the route
    // lookup stays free as in the kernel module. IPv6: the interface only
    // when link-local scope needs it.
    memset(s.control, 0, sizeof(s.control));
    h.msg_control = nullptr;
    h.msg_controllen = 0;
    if (fam == 4 && !AllZero(rec + kRecLocalIp + 12, 4)) {
      h.msg_control = s.control;
      h.msg_controllen = CMSG_SPACE(sizeof(in_pktinfo));
      cmsghdr* cm = CMSG_FIRSTHDR(&h);
      cm->cmsg_level = IPPROTO_IP;
      cm->cmsg_type = IP_PKTINFO;
      cm->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
      in_pktinfo pi{};
      memcpy(&pi.ipi_spec_dst, rec + kRecLocalIp + 12, 4);
      memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
    } else if (fam == 6 && !AllZero(rec + kRecLocalIp, 16)) {
      h.msg_control = s.control;
      h.msg_controllen = CMSG_SPACE(sizeof(in6_pktinfo));
      cmsghdr* cm = CMSG_FIRSTHDR(&h);
      cm->cmsg_level = IPPROTO_IPV6;
      cm->cmsg_type = IPV6_PKTINFO;
      cm->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
      in6_pktinfo pi{};
      memcpy(&pi.ipi6_addr, rec + kRecLocalIp, 16);
      if (IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr) || IN6_IS_ADDR_LINKLOCAL(&s.name.sin6_addr)) pi.ipi6_ifindex = ifindex;
      memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
    }
    iovs_[k].iov_base = base + off;
    iovs_[k].iov_len = len;
    frames_[k] = frame;
    index_[k] = i;
    pktinfo_len_[m] = static_cast<uint32_t>(h.msg_controllen);
    if (m > 0 && CanJoin(m, static_cast<uint32_t>(len))) {
      // Same destination and source as the previous message: one more segment of it.
      seg_count_[m - 1]++;
      msg_bytes_[m - 1] += static_cast<uint32_t>(len);
      k++;
      continue;
    }
    h.msg_name = &s.name;
    h.msg_flags = 0;
    seg_first_[m] = k;
    seg_count_[m] = 1;
    seg_size_[m] = static_cast<uint32_t>(len);
    msg_bytes_[m] = static_cast<uint32_t>(len);
    seg_limit_[m] = !gso_ ? 0 : m > 0 && h.msg_namelen == msgs_[m - 1].msg_hdr.msg_namelen &&
                                    memcmp(&s.name, &slots_[m - 1].name, h.msg_namelen) == 0
                                    ? seg_limit_[m - 1]  // same destination: no second lookup
                                    : GsoLimitFor(s.name);
    retried_[m] = 0;
    k++;
    m++;
  }
  for (uint32_t j = 0; j < m; j++) {
    msghdr& h = msgs_[j].msg_hdr;
    h.msg_iov = &iovs_[seg_first_[j]];
    h.msg_iovlen = seg_count_[j];
    if (seg_count_[j] > 1) AddSegmentControl(j);
  }

  uint32_t done = 0;  // messages consumed (sent or dropped)
  uint32_t stopped_at = UINT32_MAX;  // a datagram (segment) index where a partial group send stopped
  while (done < m) {
    int r = sendmmsg(fd_, &msgs_[done], m - done, MSG_DONTWAIT);
    if (r > 0) {
      for (int q = 0; q < r; q++) {
        uint32_t j = done + q;
        if (retried_[j]) c_.tx_src_fallback++;
        c_.opackets += seg_count_[j];
        c_.obytes += msgs_[j].msg_len;
        if (foreign_) c_.tx_bulk_via_socket_bytes += msgs_[j].msg_len;
        if (seg_count_[j] > 1) { c_.tx_gso_sends++; c_.tx_gso_datagrams += seg_count_[j]; }
        for (uint32_t g = 0; g < seg_count_[j]; g++) ReturnFrame(frames_[seg_first_[j] + g]);
      }
      done += r;
      continue;
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      c_.tx_would_block++;
      break;
    }
    msghdr& h = msgs_[done].msg_hdr;
    if (seg_count_[done] > 1) {
      // The kernel refused the group as a whole: datagram by datagram, each
      // with the sticky source fallback; larger segments are not grouped again.
      c_.tx_gso_fallback++;
      bool source_gone = false;
      int sent = SendGroupSingly(done, d, rec_base, &source_gone);
      // Learn only what GSO itself caused, and only for this destination: EIO (no checksum
      // offload on its path, e.g. xfrm) turns grouping to it off; EINVAL or EMSGSIZE with the
      // source still valid means segments this large exceed its path.
      if (err == EIO) LearnGso(slots_[done].name, 0);
      else if ((err == EINVAL || err == EMSGSIZE) && !source_gone) LearnGso(slots_[done].name, seg_size_[done]);
      if (sent < static_cast<int>(seg_count_[done])) { stopped_at = seg_first_[done] + sent; break; }
      done++;
      continue;
    }
    if (IsTxFallbackErrno(err) && h.msg_controllen) {
      // The sticky source is gone (address deleted or moved): let the kernel
      // choose, and clear it in the caller's record so the endpoint learns.
      h.msg_control = nullptr;
      h.msg_controllen = 0;
      memset(rec_base + index_[seg_first_[done]] * kUdpAddrRecordSize + kRecLocalIp, 0, 20);
      retried_[done] = 1;  // counted as a fallback once it is sent
      continue;
    }
    if (err == ENOBUFS) {
      c_.odropped++;  // the qdisc/device queue dropped it
    } else {
      c_.oerrors++;
      if (err == ENETUNREACH || err == EHOSTUNREACH) c_.tx_no_route++;
      if (err == EMSGSIZE) c_.tx_too_big++;
    }
    d[2 * index_[seg_first_[done]] + 1] = 0;  // taken, not sent
    ReturnFrame(frames_[seg_first_[done]]);
    done++;
  }
  // Everything before the first unsent datagram was consumed (invalid ones too).
  return stopped_at != UINT32_MAX ? index_[stopped_at] : done < m ? index_[seg_first_[done]] : n;
}

/**
 * Whether the datagram just described in slot m (name, pktinfo) may ride as
 * one more segment of message m - 1: GSO on, same destination and source,
 * no larger than that message's segments, the message not closed by a
 * shorter last segment, and within the kernel's limits (64 segments; the
 * whole under 64 KiB).
 */
bool UdpPort::CanJoin(uint32_t m, uint32_t len) const {
  constexpr uint32_t kMaxSegments = 64, kMaxBytes = 65000;
  const uint32_t prev = m - 1;
  const msghdr& ph = msgs_[prev].msg_hdr;
  const msghdr& h = msgs_[m].msg_hdr;
  if (!gso_ || seg_size_[prev] >= seg_limit_[prev] || len > seg_size_[prev]) return false;
  if (seg_count_[prev] >= kMaxSegments || msg_bytes_[prev] + len > kMaxBytes) return false;
  // The last segment so far must be full size: only the final one may be shorter.
  if (msg_bytes_[prev] != seg_size_[prev] * seg_count_[prev]) return false;
  if (ph.msg_namelen != h.msg_namelen || memcmp(&slots_[prev].name, &slots_[m].name, h.msg_namelen) != 0) return false;
  return pktinfo_len_[prev] == pktinfo_len_[m] && memcmp(slots_[prev].control, slots_[m].control, pktinfo_len_[m]) == 0;
}

/** Segment size limit for destination name: what a refused group taught, until it expires. */
uint32_t UdpPort::GsoLimitFor(const sockaddr_in6& name) {
  if (gso_learned_.Empty()) return GsoLearnTable::kNoLimit;
  uint8_t key[GsoLearnTable::kKeySize];
  GsoLearnTable::KeyOf(name, key);
  return gso_learned_.Limit(key, MonotonicMs());
}

/** Segments of max_seg bytes or more (0: any group) are not grouped to name for gso_learn_ttl_ms_. */
void UdpPort::LearnGso(const sockaddr_in6& name, uint32_t max_seg) {
  uint8_t key[GsoLearnTable::kKeySize];
  GsoLearnTable::KeyOf(name, key);
  gso_learned_.Learn(key, max_seg, MonotonicMs(), gso_learn_ttl_ms_);
  c_.tx_gso_learned++;
}

/** Appends the UDP_SEGMENT cmsg (the segment size) after message m's sticky source. */
void UdpPort::AddSegmentControl(uint32_t m) {
  msghdr& h = msgs_[m].msg_hdr;
  Slot& s = slots_[m];
  auto* cm = reinterpret_cast<cmsghdr*>(s.control + pktinfo_len_[m]);
  cm->cmsg_level = IPPROTO_UDP;
  cm->cmsg_type = UDP_SEGMENT;
  cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  uint16_t size = static_cast<uint16_t>(seg_size_[m]);
  memcpy(CMSG_DATA(cm), &size, sizeof(size));
  h.msg_control = s.control;
  h.msg_controllen = pktinfo_len_[m] + CMSG_SPACE(sizeof(uint16_t));
}

/**
 * Sends message m's segments as single datagrams (the group was refused).
 * Returns how many were consumed (sent, or dropped with their error
 * counted and their desc length zeroed); fewer than the group when the send buffer filled, and those
 * left stay with JS. *source_gone: the sticky source had to be dropped.
 */
int UdpPort::SendGroupSingly(uint32_t m, uint32_t* desc, uint8_t* rec_base, bool* source_gone) {
  msghdr one = msgs_[m].msg_hdr;
  one.msg_iovlen = 1;
  one.msg_controllen = pktinfo_len_[m];
  if (one.msg_controllen == 0) one.msg_control = nullptr;
  uint32_t g = 0;
  while (g < seg_count_[m]) {
    const uint32_t seg = seg_first_[m] + g;
    one.msg_iov = &iovs_[seg];
    ssize_t r = sendmsg(fd_, &one, MSG_DONTWAIT);
    if (r < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) { c_.tx_would_block++; break; }
      if (IsTxFallbackErrno(err) && one.msg_controllen) {
        // As for a single message: the sticky source is gone.
        one.msg_control = nullptr;
        one.msg_controllen = 0;
        for (uint32_t q = 0; q < seg_count_[m]; q++)
          memset(rec_base + index_[seg_first_[m] + q] * kUdpAddrRecordSize + kRecLocalIp, 0, 20);
        c_.tx_src_fallback++;
        *source_gone = true;
        continue;
      }
      if (err == ENOBUFS) c_.odropped++;
      else {
        c_.oerrors++;
        if (err == ENETUNREACH || err == EHOSTUNREACH) c_.tx_no_route++;
        if (err == EMSGSIZE) c_.tx_too_big++;
      }
      desc[2 * index_[seg] + 1] = 0;  // taken, not sent
    } else {
      c_.opackets++;
      c_.obytes += static_cast<uint64_t>(r);
      if (foreign_) c_.tx_bulk_via_socket_bytes += static_cast<uint64_t>(r);
    }
    ReturnFrame(frames_[seg]);
    g++;
  }
  return static_cast<int>(g);
}

Napi::Value UdpPort::AllocFrames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsNumber())
    return ThrowType(env, "allocFrames(out: Uint32Array, n: number)"), env.Undefined();
  Napi::Uint32Array out = info[0].As<Napi::Uint32Array>();
  uint32_t n = info[1].As<Napi::Number>().Uint32Value();
  if (n > out.ElementLength()) n = out.ElementLength();
  uint32_t* o = out.Data();
  uint32_t got = 0;
  for (; got < n; got++) {
    uint64_t frame;
    if (!pool_.take(FrameOwner::kJs, &frame)) break;
    o[got] = static_cast<uint32_t>(frame);
  }
  return Napi::Number::New(env, got);
}

Napi::Value UdpPort::FreeFrames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsNumber())
    return ThrowType(env, "freeFrames(offsets: Uint32Array, n: number)"), env.Undefined();
  Napi::Uint32Array offs = info[0].As<Napi::Uint32Array>();
  uint32_t n = info[1].As<Napi::Number>().Uint32Value();
  if (n > offs.ElementLength()) n = offs.ElementLength();
  const uint32_t* o = offs.Data();
  for (uint32_t i = 0; i < n; i++)
    if (!pool_.free_from_js(o[i])) c_.free_invalid++;
  return env.Undefined();
}

Napi::Value UdpPort::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ >= 0) ReadDrops();
  Napi::Object s = Napi::Object::New(env);
  auto put = [&](const char* k, uint64_t v) { s.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
  put("ipackets", c_.ipackets);
  put("opackets", c_.opackets);
  put("ibytes", c_.ibytes);
  put("obytes", c_.obytes);
  put("ierrors", c_.ierrors);
  put("oerrors", c_.oerrors);
  put("imissed", c_.imissed);
  put("odropped", c_.odropped);
  put("rx_invalid", c_.rx_invalid);
  put("tx_invalid", c_.tx_invalid);
  put("rx_truncated", c_.rx_truncated);
  put("rx_no_frames", c_.rx_no_frames);
  put("tx_src_fallback", c_.tx_src_fallback);
  put("tx_would_block", c_.tx_would_block);
  put("tx_no_route", c_.tx_no_route);
  put("tx_too_big", c_.tx_too_big);
  put("free_invalid", c_.free_invalid);
  put("rx_bursts", c_.rx_bursts);
  put("tx_bursts", c_.tx_bursts);
  put("tx_gso_sends", c_.tx_gso_sends);
  put("tx_gso_datagrams", c_.tx_gso_datagrams);
  put("tx_gso_fallback", c_.tx_gso_fallback);
  put("tx_gso_learned", c_.tx_gso_learned);
  put("tx_bulk_via_socket_bursts", c_.tx_bulk_via_socket_bursts);
  put("tx_bulk_via_socket_bytes", c_.tx_bulk_via_socket_bytes);
  put("frames_free", pool_.available());
  return s;
}

Napi::Value UdpPort::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", Napi::Number::New(env, family_ == AF_INET6 ? 6 : 4));
  int v6only = 0;
  socklen_t l = sizeof(v6only);
  if (family_ == AF_INET6 && fd_ >= 0) getsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &l);
  o.Set("dualStack", Napi::Boolean::New(env, family_ == AF_INET6 && !v6only));
  o.Set("port", Napi::Number::New(env, port_));
  o.Set("frameSize", Napi::Number::New(env, pool_.frame_size()));
  o.Set("frameCount", Napi::Number::New(env, pool_.frame_count()));
  o.Set("headroom", Napi::Number::New(env, headroom_));
  o.Set("maxBurst", Napi::Number::New(env, kUdpMaxBurst));
  uint32_t mark = 0;
  socklen_t ml = sizeof(mark);
  if (fd_ >= 0) getsockopt(fd_, SOL_SOCKET, SO_MARK, &mark, &ml);
  o.Set("mark", Napi::Number::New(env, mark));
  return o;
}

Napi::Value UdpPort::Close(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value UdpPort::GetBuffer(const Napi::CallbackInfo& info) {
  return buffer_ref_.IsEmpty() ? info.Env().Undefined() : buffer_ref_.Value();
}
Napi::Value UdpPort::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
Napi::Value UdpPort::GetPort(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), port_); }
Napi::Value UdpPort::GetFrameSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), pool_.frame_size());
}
Napi::Value UdpPort::GetHeadroom(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), headroom_); }

void InitUdpPort(Napi::Env env, Napi::Object exports) {
  exports.Set("UdpPort", UdpPort::Define(env));
  exports.Set("UDP_ADDR_RECORD_SIZE", Napi::Number::New(env, kUdpAddrRecordSize));
  exports.Set("UDP_MAX_BURST", Napi::Number::New(env, kUdpMaxBurst));
}

}  // namespace xdpwg
