// AF_XDP port: UMEM, frame pool, the four rings and burst rx/tx.
//
// Ring discipline (Documentation/networking/af_xdp.rst):
//   fill ring  (we produce)  empty frames for the kernel to receive into
//   rx ring    (we consume)  received packets -> JS (rxBurst)
//   tx ring    (we produce)  packets JS hands us (txBurst)
//   completion (we consume)  frames the kernel finished sending -> pool
// With XDP_USE_NEED_WAKEUP the kernel tells us when it needs a syscall to
// make progress; we kick only then, which is what keeps the fast path free
// of syscalls.
#include "xsk_port.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include <vector>

#include "libxdp_diag.h"
#include "modules.h"
#include "sys_error.h"

#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif

namespace xdpwg {
namespace {

// The kernel places received data this far into each frame (include/net/xdp.h
// XDP_PACKET_HEADROOM); it is also more than the 128 bytes the contract asks
// for outer headers (eth 14 + ipv6 40 + udp 8 + wireguard 16 = 78).
constexpr uint32_t kXdpPacketHeadroom = 256;
constexpr uint32_t kDefaultFrameSize = 2048;
constexpr uint32_t kDefaultFrameCount = 4096;
constexpr uint32_t kDefaultRingSize = 2048;
// Busy-poll settings as the kernel's xdpsock sample uses them.
constexpr int kBusyPollUsecs = 20;
constexpr int kBusyPollBudget = 64;
// sendto calls one txBurst may make while the kernel keeps answering EAGAIN.
constexpr int kMaxKicksPerBurst = 8;
// How long a bind keeps retrying EBUSY left by a just-closed socket.
constexpr uint32_t kBindBusyRetryMs = 1000;
constexpr uint32_t kBindBusyStepMs = 10;
// Shared UMEM (umem_share.h): frames the anchor keeps granted to each member,
// and frames a member keeps for its own sends before returning the rest.
constexpr uint32_t kShareGrantTarget = 256;
constexpr uint32_t kShareMemberCache = 256;

bool IsPowerOfTwo(uint32_t v) { return v && !(v & (v - 1)); }

// Reads an optional unsigned option; false (with a thrown RangeError) when
// present but not a valid number.
bool OptU32(Napi::Env env, const Napi::Object& o, const char* key, uint32_t dflt, uint32_t* out) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    *out = dflt;
    return true;
  }
  if (!v.IsNumber()) {
    ThrowRange(env, std::string("XskPort: option ") + key + " must be a number");
    return false;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (d < 0 || d > 0xffffffffu || d != static_cast<uint32_t>(d)) {
    ThrowRange(env, std::string("XskPort: option ") + key + " must be an unsigned integer");
    return false;
  }
  *out = static_cast<uint32_t>(d);
  return true;
}

// Gets a Uint32Array argument, or throws a TypeError naming it.
bool ArgU32Array(const Napi::CallbackInfo& info, size_t i, const char* what, Napi::Uint32Array* out) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    Napi::TypeError::New(info.Env(), std::string(what) + " must be a Uint32Array").ThrowAsJavaScriptException();
    return false;
  }
  *out = info[i].As<Napi::Uint32Array>();
  return true;
}

bool ArgCount(const Napi::CallbackInfo& info, size_t i, const char* what, uint32_t* out) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    Napi::TypeError::New(info.Env(), std::string(what) + " must be a number").ThrowAsJavaScriptException();
    return false;
  }
  int64_t v = info[i].As<Napi::Number>().Int64Value();
  *out = v < 0 ? 0 : v > 0xffffffff ? 0xffffffffu : static_cast<uint32_t>(v);
  return true;
}

// The XDP attach mode currently on the interface (when an XdpFilter owns the
// program, the port learns the mode from the kernel rather than guessing).
const char* AttachedMode(int ifindex) {
  struct xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(ifindex);
  if (!mp || libxdp_get_error(mp)) return nullptr;
  enum xdp_attach_mode m = xdp_multiprog__attach_mode(mp);
  xdp_multiprog__close(mp);
  if (m == XDP_MODE_NATIVE || m == XDP_MODE_HW) return "native";
  if (m == XDP_MODE_SKB) return "generic";
  return nullptr;
}

void FinalizeUmem(Napi::Env, void*, std::shared_ptr<UmemRegion>* hint) { delete hint; }

// share.one, or share.many[queue]: the fd for this port's queue (-1: none).
int FdForQueue(const Napi::Object& share, const char* one, const char* many, uint32_t queue) {
  Napi::Value v = share.Get(one);
  if (v.IsNumber()) return v.As<Napi::Number>().Int32Value();
  v = share.Get(many);
  if (!v.IsArray() || queue >= v.As<Napi::Array>().Length()) return -1;
  Napi::Value e = v.As<Napi::Array>().Get(queue);
  return e.IsNumber() ? e.As<Napi::Number>().Int32Value() : -1;
}

// A zero-filled memfd for a shared UMEM of frame_count frames of frame_size
// (every slot free, every holder byte 0), or -1 (errno set).
int MakeShareMemfd(uint32_t frame_size, uint32_t frame_count) {
  int fd = memfd_create("xdpwg-umem", MFD_CLOEXEC);
  if (fd >= 0 && ftruncate(fd, static_cast<off_t>(ShareMemfdSize(uint64_t(frame_size) * frame_count, frame_count))) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

// shareMemfd(frameSize, frameCount) -> fd: what the main thread makes per
// queue so that it holds the memfd it hands to members (umem_share.h).
Napi::Value ShareMemfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "shareMemfd(frameSize, frameCount): two numbers expected").ThrowAsJavaScriptException();
    return env.Null();
  }
  int fd = MakeShareMemfd(info[0].As<Napi::Number>().Uint32Value(), info[1].As<Napi::Number>().Uint32Value());
  if (fd < 0) ThrowCode(env, "ENOMEM", std::string("shareMemfd: ") + strerror(errno));
  return Napi::Number::New(env, fd);
}

// shareWakeFd() -> fd: the eventfd through which members wake an anchor port's worker.
Napi::Value ShareWakeFd(const Napi::CallbackInfo& info) {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) ThrowCode(info.Env(), "EMFILE", std::string("shareWakeFd: ") + strerror(errno));
  return Napi::Number::New(info.Env(), fd);
}

// shareReleaseSlot(memfd, slot, wakeFd?): the anchor's process lost a
// member's connection (the member died without closing its ports): marks the
// slot gone, as the protocol allows the anchor's process to, and writes the
// anchor port's wake eventfd (when given) so that its worker, idle or not,
// takes the member's frames back and frees the slot now.
Napi::Value ShareReleaseSlot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int memfd = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : -1;
  uint32_t slot = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
  int wake = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : -1;
  struct stat st = {};
  if (memfd < 0 || slot < 1 || slot >= kShareMembers || fstat(memfd, &st) != 0 ||
      st.st_size < static_cast<off_t>(ShareControlBytes())) {
    ThrowRange(env, "shareReleaseSlot(memfd, slot 1.." + std::to_string(kShareMembers - 1) + "): not a shared UMEM's memfd");
    return env.Undefined();
  }
  void* p = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
  if (p == MAP_FAILED) {
    ThrowCode(env, "ENOMEM", std::string("shareReleaseSlot: ") + strerror(errno));
    return env.Undefined();
  }
  auto* ctl = reinterpret_cast<ShareControl*>(static_cast<uint8_t*>(p) + st.st_size - ShareControlBytes());
  uint32_t expect = kSlotJoined;
  if (ctl->magic == kShareMagic) ctl->members[slot].state.compare_exchange_strong(expect, kSlotGone, std::memory_order_acq_rel);
  munmap(p, static_cast<size_t>(st.st_size));
  if (wake >= 0) {
    uint64_t one = 1;
    (void)!write(wake, &one, sizeof(one));
  }
  return env.Undefined();
}

}  // namespace

Napi::Function XskPort::Define(Napi::Env env) {
  return DefineClass(env, "XskPort",
                     {
                         InstanceMethod<&XskPort::Info>("info"),
                         InstanceMethod<&XskPort::RxBurst>("rxBurst"),
                         InstanceMethod<&XskPort::TxBurst>("txBurst"),
                         InstanceMethod<&XskPort::AllocFrames>("allocFrames"),
                         InstanceMethod<&XskPort::FreeFrames>("freeFrames"),
                         InstanceMethod<&XskPort::Stats>("stats"),
                         InstanceMethod<&XskPort::Poll>("poll"),
                         InstanceMethod<&XskPort::Close>("close"),
                         InstanceMethod<&XskPort::ReleaseMember>("releaseMember"),
                         InstanceAccessor<&XskPort::GetUmem>("umem"),
                         InstanceAccessor<&XskPort::GetFd>("fd"),
                         InstanceAccessor<&XskPort::GetUmemFd>("umemFd"),
                         InstanceAccessor<&XskPort::GetPollFd>("pollFd"),
                         InstanceAccessor<&XskPort::GetFrameSize>("frameSize"),
                         InstanceAccessor<&XskPort::GetHeadroom>("headroom"),
                     });
}

XskPort::XskPort(const Napi::CallbackInfo& info) : EnvBound<XskPort>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "XskPort: expected an options object { ifname, queue, ... }").ThrowAsJavaScriptException();
    return;
  }
  if (!Open(env, info[0].As<Napi::Object>())) {
    Release();
    return;
  }
  BindToEnv();
}

XskPort::~XskPort() {
  Release();
}

bool XskPort::Open(Napi::Env env, const Napi::Object& o) {
  Napi::Value ifname = o.Get("ifname");
  if (!ifname.IsString()) {
    Napi::TypeError::New(env, "XskPort: option ifname must be a string").ThrowAsJavaScriptException();
    return false;
  }
  ifname_ = ifname.As<Napi::String>().Utf8Value();
  ifindex_ = static_cast<int>(if_nametoindex(ifname_.c_str()));
  if (ifindex_ == 0) {
    ThrowCode(env, "ENODEV", "XskPort: no interface named '" + ifname_ + "'");
    return false;
  }
  uint32_t frame_size, frame_count;
  if (!OptU32(env, o, "queue", 0, &queue_) || !OptU32(env, o, "frameSize", kDefaultFrameSize, &frame_size) ||
      !OptU32(env, o, "frameCount", kDefaultFrameCount, &frame_count) ||
      !OptU32(env, o, "rxSize", kDefaultRingSize, &rx_size_) ||
      !OptU32(env, o, "txSize", kDefaultRingSize, &tx_size_) ||
      !OptU32(env, o, "fillSize", kDefaultRingSize, &fill_size_) ||
      !OptU32(env, o, "compSize", kDefaultRingSize, &comp_size_))
    return false;
  if (frame_size != 2048 && frame_size != 4096) {
    ThrowRange(env, "XskPort: frameSize must be 2048 or 4096 (aligned UMEM chunks)");
    return false;
  }
  if (!IsPowerOfTwo(frame_count) || frame_count < 64 || frame_count > (1u << 20)) {
    ThrowRange(env, "XskPort: frameCount must be a power of two in [64, 1048576]");
    return false;
  }
  for (uint32_t s : {rx_size_, tx_size_, fill_size_, comp_size_}) {
    if (!IsPowerOfTwo(s) || s < 64 || s > 16384) {
      ThrowRange(env, "XskPort: ring sizes must be powers of two in [64, 16384]");
      return false;
    }
  }
  std::string mode = "auto";
  if (o.Get("mode").IsString()) mode = o.Get("mode").As<Napi::String>().Utf8Value();
  if (mode != "auto" && mode != "native" && mode != "generic") {
    ThrowRange(env, "XskPort: mode must be 'auto', 'native' or 'generic'");
    return false;
  }
  std::vector<uint16_t> copy_modes;  // bind flags to try, best first
  Napi::Value zc = o.Get("zeroCopy");
  if (zc.IsBoolean()) {
    copy_modes.push_back(zc.As<Napi::Boolean>().Value() ? XDP_ZEROCOPY : XDP_COPY);
  } else {
    copy_modes = {XDP_ZEROCOPY, XDP_COPY};
  }
  bool inhibit = o.Get("inhibitProgLoad").ToBoolean().Value();
  // share (umem_share.h): 'anchor' (UMEM in a memfd of our own that members
  // map), { memfds } (anchor in the caller's memfd for our queue, made by
  // shareMemfd), or { anchorFd(s), memfd(s), slot } (join an anchor).
  Napi::Value share = o.Get("share");
  int given_memfd = -1;
  if (share.IsObject() && share.As<Napi::Object>().Has("slot")) return OpenMember(env, share.As<Napi::Object>());
  if (share.IsObject()) given_memfd = FdForQueue(share.As<Napi::Object>(), "memfd", "memfds", queue_);
  bool anchor = (share.IsString() && share.As<Napi::String>().Utf8Value() == "anchor") || given_memfd >= 0;
  if (!share.IsUndefined() && !share.IsNull() && !anchor) {
    Napi::TypeError::New(env, "XskPort: option share must be 'anchor', { memfds } or { anchorFds, memfds, slot }")
        .ThrowAsJavaScriptException();
    return false;
  }
  busy_poll_ = o.Get("busyPoll").ToBoolean().Value();
  // busyWaitMs: how long EBUSY is retried (below); 0 for a caller that asks again later itself.
  uint32_t busy_wait_ms = kBindBusyRetryMs;
  if (o.Get("busyWaitMs").IsNumber()) busy_wait_ms = std::min<uint32_t>(o.Get("busyWaitMs").As<Napi::Number>().Uint32Value(), 10000);

  const size_t umem_bytes = size_t(frame_size) * frame_count;
  if (anchor) {
    int memfd = given_memfd >= 0 ? fcntl(given_memfd, F_DUPFD_CLOEXEC, 0) : MakeShareMemfd(frame_size, frame_count);
    struct stat st = {};
    if (memfd < 0 || fstat(memfd, &st) != 0 || st.st_size != static_cast<off_t>(ShareMemfdSize(umem_bytes, frame_count))) {
      ThrowCode(env, "XSK_SHARE", std::string("XskPort: no memfd of the right size for the shared UMEM: ") + strerror(errno));
      if (memfd >= 0) close(memfd);
      return false;
    }
    region_ = std::make_shared<UmemRegion>(memfd, umem_bytes, ShareMemfdSize(umem_bytes, frame_count));
  } else {
    region_ = std::make_shared<UmemRegion>(umem_bytes);
  }
  if (!region_->ok()) {
    ThrowCode(env, "ENOMEM", std::string("XskPort: cannot map UMEM: ") + strerror(errno));
    return false;
  }
  if (anchor) {
    // Zero-filled by ftruncate: every slot free, every frame the anchor's (holder 0).
    holder_ = region_->tail();
    share_ = reinterpret_cast<ShareControl*>(region_->tail() + ShareHolderBytes(frame_count));
    share_->frame_size = frame_size;
    share_->frame_count = frame_count;
    share_->magic = kShareMagic;
    share_role_ = ShareRole::kAnchor;
  }
  pool_ = FramePool(frame_size, frame_count);

  struct xsk_umem_config ucfg = {};
  ucfg.fill_size = fill_size_;
  ucfg.comp_size = comp_size_;
  ucfg.frame_size = frame_size;
  ucfg.frame_headroom = 0;
  ucfg.flags = 0;
  int err = xsk_umem__create(&umem_, region_->base(), region_->size(), &fq_, &cq_, &ucfg);
  if (err) {
    umem_ = nullptr;
    ThrowCode(env, "XSK_UMEM", std::string("XskPort: xsk_umem__create failed: ") + strerror(-err));
    return false;
  }

  // auto: native (driver) XDP first, then generic (skb); within each, zero
  // copy first, then copy. When an XdpFilter owns the program the xdp_flags
  // are not used by libxdp, so one pass over the copy modes is enough.
  std::vector<std::pair<uint32_t, const char*>> xdp_modes;
  if (mode != "generic") xdp_modes.push_back({XDP_FLAGS_DRV_MODE, "native"});
  if (mode != "native") xdp_modes.push_back({XDP_FLAGS_SKB_MODE, "generic"});
  if (inhibit) xdp_modes.resize(1);
  // A queue stays busy for a moment after its previous socket closed (the
  // kernel frees the buffer pool from deferred work), so EBUSY is retried
  // for up to busy_wait_ms (default kBindBusyRetryMs) before it counts as a real conflict.
  DiagCollector diag;  // libxdp's lines of this bind, for the error (libxdp_diag.h)
  std::string tried;
  for (uint32_t waited = 0;; waited += kBindBusyStepMs) {
    tried.clear();
    bool only_busy = true;
    for (auto& xm : xdp_modes) {
      for (uint16_t cm : copy_modes) {
        struct xsk_socket_config scfg = {};
        scfg.rx_size = rx_size_;
        scfg.tx_size = tx_size_;
        scfg.libxdp_flags = inhibit ? XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD : 0;
        scfg.xdp_flags = xm.first | XDP_FLAGS_UPDATE_IF_NOEXIST;
        scfg.bind_flags = cm | XDP_USE_NEED_WAKEUP;
        err = xsk_socket__create(&xsk_, ifname_.c_str(), queue_, umem_, &rx_, &tx_, &scfg);
        if (!err) {
          mode_ = xm.second;
          goto bound;
        }
        xsk_ = nullptr;
        // Zero-copy refused on a copy-only driver is expected, not "busy".
        if (err != -EBUSY && !(cm == XDP_ZEROCOPY && copy_modes.size() > 1)) only_busy = false;
        tried += std::string(tried.empty() ? "" : "; ") + xm.second + "/" + (cm == XDP_ZEROCOPY ? "zero-copy" : "copy") +
                 ": " + strerror(-err);
      }
    }
    if (!only_busy || waited >= busy_wait_ms) break;
    usleep(kBindBusyStepMs * 1000);
  }
  // The kernel keeps one AF_XDP buffer pool per (device, queue): a queue
  // another process's socket is bound to stays busy as long as it lives.
  ThrowCode(env, err == -EBUSY ? "EBUSY" : "XSK_SOCKET",
            "XskPort: cannot bind an AF_XDP socket to " + ifname_ + " queue " + std::to_string(queue_) + " (" + tried + ")" +
                (err == -EBUSY ? " — another AF_XDP socket (another xdpwg?) holds this queue" : "") +
                diag.TakeSuffix("libxdp: "));
  return false;

bound:
  fd_ = xsk_socket__fd(xsk_);
  {
    struct xdp_options opts = {};
    socklen_t len = sizeof(opts);
    if (getsockopt(fd_, SOL_XDP, XDP_OPTIONS, &opts, &len) == 0) zero_copy_ = opts.flags & XDP_OPTIONS_ZEROCOPY;
  }
  if (inhibit) {
    const char* attached = AttachedMode(ifindex_);
    mode_ = attached ? attached : (mode == "native" ? "native" : "generic");
  }
  need_wakeup_ = true;
  if (busy_poll_) {
    int one = 1, usecs = kBusyPollUsecs, budget = kBusyPollBudget;
    if (setsockopt(fd_, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof(one)) ||
        setsockopt(fd_, SOL_SOCKET, SO_BUSY_POLL, &usecs, sizeof(usecs)) ||
        setsockopt(fd_, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget, sizeof(budget))) {
      ThrowCode(env, "XSK_BUSY_POLL", std::string("XskPort: busy poll requested but refused: ") + strerror(errno));
      return false;
    }
  }

  // An anchor's members ask for service through an eventfd (umem_share.h);
  // the worker waits on one epoll fd holding it and our socket (pollFd).
  if (share_role_ == ShareRole::kAnchor && share.IsObject()) {
    int wake = FdForQueue(share.As<Napi::Object>(), "wakeFd", "wakeFds", queue_);
    if (wake >= 0 && !OpenPollSet(wake)) {
      ThrowCode(env, "XSK_SHARE", std::string("XskPort: cannot watch the members' wake eventfd: ") + strerror(errno));
      return false;
    }
  }
  // Give the kernel frames to receive into (up to the fill ring's size).
  RefillFillRing();
  ExportUmem(env);
  return true;
}

bool XskPort::OpenPollSet(int wake_fd) {
  wake_fd_ = fcntl(wake_fd, F_DUPFD_CLOEXEC, 0);
  poll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (wake_fd_ < 0 || poll_fd_ < 0) return false;
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.fd = fd_;
  if (epoll_ctl(poll_fd_, EPOLL_CTL_ADD, fd_, &ev) != 0) return false;
  ev.data.fd = wake_fd_;
  return epoll_ctl(poll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) == 0;
}

// Member: tells the anchor's worker it has work for it (frames to take
// back, a fill ring we drew from, grants running low). One write per burst at most.
void XskPort::WakeAnchor() {
  if (wake_fd_ < 0) return;
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void XskPort::ExportUmem(Napi::Env env) {
  auto* hint = new std::shared_ptr<UmemRegion>(region_);
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, region_->base(), region_->size(), FinalizeUmem, hint);
  umem_ref_ = Napi::Persistent(ab);
}

// A member of another process's shared UMEM (umem_share.h): maps its memfd,
// joins its socket's buffer pool on the same queue, takes slot `slot`. The
// fds are the caller's (dup'ed here: the caller closes its own).
bool XskPort::OpenMember(Napi::Env env, const Napi::Object& share) {
  int anchor_fd = FdForQueue(share, "anchorFd", "anchorFds", queue_), memfd = FdForQueue(share, "memfd", "memfds", queue_);
  int slot = share.Get("slot").IsNumber() ? share.Get("slot").As<Napi::Number>().Int32Value() : -1;
  if (anchor_fd < 0 || memfd < 0 || slot < 1 || slot >= static_cast<int>(kShareMembers)) {
    ThrowRange(env, "XskPort: share needs anchorFd and memfd (fds) and slot in 1.." + std::to_string(kShareMembers - 1));
    return false;
  }
  struct stat st = {};
  if (fstat(memfd, &st) != 0 || st.st_size <= static_cast<off_t>(ShareControlBytes())) {
    ThrowCode(env, "XSK_SHARE", "XskPort: the shared UMEM's memfd is not one (size " + std::to_string(st.st_size) + ")");
    return false;
  }
  // ShareControl lies at the end; its head tells the frame geometry, and so where the frames and holder table end.
  const size_t map_size = static_cast<size_t>(st.st_size);
  uint32_t head[3] = {};
  if (pread(memfd, head, sizeof(head), static_cast<off_t>(map_size - ShareControlBytes())) != sizeof(head) ||
      head[0] != kShareMagic || head[2] == 0 ||
      ShareMemfdSize(uint64_t(head[1]) * head[2], head[2]) != map_size) {
    ThrowCode(env, "XSK_SHARE", "XskPort: the memfd holds no shared UMEM of xdpwg");
    return false;
  }
  int own = fcntl(memfd, F_DUPFD_CLOEXEC, 0);
  region_ = std::make_shared<UmemRegion>(own, uint64_t(head[1]) * head[2], map_size);
  if (own < 0 || !region_->ok()) {
    ThrowCode(env, "ENOMEM", std::string("XskPort: cannot map the shared UMEM: ") + strerror(errno));
    return false;
  }
  holder_ = region_->tail();
  share_ = reinterpret_cast<ShareControl*>(region_->tail() + ShareHolderBytes(head[2]));
  int wake = FdForQueue(share, "anchorWakeFd", "anchorWakeFds", queue_);
  if (wake >= 0) wake_fd_ = fcntl(wake, F_DUPFD_CLOEXEC, 0);
  // Only a free slot is claimed: a gone one is the anchor's to drain and free
  // (ServeMembers). Whoever marked it gone woke the anchor, so it is free
  // soon; we wake it again and wait up to busy_wait_ms, as a bind retries EBUSY.
  uint32_t busy_wait_ms = kBindBusyRetryMs;
  if (share.Get("busyWaitMs").IsNumber()) busy_wait_ms = std::min<uint32_t>(share.Get("busyWaitMs").As<Napi::Number>().Uint32Value(), 10000);
  uint32_t expect = kSlotFree;
  for (uint32_t waited = 0;; waited += kBindBusyStepMs) {
    expect = kSlotFree;
    if (share_->members[slot].state.compare_exchange_strong(expect, kSlotJoined, std::memory_order_acq_rel)) break;
    if (expect != kSlotGone || waited >= busy_wait_ms) {
      share_ = nullptr;
      holder_ = nullptr;
      ThrowCode(env, "EBUSY", "XskPort: slot " + std::to_string(slot) + " of the shared UMEM is " +
                                  (expect == kSlotGone ? "still being released by the anchor" : "taken"));
      return false;
    }
    WakeAnchor();
    usleep(kBindBusyStepMs * 1000);
  }
  share_->members[slot].pid.store(static_cast<uint32_t>(getpid()), std::memory_order_relaxed);
  share_role_ = ShareRole::kMember;
  share_slot_ = static_cast<uint32_t>(slot);
  pool_ = FramePool(share_->frame_size, share_->frame_count, /*away=*/true);
  const char* step = "";
  int err = OpenMemberSocket(ifindex_, queue_, anchor_fd, rx_size_, tx_size_, &rx_, &tx_, &member_, &step);
  if (err) {
    ThrowCode(env, err == -EBUSY ? "EBUSY" : "XSK_SOCKET",
              "XskPort: cannot join the shared UMEM on " + ifname_ + " queue " + std::to_string(queue_) + ": " + step +
                  ": " + strerror(-err));
    return false;
  }
  fd_ = member_.fd;
  const char* attached = AttachedMode(ifindex_);
  mode_ = attached ? attached : "generic";
  need_wakeup_ = true;
  ExportUmem(env);
  WakeAnchor();  // grants before our first send
  return true;
}

// Anchor: takes back what members returned, and keeps each joined member's
// grant ring topped up (while our own pool keeps its fill reserve). A slot
// whose member is gone gets every frame it held back (ReclaimSlot) and is freed.
void XskPort::ServeMembers() {
  if (wake_fd_ >= 0) {
    uint64_t n;
    (void)!read(wake_fd_, &n, sizeof(n));  // non-blocking: level-triggered poll must see it drained
  }
  const size_t reserve = pool_.frame_count() / 4;
  for (uint32_t slot = 1; slot < kShareMembers; slot++) {
    ShareMember& m = share_->members[slot];
    uint32_t state = m.state.load(std::memory_order_acquire);
    if (state == kSlotFree) continue;
    uint64_t off;
    while (m.ret.pop(&off)) TakeBack(off);
    if (state == kSlotGone) {
      ReclaimSlot(slot);
      m.state.store(kSlotFree, std::memory_order_release);
      continue;
    }
    // Grants may dip into half of the reserve RefillFillRing keeps back: with
    // a fill ring as large as the UMEM's other three quarters (the datapath's
    // default, fillRing 4096 of 4096 frames) the pool otherwise sits at the
    // reserve whenever we are idle, and a member could never send.
    uint64_t frame;
    while (m.grant.count() < kShareGrantTarget && pool_.available() > reserve / 2 && pool_.take(FrameOwner::kLent, &frame)) {
      SetHolder(frame, static_cast<uint8_t>(slot));  // before the push publishes it (umem_share.h)
      if (!m.grant.push(frame)) {
        SetHolder(frame, 0);
        pool_.give_back(frame);
        break;
      }
      c_.share_granted++;
    }
  }
}

void XskPort::SetHolder(uint64_t frame, uint8_t who) {
  __atomic_store_n(&holder_[frame / pool_.frame_size()], who, __ATOMIC_RELAXED);
}

// Anchor: the member of a gone slot can no longer run (umem_share.h): its ret
// ring, its grant ring (we are the only reader now) and every frame the
// holder table names as its own come back to our pool. Frames it had put on
// its tx ring (kHeldTx) are the kernel's: their completions bring them back.
void XskPort::ReclaimSlot(uint32_t slot) {
  ShareMember& m = share_->members[slot];
  uint64_t off;
  while (m.ret.pop(&off)) TakeBack(off);
  while (m.grant.pop(&off)) TakeBack(off);
  const uint32_t fs = pool_.frame_size();
  for (uint32_t i = 0; i < pool_.frame_count(); i++) {
    if (__atomic_load_n(&holder_[i], __ATOMIC_RELAXED) != slot) continue;
    TakeBack(uint64_t(i) * fs);
  }
}

// Anchor: a frame a member gave back: one we granted, or one it received
// from our fill ring. Anything else would be a frame in use elsewhere.
void XskPort::TakeBack(uint64_t offset) {
  if (!pool_.in_range(offset)) {
    c_.share_invalid++;
    return;
  }
  uint64_t frame = pool_.frame_of(offset);
  FrameOwner was = pool_.owner(frame);
  if (was != FrameOwner::kLent && was != FrameOwner::kFill) {
    c_.share_invalid++;
    return;
  }
  SetHolder(frame, 0);
  pool_.give_back(frame);
  c_.share_returned++;
}

// Member: moves granted frames into our pool until it holds want (or the grants run out).
void XskPort::TakeGrants(uint32_t want) {
  ShareRing& g = share_->members[share_slot_].grant;
  uint64_t off;
  if (g.count() < kShareGrantTarget / 2) WakeAnchor();
  while (pool_.available() < want && g.pop(&off)) {
    if (!pool_.in_range(off) || pool_.owner(pool_.frame_of(off)) != FrameOwner::kAway) {
      c_.share_invalid++;
      continue;
    }
    pool_.give_back(pool_.frame_of(off));
  }
}

// Member: keeps kShareMemberCache frames for its own sends and returns the rest to the anchor.
void XskPort::ReturnSurplus() {
  ShareRing& r = share_->members[share_slot_].ret;
  uint64_t frame;
  bool returned = false;
  while (pool_.available() > kShareMemberCache && pool_.take(FrameOwner::kAway, &frame)) {
    if (!r.push(frame)) {
      pool_.give_back(frame);
      break;
    }
    returned = true;
  }
  if (returned) WakeAnchor();
}

void XskPort::FreeResources() {
  if (share_role_ == ShareRole::kMember) LeaveShare();
  if (poll_fd_ >= 0) close(poll_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
  poll_fd_ = wake_fd_ = -1;
  share_role_ = ShareRole::kNone;
  share_ = nullptr;
  holder_ = nullptr;
  if (xsk_) xsk_socket__delete(xsk_);
  xsk_ = nullptr;
  if (umem_) xsk_umem__delete(umem_);
  umem_ = nullptr;
  fd_ = -1;
  // The mapping itself lives on while an ArrayBuffer still points at it.
  region_.reset();
  if (!umem_ref_.IsEmpty()) umem_ref_.Reset();
}

// Member: closes our socket and gives every frame we hold back to the anchor
// (umem_share.h). Frames in our pool, JS's and our ret ring are marked ours
// already; the rx ring's unread ones get marked now; the tx ring is kicked
// until the kernel has taken it (its completions go to the anchor). Then
// the socket closes (nothing more lands on our rx ring), and only then the
// slot turns gone: from that point nothing of ours touches those frames, and
// the anchor, woken, takes them all back.
void XskPort::LeaveShare() {
  if (fd_ >= 0) {
    uint32_t idx = 0, n;
    while ((n = xsk_ring_cons__peek(&rx_, rx_size_, &idx)) > 0) {
      for (uint32_t i = 0; i < n; i++) {
        uint64_t addr = xsk_ring_cons__rx_desc(&rx_, idx + i)->addr;
        if (pool_.in_range(addr)) SetHolder(pool_.frame_of(addr), static_cast<uint8_t>(share_slot_));
      }
      xsk_ring_cons__release(&rx_, n);
    }
    // Copy mode sends inside sendto, a batch per call; a bounded number of
    // kicks moves any tx ring (the default 2048 entries take 64).
    for (int i = 0; i < 128; i++) {
      ReclaimCompletions();  // a member's: recomputes what the kernel has not taken
      if (!tx_outstanding_) break;
      if (sendto(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, 0) < 0 && errno != EAGAIN && errno != EBUSY &&
          errno != ENOBUFS && errno != EINTR)
        break;
    }
  }
  CloseMemberSocket(&member_);
  fd_ = -1;
  share_->members[share_slot_].state.store(kSlotGone, std::memory_order_release);
  WakeAnchor();
}

bool XskPort::CheckOpen(Napi::Env env) {
  if (fd_ >= 0) return true;
  ThrowCode(env, "ERR_CLOSED", "XskPort: port is closed");
  return false;
}

void XskPort::ReclaimCompletions() {
  if (share_role_ == ShareRole::kMember) {
    // No completion ring here (the anchor's gets them): what is still
    // outstanding is what the kernel has not taken from our tx ring yet.
    tx_outstanding_ = tx_.cached_prod - __atomic_load_n(tx_.consumer, __ATOMIC_ACQUIRE);
    return;
  }
  if (share_role_ == ShareRole::kAnchor) ServeMembers();
  uint32_t idx = 0;
  uint32_t n = xsk_ring_cons__peek(&cq_, comp_size_, &idx);
  if (!n) return;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t addr = *xsk_ring_cons__comp_addr(&cq_, idx + i);
    // Ours (kTx), or a member's send: a frame we granted (kLent) or one it received (kFill).
    FrameOwner was = pool_.in_range(addr) ? pool_.owner(pool_.frame_of(addr)) : FrameOwner::kPool;
    if (was == FrameOwner::kTx || (share_role_ == ShareRole::kAnchor && (was == FrameOwner::kLent || was == FrameOwner::kFill))) {
      if (holder_) SetHolder(pool_.frame_of(addr), 0);  // a member's send (kHeldTx|slot) is ours again
      pool_.give_back(pool_.frame_of(addr));
    } else {
      c_.tx_invalid++;  // the kernel completed an address we never sent: never expected
    }
  }
  xsk_ring_cons__release(&cq_, n);
  c_.completions += n;
  tx_outstanding_ = tx_outstanding_ > n ? tx_outstanding_ - n : 0;
}

// Keeps the fill ring topped up, but keeps a quarter of the UMEM in the pool:
// that is what transmit and JS-held frames draw from.
void XskPort::RefillFillRing() {
  if (share_role_ == ShareRole::kMember) return;  // the anchor fills for both
  uint32_t free_slots = xsk_prod_nb_free(&fq_, fill_size_);
  if (free_slots < 16 && free_slots != fill_size_) return;  // refill in batches
  uint32_t idx = 0;
  uint32_t want = free_slots;
  uint32_t reserved = xsk_ring_prod__reserve(&fq_, want, &idx);
  uint32_t i = 0;
  // Keep a quarter of the UMEM back for transmit and for frames JS holds.
  const size_t reserve = pool_.frame_count() / 4;
  for (; i < reserved; i++) {
    uint64_t frame;
    if (pool_.available() <= reserve || !pool_.take(FrameOwner::kFill, &frame)) break;
    *xsk_ring_prod__fill_addr(&fq_, idx + i) = frame;
  }
  if (i < reserved) {
    // Return the unused reservations (libxdp has no producer cancel).
    fq_.cached_prod -= reserved - i;
    if (i == 0) c_.fq_empty++;
  }
  if (i) {
    xsk_ring_prod__submit(&fq_, i);
    c_.fq_filled += i;
  }
}

void XskPort::KickTx() {
  // Copy mode transmits inside sendto, at most a fixed budget of frames per
  // call (the kernel's TX_BATCH_SIZE, 32), then answers EAGAIN with frames
  // still queued. Retrying right away moves the rest of the burst; the bound
  // keeps one burst from spinning when the device itself is backed up.
  for (int attempt = 0; attempt < kMaxKicksPerBurst; attempt++) {
    c_.kicks++;
    if (sendto(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, 0) >= 0) {
      tx_kick_pending_ = false;
      return;
    }
    if (errno == EAGAIN || errno == EINTR) {
      ReclaimCompletions();
      tx_kick_pending_ = true;
      if (!tx_outstanding_) return;
      continue;
    }
    // EBUSY: another sendto is in progress; ENOBUFS: the device queue is
    // full. Both clear by themselves: retry on the next burst.
    if (errno == EBUSY || errno == ENOBUFS) {
      tx_kick_pending_ = true;
    } else {
      tx_kick_pending_ = false;
      c_.kick_errors++;
      c_.oerrors++;
    }
    return;
  }
}

Napi::Value XskPort::RxBurst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint32Array desc;
  uint32_t max;
  if (!ArgU32Array(info, 0, "rxBurst: desc", &desc) || !ArgCount(info, 1, "rxBurst: max", &max)) return env.Null();
  if (!CheckOpen(env)) return env.Null();
  if (max > desc.ElementLength() / 2) max = static_cast<uint32_t>(desc.ElementLength() / 2);
  uint32_t* out = desc.Data();
  c_.rx_bursts++;

  ReclaimCompletions();
  if (tx_kick_pending_ && tx_outstanding_) KickTx();

  uint32_t idx = 0, got = 0;
  uint32_t n = max ? xsk_ring_cons__peek(&rx_, max, &idx) : 0;
  const uint64_t total = pool_.total_bytes();
  for (uint32_t i = 0; i < n; i++) {
    const struct xdp_desc* d = xsk_ring_cons__rx_desc(&rx_, idx + i);
    uint64_t addr = d->addr;
    uint64_t frame = addr < total ? pool_.frame_of(addr) : 0;
    // Into a frame we put on the fill ring; a member's from the anchor's fill ring: one not its own.
    const FrameOwner expect = share_role_ == ShareRole::kMember ? FrameOwner::kAway : FrameOwner::kFill;
    if (addr >= total || addr - frame + d->len > pool_.frame_size() || pool_.owner(frame) != expect) {
      // A descriptor outside anything we gave the kernel: never hand it to JS.
      c_.rx_invalid++;
      c_.ierrors++;
      continue;
    }
    pool_.set_owner(frame, FrameOwner::kJs);
    // A member marks what it takes off its rx ring before releasing the entry (umem_share.h).
    if (share_role_ == ShareRole::kMember) SetHolder(frame, static_cast<uint8_t>(share_slot_));
    out[2 * got] = static_cast<uint32_t>(addr);
    out[2 * got + 1] = d->len;
    got++;
    c_.ibytes += d->len;
  }
  if (n) xsk_ring_cons__release(&rx_, n);
  c_.ipackets += got;

  RefillFillRing();
  if (share_role_ == ShareRole::kMember && got) WakeAnchor();  // we drew from the anchor's fill ring
  // In copy mode the kernel never sets the fill ring's flag; in zero-copy
  // mode it does when the driver needs a poke to use new fill entries.
  if (need_wakeup_ && share_role_ != ShareRole::kMember && xsk_ring_prod__needs_wakeup(&fq_)) {
    c_.kicks++;
    if (recvfrom(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr) < 0 && errno != EAGAIN && errno != EBUSY &&
        errno != EINTR && errno != ENOBUFS)
      c_.kick_errors++;
  }
  return Napi::Number::New(env, got);
}

Napi::Value XskPort::TxBurst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint32Array desc;
  uint32_t n;
  if (!ArgU32Array(info, 0, "txBurst: desc", &desc) || !ArgCount(info, 1, "txBurst: n", &n)) return env.Null();
  if (!CheckOpen(env)) return env.Null();
  if (n > desc.ElementLength() / 2) n = static_cast<uint32_t>(desc.ElementLength() / 2);
  const uint32_t* in = desc.Data();
  c_.tx_bursts++;

  ReclaimCompletions();
  if (!n) {
    if (tx_kick_pending_ && tx_outstanding_) KickTx();
    return Napi::Number::New(env, 0);
  }
  uint32_t idx = 0;
  uint32_t reserved = xsk_ring_prod__reserve(&tx_, n, &idx);
  if (reserved < n) c_.tx_ring_full++;

  const uint64_t total = pool_.total_bytes();
  const uint32_t fs = pool_.frame_size();
  uint32_t taken = 0, slot = 0;
  for (; taken < n; taken++) {
    uint64_t addr = in[2 * taken];
    uint32_t len = in[2 * taken + 1];
    bool js_owned = addr < total && pool_.owner(pool_.frame_of(addr)) == FrameOwner::kJs;
    if (!js_owned || len == 0 || addr - pool_.frame_of(addr) + len > fs) {
      // Invalid: drop it (returning the frame when it is JS's) and count it.
      c_.tx_invalid++;
      c_.odropped++;
      if (js_owned) pool_.give_back(pool_.frame_of(addr));
      continue;
    }
    if (slot == reserved) break;  // ring full: the rest stay JS-owned
    struct xdp_desc* d = xsk_ring_prod__tx_desc(&tx_, idx + slot);
    d->addr = addr;
    d->len = len;
    d->options = 0;
    // A member's sent frame comes back on the anchor's completion ring, not
    // ours; it says so in the holder table before the submit publishes it.
    pool_.set_owner(pool_.frame_of(addr), share_role_ == ShareRole::kMember ? FrameOwner::kAway : FrameOwner::kTx);
    if (share_role_ == ShareRole::kMember) SetHolder(pool_.frame_of(addr), static_cast<uint8_t>(kHeldTx | share_slot_));
    slot++;
    c_.obytes += len;
  }
  if (slot < reserved) tx_.cached_prod -= reserved - slot;
  if (slot) {
    xsk_ring_prod__submit(&tx_, slot);
    c_.opackets += slot;
    tx_outstanding_ += slot;
  }
  if ((slot || tx_kick_pending_) && xsk_ring_prod__needs_wakeup(&tx_)) KickTx();
  if (share_role_ == ShareRole::kMember && slot) WakeAnchor();  // our completions land on the anchor's ring
  // Copy mode completes during sendto: hand frames back right away so a
  // tight loop does not starve the pool.
  ReclaimCompletions();
  return Napi::Number::New(env, taken);
}

Napi::Value XskPort::AllocFrames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint32Array out;
  uint32_t n;
  if (!ArgU32Array(info, 0, "allocFrames: out", &out) || !ArgCount(info, 1, "allocFrames: n", &n)) return env.Null();
  if (!CheckOpen(env)) return env.Null();
  if (n > out.ElementLength()) n = static_cast<uint32_t>(out.ElementLength());
  ReclaimCompletions();
  if (share_role_ == ShareRole::kMember) TakeGrants(n);
  uint32_t* o = out.Data();
  uint32_t got = 0;
  uint64_t frame;
  while (got < n && pool_.take(FrameOwner::kJs, &frame)) o[got++] = static_cast<uint32_t>(frame);
  return Napi::Number::New(env, got);
}

Napi::Value XskPort::FreeFrames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint32Array offs;
  uint32_t n;
  if (!ArgU32Array(info, 0, "freeFrames: offsets", &offs) || !ArgCount(info, 1, "freeFrames: n", &n))
    return env.Undefined();
  if (fd_ < 0) return env.Undefined();  // closed: everything is going away anyway
  if (n > offs.ElementLength()) n = static_cast<uint32_t>(offs.ElementLength());
  const uint32_t* in = offs.Data();
  for (uint32_t i = 0; i < n; i++)
    if (!pool_.free_from_js(in[i])) c_.free_invalid++;
  if (share_role_ == ShareRole::kMember) ReturnSurplus();
  return env.Undefined();
}

Napi::Value XskPort::Poll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Null();
  int timeout = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  struct pollfd p = {fd_, POLLIN, 0};
  int r = poll(&p, 1, timeout);
  return Napi::Boolean::New(env, r > 0 && (p.revents & POLLIN));
}

Napi::Value XskPort::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object s = Napi::Object::New(env);
  struct xdp_statistics k = {};
  if (fd_ >= 0) {
    socklen_t len = sizeof(k);
    if (getsockopt(fd_, SOL_XDP, XDP_STATISTICS, &k, &len) != 0) memset(&k, 0, sizeof(k));
  }
  auto put = [&](const char* name, uint64_t v) { s.Set(name, Napi::Number::New(env, static_cast<double>(v))); };
  put("ipackets", c_.ipackets);
  put("opackets", c_.opackets);
  put("ibytes", c_.ibytes);
  put("obytes", c_.obytes);
  put("ierrors", c_.ierrors);
  put("oerrors", c_.oerrors);
  // Packets the kernel had to drop: no fill buffer or rx ring full.
  put("imissed", k.rx_dropped + k.rx_ring_full);
  put("odropped", c_.odropped);
  put("rx_invalid", c_.rx_invalid + k.rx_invalid_descs);
  put("tx_invalid", c_.tx_invalid + k.tx_invalid_descs);
  put("fq_empty", c_.fq_empty);
  put("fq_filled", c_.fq_filled);
  put("tx_ring_full", c_.tx_ring_full);
  put("kicks", c_.kicks);
  put("kick_errors", c_.kick_errors);
  put("completions", c_.completions);
  put("free_invalid", c_.free_invalid);
  put("rx_bursts", c_.rx_bursts);
  put("tx_bursts", c_.tx_bursts);
  put("tx_outstanding", tx_outstanding_);
  put("share_granted", c_.share_granted);
  put("share_returned", c_.share_returned);
  put("share_invalid", c_.share_invalid);
  put("frames_free", pool_.available());
  put("kernel_rx_dropped", k.rx_dropped);
  put("kernel_rx_ring_full", k.rx_ring_full);
  put("kernel_fill_ring_empty", k.rx_fill_ring_empty_descs);
  put("kernel_tx_ring_empty", k.tx_ring_empty_descs);
  return s;
}

Napi::Value XskPort::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("ifname", ifname_);
  o.Set("ifindex", ifindex_);
  o.Set("queue", queue_);
  o.Set("mode", mode_);
  o.Set("zeroCopy", zero_copy_);
  o.Set("busyPoll", busy_poll_);
  o.Set("frameSize", pool_.frame_size());
  o.Set("frameCount", pool_.frame_count());
  o.Set("headroom", kXdpPacketHeadroom);
  o.Set("rxSize", rx_size_);
  o.Set("txSize", tx_size_);
  o.Set("fillSize", fill_size_);
  o.Set("compSize", comp_size_);
  o.Set("share", share_role_ == ShareRole::kAnchor ? "anchor" : share_role_ == ShareRole::kMember ? "member" : "none");
  o.Set("shareSlot", share_slot_);
  return o;
}

// Anchor: releaseMember(slot) — the member's process is gone (its Unix
// connection ended) without closing its port: mark the slot gone, so the next
// burst takes back what it had not used of its grants and frees the slot.
Napi::Value XskPort::ReleaseMember(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t slot = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 0;
  if (share_role_ != ShareRole::kAnchor || slot < 1 || slot >= kShareMembers) {
    ThrowRange(env, "XskPort.releaseMember(slot): an anchor port and a slot in 1.." + std::to_string(kShareMembers - 1));
    return env.Undefined();
  }
  uint32_t expect = kSlotJoined;
  share_->members[slot].state.compare_exchange_strong(expect, kSlotGone, std::memory_order_acq_rel);
  ServeMembers();
  return env.Undefined();
}

Napi::Value XskPort::Close(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value XskPort::GetUmem(const Napi::CallbackInfo& info) {
  if (umem_ref_.IsEmpty()) return info.Env().Null();
  return umem_ref_.Value();
}
Napi::Value XskPort::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
Napi::Value XskPort::GetPollFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), poll_fd_ >= 0 ? poll_fd_ : fd_);
}
Napi::Value XskPort::GetUmemFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), share_role_ == ShareRole::kAnchor ? region_->memfd() : -1);
}
Napi::Value XskPort::GetFrameSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), pool_.frame_size());
}
Napi::Value XskPort::GetHeadroom(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), kXdpPacketHeadroom);
}

void InitXskPort(Napi::Env env, Napi::Object exports) {
  exports.Set("XskPort", XskPort::Define(env));
  exports.Set("shareMemfd", Napi::Function::New(env, ShareMemfd, "shareMemfd"));
  exports.Set("shareReleaseSlot", Napi::Function::New(env, ShareReleaseSlot, "shareReleaseSlot"));
  exports.Set("shareWakeFd", Napi::Function::New(env, ShareWakeFd, "shareWakeFd"));
}

}  // namespace xdpwg
