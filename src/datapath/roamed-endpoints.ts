/**
 * Endpoints peers roamed to, shared by all workers, so that a worker other
 * than the one that saw a peer move stops answering at the old address at
 * once instead of after the main thread relays the move: one such answer
 * makes the peer (wireguard-go, the kernel) roam back, and the two can then
 * settle on the old address.
 *
 * A fixed table of ROAM_BUCKETS buckets, not one slot per peer (1,048,576
 * peers would cost 50 MB shared up front): a peer's slot hashes to bucket
 * `slot % buckets`, and the bucket holds an Int32 sequence, the slot number
 * it last recorded, and that move's 40-byte address record (addr-record.ts).
 * Two peers of one bucket roaming at once overwrite each other: the one
 * overwritten is then learned by the other workers from the main thread's
 * 'peer' message (the device relays every move it is told of), which is the
 * path every move took before this table existed. Moves are rare, so a
 * bucket collision costs a short delay, never a wrong endpoint: a reader
 * takes a record only when its slot number is the reader's.
 *
 * Threading: a seqlock with several writers. A writer (a worker that
 * authenticated a packet from a new address) takes the bucket by
 * compareExchange from an even sequence to odd, writes the slot and the
 * record, and publishes with an even store; a writer that finds it odd or
 * loses the exchange gives up (another thread is recording a move at that
 * moment; the next packet records it again). A reader copies the record
 * between two equal even loads of the sequence, else keeps what it had. A
 * worker takes a slot's version (its bucket's sequence) as seen when it
 * first learns of the peer in it, so a new peer in a reused slot never
 * inherits an old peer's move.
 */
import { ADDR_RECORD_SIZE } from './addr-record.js';

const SLOT_BYTES = 8 + ADDR_RECORD_SIZE; // Int32 sequence, Int32 peer slot, record
/** Buckets of the table (a power of two): 4096 × 48 B = 192 KB shared by all workers. */
export const ROAM_BUCKETS = 4096;

export class RoamedEndpoints {
  readonly buffer: SharedArrayBuffer;
  private readonly seq: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly mask: number;
  /** Set by read: whether the stable record read was this slot's (false: another slot's move in the bucket). */
  lastReadOwn = false;

  /** A new table of `buckets` buckets (a power of two), or a view of a shared one. */
  constructor(bufferOrBuckets: SharedArrayBuffer | number = ROAM_BUCKETS) {
    this.buffer = typeof bufferOrBuckets === 'number' ? new SharedArrayBuffer(bufferOrBuckets * SLOT_BYTES) : bufferOrBuckets;
    const buckets = this.buffer.byteLength / SLOT_BYTES;
    if (!Number.isInteger(buckets) || buckets < 1 || (buckets & (buckets - 1)) !== 0)
      throw new RangeError(`roamed endpoints: ${buckets} buckets is not a power of two`);
    this.mask = buckets - 1;
    this.seq = new Int32Array(this.buffer);
    this.bytes = new Uint8Array(this.buffer);
  }

  /** The slot's bucket sequence now (even: stable). Cheap: one atomic load. */
  version(slot: number): number {
    return Atomics.load(this.seq, ((slot & this.mask) * SLOT_BYTES) >> 2);
  }

  /** Records that the peer in `slot` moved to `rec`; false when another writer held the bucket. */
  publish(slot: number, rec: Uint8Array): boolean {
    const b = slot & this.mask;
    const i = (b * SLOT_BYTES) >> 2;
    const s = Atomics.load(this.seq, i);
    if (s & 1 || Atomics.compareExchange(this.seq, i, s, s + 1) !== s) return false;
    this.seq[i + 1] = slot;
    this.bytes.set(rec.subarray(0, ADDR_RECORD_SIZE), b * SLOT_BYTES + 8);
    Atomics.store(this.seq, i, s + 2);
    return true;
  }

  /**
   * Copies the bucket's record into `out` if it is stable and is this slot's
   * (lastReadOwn tells); returns the version read, or -1 (retry later).
   */
  read(slot: number, out: Uint8Array): number {
    const b = slot & this.mask;
    const i = (b * SLOT_BYTES) >> 2;
    const before = Atomics.load(this.seq, i);
    if (before & 1) return -1;
    const own = this.seq[i + 1] === slot && before !== 0;
    const at = b * SLOT_BYTES + 8;
    if (own) out.set(this.bytes.subarray(at, at + ADDR_RECORD_SIZE));
    if (Atomics.load(this.seq, i) !== before) return -1;
    this.lastReadOwn = own;
    return before;
  }
}
