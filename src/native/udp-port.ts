/**
 * Kernel UDP socket port (native/udp_port.cc): the AF_XDP port's burst
 * interface over recvmmsg/sendmmsg, for loopback, devices without XDP,
 * datagrams larger than an XSK frame and unresolved neighbours.
 *
 * This module checks options in JavaScript (readable TypeError/RangeError)
 * and reads/writes the 40-byte address records that travel beside each
 * burst. The record accessors that return strings allocate: they are for
 * the control path (endpoint learning, logs, tests), not per packet.
 *
 * Threading: a port belongs to the thread that opened it; the addon closes
 * its socket when that thread's environment ends.
 */
import { isIP } from 'node:net';
import { native, type NativeUdpPort, type NativeUdpPortOptions } from './binding.js';
import { FRAME_HEADROOM } from './frames.js';
import { UDP_ADDR_RECORD_SIZE, UdpAddrRecord } from './addr-record-layout.js';

/** The record's layout lives in addr-record-layout.ts; re-exported for the port's users. */
export { UDP_ADDR_RECORD_SIZE, UdpAddrRecord };
/** Most packets one rxBurst/txBurst call moves (the addon's UDP_MAX_BURST). */
export const UDP_MAX_BURST = 256;
/** Smallest headroom: eth 14 + ipv6 40 + udp 8 + wireguard data header 16. */
export const MIN_HEADROOM = 78;

const REC_REMOTE_IP = UdpAddrRecord.remoteIp;
const REC_REMOTE_PORT = UdpAddrRecord.remotePort;
const REC_FAMILY = UdpAddrRecord.family;
const REC_LOCAL_IP = UdpAddrRecord.localIp;
const REC_IFINDEX = UdpAddrRecord.ifindex;

/** Validates options; throws TypeError/RangeError naming the option. */
export function checkUdpPortOptions(opts: NativeUdpPortOptions): void {
  if (opts.fd === undefined) {
    if (!Number.isInteger(opts.port) || opts.port! < 0 || opts.port! > 65535) {
      throw new RangeError(`UdpPort: port must be an integer 0..65535, got ${String(opts.port)}`);
    }
  } else if (!Number.isInteger(opts.fd) || opts.fd < 0) {
    throw new RangeError(`UdpPort: fd must be a non-negative integer, got ${opts.fd}`);
  }
  if (opts.bindAddress !== undefined && isIP(opts.bindAddress) === 0) {
    throw new TypeError(`UdpPort: bindAddress must be an IPv4 or IPv6 literal, got ${JSON.stringify(opts.bindAddress)}`);
  }
  const headroom = opts.headroom ?? FRAME_HEADROOM;
  if (!Number.isInteger(headroom) || headroom < MIN_HEADROOM || headroom > 4096) {
    throw new RangeError(`UdpPort: headroom must be ${MIN_HEADROOM}..4096, got ${headroom}`);
  }
  if (
    opts.frameSize !== undefined &&
    (!Number.isInteger(opts.frameSize) || opts.frameSize < headroom + 256 || opts.frameSize > 65536 + headroom)
  ) {
    throw new RangeError(`UdpPort: frameSize must be ${headroom + 256}..${65536 + headroom}, got ${opts.frameSize}`);
  }
  if (opts.frameCount !== undefined && (!Number.isInteger(opts.frameCount) || opts.frameCount < 1)) {
    throw new RangeError(`UdpPort: frameCount must be a positive integer, got ${opts.frameCount}`);
  }
}

/** Opens a UDP port; errors from the kernel carry .code (EADDRINUSE, ...). */
export function openUdpPort(opts: NativeUdpPortOptions): NativeUdpPort {
  checkUdpPortOptions(opts);
  return new (native().UdpPort)(opts);
}

/** One log line saying what the port is (docs/DESIGN.md: the log says which path each port takes). */
export function describeUdpPort(port: NativeUdpPort): string {
  const i = port.info();
  const stack = i.family === 4 ? 'IPv4' : i.dualStack ? 'dual-stack' : 'IPv6-only';
  return `udp socket port ${i.port} (${stack}, kernel path): ${i.frameCount} frames of ${i.frameSize} B, headroom ${i.headroom}`;
}

/** A remote/local endpoint as carried by one address record. */
export interface UdpEndpoint {
  /** Remote IP in its natural form ('192.0.2.1', 'fd00::1'). */
  ip: string;
  port: number;
  family: 4 | 6;
  /** Local address the packet reached (rx) / to send from (tx); '' = kernel's choice. */
  localIp: string;
  /** Interface the packet arrived on (0 = unknown/any). */
  ifindex: number;
}

function ipFromBytes(b: Uint8Array, at: number, family: number): string {
  if (family === 4) return `${b[at + 12]}.${b[at + 13]}.${b[at + 14]}.${b[at + 15]}`;
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(((b[at + i]! << 8) | b[at + i + 1]!).toString(16));
  // Shorten the longest run of zero groups, as RFC 5952 section 4.2.3 asks.
  let best = -1,
    bestLen = 0;
  for (let i = 0; i < 8;) {
    if (parts[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && parts[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return parts.join(':');
  return `${parts.slice(0, best).join(':')}::${parts.slice(best + bestLen).join(':')}`;
}

function ipToBytes(ip: string, b: Uint8Array, at: number): 4 | 6 {
  b.fill(0, at, at + 16);
  const v = isIP(ip);
  if (v === 4) {
    b[at + 10] = 0xff;
    b[at + 11] = 0xff;
    ip.split('.').forEach((o, i) => {
      b[at + 12 + i] = Number(o);
    });
    return 4;
  }
  if (v !== 6) throw new TypeError(`not an IP address: ${JSON.stringify(ip)}`);
  if (ip.includes('.')) {
    // ::ffff:a.b.c.d and friends
    const cut = ip.lastIndexOf(':');
    ipToBytes(ip.slice(cut + 1), b, at);
    const head = ip.slice(0, cut + 1);
    if (head !== '::ffff:' && head !== '::') throw new TypeError(`unsupported embedded-IPv4 form: ${ip}`);
    if (head === '::ffff:') return 4;
    b[at + 10] = 0;
    b[at + 11] = 0;
    return 6;
  }
  const [left, right] = ip.includes('::') ? (ip.split('::') as [string, string]) : [ip, undefined];
  const l = left ? left.split(':') : [];
  const r = right ? right.split(':') : [];
  const groups = right === undefined ? l : [...l, ...Array(8 - l.length - r.length).fill('0'), ...r];
  groups.forEach((g, i) => {
    const v16 = parseInt(g, 16);
    b[at + 2 * i] = v16 >> 8;
    b[at + 2 * i + 1] = v16 & 0xff;
  });
  return 6;
}

/** Reads record i (control path: allocates strings). */
export function readEndpoint(addr: Uint8Array, i: number): UdpEndpoint {
  const at = i * UDP_ADDR_RECORD_SIZE;
  const family = addr[at + REC_FAMILY] === 4 ? 4 : 6;
  const localZero = addr.subarray(at + REC_LOCAL_IP, at + REC_LOCAL_IP + UdpAddrRecord.ipBytes).every((x) => x === 0);
  return {
    ip: ipFromBytes(addr, at + REC_REMOTE_IP, family),
    port: (addr[at + REC_REMOTE_PORT]! << 8) | addr[at + REC_REMOTE_PORT + 1]!,
    family,
    localIp: localZero ? '' : ipFromBytes(addr, at + REC_LOCAL_IP, family),
    ifindex: new DataView(addr.buffer, addr.byteOffset + at + REC_IFINDEX, 4).getUint32(0, true),
  };
}

/**
 * Writes record i for a transmit. localIp '' (or omitted) lets the kernel
 * choose the source. An IPv4 remote is stored as ::ffff:a.b.c.d.
 */
export function writeEndpoint(addr: Uint8Array, i: number, ep: { ip: string; port: number; localIp?: string; ifindex?: number }): void {
  const at = i * UDP_ADDR_RECORD_SIZE;
  const family = ipToBytes(ep.ip, addr, at + REC_REMOTE_IP);
  addr[at + REC_REMOTE_PORT] = ep.port >> 8;
  addr[at + REC_REMOTE_PORT + 1] = ep.port & 0xff;
  addr[at + REC_FAMILY] = family;
  addr[at + UdpAddrRecord.reserved] = 0;
  if (ep.localIp) {
    if (ipToBytes(ep.localIp, addr, at + REC_LOCAL_IP) !== family)
      throw new TypeError(`local ${ep.localIp} and remote ${ep.ip} differ in family`);
  } else {
    addr.fill(0, at + REC_LOCAL_IP, at + REC_LOCAL_IP + UdpAddrRecord.ipBytes);
  }
  new DataView(addr.buffer, addr.byteOffset + at + REC_IFINDEX, 4).setUint32(0, ep.ifindex ?? 0, true);
}

/** Copies record from → to (e.g. an rx record reused as the reply's tx record). No allocation. */
export function copyRecord(src: Uint8Array, from: number, dst: Uint8Array, to: number): void {
  dst.set(src.subarray(from * UDP_ADDR_RECORD_SIZE, (from + 1) * UDP_ADDR_RECORD_SIZE), to * UDP_ADDR_RECORD_SIZE);
}
