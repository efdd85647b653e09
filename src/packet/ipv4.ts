/** IPv4 header (RFC 791 §3.1): parse, build, header checksum. */
import { finish, fold, sumBytes } from './checksum.js';
import type { DropReason } from './drop-reasons.js';

/** Header without options. */
export const IPV4_HEADER_LEN = 20;
export const IPPROTO_UDP = 17;
/** Flags/fragment offset: More Fragments bit, and the 13-bit offset. */
const IPV4_MF = 0x2000;
const IPV4_OFFSET_MASK = 0x1fff;

/** What parseIpv4 learned; reused across packets (no allocation). */
export interface Ipv4Header {
  headerLength: number;
  totalLength: number;
  protocol: number;
}

/**
 * Validates the IPv4 header at off with avail bytes behind it and fills out.
 * allowOptions: accept IHL > 5 (the header length then includes them).
 */
export function parseIpv4(bytes: Uint8Array, off: number, avail: number, out: Ipv4Header, allowOptions = false): DropReason | null {
  if (avail < IPV4_HEADER_LEN) return 'outer-runt';
  const vihl = bytes[off]!;
  if (vihl >>> 4 !== 4) return 'outer-ip-version';
  const hlen = (vihl & 0x0f) * 4;
  if (hlen < IPV4_HEADER_LEN || hlen > avail) return 'outer-ipv4-header-length';
  if (hlen > IPV4_HEADER_LEN && !allowOptions) return 'outer-ipv4-options';
  const total = (bytes[off + 2]! << 8) | bytes[off + 3]!;
  // Frames may carry trailing padding (Ethernet's 60-byte minimum); the IP
  // length, not the frame length, says where the datagram ends.
  if (total < hlen || total > avail) return 'outer-ip-length';
  const frag = (bytes[off + 6]! << 8) | bytes[off + 7]!;
  if (frag & (IPV4_MF | IPV4_OFFSET_MASK)) return 'outer-fragment';
  out.headerLength = hlen;
  out.totalLength = total;
  out.protocol = bytes[off + 9]!;
  return null;
}

/** True when the header checksum of the hlen-byte header at off verifies. */
export function ipv4ChecksumOk(bytes: Uint8Array, off: number, hlen: number): boolean {
  return fold(sumBytes(bytes, off, hlen)) === 0xffff;
}

/** Recomputes and stores the header checksum of the hlen-byte header at off. */
export function setIpv4Checksum(bytes: Uint8Array, off: number, hlen: number): void {
  bytes[off + 10] = 0;
  bytes[off + 11] = 0;
  const c = finish(sumBytes(bytes, off, hlen));
  bytes[off + 10] = c >>> 8;
  bytes[off + 11] = c & 0xff;
}

/** Swaps source and destination address in place (checksum-neutral: the sum is commutative). */
export function swapIpv4Addresses(bytes: Uint8Array, off: number): void {
  for (let i = 0; i < 4; i++) {
    const t = bytes[off + 12 + i]!;
    bytes[off + 12 + i] = bytes[off + 16 + i]!;
    bytes[off + 16 + i] = t;
  }
}

/**
 * A precomputed outer IPv4 header for one (source, destination, protocol,
 * TTL): per packet only total length and identification change, so the
 * checksum is the template's partial sum plus those two words (no pass over
 * the header). This is how the daemon builds outer headers.
 */
export class Ipv4Template {
  private readonly header = new Uint8Array(IPV4_HEADER_LEN);
  private readonly partialSum: number;

  constructor(src: Uint8Array, dst: Uint8Array, protocol = IPPROTO_UDP, ttl = 64, tos = 0, dontFragment = true) {
    const h = this.header;
    h[0] = 0x45;
    h[1] = tos;
    h[6] = dontFragment ? 0x40 : 0;
    h[8] = ttl;
    h[9] = protocol;
    h.set(src.subarray(0, 4), 12);
    h.set(dst.subarray(0, 4), 16);
    this.partialSum = sumBytes(h, 0, IPV4_HEADER_LEN); // length, id and checksum are zero here
  }

  /** Writes the header at off for a datagram of totalLength bytes (header included). */
  write(bytes: Uint8Array, off: number, totalLength: number, id = 0): void {
    bytes.set(this.header, off);
    bytes[off + 2] = totalLength >>> 8;
    bytes[off + 3] = totalLength & 0xff;
    bytes[off + 4] = (id >>> 8) & 0xff;
    bytes[off + 5] = id & 0xff;
    const c = finish(this.partialSum + totalLength + (id & 0xffff));
    bytes[off + 10] = c >>> 8;
    bytes[off + 11] = c & 0xff;
  }
}
