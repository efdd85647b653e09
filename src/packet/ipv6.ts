/** IPv6 fixed header (RFC 8200 §3): parse and build. IPv6 has no header checksum. */
import type { DropReason } from './drop-reasons.js';
import { IPPROTO_UDP } from './ipv4.js';

export const IPV6_HEADER_LEN = 40;

/** What parseIpv6 learned; reused across packets. */
export interface Ipv6Header {
  payloadLength: number;
  nextHeader: number;
}

/**
 * Validates the fixed header at off with avail bytes behind it. Extension
 * headers are not walked: anything but UDP directly after the fixed header
 * is 'outer-protocol' (our XDP filter passes such packets to the kernel anyway).
 */
export function parseIpv6(bytes: Uint8Array, off: number, avail: number, out: Ipv6Header): DropReason | null {
  if (avail < IPV6_HEADER_LEN) return 'outer-runt';
  if (bytes[off]! >>> 4 !== 6) return 'outer-ip-version';
  const plen = (bytes[off + 4]! << 8) | bytes[off + 5]!;
  if (IPV6_HEADER_LEN + plen > avail) return 'outer-ip-length'; // 0 (jumbogram) is caught by the UDP length check
  out.payloadLength = plen;
  out.nextHeader = bytes[off + 6]!;
  return out.nextHeader === IPPROTO_UDP ? null : 'outer-protocol';
}

/** Swaps source and destination address in place (checksum-neutral). */
export function swapIpv6Addresses(bytes: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++) {
    const t = bytes[off + 8 + i]!;
    bytes[off + 8 + i] = bytes[off + 24 + i]!;
    bytes[off + 24 + i] = t;
  }
}

/** Writes a fixed header at off (traffic class and flow label zero). */
export function writeIpv6(
  bytes: Uint8Array,
  off: number,
  src: Uint8Array,
  dst: Uint8Array,
  payloadLength: number,
  nextHeader = IPPROTO_UDP,
  hopLimit = 64,
): void {
  bytes[off] = 0x60;
  bytes[off + 1] = 0;
  bytes[off + 2] = 0;
  bytes[off + 3] = 0;
  bytes[off + 4] = payloadLength >>> 8;
  bytes[off + 5] = payloadLength & 0xff;
  bytes[off + 6] = nextHeader;
  bytes[off + 7] = hopLimit;
  bytes.set(src.subarray(0, 16), off + 8);
  bytes.set(dst.subarray(0, 16), off + 24);
}
