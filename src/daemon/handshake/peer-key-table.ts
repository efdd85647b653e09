/**
 * The responder's peer table, in shared memory: per configured peer its
 * public key, the version of its entry and its PSK, found by the key's
 * bytes. The main thread writes it (handshake-crypto-pool.ts); the
 * handshake crew's native threads read the same buffer
 * (native/handshake_crew.cc, LookUpPeer: the same hash and probe), so
 * nothing is built per peer for them, whatever the peer count.
 *
 * Layout (one SharedArrayBuffer, Int32 words, little-endian):
 *   header     HEADER_WORDS words; word 0: capacity (buckets, a power of two)
 *   buckets    capacity × ENTRY_WORDS: seq, version, key (8 words)
 *   PSKs       capacity × 8 words, parallel to the buckets (zeros: no PSK),
 *              apart from the buckets so that pages of peers without a PSK
 *              are never touched (and never resident)
 * Open addressing with linear probing over a hash of the key's bytes.
 * version 0: an empty bucket (ends a probe); TOMBSTONE: a removed entry
 * (key and PSK zeroed; a probe passes it; an insert may reuse it). Entries
 * never move within a buffer: growth builds a new buffer.
 *
 * Protocol (single writer: the main thread; readers: the crew's threads
 * and the main thread itself):
 * - A bucket's seq word is even while the bucket is stable. The writer
 *   stores seq+1 (Atomics), writes version, key and PSK, then stores seq+2
 *   (Atomics) last. A reader loads seq (Atomics; odd: it spins), loads the
 *   fields (Atomics), then loads seq again: unchanged, what it read is one
 *   whole entry, the old or the new; changed, it reads the bucket again.
 *   So a reader gets a key, its version and its PSK from the same write,
 *   never a torn mix, and the version it reports names the PSK it used
 *   (the main thread refuses results whose version is no longer current).
 * - Removal is such a write (TOMBSTONE, key and PSK zeroed): the PSK is
 *   wiped in place, in the only copy the table holds. A changed PSK
 *   overwrites the old one in place.
 * - Growth (or a rebuild to clear tombstones): the writer builds a new
 *   buffer, starts writing only that one, and hands it to the crew, which
 *   returns once none of its threads reads the old one (its lock); the old
 *   buffer is wiped then. Until the hand-over a thread may answer from the
 *   old buffer: its versions are stale for any later change, so the main
 *   thread refuses those answers.
 */
import { KEY_LENGTH } from '../../crypto/bytes.js';

const HEADER_WORDS = 4;
/** seq, version, 8 key words. */
const ENTRY_WORDS = 10;
const KEY_WORDS = KEY_LENGTH / 4;
/** The version of a removed entry (versions count up from 1; 2^32 − 1 changes are not reached). */
const TOMBSTONE = 0xffffffff;
/** Buckets in use (live + tombstones) past this share of the capacity: rebuild. */
const MAX_LOAD = 0.7;
const MIN_CAPACITY = 64;

/** A key's bytes as 8 words (little-endian), its form in the table. */
function keyWords(key: Uint8Array, out: Int32Array): Int32Array {
  for (let i = 0; i < KEY_WORDS; i++) {
    const at = i * 4;
    out[i] = key[at]! | (key[at + 1]! << 8) | (key[at + 2]! << 16) | (key[at + 3]! << 24);
  }
  return out;
}

/** A mix of all 8 words: keys are the configured peers' (random) and the probe length does not depend on attacker input. */
function hashWords(k: Int32Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < KEY_WORDS; i++) {
    h = Math.imul(h ^ k[i]!, 0x9e3779b1);
    h ^= h >>> 15;
  }
  return h >>> 0;
}

export class PeerKeyTable {
  private w: Int32Array;
  private capacity: number;
  private pskBase: number;
  /** Writer's counts (main thread only). */
  private live = 0;
  private used = 0;
  private readonly scratch = new Int32Array(KEY_WORDS);
  private readonly pskScratch = new Int32Array(KEY_WORDS);

  /** A view of a table buffer (tests read a buffer the writer wrote). */
  constructor(buffer: SharedArrayBuffer) {
    this.w = new Int32Array(buffer);
    this.capacity = this.w[0]!;
    this.pskBase = HEADER_WORDS + this.capacity * ENTRY_WORDS;
  }

  /** An empty table (the writer's). */
  static create(capacity = MIN_CAPACITY): PeerKeyTable {
    return new PeerKeyTable(PeerKeyTable.allocate(capacity));
  }

  private static allocate(capacity: number): SharedArrayBuffer {
    if (capacity < MIN_CAPACITY || (capacity & (capacity - 1)) !== 0)
      throw new Error(`peer table capacity ${capacity}: not a power of two ≥ ${MIN_CAPACITY}`);
    const buffer = new SharedArrayBuffer((HEADER_WORDS + capacity * (ENTRY_WORDS + KEY_WORDS)) * 4);
    new Int32Array(buffer)[0] = capacity;
    return buffer;
  }

  /** The buffer the writer writes now (what a new thread is given). */
  get buffer(): SharedArrayBuffer {
    return this.w.buffer as SharedArrayBuffer;
  }

  /** The words of the buffer the writer writes now (what the handshake crew is given: native/handshake_crew.cc). */
  get words(): Int32Array {
    return this.w;
  }

  /** Peers in the table (writer only). */
  get size(): number {
    return this.live;
  }

  /**
   * The version of `key`'s entry, 0 when it has none. With `psk` (32 bytes),
   * the entry's PSK is copied there (zeros: none), from the same entry
   * write as the version (see the protocol above).
   */
  lookup(key: Uint8Array, psk?: Uint8Array): number {
    const w = this.w;
    const k = keyWords(key, this.scratch);
    const mask = this.capacity - 1;
    let b = hashWords(k) & mask;
    for (let probes = 0; probes < this.capacity; probes++, b = (b + 1) & mask) {
      const e = HEADER_WORDS + b * ENTRY_WORDS;
      for (;;) {
        const s1 = Atomics.load(w, e);
        if (s1 & 1) continue; // the writer is in this bucket: a few stores, then it is even again
        const version = Atomics.load(w, e + 1) >>> 0;
        let match = version !== 0 && version !== TOMBSTONE;
        for (let i = 0; match && i < KEY_WORDS; i++) if (Atomics.load(w, e + 2 + i) !== k[i]) match = false;
        if (match && psk) for (let i = 0, p = this.pskBase + b * KEY_WORDS; i < KEY_WORDS; i++) this.pskScratch[i] = Atomics.load(w, p + i);
        if (Atomics.load(w, e) !== s1) {
          this.pskScratch.fill(0); // rewritten meanwhile: read it again (no PSK bytes left behind)
          continue;
        }
        if (match) {
          if (psk) {
            for (let i = 0; i < KEY_WORDS; i++) {
              const x = this.pskScratch[i]!;
              psk[i * 4] = x;
              psk[i * 4 + 1] = x >>> 8;
              psk[i * 4 + 2] = x >>> 16;
              psk[i * 4 + 3] = x >>> 24;
            }
            this.pskScratch.fill(0);
          }
          return version;
        }
        if (version === 0) return 0; // an empty bucket ends the probe
        break;
      }
    }
    return 0;
  }

  /**
   * Writer: `key` is a peer with this PSK (null or zeros: none) under
   * `version` (1 … 2^32 − 2, new on every change). Returns the buffer it
   * replaced when the table was rebuilt into a new one (the caller posts the
   * new one to the readers and wipes the old one once they switched), else null.
   */
  set(key: Uint8Array, psk: Uint8Array | null, version: number): SharedArrayBuffer | null {
    if (version <= 0 || version >= TOMBSTONE) throw new Error(`peer table version ${version} out of range`);
    const k = keyWords(key, this.scratch);
    const { found, free } = this.find(k);
    if (found >= 0) {
      this.write(found, version, k, psk);
      return null;
    }
    const reused = Atomics.load(this.w, HEADER_WORDS + free * ENTRY_WORDS + 1) >>> 0 === TOMBSTONE;
    this.write(free, version, k, psk);
    this.live++;
    if (!reused) this.used++;
    if (this.used <= this.capacity * MAX_LOAD) return null;
    return this.rebuild(this.live * 2 > this.capacity * MAX_LOAD ? this.capacity * 2 : this.capacity);
  }

  /** Writer: `key` is no peer any more (its PSK is wiped). False when it was none. */
  remove(key: Uint8Array): boolean {
    const k = keyWords(key, this.scratch);
    const { found } = this.find(k);
    if (found < 0) return false;
    this.write(found, TOMBSTONE, null, null);
    this.live--;
    return true;
  }

  /** Writer: zeroes the whole buffer now in use (the pool closes; no reader is left). */
  wipe(): void {
    this.w.fill(0, HEADER_WORDS);
    this.live = 0;
    this.used = 0;
  }

  /** Zeroes a retired buffer (every reader switched away from it). */
  static wipeBuffer(buffer: SharedArrayBuffer): void {
    new Int32Array(buffer).fill(0, HEADER_WORDS);
  }

  /** Writer: the bucket holding k (found), or where to put it (free: the first tombstone passed, or the empty bucket ending the probe). */
  private find(k: Int32Array): { found: number; free: number } {
    const w = this.w;
    const mask = this.capacity - 1;
    let free = -1;
    let b = hashWords(k) & mask;
    for (let probes = 0; probes < this.capacity; probes++, b = (b + 1) & mask) {
      const e = HEADER_WORDS + b * ENTRY_WORDS;
      const version = w[e + 1]! >>> 0;
      if (version === 0) return { found: -1, free: free >= 0 ? free : b };
      if (version === TOMBSTONE) {
        if (free < 0) free = b;
        continue;
      }
      let match = true;
      for (let i = 0; match && i < KEY_WORDS; i++) if (w[e + 2 + i] !== k[i]) match = false;
      if (match) return { found: b, free: -1 };
    }
    // Never full (MAX_LOAD < 1), but a probe over every bucket ends at a tombstone.
    return { found: -1, free };
  }

  /** One bucket's write, bracketed by its seq word (the protocol above). k null: zeroed. */
  private write(b: number, version: number, k: Int32Array | null, psk: Uint8Array | null): void {
    const w = this.w;
    const e = HEADER_WORDS + b * ENTRY_WORDS;
    const p = this.pskBase + b * KEY_WORDS;
    const seq = w[e]!;
    Atomics.store(w, e, seq + 1);
    w[e + 1] = version | 0;
    for (let i = 0; i < KEY_WORDS; i++) w[e + 2 + i] = k ? k[i]! : 0;
    if (psk) keyWords(psk, w.subarray(p, p + KEY_WORDS));
    else w.fill(0, p, p + KEY_WORDS);
    Atomics.store(w, e, seq + 2);
  }

  /** Writer: every live entry into a new buffer of `capacity` buckets, which becomes the one written; returns the old one. */
  private rebuild(capacity: number): SharedArrayBuffer {
    const old = this.w;
    const oldCapacity = this.capacity;
    const oldPsk = this.pskBase;
    this.w = new Int32Array(PeerKeyTable.allocate(capacity));
    this.capacity = capacity;
    this.pskBase = HEADER_WORDS + capacity * ENTRY_WORDS;
    this.used = this.live;
    const w = this.w;
    const mask = capacity - 1;
    const k = this.scratch;
    // Nobody reads the new buffer before it is posted (postMessage orders these plain stores before any read).
    for (let b = 0; b < oldCapacity; b++) {
      const e = HEADER_WORDS + b * ENTRY_WORDS;
      const version = old[e + 1]! >>> 0;
      if (version === 0 || version === TOMBSTONE) continue;
      for (let i = 0; i < KEY_WORDS; i++) k[i] = old[e + 2 + i]!;
      let n = hashWords(k) & mask;
      while (w[HEADER_WORDS + n * ENTRY_WORDS + 1] !== 0) n = (n + 1) & mask;
      const ne = HEADER_WORDS + n * ENTRY_WORDS;
      w[ne + 1] = version | 0;
      w.set(k, ne + 2);
      const op = oldPsk + b * KEY_WORDS;
      let any = 0;
      for (let i = 0; i < KEY_WORDS; i++) any |= old[op + i]!;
      if (any !== 0) w.set(old.subarray(op, op + KEY_WORDS), this.pskBase + n * KEY_WORDS);
    }
    k.fill(0);
    return old.buffer as SharedArrayBuffer;
  }
}
