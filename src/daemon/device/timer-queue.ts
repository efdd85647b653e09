/**
 * Every peer's timers in one queue ordered by deadline (a binary min-heap),
 * so the device's tick visits only the peers whose timers are due, not
 * every configured peer.
 *
 * Entries are added when a peer's timers report a new earliest deadline
 * (src/protocol/timers.ts TimerScheduler) and never removed early: a
 * deadline that moved later or was disarmed leaves a stale entry, which
 * comes due, fires nothing (tick() checks the real deadlines), and is
 * replaced by the peer's real next deadline. So each entry costs one pop,
 * and a peer has at most a few entries at a time.
 *
 * Threading: main thread only.
 */
import type { PeerTimers, TimerScheduler } from '../../protocol/timers.js';

export class TimerQueue implements TimerScheduler {
  private at: number[] = [];
  private timers: PeerTimers[] = [];

  /** Entries queued (stale ones included). */
  get size(): number {
    return this.at.length;
  }

  schedule(timers: PeerTimers, at: number): void {
    const a = this.at,
      t = this.timers;
    let i = a.length;
    a.push(at);
    t.push(timers);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= at) break;
      a[i] = a[p]!;
      t[i] = t[p]!;
      i = p;
    }
    a[i] = at;
    t[i] = timers;
  }

  /** Ticks every peer's timers whose entry is due at `now`, then queues its next deadline. */
  runDue(now: number): void {
    while (this.at.length > 0 && this.at[0]! <= now) {
      const at = this.at[0]!;
      const t = this.pop();
      if (t.scheduledAt === at) t.scheduledAt = Infinity;
      t.tick();
      const next = t.nextDeadline();
      if (next !== undefined && next < t.scheduledAt) {
        t.scheduledAt = next;
        this.schedule(t, next);
      }
    }
  }

  private pop(): PeerTimers {
    const a = this.at,
      t = this.timers;
    const top = t[0]!;
    const lastAt = a.pop()!;
    const lastT = t.pop()!;
    const n = a.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && a[c + 1]! < a[c]!) c++;
        if (a[c]! >= lastAt) break;
        a[i] = a[c]!;
        t[i] = t[c]!;
        i = c;
      }
      a[i] = lastAt;
      t[i] = lastT;
    }
    return top;
  }
}
