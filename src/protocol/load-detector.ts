/**
 * "Under load" detection (whitepaper §5.3, §5.4.7): only under load does a
 * responder demand cookies (MAC2) and rate-limit handshakes per source.
 *
 * The one definition of "under load", as in the kernel and wireguard-go:
 * the device is under load while the queue of handshake messages waiting for
 * the main thread holds at least capacity / UNDER_LOAD_QUEUE_FRACTION_DIVISOR
 * messages, and it stays under load for UNDER_LOAD_AFTER_MS after the
 * backlog last stood that high. Held rather than instant because a flood
 * that the queue briefly absorbs must not switch cookies and rate limits
 * off and on between two bursts: an attacker would get in on every dip.
 *
 * Both sides of admission use it over the same shared backlog counter: the
 * main thread (src/daemon/handshake/handshake-path.ts: MAC2/cookie replies, rate
 * limit) and each worker (src/datapath/handshake-admission.ts: what reaches
 * the queue). Each thread holds its own instance (one owner each, no shared
 * state besides the backlog it reads), so two threads disagree only about
 * a peak one of them did not sample, for at most a second.
 */
import type { Clock } from './clock.js';
import { HANDSHAKE_QUEUE_CAPACITY, UNDER_LOAD_AFTER_MS, UNDER_LOAD_QUEUE_FRACTION_DIVISOR } from './constants.js';

/** Decides, per handshake message, whether the device is under load. */
export class HandshakeLoadDetector {
  /** Backlog at or above which the device is under load. */
  readonly threshold: number;
  private readonly clock: Clock;
  private underLoadUntil = -Infinity;

  /** `queueCapacity` is the capacity of the handshake queue whose backlog is passed to underLoad(). */
  constructor(clock: Clock, queueCapacity = HANDSHAKE_QUEUE_CAPACITY) {
    if (!Number.isInteger(queueCapacity) || queueCapacity < UNDER_LOAD_QUEUE_FRACTION_DIVISOR) {
      throw new RangeError(`handshake queue capacity must be an integer ≥ ${UNDER_LOAD_QUEUE_FRACTION_DIVISOR}, got ${queueCapacity}`);
    }
    this.clock = clock;
    this.threshold = queueCapacity / UNDER_LOAD_QUEUE_FRACTION_DIVISOR;
  }

  /**
   * Whether the device is under load, given the current handshake backlog
   * (messages queued): true when the backlog is at the threshold now or was
   * less than UNDER_LOAD_AFTER_MS ago.
   */
  underLoad(backlog: number): boolean {
    if (backlog >= this.threshold) this.underLoadUntil = this.clock.now() + UNDER_LOAD_AFTER_MS;
    return this.clock.now() < this.underLoadUntil;
  }
}
