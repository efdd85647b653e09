// The UDP port's GSO (UDP_SEGMENT) sends: consecutive datagrams to the same
// destination from the same source ride as segments of one message, and what
// a refused group teaches is kept per destination (gso_learn_table.h) for a
// while. The UdpPort methods here build on TxBurst's per-burst scratch
// (udp_port.h: seg_first_, seg_count_, seg_size_, msg_bytes_, seg_limit_).
#include <netinet/udp.h>
#include <sys/socket.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include "udp_addr_record.h"
#include "udp_port.h"
#include "udp_sticky_source.h"

namespace xdpwg {
namespace {

/** Milliseconds on CLOCK_MONOTONIC_COARSE (the vDSO: no syscall; lessons last seconds). */
uint64_t MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

}  // namespace

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
      if (err == EAGAIN || err == EWOULDBLOCK) {
        c_.tx_would_block++;
        break;
      }
      if (IsSourceGoneErrno(err) && one.msg_controllen) {
        // As for a single message: the sticky source is gone.
        one.msg_control = nullptr;
        one.msg_controllen = 0;
        for (uint32_t q = 0; q < seg_count_[m]; q++) ForgetStickySource(rec_base + index_[seg_first_[m] + q] * kUdpAddrRecordSize);
        c_.tx_src_fallback++;
        *source_gone = true;
        continue;
      }
      CountTxError(err, desc, index_[seg]);  // taken, not sent
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

/**
 * The kernel refused message m's group as a whole (err): datagram by
 * datagram, each with the sticky source fallback, and learn only what GSO
 * itself caused, only for this destination: EIO (no checksum offload on its
 * path, e.g. xfrm) turns grouping to it off; EINVAL or EMSGSIZE with the
 * source still valid means segments this large exceed its path. Returns how
 * many of the group's datagrams were consumed (SendGroupSingly).
 */
uint32_t UdpPort::ResendGroupSingly(uint32_t m, int err, const TxBurstArgs& a) {
  c_.tx_gso_fallback++;
  bool source_gone = false;
  int sent = SendGroupSingly(m, a.desc, a.addr, &source_gone);
  if (err == EIO)
    LearnGso(slots_[m].name, 0);
  else if ((err == EINVAL || err == EMSGSIZE) && !source_gone)
    LearnGso(slots_[m].name, seg_size_[m]);
  return static_cast<uint32_t>(sent);
}

}  // namespace xdpwg
