/**
 * When a thread gives its spare memory back (native/idle_memory.cc: a full,
 * compacting V8 collection and malloc_trim). A thread that allocates nothing
 * while idle never triggers V8's own memory reducer, so the heap pages that
 * start-up, a big `wg setconf` or a traffic burst filled with garbage stay
 * resident until the next burst: the daemon's idle RSS was whatever its
 * busiest moment left behind.
 *
 * The rule: after the thread has been quiet for QUIET_MS since its last
 * activity (or since it started), release once; any activity re-arms it. A
 * release costs a few milliseconds of this thread, so it never runs while
 * traffic flows (a ping every 10 ms keeps it armed but never quiet) and at
 * most once per quiet spell.
 *
 * One per thread, used only by that thread (a worker's loop, the main
 * thread's device tick): no shared state.
 */

/** Quiet this long before a release: longer than any gap inside live traffic or a handshake exchange. */
export const QUIET_MS = 3_000;

export class IdleMemoryRelease {
  private lastActiveMs: number;
  private armed = true;

  /** `release` is the native call; `now` the thread's start. */
  constructor(
    private readonly release: () => void,
    now: number,
    private readonly quietMs = QUIET_MS,
  ) {
    this.lastActiveMs = now;
  }

  /** Something happened on this thread: the next quiet spell ends in a release. */
  active(now: number): void {
    this.lastActiveMs = now;
    this.armed = true;
  }

  /** From the thread's periodic work; true when it released. */
  poll(now: number): boolean {
    if (!this.armed || now - this.lastActiveMs < this.quietMs) return false;
    this.armed = false;
    this.release();
    return true;
  }
}
