/**
 * Loads a data-path worker's modules with V8's lazy compilation off, so every
 * function of the packet path has its bytecode before the first packet.
 *
 * Why: V8 compiles a function when it is first called. A fresh daemon's
 * first packets therefore paid for compiling the functions they were the
 * first to run, once per worker (each worker is its own isolate), and a
 * tunnel's first pings showed it: on the suite's NIC-like pair, a fresh
 * daemon's first and third pings took 1.5–2.7 ms where the rest took ~0.5
 * (the first ran the send path the handshake had bypassed, the third reached
 * a worker no packet had reached yet), and those two pings were the p99 of
 * the suite's first repetition. Measured (a fresh pair, 10 s quiet, 200
 * pings every 10 ms, four pairs each alternated; p50 / p99 ms, idle RSS MB):
 * lazy 0.654 / 2.05 / 77.2, this 0.621 / 1.32 / 78.7. The whole daemon
 * eager (`--no-lazy` for every thread) costs 4–5 MB instead of 1.5: the
 * runtime's own modules compile eagerly too.
 *
 * The flag is process-wide, so it has a protocol: only a data-path worker's
 * entry writes it (worker-entry.ts), the pool starts workers one at a time
 * (worker-pool.ts: the next spawns after the previous reported ready), and
 * each sets it back before it reports ready. While it is off, whatever else
 * the daemon compiles (the main thread is waiting for the pool) compiles
 * eagerly too: a little memory, never a wrong result: it changes when V8
 * compiles, not what.
 */
import { setFlagsFromString } from 'node:v8';

/** Runs `load` (a dynamic import) with lazy compilation off; restores it however `load` ends. */
export async function loadEagerly<T>(load: () => Promise<T>, setFlags: (flags: string) => void = setFlagsFromString): Promise<T> {
  setFlags('--no-lazy');
  try {
    return await load();
  } finally {
    setFlags('--lazy');
  }
}
