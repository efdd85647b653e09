/**
 * Outer Ethernet + IP + UDP headers for one path (our MAC and address and
 * port -> the next hop's MAC and the peer's address and port), precomputed
 * once so that sending a datagram costs a header copy, two length fields and
 * the checksums' per-packet words only. This is what the daemon writes in
 * front of every WireGuard message it sends over AF_XDP (the message sits at
 * `payloadOffset` from the frame's data start; the headroom is there for it).
 *
 * Checksums:
 *  - IPv4 header: template partial sum + total length + identification.
 *  - UDP over IPv4: optional (RFC 768); computed when `udpChecksumV4` is set.
 *  - UDP over IPv6: mandatory (RFC 8200 §8.1): pseudo-header partial sum
 *    (addresses, next header, ports) + 2 x length + the payload's sum.
 *
 * Hot-path rule: write() allocates nothing.
 */
import { finish, sumBytes } from './checksum.js';
import { ETH_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, writeEthernet } from './ethernet.js';
import { IPPROTO_UDP, IPV4_HEADER_LEN, Ipv4Template } from './ipv4.js';
import { IPV6_HEADER_LEN, writeIpv6 } from './ipv6.js';
import { UDP_HEADER_LEN, writeUdpHeader } from './udp.js';

/** The endpoints of an outer path. IPs are 4 or 16 bytes (both the same family). */
export interface OuterPath {
  srcMac: Uint8Array;
  dstMac: Uint8Array;
  srcIp: Uint8Array;
  dstIp: Uint8Array;
  srcPort: number;
  dstPort: number;
}

/** Precomputed headers for one path. */
export class OuterHeaders {
  /** Bytes of headers before the payload: 42 (IPv4) or 62 (IPv6). */
  readonly length: number;
  readonly family: 4 | 6;
  private readonly header: Uint8Array;
  private readonly v4: Ipv4Template | null;
  /** Pseudo-header + UDP header sum without the two length words and the payload. */
  private readonly udpPartialSum: number;

  /**
   * @param udpChecksumV4 compute the UDP checksum over IPv4 too (IPv6 always does).
   * @param ttl IPv4 TTL / IPv6 hop limit.
   * @param dontFragment IPv4 DF bit.
   */
  constructor(
    path: OuterPath,
    readonly udpChecksumV4 = false,
    ttl = 64,
    dontFragment = true,
  ) {
    const v6 = path.srcIp.length === 16;
    if (path.srcIp.length !== path.dstIp.length || (path.srcIp.length !== 4 && !v6)) {
      throw new RangeError('OuterHeaders: source and destination must both be IPv4 (4 bytes) or IPv6 (16 bytes)');
    }
    this.family = v6 ? 6 : 4;
    this.length = ETH_HEADER_LEN + (v6 ? IPV6_HEADER_LEN : IPV4_HEADER_LEN) + UDP_HEADER_LEN;
    this.header = new Uint8Array(this.length);
    writeEthernet(this.header, 0, path.dstMac, path.srcMac, v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4);
    const l4 = this.length - UDP_HEADER_LEN;
    if (v6) {
      writeIpv6(this.header, ETH_HEADER_LEN, path.srcIp, path.dstIp, 0, IPPROTO_UDP, ttl);
      this.v4 = null;
    } else {
      this.v4 = new Ipv4Template(path.srcIp, path.dstIp, IPPROTO_UDP, ttl, 0, dontFragment);
    }
    writeUdpHeader(this.header, l4, path.srcPort, path.dstPort, 0);
    // Addresses + protocol + ports; lengths are added per packet.
    this.udpPartialSum =
      sumBytes(path.srcIp, 0, path.srcIp.length) + sumBytes(path.dstIp, 0, path.dstIp.length) + IPPROTO_UDP + path.srcPort + path.dstPort;
  }

  /**
   * Writes the headers at off, in front of payloadLength bytes already at
   * off + this.length, and fills in lengths and checksums. Returns the frame
   * length. id: IPv4 identification (ignored for IPv6).
   */
  write(bytes: Uint8Array, off: number, payloadLength: number, id = 0): number {
    bytes.set(this.header, off);
    const l3 = off + ETH_HEADER_LEN;
    const l4 = off + this.length - UDP_HEADER_LEN;
    const udpLen = UDP_HEADER_LEN + payloadLength;
    let wantUdpSum = true;
    if (this.v4) {
      this.v4.write(bytes, l3, IPV4_HEADER_LEN + udpLen, id);
      wantUdpSum = this.udpChecksumV4;
    } else {
      bytes[l3 + 4] = udpLen >>> 8;
      bytes[l3 + 5] = udpLen & 0xff;
    }
    bytes[l4 + 4] = udpLen >>> 8;
    bytes[l4 + 5] = udpLen & 0xff;
    if (wantUdpSum) {
      // The length appears twice: in the pseudo header and in the UDP header.
      const c = finish(this.udpPartialSum + 2 * udpLen + sumBytes(bytes, l4 + UDP_HEADER_LEN, payloadLength)) || 0xffff;
      bytes[l4 + 6] = c >>> 8;
      bytes[l4 + 7] = c & 0xff;
    }
    return this.length + payloadLength;
  }
}
