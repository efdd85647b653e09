// UDP port over a kernel socket; see udp_port.h for the concept and
// src/native/binding.ts for the JS contract (descriptors; address records: udp_addr_record.h).
#include "udp_port.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mman.h>
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
#include "udp_addr_record.h"
#include "udp_gro.h"
#include "udp_sticky_source.h"

namespace xdpwg {

namespace {

constexpr uint32_t kDefaultFrameSize = 2048;
constexpr uint32_t kDefaultFrameCount = 4096;
/** Largest UDP payload (65535 - 8) plus slack: a jumbo datagram fits a frame. */
constexpr uint32_t kMaxPayload = 65536;

uint32_t GetU32Opt(const Napi::Object& o, const char* key, uint32_t dflt) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : dflt;
}

bool GetBoolOpt(const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : dflt;
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
                         InstanceMethod<&UdpPort::ReleaseIdle>("releaseIdle"),
                         InstanceMethod<&UdpPort::SetMark>("setMark"),
                         InstanceMethod<&UdpPort::Close>("close"),
                         InstanceAccessor<&UdpPort::GetBuffer>("buffer"),
                         InstanceAccessor<&UdpPort::GetFd>("fd"),
                         InstanceAccessor<&UdpPort::GetPort>("port"),
                         InstanceAccessor<&UdpPort::GetFrameSize>("frameSize"),
                         InstanceAccessor<&UdpPort::GetHeadroom>("headroom"),
                         InstanceAccessor<&UdpPort::GetRxPending>("rxPending"),
                     });
}

UdpPort::UdpPort(const Napi::CallbackInfo& info) : EnvBound<UdpPort>(info) {
  Napi::Env env = info.Env();
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
  BindToEnv();
}

UdpPort::~UdpPort() { Release(); }

void UdpPort::FreeResources() {
  if (fd_ >= 0) {
    ReadDrops();  // keep the final count readable after close()
    close(fd_);
  }
  fd_ = -1;
  FreeGro();
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
    return ThrowRange(env, "UdpPort: frameSize must be headroom+256 .. 65536+headroom (" + std::to_string(kMaxPayload + headroom_) + ")"),
           false;
  if (frame_count < 1 || uint64_t(frame_size) * frame_count > 0xffffffffull)
    return ThrowRange(env, "UdpPort: frameCount must be >= 1 and frameSize*frameCount < 4 GiB (offsets are uint32)"), false;

  region_ = std::make_shared<UmemRegion>(size_t(frame_size) * frame_count);
  if (!region_->ok()) return ThrowSysError(env, "UdpPort: mmap frames", errno), false;
  pool_ = FramePool(frame_size, frame_count);

  auto* hold = new std::shared_ptr<UmemRegion>(region_);
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
      env, region_->base(), region_->size(), [](Napi::Env, void*, std::shared_ptr<UmemRegion>* h) { delete h; }, hold);
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
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&got), &gl) < 0) return ThrowSysError(env, "UdpPort: getsockname", errno), false;
  port_ = ntohs(family_ == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&got)->sin6_port : reinterpret_cast<sockaddr_in*>(&got)->sin_port);
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
    port_ = ntohs(family_ == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&got)->sin6_port : reinterpret_cast<sockaddr_in*>(&got)->sin_port);
    int fl = fcntl(fd_, F_GETFL);
    if (fl < 0 || fcntl(fd_, F_SETFL, fl | O_NONBLOCK) < 0) return ThrowSysError(env, "UdpPort: fcntl(O_NONBLOCK)", errno), false;
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
  if (GetBoolOpt(opts, "gro", false) && !EnableGro(env)) return false;
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
  if (gro_) return Napi::Number::New(env, RxBurstGro(desc.Data(), addr.Data(), max));

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
    RecordFromReceived(rec_base + out * kUdpAddrRecordSize, slots_[i].name, h);
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
  TxBurstArgs a{desc.Data(), addr.Data(), n, nullptr, 0};
  uint32_t m = BuildTxMessages(a);
  return Napi::Number::New(env, SendTxMessages(a, m));
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
  if (info.Length() < 4 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsTypedArray() || !info[3].IsNumber())
    return ThrowType(env, "txBurstFrom(src: Uint8Array, desc: Uint32Array, addr: Uint8Array, n: number)"), env.Undefined();
  Napi::Uint8Array src = info[0].As<Napi::Uint8Array>();
  Napi::Uint32Array desc = info[1].As<Napi::Uint32Array>();
  Napi::Uint8Array addr = info[2].As<Napi::Uint8Array>();
  uint32_t n = info[3].As<Napi::Number>().Uint32Value();
  if (n > desc.ElementLength() / 2) n = desc.ElementLength() / 2;
  if (n > addr.ElementLength() / kUdpAddrRecordSize) n = addr.ElementLength() / kUdpAddrRecordSize;
  if (n > kUdpMaxBurst) n = kUdpMaxBurst;
  c_.tx_bursts++;
  c_.tx_bulk_via_socket_bursts++;
  TxBurstArgs a{desc.Data(), addr.Data(), n, src.Data(), src.ByteLength()};
  foreign_ = true;
  uint32_t m = BuildTxMessages(a);
  uint32_t taken = SendTxMessages(a, m);
  foreign_ = false;
  return Napi::Number::New(env, taken);
}

/** A datagram's frame back to the pool, unless the burst lies in a caller's buffer (txBurstFrom). */
void UdpPort::ReturnFrame(uint64_t frame) {
  if (!foreign_) pool_.give_back(frame);
}

// Takes descriptor i's frame for sending; false (length zeroed, counted,
// the frame back in the pool when it was JS's) when it cannot be sent.
bool UdpPort::TakeTxFrame(const TxBurstArgs& a, uint32_t i, uint64_t* frame) {
  uint64_t off = a.desc[2 * i], len = a.desc[2 * i + 1];
  if (a.src) {
    // A caller's buffer (txBurstFrom): nothing of ours to take or give back.
    uint8_t fam = a.addr[i * kUdpAddrRecordSize + kRecFamily];
    if (len == 0 || off + len > a.src_len || (fam != 4 && fam != 6) || (fam == 6 && family_ == AF_INET)) {
      c_.tx_invalid++;
      a.desc[2 * i + 1] = 0;
      return false;
    }
    *frame = 0;
    return true;
  }
  if (!pool_.in_range(off) || pool_.owner(pool_.frame_of(off)) != FrameOwner::kJs) {
    c_.tx_invalid++;  // not a frame JS owns: leave the pool untouched
    a.desc[2 * i + 1] = 0;
    return false;
  }
  *frame = pool_.frame_of(off);
  uint8_t fam = a.addr[i * kUdpAddrRecordSize + kRecFamily];
  if (off + len > *frame + pool_.frame_size() || (fam != 4 && fam != 6) || (fam == 6 && family_ == AF_INET)) {
    c_.tx_invalid++;
    a.desc[2 * i + 1] = 0;
    pool_.give_back(*frame);
    return false;
  }
  return true;
}

// One message per sendable descriptor, or the datagram added to the
// previous message as a GSO segment (udp_gso.cc); returns the message count.
uint32_t UdpPort::BuildTxMessages(const TxBurstArgs& a) {
  uint8_t* base = a.src ? a.src : region_->base();
  uint32_t m = 0, k = 0;  // messages, datagrams
  for (uint32_t i = 0; i < a.n; i++) {
    uint64_t frame;
    if (!TakeTxFrame(a, i, &frame)) continue;
    const uint64_t off = a.desc[2 * i];
    const uint32_t len = a.desc[2 * i + 1];
    const uint8_t* rec = a.addr + i * kUdpAddrRecordSize;
    Slot& s = slots_[m];
    msghdr& h = msgs_[m].msg_hdr;
    h.msg_namelen = DestinationOf(rec, family_, &s.name);
    pktinfo_len_[m] = WriteStickySource(rec, s.name, s.control);
    h.msg_control = pktinfo_len_[m] ? s.control : nullptr;
    h.msg_controllen = pktinfo_len_[m];
    iovs_[k].iov_base = base + off;
    iovs_[k].iov_len = len;
    frames_[k] = frame;
    index_[k] = i;
    k++;
    if (m > 0 && CanJoin(m, len)) {
      // Same destination and source as the previous message: one more segment of it.
      seg_count_[m - 1]++;
      msg_bytes_[m - 1] += len;
      continue;
    }
    OpenTxMessage(m, k - 1, len);
    m++;
  }
  for (uint32_t j = 0; j < m; j++) {
    msghdr& h = msgs_[j].msg_hdr;
    h.msg_iov = &iovs_[seg_first_[j]];
    h.msg_iovlen = seg_count_[j];
    if (seg_count_[j] > 1) AddSegmentControl(j);
  }
  return m;
}

// Message m starts with datagram k (len bytes), its name and source already in slot m.
void UdpPort::OpenTxMessage(uint32_t m, uint32_t k, uint32_t len) {
  msghdr& h = msgs_[m].msg_hdr;
  h.msg_name = &slots_[m].name;
  h.msg_flags = 0;
  seg_first_[m] = k;
  seg_count_[m] = 1;
  seg_size_[m] = len;
  msg_bytes_[m] = len;
  seg_limit_[m] =
      !gso_ ? 0
      : m > 0 && h.msg_namelen == msgs_[m - 1].msg_hdr.msg_namelen && memcmp(&slots_[m].name, &slots_[m - 1].name, h.msg_namelen) == 0
          ? seg_limit_[m - 1]  // same destination: no second lookup
          : GsoLimitFor(slots_[m].name);
  retried_[m] = 0;
}

// Counts a send error of one datagram (desc index i): taken, not sent.
void UdpPort::CountTxError(int err, uint32_t* desc, uint32_t i) {
  if (err == ENOBUFS) {
    c_.odropped++;  // the qdisc/device queue dropped it
  } else {
    c_.oerrors++;
    if (err == ENETUNREACH || err == EHOSTUNREACH) c_.tx_no_route++;
    if (err == EMSGSIZE) c_.tx_too_big++;
  }
  desc[2 * i + 1] = 0;
}

// Messages [done, done + r) went out: count them, frames back to the pool.
void UdpPort::CountTxSent(uint32_t done, int r) {
  for (int q = 0; q < r; q++) {
    uint32_t j = done + q;
    if (retried_[j]) c_.tx_src_fallback++;
    c_.opackets += seg_count_[j];
    c_.obytes += msgs_[j].msg_len;
    if (foreign_) c_.tx_bulk_via_socket_bytes += msgs_[j].msg_len;
    if (seg_count_[j] > 1) {
      c_.tx_gso_sends++;
      c_.tx_gso_datagrams += seg_count_[j];
    }
    for (uint32_t g = 0; g < seg_count_[j]; g++) ReturnFrame(frames_[seg_first_[j] + g]);
  }
}

// sendmmsg until every message is consumed (sent or dropped) or the socket
// is full; a refused GSO group goes out datagram by datagram (udp_gso.cc), a
// gone sticky source is retried without it (udp_sticky_source.h). Returns
// how many descriptors were taken: all before the first unsent datagram.
uint32_t UdpPort::SendTxMessages(const TxBurstArgs& a, uint32_t m) {
  uint32_t done = 0;                 // messages consumed (sent or dropped)
  uint32_t stopped_at = UINT32_MAX;  // a datagram (segment) index where a partial group send stopped
  while (done < m) {
    int r = sendmmsg(fd_, &msgs_[done], m - done, MSG_DONTWAIT);
    if (r > 0) {
      CountTxSent(done, r);
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
      uint32_t sent = ResendGroupSingly(done, err, a);
      if (sent < seg_count_[done]) {
        stopped_at = seg_first_[done] + sent;
        break;
      }
      done++;
      continue;
    }
    if (IsSourceGoneErrno(err) && h.msg_controllen) {
      // The sticky source is gone (address deleted or moved): let the kernel
      // choose, and clear it in the caller's record so the endpoint learns.
      h.msg_control = nullptr;
      h.msg_controllen = 0;
      ForgetStickySource(a.addr + index_[seg_first_[done]] * kUdpAddrRecordSize);
      retried_[done] = 1;  // counted as a fallback once it is sent
      continue;
    }
    CountTxError(err, a.desc, index_[seg_first_[done]]);
    ReturnFrame(frames_[seg_first_[done]]);
    done++;
  }
  return stopped_at != UINT32_MAX ? index_[stopped_at] : done < m ? index_[seg_first_[done]] : a.n;
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
  put("rx_gro_receives", c_.rx_gro_receives);
  put("rx_gro_datagrams", c_.rx_gro_datagrams);
  put("rx_gro_invalid", c_.rx_gro_invalid);
  put("rx_gro_no_frames", c_.rx_gro_no_frames);
  put("frames_free", pool_.available());
  put("frames", pool_.frame_count());
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
  o.Set("gro", Napi::Boolean::New(env, gro_));
  uint32_t mark = 0;
  socklen_t ml = sizeof(mark);
  if (fd_ >= 0) getsockopt(fd_, SOL_SOCKET, SO_MARK, &mark, &ml);
  o.Set("mark", Napi::Number::New(env, mark));
  return o;
}

/**
 * releaseIdle(): when every frame is back in the pool (the worker is between
 * bursts and quiet), drops the pages of the frame region and the GRO spill
 * area, so the memory a traffic burst touched goes back to the system; the
 * next datagram faults a zeroed page in. Returns whether the frames were
 * dropped. Never for a memfd region (shared, or pinned by the kernel).
 */
Napi::Value UdpPort::ReleaseIdle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!region_ || region_->memfd() >= 0 || pool_.available() != pool_.frame_count()) return Napi::Boolean::New(env, false);
  bool released = madvise(region_->base(), region_->size(), MADV_DONTNEED) == 0;
  if (gro_spill_) madvise(gro_spill_, size_t(kUdpGroMessages) * kUdpGroSpill, MADV_DONTNEED);
  return Napi::Boolean::New(env, released);
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
Napi::Value UdpPort::GetFrameSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), pool_.frame_size()); }
Napi::Value UdpPort::GetHeadroom(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), headroom_); }
// Datagrams cut from coalesced messages that wait for the next rxBurst (GRO): the socket's
// poll does not see them, so the receiver reads again while this is non-zero.
Napi::Value UdpPort::GetRxPending(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(pending_.size() - pending_head_));
}

void InitUdpPort(Napi::Env env, Napi::Object exports) {
  exports.Set("UdpPort", UdpPort::Define(env));
  exports.Set("UDP_ADDR_RECORD_SIZE", Napi::Number::New(env, kUdpAddrRecordSize));
  ExportAddrRecordLayout(env, exports);
  exports.Set("UDP_MAX_BURST", Napi::Number::New(env, kUdpMaxBurst));
  exports.Set("udpGroSegments", Napi::Function::New(env, GroSegmentsForTest, "udpGroSegments"));
}

}  // namespace xdpwg
