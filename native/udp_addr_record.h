// The UDP port's address record: one per packet beside each rxBurst/txBurst,
// the remote end and the local end of the datagram. The TypeScript names
// the same offsets in src/native/addr-record-layout.ts and checks them
// against addrRecordLayout (exported here) when the addon loads.
//
//   0..15  remote IP (IPv4 stored v4-mapped, ::ffff:a.b.c.d)
//   16..17 remote port, big-endian
//   18     family, 4 or 6;  19 reserved (0)
//   20..35 local IP (rx: where the datagram arrived; tx: the sticky source
//          to send from, udp_sticky_source.h; all zero = the kernel's choice)
//   36..39 local ifindex, u32 little-endian (rx: arrival interface; tx:
//          the scope of a link-local IPv6 address)
#pragma once
#include <napi.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cstdint>

namespace xdpwg {

/** Bytes per address record in the rxBurst/txBurst addr array. */
constexpr uint32_t kUdpAddrRecordSize = 40;
constexpr uint32_t kRecRemoteIp = 0;
constexpr uint32_t kRecRemotePort = 16;
constexpr uint32_t kRecFamily = 18;
constexpr uint32_t kRecLocalIp = 20;
constexpr uint32_t kRecIfindex = 36;
/** Where an IPv4 address's four bytes start inside a 16-byte (v4-mapped) IP field. */
constexpr uint32_t kRecIpv4InIp = 12;

/** rx: fills rec (zeroed first) from a received datagram's source and its pktinfo cmsgs. */
void RecordFromReceived(uint8_t* rec, const sockaddr_in6& source, const msghdr& h);

/**
 * tx: the destination of rec as a sockaddr for a socket of sock_family
 * (AF_INET6: v4-mapped for IPv4; AF_INET: sockaddr_in in name's storage).
 * Returns the name's length. rec's family must already be checked (4 or 6,
 * and 6 only on an AF_INET6 socket).
 */
socklen_t DestinationOf(const uint8_t* rec, int sock_family, sockaddr_in6* name);

/** The record's ifindex field. */
uint32_t RecordIfindex(const uint8_t* rec);

/** exports.addrRecordLayout: { size, remoteIp, remotePort, family, localIp, ifindex }. */
void ExportAddrRecordLayout(Napi::Env env, Napi::Object exports);

}  // namespace xdpwg
