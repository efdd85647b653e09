/**
 * The outer Ethernet + IPv4/IPv6 + UDP headers of the AF_XDP path for one
 * peer route, written in the frame's headroom in front of a WireGuard
 * message, and the address record of a received frame.
 *
 * The headers themselves are src/packet/outer.ts's OuterHeaders (constant
 * parts prepared once per route; per packet only lengths, the IPv4
 * identification and the checksums). IPv4 carries UDP checksum 0 ("no
 * checksum", RFC 768) and no DF bit, as the kernel WireGuard module sends
 * it; IPv6 requires a UDP checksum (RFC 8200 §8.1), over the whole datagram.
 */
import { ETH_HEADER_LEN } from '../packet/ethernet.js';
import { OuterHeaders } from '../packet/outer.js';
import type { UdpFrame } from '../packet/udp-frame.js';
import { UdpAddrRecord as R, UDP_ADDR_RECORD_SIZE } from '../native/udp-port.js';
import type { PeerRoute } from './worker-messages.js';

const TTL = 64;

/** A peer route's outer headers, and what the send path asks of the route. */
export class RouteHeaders {
  readonly ifindex: number;
  /** Bytes these headers take in front of the message. */
  readonly length: number;
  /** Longest WireGuard message that fits the egress MTU in one unfragmented packet. */
  readonly maxMessage: number;
  private readonly headers: OuterHeaders;
  private ipId = 0;

  constructor(route: PeerRoute, srcPort: number) {
    this.ifindex = route.ifindex;
    this.headers = new OuterHeaders({ ...route, srcPort }, false, TTL, false);
    this.length = this.headers.length;
    this.maxMessage = route.mtu - (this.length - ETH_HEADER_LEN);
  }

  /**
   * Writes the headers in front of the message at buf[msgOff, msgOff+msgLen)
   * (the caller guarantees `length` bytes of headroom). Returns the frame's
   * first byte offset; the frame is `length + msgLen` bytes.
   */
  write(buf: Uint8Array, msgOff: number, msgLen: number): number {
    const start = msgOff - this.length;
    this.ipId = (this.ipId + 1) & 0xffff;
    this.headers.write(buf, start, msgLen, this.ipId);
    return start;
  }
}

/**
 * Fills the 40-byte address record (src/native/addr-record-layout.ts UdpAddrRecord)
 * of a parsed frame: remote address and port, family, the local address it
 * reached, ifindex.
 */
export function recordFromFrame(buf: Uint8Array, f: UdpFrame, ifindex: number, out: Uint8Array, at: number): void {
  out.fill(0, at, at + UDP_ADDR_RECORD_SIZE);
  if (f.family === 4) {
    // v4-mapped: ::ffff:a.b.c.d
    out[at + R.remoteIpv4 - 2] = 0xff;
    out[at + R.remoteIpv4 - 1] = 0xff;
    out.set(buf.subarray(f.l3 + 12, f.l3 + 16), at + R.remoteIpv4);
    out[at + R.localIpv4 - 2] = 0xff;
    out[at + R.localIpv4 - 1] = 0xff;
    out.set(buf.subarray(f.l3 + 16, f.l3 + 20), at + R.localIpv4);
  } else {
    out.set(buf.subarray(f.l3 + 8, f.l3 + 24), at + R.remoteIp);
    out.set(buf.subarray(f.l3 + 24, f.l3 + 40), at + R.localIp);
  }
  out[at + R.remotePort] = f.srcPort >> 8;
  out[at + R.remotePort + 1] = f.srcPort & 0xff;
  out[at + R.family] = f.family;
  out[at + R.ifindex] = ifindex & 0xff;
  out[at + R.ifindex + 1] = (ifindex >> 8) & 0xff;
  out[at + R.ifindex + 2] = (ifindex >> 16) & 0xff;
  out[at + R.ifindex + 3] = (ifindex >>> 24) & 0xff;
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
  if (rec[R.family] !== route.family || ((rec[R.remotePort]! << 8) | rec[R.remotePort + 1]!) !== route.dstPort) return false;
  const remote = v4 ? R.remoteIpv4 : R.remoteIp,
    local = v4 ? R.localIpv4 : R.localIp,
    n = v4 ? 4 : 16;
  let anyLocal = false;
  for (let i = 0; i < n; i++) {
    if (rec[remote + i] !== route.dstIp[i]) return false;
    if (rec[local + i] !== 0) anyLocal = true;
  }
  if (!anyLocal) return true;
  for (let i = 0; i < n; i++) if (rec[local + i] !== route.srcIp[i]) return false;
  return true;
}
