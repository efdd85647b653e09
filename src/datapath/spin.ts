/**
 * The spin before a worker sleeps (datapath setting "spinUs", XDPWG_SPIN_US).
 *
 * A worker that sleeps in poll(2) on an idle vCPU is woken late: the kernel
 * sends the wake-up IPI, the vCPU leaves halt through the hypervisor, the
 * thread is scheduled. On the 2-vCPU bench VM that costs tens of microseconds
 * per wake, and an idle ping wakes a daemon thread at each of its 4 hops. So
 * a worker whose last loop iteration moved packets keeps checking its fds
 * without sleeping for up to spinUs microseconds (native/waiter.cc), and
 * the reply or the next packet of the exchange finds it awake. A worker whose
 * wait ended empty (timeout) or only for a control message sleeps at once: an
 * idle daemon never spins, and traffic costs at most one spin per burst.
 */

/** The largest spin allowed (native/waiter.h kWaiterMaxSpinUs clamps to the same). */
export const SPIN_US_MAX = 10_000;

/**
 * Off by default, by measurement (README, Performance: "Idle ping: where
 * the time goes"): on the 2-vCPU bench VM both daemons share the cores, and a
 * worker spinning there takes the core the other side needs to answer, so
 * every budget tried (30–200 µs) made idle pings slower, not faster.
 */
export const DEFAULT_SPIN_US = 0;

/**
 * The spin (microseconds) for the next wait, given the last wait's result:
 * the budget when a packet fd (any bit below the waiter's wake bit) was
 * ready, 0 when the wait timed out or only the wake bit was set.
 */
export function spinAfter(ready: number, wakeBit: number, budgetUs: number): number {
  return (ready & (wakeBit - 1)) !== 0 ? budgetUs : 0;
}

/** XDPWG_SPIN_US's value: an integer 0..SPIN_US_MAX; anything else is an error naming the variable. */
export function parseSpinUs(text: string): number {
  const v = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!(Number.isInteger(v) && v >= 0 && v <= SPIN_US_MAX))
    throw new Error(`XDPWG_SPIN_US=${text}: expected an integer 0..${SPIN_US_MAX} (microseconds)`);
  return v;
}
