/**
 * The Internet checksum (RFC 1071): the 16-bit ones' complement of the ones'
 * complement sum of 16-bit big-endian words. Sums are kept unfolded in a JS
 * number (exact up to 2^53, i.e. far beyond any packet) and folded once.
 *
 * Hot-path rule: these functions allocate nothing.
 */

/** Below this many bytes the byte-pair loop is as fast as anything else. */
const WORD_LOOP_MIN = 64;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
// One 32-bit view per underlying buffer, kept for the next call: a worker
// sums inside one UMEM all the time, so this is created once, not per packet.
let cachedBuffer: ArrayBufferLike | null = null;
let cachedWords: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

/** Adds the bytes [off, off+len) as big-endian 16-bit words to sum (odd tail padded with zero). */
export function sumBytes(bytes: Uint8Array, off: number, len: number, sum = 0): number {
  if (len < WORD_LOOP_MIN || !LITTLE_ENDIAN) return sumBytePairs(bytes, off, len, sum);
  let i = off;
  const end = off + len;
  let abs = bytes.byteOffset + off;
  if (abs & 1) return sumBytePairs(bytes, off, len, sum);
  if (abs & 2) {
    sum += (bytes[i]! << 8) | bytes[i + 1]!;
    i += 2;
    abs += 2;
  }
  if (bytes.buffer !== cachedBuffer) {
    cachedBuffer = bytes.buffer;
    cachedWords = new Uint32Array(bytes.buffer, 0, bytes.buffer.byteLength >>> 2);
  }
  const words = cachedWords;
  let w = abs >>> 2;
  const wEnd = w + ((end - i) >>> 2);
  // RFC 1071 §2(B): the sum is byte-order independent, so add the words as
  // the CPU loads them (little-endian halves) and swap the folded result.
  let le = 0;
  for (; w < wEnd; w++) {
    const v = words[w]!;
    le += (v & 0xffff) + (v >>> 16);
  }
  i = end - ((end - i) & 3);
  le = fold(le);
  sum += ((le & 0xff) << 8) | (le >>> 8);
  return i < end ? sumBytePairs(bytes, i, end - i, sum) : sum;
}

/** The plain loop: big-endian byte pairs, four words per iteration. */
function sumBytePairs(bytes: Uint8Array, off: number, len: number, sum: number): number {
  const end = off + (len & ~1);
  let i = off;
  for (; i + 8 <= end; i += 8) {
    sum +=
      ((bytes[i]! << 8) | bytes[i + 1]!) +
      ((bytes[i + 2]! << 8) | bytes[i + 3]!) +
      ((bytes[i + 4]! << 8) | bytes[i + 5]!) +
      ((bytes[i + 6]! << 8) | bytes[i + 7]!);
  }
  for (; i < end; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (len & 1) sum += bytes[off + len - 1]! << 8;
  return sum;
}

/** Folds an unfolded sum to 16 bits with end-around carry. */
export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value for an unfolded sum: ~fold(sum) & 0xffff. */
export function finish(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/**
 * Incremental update (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')) of a checksum
 * field when one 16-bit word of the covered data changes from oldWord to newWord.
 */
export function updateChecksum16(checksum: number, oldWord: number, newWord: number): number {
  return ~fold((~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff)) & 0xffff;
}

/**
 * Sum of the IPv4 pseudo header (RFC 768): source, destination, zero+protocol,
 * UDP length. Addresses are read from bytes at srcOff / dstOff.
 */
export function pseudoSumV4(bytes: Uint8Array, srcOff: number, dstOff: number, protocol: number, length: number): number {
  return sumBytes(bytes, srcOff, 4) + sumBytes(bytes, dstOff, 4) + protocol + length;
}

/**
 * Sum of the IPv6 pseudo header (RFC 8200 §8.1): source, destination, upper
 * layer length (32 bits), zero + next header.
 */
export function pseudoSumV6(bytes: Uint8Array, srcOff: number, dstOff: number, protocol: number, length: number): number {
  return sumBytes(bytes, srcOff, 16) + sumBytes(bytes, dstOff, 16) + Math.floor(length / 0x10000) + (length & 0xffff) + protocol;
}
