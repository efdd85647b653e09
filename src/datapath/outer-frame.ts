/**
 * The outer Ethernet + IPv4/IPv6 + UDP headers of the AF_XDP path, built by
 * us in the frame's headroom in front of a WireGuard message, and the
 * address record of a received frame.
 *
 * Per peer route the constant parts are prepared once (MACs, addresses,
 * ports, the IPv4 header's partial checksum); per packet only lengths, the
 * IPv4 identification and the checksums change. IPv4 carries UDP checksum 0
 * ("no checksum", RFC 768), as the kernel WireGuard module sends it; IPv6
 * requires one (RFC 8200 §8.1), computed over the whole datagram.
 */
import { ETH_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../packet/ethernet.js';
import { Ipv4Template, IPV4_HEADER_LEN, IPPROTO_UDP } from '../packet/ipv4.js';
import { IPV6_HEADER_LEN } from '../packet/ipv6.js';
import { UDP_HEADER_LEN } from '../packet/udp.js';
import { finish, pseudoSumV6, sumBytes } from '../packet/checksum.js';
import type { UdpFrame } from '../packet/udp-frame.js';
import type { PeerRoute } from './worker-messages.js';
import { ADDR_RECORD_SIZE } from './addr-record.js';

export class OuterHeaders {
  readonly ifindex: number;
  /** Bytes these headers take in front of the message. */
  readonly length: number;
  /** Longest WireGuard message that fits the egress MTU in one unfragmented packet. */
  readonly maxMessage: number;
  private readonly eth = new Uint8Array(ETH_HEADER_LEN);
  private readonly v4: Ipv4Template | null;
  private readonly route: PeerRoute;
  private ipId = 0;

  constructor(route: PeerRoute, private readonly srcPort: number) {
    this.route = route;
    this.ifindex = route.ifindex;
    this.eth.set(route.dstMac, 0);
    this.eth.set(route.srcMac, 6);
    const type = route.family === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6;
    this.eth[12] = type >> 8;
    this.eth[13] = type & 0xff;
    this.v4 = route.family === 4 ? new Ipv4Template(route.srcIp, route.dstIp, IPPROTO_UDP, 64, 0, false) : null;
    this.length = ETH_HEADER_LEN + (route.family === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN) + UDP_HEADER_LEN;
    this.maxMessage = route.mtu - (this.length - ETH_HEADER_LEN);
  }

  /**
   * Writes the headers in front of the message at buf[msgOff, msgOff+msgLen)
   * (the caller guarantees `length` bytes of headroom). Returns the frame's
   * first byte offset; the frame is `length + msgLen` bytes.
   */
  write(buf: Uint8Array, msgOff: number, msgLen: number): number {
    const start = msgOff - this.length;
    buf.set(this.eth, start);
    const l3 = start + ETH_HEADER_LEN;
    const udpLen = UDP_HEADER_LEN + msgLen;
    let l4: number;
    if (this.v4) {
      this.ipId = (this.ipId + 1) & 0xffff;
      this.v4.write(buf, l3, IPV4_HEADER_LEN + udpLen, this.ipId);
      l4 = l3 + IPV4_HEADER_LEN;
    } else {
      buf[l3] = 0x60; buf[l3 + 1] = 0; buf[l3 + 2] = 0; buf[l3 + 3] = 0;
      buf[l3 + 4] = udpLen >> 8; buf[l3 + 5] = udpLen & 0xff;
      buf[l3 + 6] = IPPROTO_UDP; buf[l3 + 7] = 64;
      buf.set(this.route.srcIp, l3 + 8);
      buf.set(this.route.dstIp, l3 + 24);
      l4 = l3 + IPV6_HEADER_LEN;
    }
    buf[l4] = this.srcPort >> 8; buf[l4 + 1] = this.srcPort & 0xff;
    buf[l4 + 2] = this.route.dstPort >> 8; buf[l4 + 3] = this.route.dstPort & 0xff;
    buf[l4 + 4] = udpLen >> 8; buf[l4 + 5] = udpLen & 0xff;
    buf[l4 + 6] = 0; buf[l4 + 7] = 0;
    if (!this.v4) {
      let c = finish(sumBytes(buf, l4, udpLen, pseudoSumV6(buf, l3 + 8, l3 + 24, IPPROTO_UDP, udpLen)));
      if (c === 0) c = 0xffff; // 0 means "no checksum", which IPv6 forbids
      buf[l4 + 6] = c >> 8; buf[l4 + 7] = c & 0xff;
    }
    return start;
  }
}

/**
 * Fills the 40-byte address record (see addr-record.ts) of a parsed frame:
 * remote address and port, family, the local address it reached, ifindex.
 */
export function recordFromFrame(buf: Uint8Array, f: UdpFrame, ifindex: number, out: Uint8Array, at: number): void {
  out.fill(0, at, at + ADDR_RECORD_SIZE);
  if (f.family === 4) {
    out[at + 10] = 0xff; out[at + 11] = 0xff;
    out.set(buf.subarray(f.l3 + 12, f.l3 + 16), at + 12);
    out[at + 30] = 0xff; out[at + 31] = 0xff;
    out.set(buf.subarray(f.l3 + 16, f.l3 + 20), at + 32);
  } else {
    out.set(buf.subarray(f.l3 + 8, f.l3 + 24), at);
    out.set(buf.subarray(f.l3 + 24, f.l3 + 40), at + 20);
  }
  out[at + 16] = f.srcPort >> 8;
  out[at + 17] = f.srcPort & 0xff;
  out[at + 18] = f.family;
  out[at + 36] = ifindex & 0xff;
  out[at + 37] = (ifindex >> 8) & 0xff;
  out[at + 38] = (ifindex >> 16) & 0xff;
  out[at + 39] = (ifindex >>> 24) & 0xff;
}

/**
 * True when a route builds headers for this address record: the same remote
 * address and port, and the record's local address as source (a record
 * without one takes any). A worker sends with a route only while this holds:
 * a peer that roamed, or reached us at another local address, is answered
 * on the kernel socket (from the record itself) until the main thread's route
 * for the new record arrives, never from the old one, which would make the
 * peer roam back.
 */
export function routeServes(route: PeerRoute, rec: Uint8Array): boolean {
  const v4 = route.family === 4;
  if (rec[18] !== route.family || ((rec[16]! << 8) | rec[17]!) !== route.dstPort) return false;
  const remote = v4 ? 12 : 0, local = v4 ? 32 : 20, n = v4 ? 4 : 16;
  let anyLocal = false;
  for (let i = 0; i < n; i++) {
    if (rec[remote + i] !== route.dstIp[i]) return false;
    if (rec[local + i] !== 0) anyLocal = true;
  }
  if (!anyLocal) return true;
  for (let i = 0; i < n; i++) if (rec[local + i] !== route.srcIp[i]) return false;
  return true;
}
