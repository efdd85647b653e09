/**
 * A deliberately naive replay window with the same contract as
 * src/protocol/replay-window.ts, for comparison tests: it keeps every accepted
 * counter in a Set and states the rule directly (whitepaper §5.4.6):
 *   accept c  ⇔  c < REJECT_AFTER_MESSAGES
 *             ∧  c + REPLAY_WINDOW_SIZE ≥ greatest accepted (or none accepted)
 *             ∧  c was not accepted before.
 */
import { REJECT_AFTER_MESSAGES, REPLAY_WINDOW_SIZE } from '../../src/protocol/constants.js';

const WINDOW = BigInt(REPLAY_WINDOW_SIZE);

/** The Set-based reference window. */
export class NaiveReplayWindow {
  private readonly seen = new Set<bigint>();
  private greatest = -1n;

  /** Same semantics as ReplayWindow.checkAndUpdateBig. */
  checkAndUpdate(counter: bigint): boolean {
    if (counter < 0n || counter >= REJECT_AFTER_MESSAGES) return false;
    if (this.greatest >= 0n && counter + WINDOW < this.greatest) return false;
    if (this.seen.has(counter)) return false;
    this.seen.add(counter);
    if (counter > this.greatest) {
      this.greatest = counter;
      if (this.seen.size > 4 * REPLAY_WINDOW_SIZE) this.forgetOld();
    }
    return true;
  }

  /** Drops counters that can never matter again, only to bound memory; it does not change answers. */
  private forgetOld(): void {
    for (const c of this.seen) if (c + WINDOW < this.greatest) this.seen.delete(c);
  }
}
