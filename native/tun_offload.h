// TUN offloads (IFF_VNET_HDR): pure packet logic, no syscalls.
//
// Reads: the kernel may hand a TUN reader one TCP (TSO) or UDP (USO) "super
// packet" of up to 64 KiB with a virtio_net_hdr saying how to cut it
// (gso_size) and where a partial checksum waits to be completed. GsoPlan /
// GsoWriteSegment cut it into ordinary packets, each with complete headers
// and checksums (the peer decapsulates them without any offload info).
//
// Writes: consecutive TCP segments of one flow, or consecutive UDP datagrams
// of one flow, are merged (GRO) into one super packet with a virtio_net_hdr
// (GSO_TCPV4/6 or GSO_UDP_L4), so the kernel takes one write() for what
// would be dozens; it cuts a UDP super packet back into the datagrams as
// they were (same sizes, same payloads) before any socket sees them.
// CanAppend / CanAppendUdp decide how far a group reaches; GroBuildHeader /
// GroBuildUdpHeader write the merged headers (the payloads are gathered by
// writev straight from the caller's frames).
//
// All checksum arithmetic follows RFC 1071 (one's-complement sum of 16-bit
// words, independent of byte order) and RFC 1624 is not needed: every
// checksum here is computed afresh. Fields of virtio_net_hdr are in host
// order (TUN's legacy "native endian" header; x86 and arm64 are little endian).
#pragma once
#include <cstddef>
#include <cstdint>

namespace xdpwg {

// <linux/virtio_net.h> does not compile as C++ (a member named `class`), so
// the header TUN speaks is spelled out here, as the virtio spec (§5.1.6) and
// that header define it.
struct virtio_net_hdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;      // bytes of L2..L4 headers
  uint16_t gso_size;     // payload bytes per segment
  uint16_t csum_start;   // where checksumming starts
  uint16_t csum_offset;  // where (from csum_start) the checksum is stored
};
constexpr uint8_t VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
constexpr uint8_t VIRTIO_NET_HDR_F_DATA_VALID = 2;
constexpr uint8_t VIRTIO_NET_HDR_GSO_NONE = 0;
constexpr uint8_t VIRTIO_NET_HDR_GSO_TCPV4 = 1;
constexpr uint8_t VIRTIO_NET_HDR_GSO_UDP = 3;  // UFO: never enabled, refused
constexpr uint8_t VIRTIO_NET_HDR_GSO_TCPV6 = 4;
constexpr uint8_t VIRTIO_NET_HDR_GSO_UDP_L4 = 5;  // USO (linux 6.2)
constexpr uint8_t VIRTIO_NET_HDR_GSO_ECN = 0x80;

/** Bytes of the header TUN puts before every packet (struct virtio_net_hdr; no num_buffers). */
constexpr size_t kVnetHdrLen = sizeof(virtio_net_hdr);
static_assert(kVnetHdrLen == 10, "virtio_net_hdr is 10 bytes");

/** Largest packet (or super packet) one TUN read/write carries: the IPv4 total-length limit. */
constexpr size_t kMaxSuperPacket = 65535;

/** One's-complement sum of bytes into a wide accumulator (RFC 1071), in host word order. */
uint64_t ChecksumAdd(const uint8_t* p, size_t len, uint64_t acc);

/** Folds a wide sum to 16 bits (not complemented), in host word order. */
uint16_t ChecksumFold(uint64_t acc);

/**
 * How a super packet read from TUN is cut. Filled by GsoPlanFor from the
 * vnet header and the packet itself (the kernel's hdr_len is not trusted:
 * the header length is recomputed from csum_start and the L4 header).
 */
struct GsoPlan {
  uint32_t total = 0;      // bytes of the super packet
  uint16_t ipVersion = 0;  // 4 or 6
  uint16_t l4Start = 0;    // csum_start: where the TCP/UDP header begins
  uint16_t hdrLen = 0;     // IP + L4 header bytes, repeated in every segment
  uint16_t segSize = 0;    // payload bytes per segment (gso_size)
  uint8_t l4Proto = 0;     // 6 TCP, 17 UDP
  uint32_t segments = 0;   // how many packets the super packet becomes
};

/** Why a read packet was not handed out. */
enum class GsoReject { kNone = 0, kBadHeader, kUnsupportedType, kLengthMismatch };

/**
 * Checks a GSO super packet and fills plan. Returns kNone when it can be cut.
 * Requires gso_type TCPV4, TCPV6 or UDP_L4 (ECN bit allowed), NEEDS_CSUM,
 * an IP header whose length fields match len, and an L4 header inside it.
 */
GsoReject GsoPlanFor(const virtio_net_hdr& h, const uint8_t* pkt, size_t len, GsoPlan* plan);

/**
 * Writes segment `index` of the planned super packet into out (capacity
 * cap): headers copied, IPv4 total length / id + index / header checksum,
 * IPv6 payload length, TCP sequence advanced and FIN/PSH only on the last,
 * CWR only on the first segment, UDP length, and the full L4 checksum.
 * Returns the segment's length, or 0 when it does not fit in cap.
 */
size_t GsoWriteSegment(const GsoPlan& plan, const uint8_t* pkt, uint32_t index, uint8_t* out, size_t cap);

/**
 * Completes the partial checksum of a non-GSO packet read with
 * VIRTIO_NET_HDR_F_NEEDS_CSUM: the kernel stored the pseudo-header sum at
 * csum_start + csum_offset; the sum from csum_start to the end, complemented,
 * goes there. False when csum_start/csum_offset lie outside the packet.
 */
bool CompletePartialChecksum(const virtio_net_hdr& h, uint8_t* pkt, size_t len);

/** A TCP segment as the coalescer sees it. */
struct TcpSegmentView {
  const uint8_t* pkt = nullptr;
  uint32_t len = 0;
  uint16_t ipHdrLen = 0;   // 20 (IPv4 without options) or 40 (IPv6 without extension headers)
  uint16_t tcpHdrLen = 0;  // 20..60
  uint8_t ipVersion = 0;
  uint8_t flags = 0;  // TCP flags byte
  uint32_t seq = 0;
  uint32_t payload = 0;  // len - headers
};

/**
 * True when pkt is a TCP segment that may take part in coalescing: IPv4 with
 * no options and not a fragment, or IPv6 with TCP as the next header; IP
 * length field equal to len; a payload; flags ACK, optionally PSH, nothing else.
 */
bool ParseCoalescable(const uint8_t* pkt, size_t len, TcpSegmentView* out);

/**
 * True when b may follow the group [first .. last] in one super packet:
 * same IP header fields that GRO keeps (addresses, TOS/traffic class, TTL,
 * DF/flow label), same ports, ACK and TCP options, b.seq right after last,
 * every earlier segment full-sized (first.payload) and b no longer, no PSH
 * on last, and the super packet within 64 KiB.
 */
bool CanAppend(const TcpSegmentView& first, const TcpSegmentView& last, const TcpSegmentView& b, uint32_t groupBytes);

/**
 * Writes the vnet header and the merged IP+TCP headers of a group (first's
 * headers with the total length, PSH of the last segment, IPv4 header
 * checksum, and the pseudo-header sum in the TCP checksum field as
 * NEEDS_CSUM wants) into out, which must hold kVnetHdrLen + 100 bytes.
 * totalLen is the super packet's IP length; lastFlags the last segment's
 * TCP flags. Returns the bytes written (vnet header + IP + TCP headers).
 */
size_t GroBuildHeader(const TcpSegmentView& first, uint8_t lastFlags, uint32_t totalLen, uint8_t* out);

/** A UDP datagram as the coalescer sees it. */
struct UdpDatagramView {
  const uint8_t* pkt = nullptr;
  uint32_t len = 0;
  uint16_t ipHdrLen = 0;  // 20 (IPv4 without options) or 40 (IPv6 without extension headers)
  uint8_t ipVersion = 0;
  uint32_t payload = 0;  // len - IP header - 8
};

/**
 * Most datagrams in one UDP super packet. The kernel refuses a GSO_UDP_L4
 * write whose payload exceeds gso_size * UDP_MAX_SEGMENTS (virtio_net_hdr_to_skb);
 * UDP_MAX_SEGMENTS was 64 before linux 6.11 and 128 since: 64 is safe for both.
 */
constexpr uint32_t kMaxUdpGroupSegments = 64;

/**
 * True when pkt is a UDP datagram that may take part in coalescing: IPv4
 * with no options and not a fragment (MF clear, offset 0), or IPv6 with UDP
 * as the next header; IP and UDP length fields agreeing with len; a
 * payload of at least one byte; a non-zero checksum (the kernel's UDP GRO
 * takes only checksummed datagrams, for symmetry with its GSO).
 */
bool ParseUdpCoalescable(const uint8_t* pkt, size_t len, UdpDatagramView* out);

/**
 * True when datagram b may follow the group [first .. last] of `count`
 * datagrams in one super packet: same IP header fields that GRO keeps
 * (addresses, TOS/traffic class, TTL/hop limit, DF/flow label), same ports,
 * every earlier datagram as long as the first (gso_size cuts evenly) and b
 * no longer, at most kMaxUdpGroupSegments datagrams, and the super packet
 * (IP length groupBytes + b's payload) within 64 KiB.
 */
bool CanAppendUdp(const UdpDatagramView& first, const UdpDatagramView& last, const UdpDatagramView& b, uint32_t groupBytes, uint32_t count);

/**
 * Writes the vnet header (NEEDS_CSUM, GSO_UDP_L4, gso_size = first's payload)
 * and the merged IP+UDP headers of a group (first's headers with the total
 * length, IPv4 header checksum, UDP length of the whole, and the
 * pseudo-header sum in the UDP checksum field) into out, which must hold
 * kVnetHdrLen + 48 bytes. totalLen is the super packet's IP length.
 * Returns the bytes written (vnet header + IP + UDP headers).
 */
size_t GroBuildUdpHeader(const UdpDatagramView& first, uint32_t totalLen, uint8_t* out);

}  // namespace xdpwg
