/**
 * Ethernet + IPv4/IPv6 + UDP frames as a whole: the parser the data path runs
 * on every received frame, the in-place reply the echo uses, and a builder.
 *
 * Hot-path rule: parseUdpFrame fills a caller-owned UdpFrame and returns a
 * drop reason; it never throws and never allocates.
 */
import type { DropReason } from './drop-reasons.js';
import { ETH_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, etherType, swapMacs, writeEthernet } from './ethernet.js';
import { IPPROTO_UDP, IPV4_HEADER_LEN, parseIpv4, setIpv4Checksum, swapIpv4Addresses, Ipv4Template, type Ipv4Header } from './ipv4.js';
import { IPV6_HEADER_LEN, parseIpv6, swapIpv6Addresses, writeIpv6, type Ipv6Header } from './ipv6.js';
import { UDP_HEADER_LEN, setUdpChecksumV4, setUdpChecksumV6, swapUdpPorts, writeUdpHeader } from './udp.js';

/** Where the parts of one received frame are (offsets into the buffer). */
export class UdpFrame {
  /** 4 or 6. */
  family = 0;
  l3 = 0;
  l4 = 0;
  payload = 0;
  payloadLength = 0;
  /** UDP length field (header + payload). */
  udpLength = 0;
  /** Ethernet header + IP datagram; less than the frame when the frame was padded. */
  frameLength = 0;
  srcPort = 0;
  dstPort = 0;
  /** @internal scratch for the IP parsers */
  readonly v4: Ipv4Header = { headerLength: 0, totalLength: 0, protocol: 0 };
  /** @internal */
  readonly v6: Ipv6Header = { payloadLength: 0, nextHeader: 0 };
}

/** Options for parseUdpFrame. */
export interface ParseOptions {
  /** Accept IPv4 options (default: drop them as 'outer-ipv4-options'). */
  allowIpv4Options?: boolean;
}

/**
 * Parses the frame at off (len bytes) as Ethernet/IPv4|IPv6/UDP. Checks every
 * length against the bytes that are really there: runts, IP or UDP lengths
 * that claim more than the frame holds, IPv4 fragments and IPv6 extension
 * headers all come back as a named DropReason; null when the frame is usable.
 */
export function parseUdpFrame(bytes: Uint8Array, off: number, len: number, out: UdpFrame, opts?: ParseOptions): DropReason | null {
  if (len < ETH_HEADER_LEN) return 'outer-runt';
  const type = etherType(bytes, off);
  const l3 = off + ETH_HEADER_LEN;
  const avail = len - ETH_HEADER_LEN;
  let l4: number;
  let ipPayload: number;
  if (type === ETHERTYPE_IPV4) {
    const r = parseIpv4(bytes, l3, avail, out.v4, opts?.allowIpv4Options ?? false);
    if (r !== null) return r;
    if (out.v4.protocol !== IPPROTO_UDP) return 'outer-protocol';
    l4 = l3 + out.v4.headerLength;
    ipPayload = out.v4.totalLength - out.v4.headerLength;
    out.family = 4;
    out.frameLength = ETH_HEADER_LEN + out.v4.totalLength;
  } else if (type === ETHERTYPE_IPV6) {
    const r = parseIpv6(bytes, l3, avail, out.v6);
    if (r !== null) return r;
    l4 = l3 + IPV6_HEADER_LEN;
    ipPayload = out.v6.payloadLength;
    out.family = 6;
    out.frameLength = ETH_HEADER_LEN + IPV6_HEADER_LEN + ipPayload;
  } else {
    return 'outer-ethertype';
  }
  if (ipPayload < UDP_HEADER_LEN) return 'outer-runt';
  const udpLen = (bytes[l4 + 4]! << 8) | bytes[l4 + 5]!;
  if (udpLen < UDP_HEADER_LEN || udpLen > ipPayload) return 'outer-udp-length';
  out.l3 = l3;
  out.l4 = l4;
  out.udpLength = udpLen;
  out.payload = l4 + UDP_HEADER_LEN;
  out.payloadLength = udpLen - UDP_HEADER_LEN;
  out.srcPort = (bytes[l4]! << 8) | bytes[l4 + 1]!;
  out.dstPort = (bytes[l4 + 2]! << 8) | bytes[l4 + 3]!;
  return null;
}

/** TTL / hop limit of replies we originate (RFC 1700's default 64). */
export const REPLY_TTL = 64;

/**
 * Turns a parsed frame into its reply in place: MACs, addresses and ports
 * swapped, TTL/hop limit reset, and the checksums recomputed. The swap alone
 * would not change any checksum (ones' complement sums commute), but the
 * sender's checksum cannot be trusted to be complete: a local sender with
 * checksum offload (veth, virtio) leaves only the pseudo-header sum in the
 * field. So the UDP checksum is computed in full, and the IPv4 header
 * checksum is recomputed after the TTL change. Returns the reply's frame length.
 */
export function turnAround(bytes: Uint8Array, off: number, f: UdpFrame): number {
  swapMacs(bytes, off);
  if (f.family === 4) {
    swapIpv4Addresses(bytes, f.l3);
    bytes[f.l3 + 8] = REPLY_TTL;
    setIpv4Checksum(bytes, f.l3, f.l4 - f.l3);
    swapUdpPorts(bytes, f.l4);
    setUdpChecksumV4(bytes, f.l3, f.l4, f.udpLength);
  } else {
    swapIpv6Addresses(bytes, f.l3);
    bytes[f.l3 + 7] = REPLY_TTL;
    swapUdpPorts(bytes, f.l4);
    setUdpChecksumV6(bytes, f.l3, f.l4, f.udpLength);
  }
  return f.frameLength;
}

/** Addresses and ports of a frame to build (MACs 6 bytes, IPs 4 or 16 bytes). */
export interface UdpFrameSpec {
  dstMac: Uint8Array;
  srcMac: Uint8Array;
  srcIp: Uint8Array;
  dstIp: Uint8Array;
  srcPort: number;
  dstPort: number;
}

/**
 * Writes a complete frame at off around a payload of payloadLength bytes that
 * is already in place at off + headerLength(family) (or is written there
 * afterwards and the checksum fixed with setUdpChecksumV4/V6). Returns the
 * frame length. Control-path helper (tests, load generators): it allocates
 * an Ipv4Template per call.
 */
export function buildUdpFrame(bytes: Uint8Array, off: number, spec: UdpFrameSpec, payloadLength: number): number {
  const v6 = spec.srcIp.length === 16;
  const udpLen = UDP_HEADER_LEN + payloadLength;
  const l3 = off + ETH_HEADER_LEN;
  writeEthernet(bytes, off, spec.dstMac, spec.srcMac, v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4);
  if (v6) {
    writeIpv6(bytes, l3, spec.srcIp, spec.dstIp, udpLen);
    writeUdpHeader(bytes, l3 + IPV6_HEADER_LEN, spec.srcPort, spec.dstPort, udpLen);
    setUdpChecksumV6(bytes, l3, l3 + IPV6_HEADER_LEN, udpLen);
    return ETH_HEADER_LEN + IPV6_HEADER_LEN + udpLen;
  }
  new Ipv4Template(spec.srcIp, spec.dstIp).write(bytes, l3, IPV4_HEADER_LEN + udpLen);
  writeUdpHeader(bytes, l3 + IPV4_HEADER_LEN, spec.srcPort, spec.dstPort, udpLen);
  setUdpChecksumV4(bytes, l3, l3 + IPV4_HEADER_LEN, udpLen);
  return ETH_HEADER_LEN + IPV4_HEADER_LEN + udpLen;
}

/** Bytes before the UDP payload for a family: 42 (IPv4) or 62 (IPv6). */
export function udpFrameHeaderLength(family: 4 | 6): number {
  return ETH_HEADER_LEN + (family === 6 ? IPV6_HEADER_LEN : IPV4_HEADER_LEN) + UDP_HEADER_LEN;
}
