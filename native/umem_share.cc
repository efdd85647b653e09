// The shared UMEM's anchor side (see umem_share.h for the protocol): the
// memfd it lives in, the JS helpers the main thread uses for it (shareMemfd,
// shareWakeFd, shareReleaseSlot), and the XskPort methods an anchor port runs
// (mapping the region, serving members' grant and ret rings, reclaiming a
// gone member's frames). The member side stays in xsk_port.cc beside the
// rings it drives.
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "modules.h"
#include "sys_error.h"
#include "umem_share.h"
#include "xsk_port.h"

namespace xdpwg {

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

namespace {

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
  if (memfd < 0 || slot < 1 || slot >= kShareMembers || fstat(memfd, &st) != 0 || st.st_size < static_cast<off_t>(ShareControlBytes())) {
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

// Anchor: the UMEM in a memfd members map too (the caller's for our queue,
// dup'ed, or one of our own), with the holder table and ShareControl after
// the frames. ftruncate zero-filled it: every slot free, every frame the
// anchor's (holder 0).
bool XskPort::MapAnchorUmem(Napi::Env env, uint32_t frame_size, uint32_t frame_count, int given_memfd) {
  const size_t umem_bytes = size_t(frame_size) * frame_count;
  int memfd = given_memfd >= 0 ? fcntl(given_memfd, F_DUPFD_CLOEXEC, 0) : MakeShareMemfd(frame_size, frame_count);
  struct stat st = {};
  if (memfd < 0 || fstat(memfd, &st) != 0 || st.st_size != static_cast<off_t>(ShareMemfdSize(umem_bytes, frame_count))) {
    ThrowCode(env, "XSK_SHARE", std::string("XskPort: no memfd of the right size for the shared UMEM: ") + strerror(errno));
    if (memfd >= 0) close(memfd);
    return false;
  }
  region_ = std::make_shared<UmemRegion>(memfd, umem_bytes, ShareMemfdSize(umem_bytes, frame_count));
  if (!region_->ok()) {
    ThrowCode(env, "ENOMEM", std::string("XskPort: cannot map UMEM: ") + strerror(errno));
    return false;
  }
  holder_ = region_->tail();
  share_ = reinterpret_cast<ShareControl*>(region_->tail() + ShareHolderBytes(frame_count));
  share_->frame_size = frame_size;
  share_->frame_count = frame_count;
  share_->magic = kShareMagic;
  share_role_ = ShareRole::kAnchor;
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

// Anchor: takes back what members returned, and keeps each joined member's
// grant ring topped up (while our own pool keeps its fill reserve). A slot
// whose member is gone gets every frame it held back (ReclaimSlot) and is freed.
//
// The members' wake eventfd is not read here: this runs on every burst
// (alloc, free, transmit, receive), and a read that finds it empty is a
// wasted system call, three per ping on each side (`perf trace` of a worker).
// It is drained by DrainMembersWake, only from a receive that found the rx
// ring empty, that is when the wait woke us for it.
void XskPort::ServeMembers() {
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

// Anchor: empties the members' wake eventfd. Called by RxBurst when the rx
// ring is empty, before ServeMembers: the worker's wait (pollFd: an epoll over
// our socket and this eventfd) said one of them was readable, and with no
// frame on the ring it was the eventfd, which a level-triggered wait would
// keep reporting until read. Everything a member published before its write
// is then seen by the ServeMembers that follows. With frames on the ring the
// read is skipped: the next wait reports the eventfd again, and the receive
// after it drains it once the ring is empty.
void XskPort::DrainMembersWake() {
  if (wake_fd_ < 0 || share_role_ != ShareRole::kAnchor) return;
  uint64_t n;
  (void)!read(wake_fd_, &n, sizeof(n));  // non-blocking
}

void XskPort::SetHolder(uint64_t frame, uint8_t who) { __atomic_store_n(&holder_[frame / pool_.frame_size()], who, __ATOMIC_RELAXED); }

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

void InitUmemShare(Napi::Env env, Napi::Object exports) {
  exports.Set("shareMemfd", Napi::Function::New(env, ShareMemfd, "shareMemfd"));
  exports.Set("shareReleaseSlot", Napi::Function::New(env, ShareReleaseSlot, "shareReleaseSlot"));
  exports.Set("shareWakeFd", Napi::Function::New(env, ShareWakeFd, "shareWakeFd"));
}

}  // namespace xdpwg
