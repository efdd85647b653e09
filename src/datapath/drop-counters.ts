/**
 * The drop counters of a thread: a packet that cannot be used is dropped and
 * counted under its reason's counter (src/packet/drop-reasons.ts: the
 * reasons, the counters users see and which reason feeds which); the data
 * path never throws. Events are counted too but lose nothing. `xdpwg stats`
 * prints the non-zero drops under `drops` and the events under `events`.
 *
 * Threading: each worker owns one slab (a Float64Array over a
 * SharedArrayBuffer: single writer); the main thread owns its own and sums
 * them all for `xdpwg stats`.
 */
import { DROP_COUNTERS, DROP_REASONS, type DropCounter, type DropReason } from '../packet/drop-reasons.js';

export type { DropCounter, DropReason } from '../packet/drop-reasons.js';

/** The drop counters, in the README's order. */
export const DROP_COUNTER_NAMES = Object.keys(DROP_COUNTERS) as DropCounter[];

/** Counted, not lost. */
export const EVENTS = [
  'tx-staged', // no session yet: the packet is handed to the main thread to queue until the handshake completes
] as const;

export type DatapathEvent = (typeof EVENTS)[number];
/** Every name a slab counts: the drop counters, then the events. */
export const DATAPATH_COUNTERS: readonly (DropCounter | DatapathEvent)[] = [...DROP_COUNTER_NAMES, ...EVENTS];

/** Slab position of every reason (its counter's) and every event: one look-up per count. */
const SLOT: Readonly<Record<DropReason | DatapathEvent, number>> = (() => {
  const at = new Map(DATAPATH_COUNTERS.map((name, i) => [name, i]));
  const slot: Record<string, number> = {};
  for (const [reason, entry] of Object.entries(DROP_REASONS)) slot[reason] = at.get(entry.counter)!;
  for (const e of EVENTS) slot[e] = at.get(e)!;
  return slot as Record<DropReason | DatapathEvent, number>;
})();

/** Counters over one Float64Array (exact to 2^53), optionally in a SharedArrayBuffer. */
export class DropCounters {
  readonly view: Float64Array;
  readonly buffer: SharedArrayBuffer;

  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(DATAPATH_COUNTERS.length * 8);
    this.view = new Float64Array(this.buffer, 0, DATAPATH_COUNTERS.length);
  }

  /** Counts `n` drops for `reason` (under its counter), or `n` of an event. */
  count(reason: DropReason | DatapathEvent, n = 1): void {
    const i = SLOT[reason];
    this.view[i] = this.view[i]! + n;
  }

  /** A counter's value. */
  get(name: DropCounter | DatapathEvent): number {
    return this.view[DATAPATH_COUNTERS.indexOf(name)]!;
  }

  /** The non-zero drop counters by name. */
  snapshot(): Record<string, number> {
    return DropCounters.summarize([this]);
  }

  /** Sums several slabs into { name: count } for the non-zero counters among `only` (default: the drops). */
  static summarize(
    slabs: readonly DropCounters[],
    only: readonly (DropCounter | DatapathEvent)[] = DROP_COUNTER_NAMES,
  ): Record<string, number> {
    const out: Record<string, number> = {};
    for (const name of only) {
      const i = DATAPATH_COUNTERS.indexOf(name);
      let n = 0;
      for (const s of slabs) n += s.view[i]!;
      if (n) out[name] = n;
    }
    return out;
  }

  /** Sums several slabs' events (EVENTS), non-zero only. */
  static summarizeEvents(slabs: readonly DropCounters[]): Record<string, number> {
    return DropCounters.summarize(slabs, EVENTS);
  }
}
