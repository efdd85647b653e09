/**
 * IP prefixes packed one after the other into a single growable byte array:
 * how a `get=1` snapshot copies the allowed IPs of 1,000,000 peers out of
 * the allowed-IPs table with no object per prefix (an {@link IpPrefix} with
 * its own address array is ~150 bytes of heap, and 2,000,000 of them kept
 * the collector busy for seconds).
 *
 * A record is the family (4 or 6), the prefix length, then 4 or 16 address
 * bytes in network order. Readers walk records from an offset they kept
 * ({@link length} before they pushed).
 */
import type { IpFamily, IpPrefix } from './ip-prefix.js';

/** One prefix being read: refilled for each record (see {@link PackedPrefixes.range}). */
interface ReusedPrefix {
  family: IpFamily;
  address: Uint8Array;
  bits: number;
}

export class PackedPrefixes {
  private bytes: Uint8Array;
  /** Bytes used: the offset the next record goes to. */
  length = 0;

  constructor(capacity = 256) {
    this.bytes = new Uint8Array(Math.max(capacity, 18));
  }

  /** Appends a prefix whose address is `count` big-endian 32-bit words of `words` from `at` (how the allowed-IPs trie keeps keys). */
  pushWords(family: IpFamily, words: Uint32Array, at: number, bits: number): void {
    const count = family === 4 ? 1 : 4;
    if (this.length + 2 + 4 * count > this.bytes.length) this.grow(2 + 4 * count);
    const b = this.bytes;
    let p = this.length;
    b[p++] = family;
    b[p++] = bits;
    for (let w = 0; w < count; w++) {
      const k = words[at + w]!;
      b[p++] = k >>> 24;
      b[p++] = (k >>> 16) & 0xff;
      b[p++] = (k >>> 8) & 0xff;
      b[p++] = k & 0xff;
    }
    this.length = p;
  }

  /**
   * The prefixes of the records in [start, end). Each is the same object,
   * refilled (its address one of two arrays, by family): read it before
   * taking the next, and copy what must be kept.
   */
  *range(start: number, end: number): Generator<IpPrefix, void, undefined> {
    const v4 = new Uint8Array(4);
    const v6 = new Uint8Array(16);
    const out: ReusedPrefix = { family: 4, address: v4, bits: 0 };
    const b = this.bytes;
    let p = start;
    while (p < end) {
      const family = b[p] === 4 ? 4 : 6;
      const address = family === 4 ? v4 : v6;
      out.family = family;
      out.bits = b[p + 1]!;
      for (let i = 0; i < address.length; i++) address[i] = b[p + 2 + i]!;
      out.address = address;
      p += 2 + address.length;
      yield out;
    }
  }

  private grow(need: number): void {
    const next = new Uint8Array(Math.max(this.bytes.length * 2, this.length + need));
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }
}
