/**
 * Which of the daemon's threads the scheduler favours (native/thread_roles.cc).
 *
 * At start-up, before any worker or crew thread exists, the main thread can
 * move every other thread to SCHED_IDLE: Node's and V8's helpers, which
 * compile hot functions (TurboFan jobs of 1-10 ms each) and run the GC's
 * parallel and concurrent tasks. On the 2-vCPU bench VM such a task landing
 * on the CPU a worker wakes on held the packet in hand for its whole run:
 * `perf sched` showed idle pings of 2-4 ms whose only delay was a helper
 * thread running ~3 ms on the CPU the worker needed. As SCHED_IDLE threads
 * they give way at once and still run on any CPU with nothing better to do.
 * Measured in README, Performance, "Idle ping: where the time goes".
 *
 * Then, not later: the daemon drops capabilities next, and a thread may
 * lower another only while its capabilities include the other's (the
 * helpers keep the process's full set). Threads made later (workers, crews,
 * libuv's pool) start with the main thread's policy. Our threads are named
 * "xdpwg-*" (workers "xdpwg-w<N>", crews "xdpwg-hs" and "xdpwg-crew"), for
 * ps -T and top -H, and so that a later call would still spare them.
 *
 * Opt-in, XDPWG_HELPERS=idle (default normal): V8's parallel GC jobs run
 * on the same helper threads, and the thread that started a collection
 * waits for every task a helper has begun (JobHandle::Join). On a machine
 * whose CPUs are all busy a SCHED_IDLE helper preempted mid-task can then
 * hold the main thread or a worker for as long as nothing else lets it run:
 * in one full test run with it on, the legitimate peer of the handshake-flood
 * test (test/netns/handshake-flood.test.ts) never got its handshake through
 * (alone, with either setting, it took 5.0-5.5 s of its 7). Safe only with
 * collections that never wait on a helper (V8's --single-threaded-gc, not
 * yet measured here).
 */
import { native } from './binding.js';

/** A data-path worker's thread name. */
export function workerThreadName(worker: number): string {
  return `xdpwg-w${worker}`;
}

/** Whether to lower the helpers: XDPWG_HELPERS is "normal" (the default) or "idle"; anything else is an error naming the variable. */
export function lowerHelpersWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.XDPWG_HELPERS;
  if (v === undefined || v === '' || v === 'normal') return false;
  if (v === 'idle') return true;
  throw new Error(`XDPWG_HELPERS=${v}: expected idle or normal`);
}

/** Moves the runtime's helper threads to SCHED_IDLE; returns how many. */
export function lowerHelperThreads(): number {
  return native().lowerHelperThreads();
}
