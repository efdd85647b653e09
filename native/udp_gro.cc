// The UDP port's receive with UDP GRO on (udp_port.h, udp_gro.h): one
// recvmmsg may return messages that each hold many datagrams of one sender;
// each is cut into one frame per datagram before JS sees it, so the
// WireGuard receive code is the same for both.
//
// Bytes: a message's first GroLanding bytes land in its frame (its first
// datagram stays there, uncopied when it fits), the rest in the message's
// spill slice; datagrams 1.. are copied into frames of their own. Frames for them come from the
// pool; when it runs dry, the rest of that message is dropped and counted
// (rx_gro_no_frames), as a full AF_XDP fill ring drops at the device.
#include <netinet/udp.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "sys_error.h"
#include "udp_addr_record.h"
#include "udp_gro.h"
#include "udp_port.h"

#ifndef UDP_GRO
#define UDP_GRO 104  // linux/udp.h: older libc headers lack it
#endif

namespace xdpwg {
namespace {

/** The UDP_GRO cmsg's segment size, 0 when the message carries none (one datagram as sent). */
int64_t GroSegmentSize(const msghdr& h) {
  for (cmsghdr* c = CMSG_FIRSTHDR(const_cast<msghdr*>(&h)); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int v;
      memcpy(&v, CMSG_DATA(c), sizeof(v));
      return v;
    }
  }
  return 0;
}

}  // namespace

/**
 * Turns UDP_GRO on for the socket and maps the spill area. A kernel without
 * it (ENOPROTOOPT) leaves the port receiving one datagram per message, as
 * before; any other failure is the caller's error.
 */
bool UdpPort::EnableGro(Napi::Env env) {
  int one = 1;
  if (setsockopt(fd_, SOL_UDP, UDP_GRO, &one, sizeof(one)) < 0) {
    if (errno == ENOPROTOOPT) return true;
    return ThrowSysError(env, "UdpPort: setsockopt(UDP_GRO)", errno), false;
  }
  void* p =
      mmap(nullptr, size_t(kUdpGroMessages) * kUdpGroSpill, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    int err = errno;
    int zero = 0;
    setsockopt(fd_, SOL_UDP, UDP_GRO, &zero, sizeof(zero));
    return ThrowSysError(env, "UdpPort: mmap GRO spill area", err), false;
  }
  gro_spill_ = static_cast<uint8_t*>(p);
  rx_iovs_.assign(2 * kUdpGroMessages, iovec{});
  // At most every frame can wait cut (pending_ never reallocates on the packet path).
  pending_.reserve(pool_.frame_count());
  cut_.reserve(pool_.frame_count());
  gro_ = true;
  return true;
}

void UdpPort::FreeGro() {
  if (gro_spill_) munmap(gro_spill_, size_t(kUdpGroMessages) * kUdpGroSpill);
  gro_spill_ = nullptr;
  pending_.clear();
  pending_head_ = 0;
  gro_ = false;
}

/** One datagram to the caller's burst (frame now JS's), or to pending_ when the burst is full. */
void UdpPort::EmitDatagram(uint64_t frame, uint32_t len, const uint8_t* rec, uint32_t* d, uint8_t* rec_base, uint32_t* out, uint32_t max) {
  c_.ipackets++;
  c_.ibytes += len;
  if (*out < max && pending_head_ == pending_.size()) {
    pool_.set_owner(frame, FrameOwner::kJs);
    memcpy(rec_base + *out * kUdpAddrRecordSize, rec, kUdpAddrRecordSize);
    d[2 * *out] = static_cast<uint32_t>(frame + headroom_);
    d[2 * *out + 1] = len;
    (*out)++;
    return;
  }
  // Lent: the port's until a later burst hands it to JS (freeFrames refuses it meanwhile).
  pool_.set_owner(frame, FrameOwner::kLent);
  PendingDatagram p{frame, len, {}};
  memcpy(p.rec, rec, kUdpAddrRecordSize);
  pending_.push_back(p);
}

/** Datagrams cut in an earlier burst, first (their order before anything received now). */
uint32_t UdpPort::EmitPending(uint32_t* d, uint8_t* rec_base, uint32_t out, uint32_t max) {
  while (out < max && pending_head_ < pending_.size()) {
    const PendingDatagram& p = pending_[pending_head_++];
    pool_.set_owner(p.frame, FrameOwner::kJs);
    memcpy(rec_base + out * kUdpAddrRecordSize, p.rec, kUdpAddrRecordSize);
    d[2 * out] = static_cast<uint32_t>(p.frame + headroom_);
    d[2 * out + 1] = p.len;
    out++;
  }
  if (pending_head_ == pending_.size()) {
    pending_.clear();
    pending_head_ = 0;
  }
  return out;
}

/**
 * Cuts message i (len bytes of datagrams seg bytes long, the last shorter or
 * equal) into frames: its first datagram stays in the message's frame, the
 * others are copied out of the frame's tail and the spill slice.
 */
uint32_t UdpPort::SplitCoalesced(uint32_t i, uint32_t len, uint32_t seg, uint32_t* d, uint8_t* rec_base, uint32_t out, uint32_t max) {
  const uint32_t land = GroLanding(pool_.frame_size() - headroom_);
  uint8_t* base = region_->base();
  uint8_t* first = base + frames_[i] + headroom_;
  const uint8_t* spill = gro_spill_ + size_t(i) * kUdpGroSpill;
  uint8_t rec[kUdpAddrRecordSize];
  RecordFromReceived(rec, slots_[i].name, msgs_[i].msg_hdr);
  c_.rx_gro_receives++;
  // Copy every later datagram out before the first one's frame can be handed on.
  for (uint32_t at = seg; at < len; at += seg) {
    const uint32_t n = len - at < seg ? len - at : seg;
    c_.rx_gro_datagrams++;
    uint64_t frame;
    if (!pool_.take(FrameOwner::kLent, &frame)) {
      c_.rx_gro_no_frames += (len - at + seg - 1) / seg;
      c_.rx_gro_datagrams += (len - at + seg - 1) / seg - 1;
      break;
    }
    uint8_t* dst = base + frame + headroom_;
    // [at, at + n) of the frame's landed bytes followed by the spill slice.
    uint32_t in_frame = at < land ? (land - at < n ? land - at : n) : 0;
    if (in_frame) memcpy(dst, first + at, in_frame);
    memcpy(dst + in_frame, spill + (at + in_frame - land), n - in_frame);
    // Queued after the first datagram's entry below: pending_ holds them in order.
    cut_.push_back({frame, n});
  }
  c_.rx_gro_datagrams++;
  // A first datagram longer than the landing (jumbo) gets its tail back from the spill slice.
  if (seg > land) memcpy(first + land, spill, seg - land);
  EmitDatagram(frames_[i], seg, rec, d, rec_base, &out, max);
  for (const auto& f : cut_) EmitDatagram(f.frame, f.len, rec, d, rec_base, &out, max);
  cut_.clear();
  return out;
}

/**
 * rxBurst with GRO on: pending datagrams first; a new recvmmsg only when
 * none wait (a burst never mixes old cut datagrams behind new ones), for at
 * most kUdpGroMessages messages.
 */
uint32_t UdpPort::RxBurstGro(uint32_t* d, uint8_t* rec_base, uint32_t max) {
  uint32_t out = EmitPending(d, rec_base, 0, max);
  if (out == max || pending_head_ < pending_.size()) return out;
  const uint32_t cap = pool_.frame_size() - headroom_;
  const uint32_t land = GroLanding(cap);
  uint8_t* base = region_->base();
  uint32_t want = max - out < kUdpGroMessages ? max - out : kUdpGroMessages;
  // No more messages than the free frames can cut, should each hold the most the kernel
  // coalesces: frames running out drops datagrams (rx_gro_no_frames), which costs far
  // more (a TCP sender backs off) than a smaller recvmmsg.
  const uint32_t fit = static_cast<uint32_t>(pool_.available() / kUdpGroMaxSegments);
  if (want > fit) want = fit > 0 ? fit : 1;
  uint32_t n = 0;
  for (; n < want; n++) {
    uint64_t frame;
    if (!pool_.take(FrameOwner::kLent, &frame)) break;
    frames_[n] = frame;
    rx_iovs_[2 * n] = {base + frame + headroom_, land};
    rx_iovs_[2 * n + 1] = {gro_spill_ + size_t(n) * kUdpGroSpill, kUdpGroSpill};
    msghdr& h = msgs_[n].msg_hdr;
    h.msg_name = &slots_[n].name;
    h.msg_namelen = sizeof(sockaddr_in6);
    h.msg_iov = &rx_iovs_[2 * n];
    h.msg_iovlen = 2;
    h.msg_control = slots_[n].control;
    h.msg_controllen = sizeof(slots_[n].control);
    h.msg_flags = 0;
  }
  if (n == 0) {
    if (want > 0) c_.rx_no_frames++;
    return out;
  }
  int r;
  do r = recvmmsg(fd_, msgs_.data(), n, MSG_DONTWAIT, nullptr);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) c_.ierrors++;
    r = 0;
  }
  // Unused message frames first: the cutting below needs frames.
  for (uint32_t i = r; i < n; i++) pool_.give_back(frames_[i]);
  for (int i = 0; i < r; i++) {
    const msghdr& h = msgs_[i].msg_hdr;
    const uint32_t len = msgs_[i].msg_len;
    const int64_t seg = GroSegmentSize(h);
    // No cmsg, or a segment size that covers it all: one datagram, as sent.
    const bool single = seg == 0 || seg >= int64_t(len);
    if (h.msg_flags & MSG_TRUNC || (single && len > cap)) {
      // One datagram larger than a frame (the spill caught its tail): never hand JS a cut one.
      c_.rx_truncated++;
      c_.rx_invalid++;
      pool_.give_back(frames_[i]);
      continue;
    }
    if (single) {
      // A datagram longer than the landing has its tail in the spill slice: back into its frame.
      if (len > land) memcpy(base + frames_[i] + headroom_ + land, gro_spill_ + size_t(i) * kUdpGroSpill, len - land);
      uint8_t rec[kUdpAddrRecordSize];
      RecordFromReceived(rec, slots_[i].name, h);
      EmitDatagram(frames_[i], len, rec, d, rec_base, &out, max);
      continue;
    }
    if (GroSegments(len, seg, cap) < 0) {
      c_.rx_gro_invalid++;
      c_.rx_invalid++;
      pool_.give_back(frames_[i]);
      continue;
    }
    out = SplitCoalesced(i, len, static_cast<uint32_t>(seg), d, rec_base, out, max);
  }
  return out;
}

// udpGroSegments(len, segSize, cap) -> datagrams, or -1: GroSegments, for the unit tests.
Napi::Value GroSegmentsForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber())
    return ThrowType(env, "udpGroSegments(len, segSize, cap)"), env.Undefined();
  return Napi::Number::New(
      env, static_cast<double>(GroSegments(info[0].As<Napi::Number>().Uint32Value(), info[1].As<Napi::Number>().Int64Value(),
                                           info[2].As<Napi::Number>().Uint32Value())));
}

}  // namespace xdpwg
