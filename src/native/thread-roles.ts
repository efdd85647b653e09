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
 * Only with collections that never wait on a helper. V8's parallel GC jobs
 * run on the same helper threads, and the thread that started a collection
 * waits for every task a helper has begun (JobHandle::Join); concurrent
 * marking and sweeping are paused or finished the same way. On a machine
 * whose CPUs are all busy a SCHED_IDLE helper preempted mid-task then holds
 * the main thread or a worker for as long as nothing else lets it run: in
 * one full test run with helpers lowered and V8's usual collector, the
 * legitimate peer of the handshake-flood test never got its handshake
 * through. So the default follows the collector: bin/xdpwg runs V8 with
 * --single-threaded-gc (every collection on its own thread, no helper tasks
 * to wait for), and a process started so lowers its helpers; one started
 * another way keeps them normal. XDPWG_HELPERS=idle or normal overrides.
 * What it bought and cost (README, Performance, "Idle ping: where the time
 * goes"): pings over 2 ms after a warm-up 5-6 in 1,500 -> 0-1 (wireguard-go
 * 0-1), p99 0.82-1.15 -> 0.76-0.81 ms; TCP and handshakes/s unchanged within
 * noise; `wg setconf` of 1,000,000 peers 18.2 -> 22.3 s and its dump 4.6 ->
 * 5.9 s (the main thread's big collections lose their helpers).
 */
import { native } from './binding.js';

/** A data-path worker's thread name. */
export function workerThreadName(worker: number): string {
  return `xdpwg-w${worker}`;
}

/** The V8 flag that makes lowering the helpers safe (see the top). */
export const SINGLE_THREADED_GC = '--single-threaded-gc';

/**
 * Whether to lower the helpers: XDPWG_HELPERS "idle" or "normal"; unset, when
 * V8 runs with --single-threaded-gc (`execArgv`: the node options this process
 * was started with). Anything else is an error naming the variable.
 */
export function lowerHelpersWanted(env: NodeJS.ProcessEnv = process.env, execArgv: readonly string[] = process.execArgv): boolean {
  const v = env.XDPWG_HELPERS;
  if (v === undefined || v === '') return execArgv.includes(SINGLE_THREADED_GC);
  if (v === 'normal') return false;
  if (v === 'idle') return true;
  throw new Error(`XDPWG_HELPERS=${v}: expected idle or normal`);
}

/** Moves the runtime's helper threads to SCHED_IDLE; returns how many. */
export function lowerHelperThreads(): number {
  return native().lowerHelperThreads();
}
