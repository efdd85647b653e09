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
 * Quiet means the whole daemon is quiet, not just this thread: a worker
 * that carried a TCP flow and then nothing while its neighbour carries a
 * ping would otherwise run its release (30-45 ms of full collection, with
 * V8's helper threads) on the two cores the ping's worker needs, a few
 * seconds into the ping. So each thread also stamps a DaemonActivity word
 * of its own, and a release waits until no thread of the daemon stamped
 * one for QUIET_MS.
 *
 * One IdleMemoryRelease per thread, used only by that thread (a worker's
 * loop, the main thread's device tick). DaemonActivity is shared: see its
 * comment for the protocol.
 */

/** Quiet this long before a release: longer than any gap inside live traffic or a handshake exchange. */
export const QUIET_MS = 3_000;

/** Resolution of the shared stamps: a thread writes its word at most once per step. */
const STAMP_STEP_MS = 100;

/**
 * When each thread of the daemon last had activity, in steps of
 * STAMP_STEP_MS since `baseMs`: one Int32 word per thread (0: the main
 * thread, 1 + w: worker w). Protocol: each word has one writer, the thread
 * it belongs to (Atomics.store, only when its step changed, so a busy loop
 * writes about ten times a second); any thread reads all words
 * (Atomics.load) and takes the latest. A read may miss a stamp made in the
 * same instant; that only delays a release by one poll.
 */
export class DaemonActivity {
  private readonly words: Int32Array;
  private written = -1;

  /**
   * `slot`: the word this thread writes. Steps of 100 ms in an Int32: 6.8
   * years from baseMs. `wallClock`: every thread must stamp on one scale, so
   * not a thread's own clock (the device's may be a test's); tests give one.
   */
  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly baseMs: number,
    private readonly slot: number,
    private readonly wallClock: () => number = Date.now,
  ) {
    this.words = new Int32Array(buffer);
  }

  /** Words for `threads` threads, all stamped active at the start; the creator writes word 0. */
  static create(threads: number, wallClock: () => number = Date.now): DaemonActivity {
    return new DaemonActivity(new SharedArrayBuffer(4 * Math.max(1, threads)), wallClock(), 0, wallClock);
  }

  /** This thread had activity now. */
  stamp(): void {
    const step = Math.floor((this.wallClock() - this.baseMs) / STAMP_STEP_MS);
    if (step === this.written) return;
    this.written = step;
    Atomics.store(this.words, this.slot, step);
  }

  /** How long no thread has stamped (from the end of the latest stamp's step). */
  quietForMs(): number {
    let latest = 0;
    for (let i = 0; i < this.words.length; i++) latest = Math.max(latest, Atomics.load(this.words, i));
    return this.wallClock() - (this.baseMs + (latest + 1) * STAMP_STEP_MS);
  }
}

/** One thread's idle releases: how many so far, and whether one waits for the daemon to go quiet. */
export interface IdleReleaseReport {
  releases: number;
  pending: boolean;
}

export class IdleMemoryRelease {
  /** How many times this thread released (`xdpwg stats`: idleMemory). */
  releases = 0;
  private lastActiveMs: number;
  private armed = true;
  /** The step of this thread's clock in which it last stamped `daemon`. */
  private stampedStep = -1;

  /**
   * `release` is the native call; `now` the thread's start; `daemon` the
   * other threads' activity (absent: this thread alone decides).
   */
  constructor(
    private readonly release: () => void,
    now: number,
    private readonly daemon?: DaemonActivity,
    private readonly quietMs = QUIET_MS,
  ) {
    this.lastActiveMs = now;
    daemon?.stamp();
  }

  /** Something happened on this thread: the next quiet spell ends in a release. */
  active(now: number): void {
    this.lastActiveMs = now;
    this.armed = true;
    // A worker calls this on every loop iteration that moved packets: the shared stamp (which reads
    // the wall clock) only when this thread's own clock entered a new step, about ten times a second.
    const step = Math.floor(now / STAMP_STEP_MS);
    if (step === this.stampedStep) return;
    this.stampedStep = step;
    this.daemon?.stamp();
  }

  /** What `xdpwg stats` shows of this thread's releases. */
  report(): IdleReleaseReport {
    return { releases: this.releases, pending: this.armed };
  }

  /** From the thread's periodic work; true when it released. */
  poll(now: number): boolean {
    if (!this.armed || now - this.lastActiveMs < this.quietMs) return false;
    // This thread is quiet; the daemon may not be (another thread carrying traffic).
    if (this.daemon && this.daemon.quietForMs() < this.quietMs) return false;
    this.armed = false;
    this.release();
    this.releases++;
    return true;
  }
}
