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
 * Most bytes of a message that land in its frame (the rest go to its spill
 * slice). The frames are 64 KiB for jumbo MTUs, and the pool hands them out
 * in whatever order JS freed them: a coalesced message landing whole in its
 * frame would, over a long transfer, touch every page of every frame (the
 * daemon's RSS grew by ~35 MB per bulk run until the 128 MB region was all
 * resident). Landing at most this much keeps each frame to the page or two
 * a datagram fills; a datagram longer than this (a jumbo MTU) has its tail
 * copied back from the spill slice. Covers one datagram of an Ethernet MTU.
 */
constexpr uint32_t kUdpGroLanding = 2048;

/** Bytes of a message that land in its frame of cap bytes (the rest spill). */
inline uint32_t GroLanding(uint32_t cap) { return cap < kUdpGroLanding ? cap : kUdpGroLanding; }

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
