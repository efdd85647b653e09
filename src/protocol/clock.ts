/**
 * The clock the protocol reads. Protocol code never calls Date.now() or
 * performance.now() itself: it is handed a Clock, so tests drive time by hand.
 */

/** A source of time in milliseconds. */
export interface Clock {
  /**
   * Milliseconds since the Unix epoch. Implementations must never go
   * backwards within a process: timers compare readings, and the TAI64N
   * timestamps of handshake initiations must strictly increase.
   */
  now(): number;
}

/**
 * The process clock: epoch-based (so TAI64N timestamps survive a restart as
 * "later") yet monotonic, because it is the process start time plus a
 * monotonic offset, unaffected by wall-clock steps after start.
 */
export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
};

/** A clock that moves only when told to: for deterministic tests. */
export class FakeClock implements Clock {
  private ms: number;

  /** Starts at startMs (default 2026-01-01T00:00:00Z). */
  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.ms = startMs;
  }

  /** The current fake time. */
  now(): number {
    return this.ms;
  }

  /** Moves time forward by ms (must be >= 0: clocks do not go backwards). */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`a clock only moves forward, got ${ms} ms`);
    this.ms += ms;
  }

  /** Jumps to an absolute time not earlier than the current one. */
  set(ms: number): void {
    if (!(ms >= this.ms)) throw new RangeError(`a clock only moves forward: ${ms} < ${this.ms}`);
    this.ms = ms;
  }
}
