/**
 * A deliberately plain RFC 1071 checksum, byte by byte, written apart from
 * the code under test (src/packet/checksum.ts, native/tun_offload.cc), so
 * the offload tests check headers and checksums against an independent
 * reference. Also the big-endian field helpers those tests use.
 */

/** RFC 1071 sum of big-endian 16-bit words over b[start, end) (not folded). */
export function sum16(b: Uint8Array, start: number, end: number): number {
  let s = 0;
  for (let i = start; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if ((end - start) & 1) s += b[end - 1]! << 8;
  return s;
}

/** Folds carries into 16 bits. */
export function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The IPv4 or IPv6 pseudo-header sum of packet p (IP header at 0) for an L4 segment of l4Len bytes. */
export function pseudoSum(p: Uint8Array, version: number, proto: number, l4Len: number): number {
  const addrs = version === 4 ? sum16(p, 12, 20) : sum16(p, 8, 40);
  return addrs + proto + (l4Len >>> 16) + (l4Len & 0xffff);
}

/** True when the L4 checksum of packet p (L4 at l4) verifies. */
export function l4ChecksumValid(p: Uint8Array, l4: number, proto: number): boolean {
  return fold(pseudoSum(p, p[0]! >> 4, proto, p.length - l4) + sum16(p, l4, p.length)) === 0xffff;
}

/** True when the IPv4 header checksum of packet p verifies. */
export function ipv4HeaderValid(p: Uint8Array): boolean {
  return fold(sum16(p, 0, (p[0]! & 15) * 4)) === 0xffff;
}

export const be16 = (p: Uint8Array, o: number): number => (p[o]! << 8) | p[o + 1]!;
export const be32 = (p: Uint8Array, o: number): number => ((p[o]! << 24) | (p[o + 1]! << 16) | (p[o + 2]! << 8) | p[o + 3]!) >>> 0;
export function put16(p: Uint8Array, o: number, v: number): void {
  p[o] = (v >> 8) & 0xff;
  p[o + 1] = v & 0xff;
}
export function put32(p: Uint8Array, o: number, v: number): void {
  put16(p, o, v >>> 16);
  put16(p, o + 2, v & 0xffff);
}
