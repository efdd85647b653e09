/**
 * A peer's staged packets (whitepaper §6.4): outgoing packets that wait for
 * a session while a handshake is under way. At most STAGED_QUEUE_CAPACITY
 * (128, as the kernel and wireguard-go) are kept; when full, the OLDEST is
 * dropped, since the newest packets are the ones a sender still cares about.
 * When a session starts the queue is drained in order and sent; when the
 * handshake is given up (REKEY_ATTEMPT_TIME) it is purged.
 *
 * Generic over the item so the daemon can stage copied packets or frame
 * handles; evicted and purged items are handed back so frames can be freed.
 *
 * Main thread only.
 */
import { STAGED_QUEUE_CAPACITY } from './constants.js';

/** A bounded FIFO that drops its oldest entry when full. */
export class StagedQueue<T> {
  /** Most items held. */
  readonly capacity: number;
  /** Items dropped because the queue was full. */
  droppedOverflow = 0;
  /** Items dropped by purge() (handshake given up, peer removed). */
  droppedPurged = 0;
  /** Allocated at the first push: most peers never stage a packet (1 KB each at 128 slots). */
  private ring: (T | undefined)[] | null = null;
  private head = 0;
  private count = 0;

  constructor(capacity = STAGED_QUEUE_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`staged queue capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
  }

  /** Items waiting. */
  get length(): number {
    return this.count;
  }

  /** Items dropped for any reason. */
  get dropped(): number {
    return this.droppedOverflow + this.droppedPurged;
  }

  /** Appends an item; when full, evicts and returns the oldest (counted in droppedOverflow). */
  push(item: T): T | undefined {
    this.ring ??= new Array<T | undefined>(this.capacity).fill(undefined);
    let evicted: T | undefined;
    if (this.count === this.capacity) {
      evicted = this.ring[this.head];
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.count--;
      this.droppedOverflow++;
    }
    this.ring[(this.head + this.count) % this.capacity] = item;
    this.count++;
    return evicted;
  }

  /** Removes and returns every item, oldest first: to send once a session exists. */
  drain(): T[] {
    const out: T[] = [];
    const ring = this.ring;
    while (ring && this.count > 0) {
      out.push(ring[this.head] as T);
      ring[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.count--;
    }
    this.head = 0;
    return out;
  }

  /** Drops every item (counted in droppedPurged) and returns them, oldest first, for freeing. */
  purge(): T[] {
    const out = this.drain();
    this.droppedPurged += out.length;
    return out;
  }
}
