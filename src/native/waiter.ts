/**
 * Wait/wake for data-plane workers (native/waiter.cc): a worker blocks in one
 * poll(2) over its XSK / TUN / socket fds plus an eventfd; the main thread
 * (or any thread) wakes it with wakeFd(eventFd), e.g. after posting it a
 * message, so a worker idle in poll still sees new keypairs promptly.
 *
 * Threading: a Waiter belongs to the thread that created it (its eventfd is
 * closed when that thread's environment ends). wakeFd may be called from any
 * thread with the plain fd number; waking a waiter that is gone is a no-op
 * returning false (the addon checks the fd is still an eventfd).
 */
import { native, type NativeWaiter } from './binding.js';

/** Result bit meaning "woken through the eventfd". */
export const WAKE_BIT = 1 << 30;
/** Most fds one wait() watches. */
export const MAX_WAIT_FDS = 30;

/** A poll set: the fds in a reusable Int32Array plus the waiter. */
export class Waiter {
  readonly native: NativeWaiter;
  readonly fds = new Int32Array(MAX_WAIT_FDS);
  private count = 0;

  constructor(fds: readonly number[] = []) {
    this.native = new (native().Waiter)();
    this.setFds(fds);
  }

  /** The fd other threads pass to wake(). */
  get eventFd(): number {
    return this.native.eventFd;
  }

  /** Replaces the watched fds (bit i of wait()'s result is fds[i]). */
  setFds(fds: readonly number[]): void {
    if (fds.length > MAX_WAIT_FDS) throw new RangeError(`Waiter: at most ${MAX_WAIT_FDS} fds, got ${fds.length}`);
    for (const fd of fds) if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`Waiter: bad fd ${fd}`);
    this.fds.set(fds);
    this.count = fds.length;
  }

  /**
   * Blocks until a watched fd is readable (or in error), a wake arrives, or
   * timeoutMs passes (< 0: forever; 0: just check). Returns the bitmask:
   * bit i for fds[i], WAKE_BIT for a wake; 0 on timeout. spinUs > 0: checks
   * without sleeping for up to that long first (src/datapath/spin.ts).
   */
  wait(timeoutMs: number, spinUs = 0): number {
    return this.native.wait(this.fds, this.count, timeoutMs, spinUs);
  }

  close(): void {
    this.native.close();
  }
}

/** Wakes the waiter whose eventFd this is; any thread. False if it no longer exists. */
export function wake(eventFd: number): boolean {
  return native().wakeFd(eventFd);
}
