/** UDP (RFC 768) header and checksum over IPv4 and IPv6 pseudo headers. */
import { finish, pseudoSumV4, pseudoSumV6, sumBytes } from './checksum.js';
import { IPPROTO_UDP } from './ipv4.js';

export const UDP_HEADER_LEN = 8;

export function udpSourcePort(bytes: Uint8Array, off: number): number {
  return (bytes[off]! << 8) | bytes[off + 1]!;
}
export function udpDestPort(bytes: Uint8Array, off: number): number {
  return (bytes[off + 2]! << 8) | bytes[off + 3]!;
}
export function udpLength(bytes: Uint8Array, off: number): number {
  return (bytes[off + 4]! << 8) | bytes[off + 5]!;
}

/** Writes ports and length at off and zeroes the checksum (fill it with setUdpChecksumV4/V6). */
export function writeUdpHeader(bytes: Uint8Array, off: number, srcPort: number, dstPort: number, length: number): void {
  bytes[off] = srcPort >>> 8;
  bytes[off + 1] = srcPort & 0xff;
  bytes[off + 2] = dstPort >>> 8;
  bytes[off + 3] = dstPort & 0xff;
  bytes[off + 4] = length >>> 8;
  bytes[off + 5] = length & 0xff;
  bytes[off + 6] = 0;
  bytes[off + 7] = 0;
}

/** Swaps source and destination port in place (checksum-neutral). */
export function swapUdpPorts(bytes: Uint8Array, off: number): void {
  const a = bytes[off]!,
    b = bytes[off + 1]!;
  bytes[off] = bytes[off + 2]!;
  bytes[off + 1] = bytes[off + 3]!;
  bytes[off + 2] = a;
  bytes[off + 3] = b;
}

/**
 * The checksum of the UDP datagram at udpOff (length udpLen) inside the IPv4
 * packet at ipOff, computed from scratch. RFC 768: a computed 0 is sent as 0xffff.
 */
export function udpChecksumV4(bytes: Uint8Array, ipOff: number, udpOff: number, udpLen: number): number {
  const saved = (bytes[udpOff + 6]! << 8) | bytes[udpOff + 7]!;
  const sum = pseudoSumV4(bytes, ipOff + 12, ipOff + 16, IPPROTO_UDP, udpLen) + sumBytes(bytes, udpOff, udpLen) - saved;
  return finish(sum) || 0xffff;
}

/** The same over the IPv6 pseudo header (RFC 8200 §8.1: mandatory for UDP over IPv6). */
export function udpChecksumV6(bytes: Uint8Array, ipOff: number, udpOff: number, udpLen: number): number {
  const saved = (bytes[udpOff + 6]! << 8) | bytes[udpOff + 7]!;
  const sum = pseudoSumV6(bytes, ipOff + 8, ipOff + 24, IPPROTO_UDP, udpLen) + sumBytes(bytes, udpOff, udpLen) - saved;
  return finish(sum) || 0xffff;
}

/** Computes and stores the UDP checksum (IPv4). */
export function setUdpChecksumV4(bytes: Uint8Array, ipOff: number, udpOff: number, udpLen: number): void {
  const c = udpChecksumV4(bytes, ipOff, udpOff, udpLen);
  bytes[udpOff + 6] = c >>> 8;
  bytes[udpOff + 7] = c & 0xff;
}

/** Computes and stores the UDP checksum (IPv6). */
export function setUdpChecksumV6(bytes: Uint8Array, ipOff: number, udpOff: number, udpLen: number): void {
  const c = udpChecksumV6(bytes, ipOff, udpOff, udpLen);
  bytes[udpOff + 6] = c >>> 8;
  bytes[udpOff + 7] = c & 0xff;
}

/** True when the stored checksum verifies (IPv4 allows 0 = not computed). */
export function udpChecksumOkV4(bytes: Uint8Array, ipOff: number, udpOff: number, udpLen: number): boolean {
  const stored = (bytes[udpOff + 6]! << 8) | bytes[udpOff + 7]!;
  return stored === 0 || stored === udpChecksumV4(bytes, ipOff, udpOff, udpLen);
}

/** True when the stored checksum verifies (IPv6: 0 is invalid). */
export function udpChecksumOkV6(bytes: Uint8Array, ipOff: number, udpOff: number, udpLen: number): boolean {
  const stored = (bytes[udpOff + 6]! << 8) | bytes[udpOff + 7]!;
  return stored !== 0 && stored === udpChecksumV6(bytes, ipOff, udpOff, udpLen);
}
