// Sticky source for the UDP port's sends: a datagram to a peer leaves from
// the local address the peer last reached (the address record's local IP),
// as the kernel module does, so replies come from the address the peer
// knows. When that address is gone the send falls back to the kernel's
// choice and the record's local end is cleared, so the endpoint relearns.
#pragma once
#include <netinet/in.h>

#include <cerrno>
#include <cstdint>

namespace xdpwg {

/** Room a Slot's control buffer keeps for the source (either pktinfo) and a UDP_SEGMENT cmsg after it. */
constexpr uint32_t kStickyControlBytes = 96;

/**
 * Writes rec's sticky source as an IP_PKTINFO / IPV6_PKTINFO cmsg into
 * control (kStickyControlBytes, zeroed here) for a send to dest; returns
 * the control length, 0 when the record names no source (kernel's choice).
 * IPv4: the address alone, no interface, so the route lookup stays free.
 * IPv6: the interface only when link-local scope needs it.
 */
uint32_t WriteStickySource(const uint8_t* rec, const sockaddr_in6& dest, uint8_t* control);

/** Clears rec's local end (address and ifindex): the source is gone, let the kernel choose. */
void ForgetStickySource(uint8_t* rec);

/**
 * Errors a send from a vanished source address produces: IPv6 refuses the
 * pktinfo (EINVAL), IPv4's route lookup finds no device owning the source
 * (ENETUNREACH). A genuine "no route" also gives ENETUNREACH: the retry
 * without source then fails the same way and is counted as an error.
 */
inline bool IsSourceGoneErrno(int err) { return err == EINVAL || err == EADDRNOTAVAIL || err == ENETUNREACH; }

}  // namespace xdpwg
