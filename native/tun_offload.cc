// TUN offloads: segmentation of read super packets, coalescing for writes; see tun_offload.h.
#include "tun_offload.h"

#include <arpa/inet.h>
#include <cstring>

namespace xdpwg {

namespace {

constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kTcpFin = 0x01, kTcpPsh = 0x08, kTcpAck = 0x10, kTcpCwr = 0x80;
constexpr size_t kTcpChecksumOffset = 16;
constexpr size_t kUdpChecksumOffset = 6;
/** Most header bytes before the L4 header we accept in a super packet (IPv6 + extension headers). */
constexpr size_t kMaxGsoHeaders = 256;

inline uint16_t Load16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline void Store16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
inline uint32_t Load32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
inline void Store32(uint8_t* p, uint32_t v) {
  Store16(p, uint16_t(v >> 16));
  Store16(p + 2, uint16_t(v));
}

/** A 16-bit value in network order as the host-order summing sees it. */
inline uint64_t NetWord(uint16_t v) { return htons(v); }

/** Stores a folded host-order sum so the bytes read as the network-order checksum. */
inline void StoreSum(uint8_t* p, uint16_t hostSum) { memcpy(p, &hostSum, 2); }

/**
 * Pseudo-header sum (RFC 793 / RFC 768 for IPv4, RFC 8200 §8.1 for IPv6):
 * addresses, protocol, L4 length.
 */
uint64_t PseudoHeaderSum(const uint8_t* ip, uint16_t version, uint8_t proto, uint32_t l4Len) {
  uint64_t acc = version == 4 ? ChecksumAdd(ip + 12, 8, 0) : ChecksumAdd(ip + 8, 32, 0);
  acc += NetWord(proto);
  acc += NetWord(uint16_t(l4Len >> 16)) + NetWord(uint16_t(l4Len));
  return acc;
}

void FixIpv4HeaderChecksum(uint8_t* ip, size_t ihl) {
  ip[10] = ip[11] = 0;
  StoreSum(ip + 10, uint16_t(~ChecksumFold(ChecksumAdd(ip, ihl, 0))));
}

}  // namespace

uint64_t ChecksumAdd(const uint8_t* p, size_t len, uint64_t acc) {
  // 32-bit words into a 64-bit accumulator: carries collect in the high half
  // and are folded once at the end (RFC 1071 §2(C) "deferred carries").
  while (len >= 16) {
    uint32_t w[4];
    memcpy(w, p, 16);
    acc += uint64_t(w[0]) + w[1] + w[2] + w[3];
    p += 16;
    len -= 16;
  }
  while (len >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    acc += w;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    memcpy(&w, p, 2);
    acc += w;
    p += 2;
    len -= 2;
  }
  if (len) {
    // A trailing odd byte is the high byte of a network-order word padded with zero.
    uint8_t last[2] = {p[0], 0};
    uint16_t w;
    memcpy(&w, last, 2);
    acc += w;
  }
  return acc;
}

uint16_t ChecksumFold(uint64_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return uint16_t(acc);
}

GsoReject GsoPlanFor(const virtio_net_hdr& h, const uint8_t* pkt, size_t len, GsoPlan* plan) {
  uint8_t type = h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
  if (type != VIRTIO_NET_HDR_GSO_TCPV4 && type != VIRTIO_NET_HDR_GSO_TCPV6 && type != VIRTIO_NET_HDR_GSO_UDP_L4) {
    return GsoReject::kUnsupportedType;
  }
  if (!(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || h.gso_size == 0 || len < 20 || len > kMaxSuperPacket) {
    return GsoReject::kBadHeader;
  }
  uint16_t version = pkt[0] >> 4;
  size_t ipMin;
  if (version == 4) {
    if (type == VIRTIO_NET_HDR_GSO_TCPV6) return GsoReject::kBadHeader;
    ipMin = size_t(pkt[0] & 0x0f) * 4;
    if (ipMin < 20 || Load16(pkt + 2) != len) return GsoReject::kLengthMismatch;
  } else if (version == 6) {
    if (type == VIRTIO_NET_HDR_GSO_TCPV4 || len < 40) return GsoReject::kBadHeader;
    ipMin = 40;
    if (size_t(Load16(pkt + 4)) + 40 != len) return GsoReject::kLengthMismatch;
  } else {
    return GsoReject::kBadHeader;
  }
  // csum_start is where the kernel's L4 header is (after any IPv6 extension headers).
  size_t l4 = h.csum_start;
  // IPv4: L4 right after the header. IPv6: after the fixed header and any extension headers.
  if ((version == 4 ? l4 != ipMin : l4 < ipMin || l4 > kMaxGsoHeaders) || l4 + 8 > len) return GsoReject::kBadHeader;
  uint8_t proto = type == VIRTIO_NET_HDR_GSO_UDP_L4 ? kProtoUdp : kProtoTcp;
  size_t l4Hdr = 8;
  if (proto == kProtoTcp) {
    if (h.csum_offset != kTcpChecksumOffset || l4 + 20 > len) return GsoReject::kBadHeader;
    l4Hdr = size_t(pkt[l4 + 12] >> 4) * 4;
    if (l4Hdr < 20) return GsoReject::kBadHeader;
  } else if (h.csum_offset != kUdpChecksumOffset) {
    return GsoReject::kBadHeader;
  }
  size_t hdrLen = l4 + l4Hdr;
  if (hdrLen > len) return GsoReject::kBadHeader;
  plan->total = uint32_t(len);
  plan->ipVersion = version;
  plan->l4Start = uint16_t(l4);
  plan->hdrLen = uint16_t(hdrLen);
  plan->segSize = h.gso_size;
  plan->l4Proto = proto;
  size_t payload = len - hdrLen;
  plan->segments = payload == 0 ? 1 : uint32_t((payload + h.gso_size - 1) / h.gso_size);
  return GsoReject::kNone;
}

size_t GsoWriteSegment(const GsoPlan& plan, const uint8_t* pkt, uint32_t index, uint8_t* out, size_t cap) {
  size_t from = size_t(plan.hdrLen) + size_t(index) * plan.segSize;
  size_t payload = plan.total > from ? plan.total - from : 0;
  if (payload > plan.segSize) payload = plan.segSize;
  size_t segLen = plan.hdrLen + payload;
  if (segLen > cap) return 0;
  memcpy(out, pkt, plan.hdrLen);
  memcpy(out + plan.hdrLen, pkt + from, payload);
  bool first = index == 0, last = index + 1 == plan.segments;
  if (plan.ipVersion == 4) {
    // Each segment is a datagram of its own: its own length, the next IP id
    // (the kernel's TSO increments it per segment too), its own header checksum.
    Store16(out + 2, uint16_t(segLen));
    Store16(out + 4, uint16_t(Load16(pkt + 4) + index));
    FixIpv4HeaderChecksum(out, size_t(out[0] & 0x0f) * 4);
  } else {
    Store16(out + 4, uint16_t(segLen - 40));
  }
  uint8_t* l4 = out + plan.l4Start;
  uint32_t l4Len = uint32_t(segLen - plan.l4Start);
  size_t csumAt;
  if (plan.l4Proto == kProtoTcp) {
    Store32(l4 + 4, Load32(l4 + 4) + index * uint32_t(plan.segSize));
    // RFC 3168 §6.1.2: CWR on the first segment only; FIN and PSH belong to the last byte.
    if (!last) l4[13] &= uint8_t(~(kTcpFin | kTcpPsh));
    if (!first) l4[13] &= uint8_t(~kTcpCwr);
    csumAt = kTcpChecksumOffset;
  } else {
    Store16(l4 + 4, uint16_t(l4Len));
    csumAt = kUdpChecksumOffset;
  }
  l4[csumAt] = l4[csumAt + 1] = 0;
  uint64_t acc = PseudoHeaderSum(out, plan.ipVersion, plan.l4Proto, l4Len);
  uint16_t sum = uint16_t(~ChecksumFold(ChecksumAdd(l4, l4Len, acc)));
  if (plan.l4Proto == kProtoUdp && sum == 0) sum = 0xffff;  // RFC 768: zero means "no checksum"
  StoreSum(l4 + csumAt, sum);
  return segLen;
}

bool CompletePartialChecksum(const virtio_net_hdr& h, uint8_t* pkt, size_t len) {
  size_t start = h.csum_start, at = size_t(h.csum_start) + h.csum_offset;
  if (start >= len || at + 2 > len) return false;
  // The field already holds the pseudo-header sum, so summing over it completes it.
  uint16_t sum = uint16_t(~ChecksumFold(ChecksumAdd(pkt + start, len - start, 0)));
  if (h.csum_offset == kUdpChecksumOffset && sum == 0) sum = 0xffff;
  StoreSum(pkt + at, sum);
  return true;
}

// Whether a whole packet's checksums hold: the IPv4 header's, and the
// TCP/UDP one over pseudo-header, header and payload (a one's-complement sum
// over data that includes a correct checksum folds to 0xffff, RFC 1071).
// A coalesced packet goes to the kernel marked for the checksum to be
// computed afresh (CHECKSUM_PARTIAL), which would make a corrupted segment
// good data: so only packets whose checksums verify may be merged, as
// wireguard-go requires; the others are written alone, and the kernel checks them.
static bool ChecksumsValid(const uint8_t* pkt, size_t len, size_t ipHdr, uint8_t version, uint8_t proto) {
  if (version == 4 && ChecksumFold(ChecksumAdd(pkt, ipHdr, 0)) != 0xffff) return false;
  uint32_t l4Len = uint32_t(len - ipHdr);
  return ChecksumFold(ChecksumAdd(pkt + ipHdr, l4Len, PseudoHeaderSum(pkt, version, proto, l4Len))) == 0xffff;
}

// The IP header of a packet that may join a coalesced group: IPv4 without
// options (GRO compares them; rare in practice) and not a fragment (MF or
// offset), or IPv6 whose next header is the transport itself; carrying
// `proto`, its length field matching len exactly, at least minL4 bytes after
// the IP header, and checksums that verify. Returns the IP header length, 0
// when it may not join.
static size_t PlainIpHeader(const uint8_t* pkt, size_t len, uint8_t proto, size_t minL4) {
  if (len < 20 + minL4) return 0;
  uint8_t version = pkt[0] >> 4;
  size_t ipHdr = 0;
  if (version == 4) {
    if (pkt[0] != 0x45 || pkt[9] != proto || Load16(pkt + 2) != len || (Load16(pkt + 6) & 0x3fff) != 0) return 0;
    ipHdr = 20;
  } else if (version == 6) {
    if (len < 40 + minL4 || pkt[6] != proto || size_t(Load16(pkt + 4)) + 40 != len) return 0;
    ipHdr = 40;
  } else {
    return 0;
  }
  return ChecksumsValid(pkt, len, ipHdr, version, proto) ? ipHdr : 0;
}

bool ParseCoalescable(const uint8_t* pkt, size_t len, TcpSegmentView* out) {
  const size_t ipHdr = PlainIpHeader(pkt, len, kProtoTcp, 20);
  if (ipHdr == 0) return false;
  uint8_t version = pkt[0] >> 4;
  const uint8_t* tcp = pkt + ipHdr;
  size_t tcpHdr = size_t(tcp[12] >> 4) * 4;
  if (tcpHdr < 20 || ipHdr + tcpHdr >= len) return false;  // >=: a payload is required
  uint8_t flags = tcp[13];
  if ((flags & ~(kTcpAck | kTcpPsh)) != 0 || !(flags & kTcpAck)) return false;
  out->pkt = pkt;
  out->len = uint32_t(len);
  out->ipHdrLen = uint16_t(ipHdr);
  out->tcpHdrLen = uint16_t(tcpHdr);
  out->ipVersion = version;
  out->flags = flags;
  out->seq = Load32(tcp + 4);
  out->payload = uint32_t(len - ipHdr - tcpHdr);
  return true;
}

bool CanAppend(const TcpSegmentView& first, const TcpSegmentView& last, const TcpSegmentView& b, uint32_t groupBytes) {
  if (b.ipVersion != first.ipVersion || b.tcpHdrLen != first.tcpHdrLen) return false;
  if (last.flags & kTcpPsh) return false;                                        // PSH ends what the sender pushed
  if (last.payload != first.payload || b.payload > first.payload) return false;  // gso_size cuts evenly
  if (b.seq != last.seq + last.payload) return false;
  if (groupBytes + b.payload > kMaxSuperPacket) return false;
  const uint8_t *x = first.pkt, *y = b.pkt;
  if (first.ipVersion == 4) {
    // TOS, flags/fragment (DF), TTL, protocol, addresses. The id may differ.
    if (x[1] != y[1] || x[6] != y[6] || x[8] != y[8] || memcmp(x + 12, y + 12, 8) != 0) return false;
  } else {
    // Traffic class + flow label, next header, hop limit, addresses.
    if (memcmp(x, y, 4) != 0 || x[6] != y[6] || x[7] != y[7] || memcmp(x + 8, y + 8, 32) != 0) return false;
  }
  const uint8_t *tx = x + first.ipHdrLen, *ty = y + b.ipHdrLen;
  // Ports, acknowledgment number, options (timestamps included) must match.
  return memcmp(tx, ty, 4) == 0 && memcmp(tx + 8, ty + 8, 4) == 0 && memcmp(tx + 20, ty + 20, first.tcpHdrLen - 20) == 0;
}

// The virtio_net_hdr of a coalesced super packet (NEEDS_CSUM, GSO of
// gsoType) and the first packet's headers (hdrLen bytes) behind it, with the
// IP length grown to the whole super packet. Returns where the IP header is.
static uint8_t* WriteGsoHeaders(uint8_t* out, uint8_t gsoType, const uint8_t* pkt, uint8_t ipVersion, size_t ipHdrLen, size_t hdrLen,
                                uint16_t gsoSize, uint16_t csumOffset, uint32_t totalLen) {
  virtio_net_hdr vh{};
  vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  vh.gso_type = gsoType;
  vh.hdr_len = uint16_t(hdrLen);
  vh.gso_size = gsoSize;
  vh.csum_start = uint16_t(ipHdrLen);
  vh.csum_offset = csumOffset;
  memcpy(out, &vh, kVnetHdrLen);
  uint8_t* ip = out + kVnetHdrLen;
  memcpy(ip, pkt, hdrLen);
  if (ipVersion == 4) {
    Store16(ip + 2, uint16_t(totalLen));
    FixIpv4HeaderChecksum(ip, 20);
  } else {
    Store16(ip + 4, uint16_t(totalLen - 40));
  }
  return ip;
}

size_t GroBuildHeader(const TcpSegmentView& first, uint8_t lastFlags, uint32_t totalLen, uint8_t* out) {
  size_t hdrLen = size_t(first.ipHdrLen) + first.tcpHdrLen;
  uint8_t* ip = WriteGsoHeaders(out, first.ipVersion == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6, first.pkt, first.ipVersion,
                                first.ipHdrLen, hdrLen, uint16_t(first.payload), kTcpChecksumOffset, totalLen);
  uint8_t* tcp = ip + first.ipHdrLen;
  tcp[13] = uint8_t(first.flags | (lastFlags & kTcpPsh));
  // CHECKSUM_PARTIAL convention: the field holds the folded pseudo-header sum,
  // not complemented; the kernel (or whoever segments) completes it.
  StoreSum(tcp + kTcpChecksumOffset, ChecksumFold(PseudoHeaderSum(ip, first.ipVersion, kProtoTcp, totalLen - first.ipHdrLen)));
  return kVnetHdrLen + hdrLen;
}

bool ParseUdpCoalescable(const uint8_t* pkt, size_t len, UdpDatagramView* out) {
  const size_t ipHdr = PlainIpHeader(pkt, len, kProtoUdp, 8 + 1);  // UDP header and one payload byte
  if (ipHdr == 0) return false;
  uint8_t version = pkt[0] >> 4;
  const uint8_t* udp = pkt + ipHdr;
  // The UDP length must cover exactly the rest (no trailing padding the kernel would trim).
  if (size_t(Load16(udp + 4)) != len - ipHdr || Load16(udp + kUdpChecksumOffset) == 0) return false;
  out->pkt = pkt;
  out->len = uint32_t(len);
  out->ipHdrLen = uint16_t(ipHdr);
  out->ipVersion = version;
  out->payload = uint32_t(len - ipHdr - 8);
  return true;
}

bool CanAppendUdp(const UdpDatagramView& first, const UdpDatagramView& last, const UdpDatagramView& b, uint32_t groupBytes,
                  uint32_t count) {
  if (b.ipVersion != first.ipVersion || count >= kMaxUdpGroupSegments) return false;
  // Only the last datagram may be shorter: once one is, the group is closed.
  if (last.payload != first.payload || b.payload > first.payload) return false;
  if (groupBytes + b.payload > kMaxSuperPacket) return false;
  const uint8_t *x = first.pkt, *y = b.pkt;
  if (first.ipVersion == 4) {
    // TOS, flags (DF), TTL, protocol, addresses. The id may differ.
    if (x[1] != y[1] || x[6] != y[6] || x[8] != y[8] || memcmp(x + 12, y + 12, 8) != 0) return false;
  } else {
    if (memcmp(x, y, 4) != 0 || x[6] != y[6] || x[7] != y[7] || memcmp(x + 8, y + 8, 32) != 0) return false;
  }
  return memcmp(x + first.ipHdrLen, y + b.ipHdrLen, 4) == 0;  // ports
}

size_t GroBuildUdpHeader(const UdpDatagramView& first, uint32_t totalLen, uint8_t* out) {
  size_t hdrLen = size_t(first.ipHdrLen) + 8;
  uint8_t* ip = WriteGsoHeaders(out, VIRTIO_NET_HDR_GSO_UDP_L4, first.pkt, first.ipVersion, first.ipHdrLen, hdrLen, uint16_t(first.payload),
                                kUdpChecksumOffset, totalLen);
  uint8_t* udp = ip + first.ipHdrLen;
  uint32_t l4Len = totalLen - first.ipHdrLen;
  // The UDP length is the whole; the kernel's segmentation swaps it for each
  // datagram's own length in the length field and in the pseudo-header sum
  // (which must therefore have been taken over this same length).
  Store16(udp + 4, uint16_t(l4Len));
  StoreSum(udp + kUdpChecksumOffset, ChecksumFold(PseudoHeaderSum(ip, first.ipVersion, kProtoUdp, l4Len)));
  return kVnetHdrLen + hdrLen;
}

}  // namespace xdpwg
