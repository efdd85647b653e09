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
  if (info.Length() <= i || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
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

// The XDP attach mode currently on the interface, as the kernel reports it
// (netlink IFLA_XDP_ATTACHED, read by libbpf's bpf_xdp_query). Not libxdp's
// view: libxdp needs a bpffs to see its dispatcher, and there is none under
// `ip netns exec`, where it would report nothing and we would guess.
// XDP_ATTACHED_MULTI (programs in several modes at once): the driver's
// program sees the frames first, so native when one is there.
const char* AttachedMode(int ifindex) {
  LIBBPF_OPTS(bpf_xdp_query_opts, opts);
  if (bpf_xdp_query(ifindex, 0, &opts) != 0) return nullptr;
  switch (opts.attach_mode) {
    case XDP_ATTACHED_DRV:
    case XDP_ATTACHED_HW:
      return "native";
    case XDP_ATTACHED_SKB:
      return "generic";
    case XDP_ATTACHED_MULTI:
      return opts.drv_prog_id || opts.hw_prog_id ? "native" : "generic";
    default:
      return nullptr;
  }
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
    ThrowType(env, "XskPort: expected an options object { ifname, queue, ... }");
    return;
  }
  if (!Open(env, info[0].As<Napi::Object>())) {
    Release();
    return;
  }
  BindToEnv();
}

XskPort::~XskPort() { Release(); }

// Opens the port in named steps; any failing step has thrown, and the
// constructor's Release() undoes what the earlier ones made.
bool XskPort::Open(Napi::Env env, const Napi::Object& o) {
  XskOpenOptions opt;
  if (!ParseOptions(env, o, &opt)) return false;
  if (opt.member) return OpenMember(env, opt.share);
  if (!MapUmem(env, opt) || !CreateUmem(env, opt) || !BindSocket(env, opt) || !ConfigureSocket(env, opt) || !WatchMembers(env, opt))
    return false;
  RefillFillRing();  // give the kernel frames to receive into (up to the fill ring's size)
  ExportUmem(env);
  return true;
}

// Reads and checks the options; sets the fields the later steps and the
// member path share (ifname_, ifindex_, queue_, ring sizes, busy_poll_).
bool XskPort::ParseOptions(Napi::Env env, const Napi::Object& o, XskOpenOptions* opt) {
  Napi::Value ifname = o.Get("ifname");
  if (!ifname.IsString()) {
    ThrowType(env, "XskPort: option ifname must be a string");
    return false;
  }
  ifname_ = ifname.As<Napi::String>().Utf8Value();
  ifindex_ = static_cast<int>(if_nametoindex(ifname_.c_str()));
  if (ifindex_ == 0) {
    ThrowCode(env, "ENODEV", "XskPort: no interface named '" + ifname_ + "'");
    return false;
  }
  if (!OptU32(env, o, "queue", 0, &queue_) || !OptU32(env, o, "frameSize", kDefaultFrameSize, &opt->frame_size) ||
      !OptU32(env, o, "frameCount", kDefaultFrameCount, &opt->frame_count) || !OptU32(env, o, "rxSize", kDefaultRingSize, &rx_size_) ||
      !OptU32(env, o, "txSize", kDefaultRingSize, &tx_size_) || !OptU32(env, o, "fillSize", kDefaultRingSize, &fill_size_) ||
      !OptU32(env, o, "compSize", kDefaultRingSize, &comp_size_))
    return false;
  if (opt->frame_size != 2048 && opt->frame_size != 4096) {
    ThrowRange(env, "XskPort: frameSize must be 2048 or 4096 (aligned UMEM chunks)");
    return false;
  }
  if (!IsPowerOfTwo(opt->frame_count) || opt->frame_count < 64 || opt->frame_count > (1u << 20)) {
    ThrowRange(env, "XskPort: frameCount must be a power of two in [64, 1048576]");
    return false;
  }
  for (uint32_t s : {rx_size_, tx_size_, fill_size_, comp_size_}) {
    if (!IsPowerOfTwo(s) || s < 64 || s > 16384) {
      ThrowRange(env, "XskPort: ring sizes must be powers of two in [64, 16384]");
      return false;
    }
  }
  if (o.Get("mode").IsString()) opt->mode = o.Get("mode").As<Napi::String>().Utf8Value();
  if (opt->mode != "auto" && opt->mode != "native" && opt->mode != "generic") {
    ThrowRange(env, "XskPort: mode must be 'auto', 'native' or 'generic'");
    return false;
  }
  Napi::Value zc = o.Get("zeroCopy");
  if (zc.IsBoolean()) {
    opt->copy_modes.push_back(zc.As<Napi::Boolean>().Value() ? XDP_ZEROCOPY : XDP_COPY);
  } else {
    opt->copy_modes = {XDP_ZEROCOPY, XDP_COPY};
  }
  opt->inhibit = o.Get("inhibitProgLoad").ToBoolean().Value();
  // share (umem_share.h): 'anchor' (UMEM in a memfd of our own that members
  // map), { memfds } (anchor in the caller's memfd for our queue, made by
  // shareMemfd), or { anchorFd(s), memfd(s), slot } (join an anchor).
  Napi::Value share = o.Get("share");
  if (share.IsObject()) opt->share = share.As<Napi::Object>();
  if (share.IsObject() && opt->share.Has("slot")) {
    opt->member = true;
    return true;
  }
  if (share.IsObject()) opt->given_memfd = FdForQueue(opt->share, "memfd", "memfds", queue_);
  opt->anchor = (share.IsString() && share.As<Napi::String>().Utf8Value() == "anchor") || opt->given_memfd >= 0;
  if (!share.IsUndefined() && !share.IsNull() && !opt->anchor) {
    ThrowType(env, "XskPort: option share must be 'anchor', { memfds } or { anchorFds, memfds, slot }");
    return false;
  }
  busy_poll_ = o.Get("busyPoll").ToBoolean().Value();
  // busyWaitMs: how long EBUSY is retried (BindSocket); 0 for a caller that asks again later itself.
  opt->busy_wait_ms = kBindBusyRetryMs;
  if (o.Get("busyWaitMs").IsNumber()) opt->busy_wait_ms = std::min<uint32_t>(o.Get("busyWaitMs").As<Napi::Number>().Uint32Value(), 10000);
  return true;
}

// The UMEM's memory and our frame pool over it: a private mapping, or an
// anchor's memfd that members map too (MapAnchorUmem, umem_share.cc).
bool XskPort::MapUmem(Napi::Env env, const XskOpenOptions& opt) {
  if (opt.anchor) {
    if (!MapAnchorUmem(env, opt.frame_size, opt.frame_count, opt.given_memfd)) return false;
  } else {
    region_ = std::make_shared<UmemRegion>(size_t(opt.frame_size) * opt.frame_count);
    if (!region_->ok()) {
      ThrowCode(env, "ENOMEM", std::string("XskPort: cannot map UMEM: ") + strerror(errno));
      return false;
    }
  }
  pool_ = FramePool(opt.frame_size, opt.frame_count);
  return true;
}

// Registers the mapping with the kernel as a UMEM with its fill and completion rings.
bool XskPort::CreateUmem(Napi::Env env, const XskOpenOptions& opt) {
  struct xsk_umem_config ucfg = {};
  ucfg.fill_size = fill_size_;
  ucfg.comp_size = comp_size_;
  ucfg.frame_size = opt.frame_size;
  ucfg.frame_headroom = 0;
  ucfg.flags = 0;
  int err = xsk_umem__create(&umem_, region_->base(), region_->size(), &fq_, &cq_, &ucfg);
  if (err) {
    umem_ = nullptr;
    ThrowCode(env, "XSK_UMEM", std::string("XskPort: xsk_umem__create failed: ") + strerror(-err));
    return false;
  }
  return true;
}

// One xsk_socket__create attempt; 0 or -errno (xsk_ cleared on failure).
int XskPort::TryBind(uint32_t xdp_flags, uint16_t bind_flags, bool inhibit) {
  struct xsk_socket_config scfg = {};
  scfg.rx_size = rx_size_;
  scfg.tx_size = tx_size_;
  scfg.libxdp_flags = inhibit ? XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD : 0;
  scfg.xdp_flags = xdp_flags | XDP_FLAGS_UPDATE_IF_NOEXIST;
  scfg.bind_flags = bind_flags | XDP_USE_NEED_WAKEUP;
  int err = xsk_socket__create(&xsk_, ifname_.c_str(), queue_, umem_, &rx_, &tx_, &scfg);
  if (err) xsk_ = nullptr;
  return err;
}

// Binds the AF_XDP socket to (ifname_, queue_). auto: native (driver) XDP
// first, then generic (skb); within each, zero copy first, then copy. When
// an XdpFilter owns the program the xdp_flags are not used by libxdp, so one
// pass over the copy modes is enough. A queue stays busy for a moment after
// its previous socket closed (the kernel frees the buffer pool from deferred
// work), so EBUSY is retried for up to busy_wait_ms before it counts as a
// real conflict.
bool XskPort::BindSocket(Napi::Env env, const XskOpenOptions& opt) {
  std::vector<std::pair<uint32_t, const char*>> xdp_modes;
  if (opt.mode != "generic") xdp_modes.push_back({XDP_FLAGS_DRV_MODE, "native"});
  if (opt.mode != "native") xdp_modes.push_back({XDP_FLAGS_SKB_MODE, "generic"});
  if (opt.inhibit) xdp_modes.resize(1);
  DiagCollector diag;  // libxdp's lines of this bind, for the error (libxdp_diag.h)
  std::string tried;
  int err = 0;
  for (uint32_t waited = 0;; waited += kBindBusyStepMs) {
    tried.clear();
    bool only_busy = true;
    for (auto& xm : xdp_modes) {
      for (uint16_t cm : opt.copy_modes) {
        err = TryBind(xm.first, cm, opt.inhibit);
        if (!err) {
          mode_ = xm.second;
          return true;
        }
        // Zero-copy refused on a copy-only driver is expected, not "busy".
        if (err != -EBUSY && !(cm == XDP_ZEROCOPY && opt.copy_modes.size() > 1)) only_busy = false;
        tried +=
            std::string(tried.empty() ? "" : "; ") + xm.second + "/" + (cm == XDP_ZEROCOPY ? "zero-copy" : "copy") + ": " + strerror(-err);
      }
    }
    if (!only_busy || waited >= opt.busy_wait_ms) break;
    usleep(kBindBusyStepMs * 1000);
  }
  // The kernel keeps one AF_XDP buffer pool per (device, queue): a queue
  // another process's socket is bound to stays busy as long as it lives.
  ThrowCode(env, err == -EBUSY ? "EBUSY" : "XSK_SOCKET",
            "XskPort: cannot bind an AF_XDP socket to " + ifname_ + " queue " + std::to_string(queue_) + " (" + tried + ")" +
                (err == -EBUSY ? " — another AF_XDP socket (another xdpwg?) holds this queue" : "") + diag.TakeSuffix("libxdp: "));
  return false;
}

// After the bind: what the kernel gave us (zero copy, the attach mode when
// an XdpFilter owns the program) and the busy-poll socket options.
bool XskPort::ConfigureSocket(Napi::Env env, const XskOpenOptions& opt) {
  fd_ = xsk_socket__fd(xsk_);
  struct xdp_options xo = {};
  socklen_t len = sizeof(xo);
  if (getsockopt(fd_, SOL_XDP, XDP_OPTIONS, &xo, &len) == 0) zero_copy_ = xo.flags & XDP_OPTIONS_ZEROCOPY;
  if (opt.inhibit) {
    const char* attached = AttachedMode(ifindex_);
    mode_ = attached ? attached : (opt.mode == "native" ? "native" : "generic");
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
  return true;
}

// An anchor's members ask for service through an eventfd (umem_share.h);
// the worker waits on one epoll fd holding it and our socket (pollFd).
bool XskPort::WatchMembers(Napi::Env env, const XskOpenOptions& opt) {
  if (share_role_ != ShareRole::kAnchor || opt.share.IsEmpty()) return true;
  int wake = FdForQueue(opt.share, "wakeFd", "wakeFds", queue_);
  if (wake >= 0 && !OpenPollSet(wake)) {
    ThrowCode(env, "XSK_SHARE", std::string("XskPort: cannot watch the members' wake eventfd: ") + strerror(errno));
    return false;
  }
  return true;
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
  if (pread(memfd, head, sizeof(head), static_cast<off_t>(map_size - ShareControlBytes())) != sizeof(head) || head[0] != kShareMagic ||
      head[2] == 0 || ShareMemfdSize(uint64_t(head[1]) * head[2], head[2]) != map_size) {
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
  if (share.Get("busyWaitMs").IsNumber())
    busy_wait_ms = std::min<uint32_t>(share.Get("busyWaitMs").As<Napi::Number>().Uint32Value(), 10000);
  uint32_t expect = kSlotFree;
  for (uint32_t waited = 0;; waited += kBindBusyStepMs) {
    expect = kSlotFree;
    if (share_->members[slot].state.compare_exchange_strong(expect, kSlotJoined, std::memory_order_acq_rel)) break;
    if (expect != kSlotGone || waited >= busy_wait_ms) {
      share_ = nullptr;
      holder_ = nullptr;
      ThrowCode(env, "EBUSY",
                "XskPort: slot " + std::to_string(slot) + " of the shared UMEM is " +
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
    ThrowCode(
        env, err == -EBUSY ? "EBUSY" : "XSK_SOCKET",
        "XskPort: cannot join the shared UMEM on " + ifname_ + " queue " + std::to_string(queue_) + ": " + step + ": " + strerror(-err));
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
      if (sendto(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, 0) < 0 && errno != EAGAIN && errno != EBUSY && errno != ENOBUFS && errno != EINTR)
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

  if (xsk_cons_nb_avail(&rx_, 1) == 0) DrainMembersWake();
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
    if (recvfrom(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr) < 0 && errno != EAGAIN && errno != EBUSY && errno != EINTR &&
        errno != ENOBUFS)
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
  if (!ArgU32Array(info, 0, "freeFrames: offsets", &offs) || !ArgCount(info, 1, "freeFrames: n", &n)) return env.Undefined();
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
  put("frames", pool_.frame_count());
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

Napi::Value XskPort::Close(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value XskPort::GetUmem(const Napi::CallbackInfo& info) {
  if (umem_ref_.IsEmpty()) return info.Env().Null();
  return umem_ref_.Value();
}
Napi::Value XskPort::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
Napi::Value XskPort::GetPollFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), poll_fd_ >= 0 ? poll_fd_ : fd_); }
Napi::Value XskPort::GetUmemFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), share_role_ == ShareRole::kAnchor ? region_->memfd() : -1);
}
Napi::Value XskPort::GetFrameSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), pool_.frame_size()); }
Napi::Value XskPort::GetHeadroom(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), kXdpPacketHeadroom); }

void InitXskPort(Napi::Env env, Napi::Object exports) { exports.Set("XskPort", XskPort::Define(env)); }

}  // namespace xdpwg
