/**
 * A small seeded pseudo-random generator (mulberry32) for reproducible
 * randomized tests: the same seed gives the same sequence on every run, so a
 * failure found by a comparison test can be replayed.
 */

/** Deterministic random numbers from a 32-bit seed. */
export class SeededPrng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.nextU32() / 0x1_0000_0000;
  }

  /** An integer in [0, n) for n ≤ 2^32. */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A 64-bit unsigned bigint below `n`. */
  bigBelow(n: bigint): bigint {
    const raw = (BigInt(this.nextU32()) << 32n) | BigInt(this.nextU32());
    return raw % n;
  }

  /** Fills `out` with random bytes. */
  fill(out: Uint8Array): Uint8Array {
    for (let i = 0; i < out.length; i++) out[i] = this.nextU32() & 0xff;
    return out;
  }
}
