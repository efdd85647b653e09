/**
 * The crypto crew's face (native/aead_crew.h): a few process-wide native
 * threads that share the ChaCha20-Poly1305 work of one worker's burst, so
 * one peer's packets are sealed and opened on several cores although one
 * worker owns them (issue 20; docs/DESIGN.md §3 "one peer on every core").
 *
 * Only the native AEAD backend uses it (aeadSealBurst / aeadOpenBurst share
 * a burst when the crew is on, the burst has at least `minBurst` packets and
 * the crew is not busy with another worker's burst). The burst call returns
 * only when every packet is done, so nonces, the replay window and per-flow
 * order stay the owning worker's, exactly as without the crew.
 *
 * Threading: configure from the main thread (the crew threads inherit its
 * CPU affinity: unpinned, while pinned workers would pin them to their own
 * CPU); stats from any thread.
 */
import { availableParallelism } from 'node:os';
import { native } from '../native/binding.js';

/** The datapath setting "cryptoCrew": auto (cores − 1 threads), off, or a thread count. */
export type CryptoCrewSetting = 'auto' | 'off' | number;

/** Crew threads at most (a thread per core is the useful limit). */
export const CRYPTO_CREW_MAX_THREADS = 64;
/** Smaller bursts run alone: waking a helper and splitting costs more than a few packets' cipher work. */
export const CRYPTO_CREW_DEFAULT_MIN_BURST = 8;

/** The crew's counters, as `xdpwg stats` shows them. */
export interface CryptoCrewStats {
  /** Crew threads running now (besides the workers). */
  threads: number;
  /** Bursts shared with the crew. */
  bursts: number;
  /** Packets in those bursts. */
  packets: number;
  /** Of those, the packets a crew thread (not the owning worker) sealed or opened. */
  crewPackets: number;
  /** Bursts big enough to share that ran alone because the crew was busy with another worker's. */
  alone: number;
}

const NONE: CryptoCrewStats = { threads: 0, bursts: 0, packets: 0, crewPackets: 0, alone: 0 };

/** How many crew threads a setting asks for on a machine with `cores` cores. */
export function crewThreadsFor(setting: CryptoCrewSetting, cores = availableParallelism()): number {
  if (setting === 'off') return 0;
  if (setting === 'auto') return Math.max(0, Math.min(CRYPTO_CREW_MAX_THREADS, cores - 1));
  if (!Number.isInteger(setting) || setting < 0 || setting > CRYPTO_CREW_MAX_THREADS) {
    throw new RangeError(`cryptoCrew must be "auto", "off" or 0..${CRYPTO_CREW_MAX_THREADS}, got ${JSON.stringify(setting)}`);
  }
  return setting;
}

/**
 * Starts (or restarts, or stops with 0 threads) the crew. `backend` is the
 * data path's AEAD backend name: any but native never uses the crew, so it
 * is not started. Returns the thread count and why, for the log.
 */
export function startCryptoCrew(
  setting: CryptoCrewSetting,
  backend: string,
  minBurst = CRYPTO_CREW_DEFAULT_MIN_BURST,
): { threads: number; reason: string } {
  const wanted = crewThreadsFor(setting);
  if (backend !== 'native') return { threads: 0, reason: `the ${backend} AEAD backend does not share bursts` };
  // How long an idle crew thread polls before sleeping: a benchmarking knob (bench/crypto-crew.ts), not a setting.
  const spin = process.env.XDPWG_CRYPTO_CREW_SPIN_US;
  const ok = native().aeadCrewConfigure({ threads: wanted, minBurst, ...(spin ? { spinUs: Number(spin) } : {}) });
  if (!ok) return { threads: 0, reason: 'a crew thread could not be started' };
  return {
    threads: wanted,
    reason: setting === 'auto' ? `auto: cores − 1, bursts of ${minBurst}+ packets` : `configured, bursts of ${minBurst}+ packets`,
  };
}

/** Stops the crew's threads (device closed). Safe when it never started or the addon is absent. */
export function stopCryptoCrew(): void {
  try {
    native().aeadCrewConfigure({ threads: 0 });
  } catch {
    // No addon: no crew to stop.
  }
}

/** The crew's counters (all zero without the addon). */
export function cryptoCrewStats(): CryptoCrewStats {
  try {
    return native().aeadCrewStats();
  } catch {
    return { ...NONE };
  }
}
