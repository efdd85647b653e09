/**
 * Empty frames of one port that a worker keeps for its TUN reads between
 * bursts (send.ts readTun), so that a lone packet costs no native frame call.
 *
 * Why: taking 64 frames before each TUN read and giving back the unused ones
 * after it were two native calls on both send hops of an idle ping, and on a
 * wake from idle each distinct native call costs ~5 µs (README, "Cold
 * wakes"). Kept here, a TUN read takes its frames from the top of the stack.
 * After a lone packet the stack is topped up only once below LOW_WATER; after
 * a read of more, at once to BURST_SIZE, so a bulk burst (a TUN super packet
 * cut into up to 64 segments) always has the room it had before (one call
 * per burst, as before). Measured: idle ping p50 −19 µs.
 * Handing a delivered receive burst's frames to the stack as well (no free
 * call on the receive hops) was measured too and moved nothing: not done.
 *
 * Every frame here is JS-owned in its pool's books (native/umem.h). They go
 * back (release) after a send burst with nothing for a peer, and before the
 * port closes or the worker's idle release: those rest on the worker holding
 * no frames between bursts (worker.ts).
 *
 * Threading: the worker's own thread.
 */
import { BURST_SIZE } from '../native/frames.js';
import type { Port } from '../native/port.js';

/** After lone packets, topped up to BURST_SIZE once fewer than this are left. */
const LOW_WATER = BURST_SIZE / 2;

export class EmptyFrames {
  /** Frame start offsets; [0, count) are kept. */
  readonly frames = new Uint32Array(BURST_SIZE);
  count = 0;
  /** The port the kept frames belong to, or null when none are kept. */
  pool: Port | null = null;
  /** How many frames the last read filled (take). */
  private lastTaken = 0;
  private readonly incoming = new Uint32Array(BURST_SIZE);

  /**
   * Makes `pool` the kept frames' port (giving back another port's) and tops
   * the stack up: to full after a read of more than one packet, else once
   * below LOW_WATER.
   */
  prepare(pool: Port): void {
    if (this.pool !== pool) this.release();
    this.pool = pool;
    if (this.count === BURST_SIZE || (this.count >= LOW_WATER && this.lastTaken <= 1)) return;
    const got = pool.allocFrames(this.incoming, BURST_SIZE - this.count);
    for (let i = 0; i < got; i++) this.frames[this.count + i] = this.incoming[i]!;
    this.count += got;
  }

  /** The top n frames were filled by a read: they leave the stack. */
  take(n: number): void {
    this.count -= n;
    this.lastTaken = n;
  }

  /** Gives every kept frame back to its pool. */
  release(): void {
    if (this.count > 0) this.pool!.freeFrames(this.frames, this.count);
    this.count = 0;
    this.pool = null;
  }
}
