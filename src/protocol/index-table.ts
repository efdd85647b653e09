/**
 * The device's table of local session indices (whitepaper §5.4.2: "I_i ... a
 * randomly generated 32-bit index"). Every handshake in progress and every
 * keypair is known to the peer by a random index that is unique within the
 * device; the sender/receiver fields of every message carry these indices,
 * and a received message finds its handshake or keypair by one map lookup.
 *
 * Random rather than sequential so that indices reveal nothing (how many
 * sessions, which peer) and cannot be guessed by an off-path attacker.
 * Threading: main thread only (workers receive indices with their keypairs).
 */
import { randomFillSync } from 'node:crypto';

/** Source of random 32-bit values; tests inject a deterministic one. */
export type RandomU32 = () => number;

const POOL_SIZE = 64;

/** Cryptographically random u32s, drawn from the kernel 64 at a time. */
export function cryptoRandomU32(): RandomU32 {
  const pool = new Uint32Array(POOL_SIZE);
  let next = POOL_SIZE;
  return () => {
    if (next === POOL_SIZE) {
      randomFillSync(pool);
      next = 0;
    }
    return pool[next++]!;
  };
}

/** Random unique 32-bit indices mapped to values (handshakes, keypairs, …). */
export class IndexTable<T> {
  private readonly entries = new Map<number, T>();

  constructor(private readonly random: RandomU32 = cryptoRandomU32()) {}

  /** Stores value under a fresh random index not in use and returns the index. */
  insert(value: T): number {
    if (this.entries.size >= 0xffff_ffff) throw new RangeError('index table is full');
    for (;;) {
      const index = this.random() >>> 0;
      if (!this.entries.has(index)) {
        this.entries.set(index, value);
        return index;
      }
    }
  }

  /** The value stored under index, if any. */
  get(index: number): T | undefined {
    return this.entries.get(index);
  }

  /**
   * Puts value under an index that is already in use, keeping the index: a
   * handshake's index passes to the keypair it produced (the peer already
   * addresses us by it). False when index is not in use.
   */
  replace(index: number, value: T): boolean {
    if (!this.entries.has(index)) return false;
    this.entries.set(index, value);
    return true;
  }

  /** Frees index; false when it was not in use. */
  remove(index: number): boolean {
    return this.entries.delete(index);
  }

  /** Number of indices in use. */
  get size(): number {
    return this.entries.size;
  }
}
