/**
 * Endpoints peers roamed to, shared by all workers, so that a worker other
 * than the one that saw a peer move stops answering at the old address at
 * once instead of after the main thread relays the move: one such answer
 * makes the peer (wireguard-go, the kernel) roam back, and the two can then
 * settle on the old address.
 *
 * One slot per peer: an Int32 sequence and the 40-byte address record
 * (addr-record.ts). Threading: a seqlock with several writers. A writer (a
 * worker that authenticated a packet from a new address) takes the slot by
 * compareExchange from an even sequence to odd, copies the record, and
 * publishes with an even store; a writer that finds it odd or loses the
 * exchange gives up (another thread is recording a move of the same peer
 * at that moment, and the next packet records it again). A reader copies
 * the record between two equal even loads of the sequence, else keeps
 * what it had. A worker takes a slot's version as seen when it first
 * learns of the peer in it, so a new peer in a reused slot never inherits
 * an old peer's move.
 */
import { ADDR_RECORD_SIZE } from './addr-record.js';

const SLOT_BYTES = 8 + ADDR_RECORD_SIZE; // Int32 sequence, pad, record

export class RoamedEndpoints {
  readonly buffer: SharedArrayBuffer;
  private readonly seq: Int32Array;
  private readonly bytes: Uint8Array;

  constructor(bufferOrPeers: SharedArrayBuffer | number) {
    this.buffer = typeof bufferOrPeers === 'number' ? new SharedArrayBuffer(bufferOrPeers * SLOT_BYTES) : bufferOrPeers;
    this.seq = new Int32Array(this.buffer);
    this.bytes = new Uint8Array(this.buffer);
  }

  /** The slot's sequence now (even: stable). Cheap: one atomic load. */
  version(slot: number): number { return Atomics.load(this.seq, (slot * SLOT_BYTES) >> 2); }

  /** Records that the peer in `slot` moved to `rec`; false when another writer held the slot. */
  publish(slot: number, rec: Uint8Array): boolean {
    const i = (slot * SLOT_BYTES) >> 2;
    const s = Atomics.load(this.seq, i);
    if (s & 1 || Atomics.compareExchange(this.seq, i, s, s + 1) !== s) return false;
    this.bytes.set(rec.subarray(0, ADDR_RECORD_SIZE), slot * SLOT_BYTES + 8);
    Atomics.store(this.seq, i, s + 2);
    return true;
  }

  /** Copies the slot's record into `out` if it is stable; returns its version, or -1 (retry later). */
  read(slot: number, out: Uint8Array): number {
    const i = (slot * SLOT_BYTES) >> 2;
    const before = Atomics.load(this.seq, i);
    if (before & 1) return -1;
    const at = slot * SLOT_BYTES + 8;
    out.set(this.bytes.subarray(at, at + ADDR_RECORD_SIZE));
    return Atomics.load(this.seq, i) === before ? before : -1;
  }
}
