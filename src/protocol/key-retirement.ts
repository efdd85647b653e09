/**
 * Retiring transport keys that worker threads may be reading (docs/DESIGN.md: "a
 * key is never zeroed while any worker may still read it").
 *
 * A keypair's keys live in its SharedArrayBuffer (./keypair.ts). The main
 * thread decides when a keypair dies (expiry, rotation, a new private key,
 * peer removal); workers copy its keys into their AEAD burst at any moment.
 * Zeroing the memory at once would let a worker that had just checked the
 * flags copy a zero (or half-zeroed) key and seal a burst under it: the
 * kernel avoids this by freeing keys after an RCU grace period, we do it by
 * epochs, in one SharedArrayBuffer of BigInt64 words:
 *
 *   word 0       the global retirement epoch (only the main thread adds to it)
 *   word 1 + w   worker w's announcement: IDLE (−1), or the epoch it read
 *                when it started its current piece of work
 *
 * Main thread, to retire keypair K:
 *   M1. clear K's canSend|canReceive flags (Atomics.and);
 *   M2. E = Atomics.add(epoch, 1) + 1; remember (K, E);
 *   M3. zero K's keys only once every worker's announcement, read with
 *       Atomics.load, is IDLE or ≥ E.
 * Worker w:
 *   W1. after waking, before it looks at any keypair: announce
 *       Atomics.load(epoch) (Atomics.store);
 *   W2. it copies a key only after checking the keypair's flags in the same
 *       piece of work (transport.ts: canSend before sealing, canReceive
 *       before opening);
 *   W3. when the piece of work is done and no key copy is left in use,
 *       before blocking: announce IDLE.
 *
 * Why nothing can read a zeroed key: suppose a worker copies K's key. By W2
 * its flag check came first and saw the flags set, so (all these are
 * sequentially consistent Atomics) it came before M1, hence before M2, so the
 * epoch it announced at W1 was read before M2: it is < E. When M3 then reads
 * that worker's word, it either still sees that announcement (< E, no
 * zeroing yet), or a later one (IDLE at W3, or a new W1): a store made after
 * the copy was finished, and an Atomics.load that reads a store
 * synchronises with it, so the copy happens before the zeroing. A worker
 * that announced ≥ E read the epoch after M2, so its flag checks see M1
 * and it never copies K's keys at all.
 *
 * On top of this, sealBurst re-checks the flags after sealing and drops a
 * burst whose keypair was retired meanwhile (transport.ts), so a retired
 * session does not send, though its keys were intact.
 */
import type { KeypairShared } from './keypair.js';
import { KeypairFlag } from './keypair.js';

const EPOCH_WORD = 0;
/** A worker's announcement while it holds no key copy (blocked, stopped). */
const IDLE = -1n;

/** The retirement epochs' shared buffer for `workers` workers (all announcing IDLE). */
function createEpochBuffer(workers: number): SharedArrayBuffer {
  const sab = new SharedArrayBuffer((1 + workers) * 8);
  new BigInt64Array(sab).fill(IDLE, 1);
  return sab;
}

/** The main thread's side (M1–M3). Main thread only. */
export class KeyRetirement {
  /** Post to the workers; each wraps it with `new WorkerEpoch(buffer, index)`. */
  readonly buffer: SharedArrayBuffer;
  private readonly words: BigInt64Array;
  private pending: Array<{ keypair: KeypairShared; epoch: bigint }> = [];

  /** For `workers` data-plane workers (0: keys are zeroed as soon as they are retired). */
  constructor(workers: number) {
    if (!Number.isInteger(workers) || workers < 0) throw new RangeError(`worker count must be a non-negative integer, got ${workers}`);
    this.buffer = createEpochBuffer(workers);
    this.words = new BigInt64Array(this.buffer);
  }

  /** Keypairs retired whose keys are not zeroed yet (some worker has not moved past them). */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** Makes the keypair unusable for every thread now (M1, M2); zeroes its keys once no worker can read them (M3). */
  retire(keypair: KeypairShared): void {
    keypair.clearFlags(KeypairFlag.canSend | KeypairFlag.canReceive);
    const epoch = Atomics.add(this.words, EPOCH_WORD, 1n) + 1n;
    this.pending.push({ keypair, epoch });
    this.reap();
  }

  /** Zeroes the keys of every retired keypair no worker can still read (M3). Returns how many are still pending. */
  reap(): number {
    if (this.pending.length === 0) return 0;
    // The oldest epoch any worker may still be working in.
    let oldest: bigint | undefined;
    for (let w = 1; w < this.words.length; w++) {
      const announced = Atomics.load(this.words, w);
      if (announced !== IDLE && (oldest === undefined || announced < oldest)) oldest = announced;
    }
    const keep: typeof this.pending = [];
    for (const p of this.pending) {
      if (oldest === undefined || oldest >= p.epoch) p.keypair.zeroKeys();
      else keep.push(p);
    }
    this.pending = keep;
    return keep.length;
  }

  /** Zeroes every retired keypair's keys: only once the workers are gone (device closed). */
  zeroAllAfterWorkersStopped(): void {
    for (const p of this.pending) p.keypair.zeroKeys();
    this.pending = [];
  }
}

/** A worker's side (W1, W3). The worker's own thread only. */
export class WorkerEpoch {
  private readonly words: BigInt64Array;
  private readonly slot: number;

  constructor(buffer: SharedArrayBuffer, worker: number) {
    this.words = new BigInt64Array(buffer);
    this.slot = 1 + worker;
    if (!Number.isInteger(worker) || worker < 0 || this.slot >= this.words.length) {
      throw new RangeError(`worker ${worker} has no slot in a retirement buffer for ${this.words.length - 1} workers`);
    }
  }

  /** W1: call after waking, before looking at any keypair. */
  enter(): void {
    Atomics.store(this.words, this.slot, Atomics.load(this.words, EPOCH_WORD));
  }

  /** W3: call when no key copy is in use any more (before blocking, when stopping). */
  idle(): void {
    Atomics.store(this.words, this.slot, IDLE);
  }
}
