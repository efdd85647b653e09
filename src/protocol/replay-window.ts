/**
 * The receive replay window of one keypair (whitepaper §5.4.6), shared by
 * every worker thread that decrypts for that keypair.
 *
 * Algorithm: RFC 6479 ("IPsec Anti-Replay Algorithm without Bit Shifting").
 * A ring of REPLAY_BITMAP_BITS bits is cut into 32-bit blocks; bit
 * (counter mod REPLAY_BITMAP_BITS) records that counter. When the greatest counter moves
 * forward, only the blocks it passes over are cleared, so no bit is ever
 * shifted. A counter is accepted when it is below REJECT_AFTER_MESSAGES, not
 * more than REPLAY_WINDOW_SIZE (32704) below the greatest counter accepted so
 * far, and not seen before. The ring holds 32768 bits, so at least 32736
 * counters behind the greatest are always remembered, more than the window.
 *
 * Memory (one region of REPLAY_WINDOW_BYTES inside a SharedArrayBuffer, at a
 * byte offset that is a multiple of 4), as Int32 words:
 *   [0]        lock word: 0 free, 1 held (Atomics spinlock)
 *   [1]        greatest counter accepted, low 32 bits
 *   [2]        greatest counter accepted, high 32 bits
 *   [3]        reserved (0)
 *   [4..1028)  the bitmap: 1024 blocks of 32 bits
 * The greatest counter starts at 0 with an empty bitmap, which behaves exactly
 * like "nothing received yet" (counter 0 is then accepted once).
 *
 * Threading: check-and-update holds the lock word for its whole critical
 * section, so two workers can never both accept the same counter. Atomics
 * give the lock acquire/release ordering, which orders the plain reads and
 * writes of the bitmap between them (ECMAScript memory model: data-race-free
 * programs are sequentially consistent). The critical section is at most 256
 * word stores, so a spinning waiter never waits long.
 *
 * Counters are passed as two unsigned 32-bit halves so that the per-packet
 * path allocates nothing (a 64-bit bigint would be a heap object per packet).
 */
import { REJECT_AFTER_MESSAGES, REPLAY_BITMAP_BITS, REPLAY_WINDOW_SIZE } from './constants.js';

const LOCK = 0;
const GREATEST_LO = 1;
const GREATEST_HI = 2;
const BITMAP = 4;
const BLOCK_BITS = 32;
const BLOCK_SHIFT = 5;
const BLOCK_COUNT = REPLAY_BITMAP_BITS / BLOCK_BITS;
const BLOCK_INDEX_MASK = BLOCK_COUNT - 1;
const TWO_POW_32 = 0x1_0000_0000;
const TWO_POW_27 = TWO_POW_32 / BLOCK_BITS;

/** Bytes a replay window occupies in its (shared) buffer. */
export const REPLAY_WINDOW_BYTES = (BITMAP + BLOCK_COUNT) * 4;

/** REJECT_AFTER_MESSAGES split into 32-bit halves for the allocation-free comparison. */
const REJECT_HI = Number(REJECT_AFTER_MESSAGES >> 32n);
const REJECT_LO = Number(REJECT_AFTER_MESSAGES & 0xffff_ffffn);

/**
 * Returns true when the 64-bit counter (lo, hi) is at or beyond
 * REJECT_AFTER_MESSAGES (§6.1): such a counter is never valid.
 */
export function counterIsExhausted(lo: number, hi: number): boolean {
  return hi > REJECT_HI || (hi === REJECT_HI && lo >= REJECT_LO);
}

/** One keypair's replay window over a region of a (Shared)ArrayBuffer; see the file comment for the layout. */
export class ReplayWindow {
  private readonly words: Int32Array;

  /**
   * Wraps the window at `byteOffset` in `buffer`. The region must already be
   * zero (a fresh window) or hold a window written by this class; several
   * threads may wrap the same region of a SharedArrayBuffer.
   */
  constructor(buffer: SharedArrayBuffer | ArrayBuffer, byteOffset = 0) {
    if (byteOffset % 4 !== 0) throw new RangeError(`replay window offset ${byteOffset} is not a multiple of 4`);
    if (byteOffset + REPLAY_WINDOW_BYTES > buffer.byteLength) {
      throw new RangeError(`replay window at ${byteOffset} needs ${REPLAY_WINDOW_BYTES} bytes; buffer has ${buffer.byteLength}`);
    }
    this.words = new Int32Array(buffer, byteOffset, REPLAY_WINDOW_BYTES / 4);
  }

  /**
   * Accepts or refuses a received counter, given as unsigned 32-bit halves,
   * and records it when accepted. Call only AFTER the message authenticated
   * (§5.4.6), or a forger could poison the window. Never throws.
   */
  checkAndUpdate(lo: number, hi: number): boolean {
    if (counterIsExhausted(lo, hi)) return false;
    const w = this.words;
    this.lock();
    const greatestLo = w[GREATEST_LO]! >>> 0;
    const greatestHi = w[GREATEST_HI]! >>> 0;
    if (hi > greatestHi || (hi === greatestHi && lo > greatestLo)) {
      // Moving forward: clear the blocks strictly after the greatest one, up to and including the new one.
      const hiStep = hi - greatestHi;
      const blocksAhead = hiStep > 1 ? BLOCK_COUNT : hiStep * TWO_POW_27 + (lo >>> BLOCK_SHIFT) - (greatestLo >>> BLOCK_SHIFT);
      if (blocksAhead >= BLOCK_COUNT) {
        w.fill(0, BITMAP, BITMAP + BLOCK_COUNT);
      } else {
        const first = greatestLo >>> BLOCK_SHIFT;
        for (let i = 1; i <= blocksAhead; i++) w[BITMAP + ((first + i) & BLOCK_INDEX_MASK)] = 0;
      }
      w[GREATEST_LO] = lo | 0;
      w[GREATEST_HI] = hi | 0;
    } else {
      const hiBehind = greatestHi - hi;
      if (hiBehind > 1 || hiBehind * TWO_POW_32 + greatestLo - lo > REPLAY_WINDOW_SIZE) {
        this.unlock();
        return false;
      }
    }
    const index = BITMAP + ((lo >>> BLOCK_SHIFT) & BLOCK_INDEX_MASK);
    const bit = 1 << (lo & (BLOCK_BITS - 1));
    const block = w[index]!;
    const fresh = (block & bit) === 0;
    if (fresh) w[index] = block | bit;
    this.unlock();
    return fresh;
  }

  /** checkAndUpdate for a bigint counter (control path and tests; allocates). */
  checkAndUpdateBig(counter: bigint): boolean {
    if (counter < 0n || counter >= 1n << 64n) return false;
    return this.checkAndUpdate(Number(counter & 0xffff_ffffn), Number(counter >> 32n));
  }

  /** The greatest counter accepted so far (0 when none). */
  greatest(): bigint {
    this.lock();
    const value = (BigInt(this.words[GREATEST_HI]! >>> 0) << 32n) | BigInt(this.words[GREATEST_LO]! >>> 0);
    this.unlock();
    return value;
  }

  /** Forgets everything (the window of a fresh keypair). */
  reset(): void {
    this.lock();
    this.words.fill(0, GREATEST_LO, BITMAP + BLOCK_COUNT);
    this.unlock();
  }

  private lock(): void {
    const w = this.words;
    while (Atomics.compareExchange(w, LOCK, 0, 1) !== 0) {
      // Another worker holds the window for at most a few hundred stores: spin.
    }
  }

  private unlock(): void {
    Atomics.store(this.words, LOCK, 0);
  }
}
