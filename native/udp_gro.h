// UDP GRO on the UDP port's receive (UDP_GRO, Linux 5.0+): the kernel may hand
// one recvmmsg message that holds several datagrams of one sender, back to
// back, all of the size its UDP_GRO cmsg names but the last (shorter or
// equal). This is the arithmetic that cuts such a message into datagrams;
// UdpPort::RxBurst (udp_gro.cc) moves the bytes.
#pragma once
#include <cstdint>

namespace xdpwg {

/** Messages per recvmmsg while GRO is on: each may need a 64 KiB spill area (kUdpGroSpill). */
constexpr uint32_t kUdpGroMessages = 64;
/** Most datagrams the kernel coalesces into one message (UDP_GRO_CNT_MAX). */
constexpr uint32_t kUdpGroMaxSegments = 64;
/** Room for one coalesced message beyond its first frame: a UDP payload is at most 65507 bytes. */
constexpr uint32_t kUdpGroSpill = 65536;

/**
 * How many datagrams a received message of len bytes holds when its UDP_GRO
 * cmsg says seg_size, and each must fit cap bytes (a frame less its
 * headroom); -1 when the sizes cannot be (no bytes, a segment size of 0 or
 * below, or above cap): the caller drops the message and counts it.
 * Datagram k lies at [k * seg_size, min(len, (k + 1) * seg_size)).
 */
inline int64_t GroSegments(uint32_t len, int64_t seg_size, uint32_t cap) {
  if (len == 0 || seg_size <= 0 || seg_size > int64_t(cap)) return -1;
  return (int64_t(len) + seg_size - 1) / seg_size;
}

}  // namespace xdpwg
