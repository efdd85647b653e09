/**
 * Per-peer traffic counters shared between the data-plane workers (writers)
 * and the main thread (reader), in one SharedArrayBuffer per worker.
 *
 * Why one slab per worker: every slot has a single writer, so a worker
 * updates its counters with plain stores — no Atomics on the per-packet path —
 * and the main thread sums the slabs. Float64 stores are not torn on the
 * platforms Node supports, and a counter read a moment late only delays a
 * timer by one tick.
 *
 * The main thread turns changes of the timestamps into the timer events of
 * the whitepaper (§6): data sent / received, any authenticated packet
 * received / traversed.
 */
/**
 * The per-peer fields, in slot order, each with how the main thread folds
 * the workers' slabs (counts add up, times take the latest) and, for the
 * counters a user sees, the name and help of the Prometheus counter that
 * exports it (the same name is its key in `xdpwg stats --json` peers).
 * Adding a field here gives it a slot, a place in PeerTraffic and in
 * readPeerTraffic, and with `metric` a place in `xdpwg stats` and
 * /metrics; the slot width follows. What remains is the code that counts it
 * (receive.ts / send.ts) and the README's metrics table.
 */
const PEER_SLOT_LAYOUT = {
  rxBytes: { fold: 'sum' }, // authenticated bytes received (whole UDP payloads, as wireguard-go counts); exported as wireguard_received_bytes_total
  txBytes: { fold: 'sum' }, // bytes sent (whole UDP payloads); exported as wireguard_sent_bytes_total
  lastDataRxMs: { fold: 'max' }, // last decrypted non-keepalive data packet
  lastDataTxMs: { fold: 'max' }, // last data packet sent (not keepalive)
  lastAuthRxMs: { fold: 'max' }, // last authenticated packet of any kind (incl. keepalive)
  lastAnyTxMs: { fold: 'max' }, // last packet of any kind sent (incl. keepalive)
  rxPackets: {
    fold: 'sum',
    metric: { name: 'xdpwg_peer_received_packets_total', help: 'Data packets (and keepalives) the workers received from the peer' },
  },
  txPackets: {
    fold: 'sum',
    metric: { name: 'xdpwg_peer_sent_packets_total', help: 'Data packets (and keepalives) the workers sent to the peer' },
  },
} as const satisfies Record<string, { fold: 'sum' | 'max'; metric?: { name: string; help: string } }>;

export type PeerField = keyof typeof PEER_SLOT_LAYOUT;
const FIELD_NAMES = Object.keys(PEER_SLOT_LAYOUT) as PeerField[];
const FOLD_SUM = FIELD_NAMES.map((name) => PEER_SLOT_LAYOUT[name].fold === 'sum');

/** The fields exported as per-peer counters (in `xdpwg stats` and /metrics). */
export type PeerMetricField = { [K in PeerField]: (typeof PEER_SLOT_LAYOUT)[K] extends { metric: object } ? K : never }[PeerField];
/** Each exported field with its Prometheus name and help, in slot order. */
export const PEER_METRICS: ReadonlyArray<{ field: PeerMetricField; name: string; help: string }> = FIELD_NAMES.flatMap((field) => {
  const e: { fold: string; metric?: { name: string; help: string } } = PEER_SLOT_LAYOUT[field];
  return e.metric ? [{ field: field as PeerMetricField, ...e.metric }] : [];
});
/** A peer's exported counters, keyed by field (what `xdpwg stats --json` shows per peer). */
export function peerMetricsOf(t: PeerTraffic): Record<PeerMetricField, number> {
  const out = {} as Record<PeerMetricField, number>;
  for (const m of PEER_METRICS) out[m.field] = t[m.field];
  return out;
}
/** Each field's index in a slot (the data path writes `view[slot * PEER_SLOT_WIDTH + PEER_SLOT_FIELDS.x]`). */
export const PEER_SLOT_FIELDS: { readonly [K in PeerField]: number } = Object.freeze(
  Object.fromEntries(FIELD_NAMES.map((name, i) => [name, i])) as { [K in PeerField]: number },
);
/** Float64 words per slot: one per field. */
export const PEER_SLOT_WIDTH = FIELD_NAMES.length;

/**
 * One worker's slab: `capacity` slots of PEER_SLOT_WIDTH float64 each.
 *
 * The slab grows by doubling (1M peers would cost 64 MB per worker up
 * front). Hand-over protocol, so no counter update is lost:
 *   1. main allocates a bigger buffer and posts it ('peer-tables', before
 *      any message naming a slot beyond the old capacity) and keeps the old
 *      slab as the one it reads (WorkerPool.pendingSlabs holds the new one);
 *   2. the worker, between bursts (it is the only writer of its slab, so
 *      nothing is written meanwhile), copies the old slab into the new one,
 *      writes only the new one from then on, and acknowledges
 *      ('peer-tables-taken');
 *   3. on the acknowledgement main reads the new slab.
 * Until step 3 main reads slots beyond the old capacity as zero: the worker
 * cannot have written them, it learns of their peers after the new buffer.
 * A slot is cleared for a new peer by main (clear) in the slab it reads and
 * in the pending one, so reads at once show zero; and again by the worker
 * when the 'peer' message with the new generation arrives (clearing is the
 * writer's word, and it also wipes stray writes of in-flight packets of the
 * slot's previous peer).
 */
export class PeerCounterSlab {
  readonly view: Float64Array;
  constructor(readonly buffer: SharedArrayBuffer) {
    this.view = new Float64Array(buffer);
  }

  static create(capacity: number): PeerCounterSlab {
    return new PeerCounterSlab(new SharedArrayBuffer(capacity * PEER_SLOT_WIDTH * 8));
  }
  /** Slots this slab holds. */
  get capacity(): number {
    return this.view.length / PEER_SLOT_WIDTH;
  }

  /** Zeroes a slot before it is given to a new peer. */
  clear(slot: number): void {
    if (slot < this.capacity) this.view.fill(0, slot * PEER_SLOT_WIDTH, (slot + 1) * PEER_SLOT_WIDTH);
  }
}

/**
 * Which slots a worker touched since the main thread last looked: one bit
 * per slot (a fixed 128 KB per worker at 1,048,576 slots) and a summary bit
 * per word of them, so the main thread's tick costs the activity, not the
 * peer count.
 *
 * Protocol (one writer: the worker; one reader: main): the worker first
 * stores a changed traffic stamp, then sets the slot's bit and its word's
 * summary bit with Atomics.or; the main thread takes a summary word with
 * Atomics.exchange(0), then each flagged bit word with Atomics.exchange(0),
 * and only then reads the stamps. A stamp stored before a bit set that the
 * exchange saw is visible to the reads after it (the atomics order them); a
 * bit set after the exchange is seen at the next tick. The worker marks
 * only when a stamp changes value (at most once per millisecond per slot
 * and kind), so the per-packet cost is a compare and, rarely, two atomics.
 */
export class SlotActivity {
  readonly bits: Int32Array;
  readonly summary: Int32Array;
  constructor(readonly buffer: SharedArrayBuffer) {
    const words = ((buffer.byteLength / 4) * 32) / 33;
    this.bits = new Int32Array(buffer, 0, words);
    this.summary = new Int32Array(buffer, words * 4, words / 32);
  }

  /** For `slots` slots (a multiple of 1024). */
  static create(slots: number): SlotActivity {
    const words = Math.ceil(slots / 1024) * 32;
    return new SlotActivity(new SharedArrayBuffer((words + words / 32) * 4));
  }

  /** Worker: the slot's stamps changed. */
  mark(slot: number): void {
    const w = slot >>> 5;
    Atomics.or(this.bits, w, 1 << (slot & 31));
    Atomics.or(this.summary, w >>> 5, 1 << (w & 31));
  }

  /** Main: calls fn for every slot marked since the last call, and unmarks it. */
  drain(fn: (slot: number) => void): void {
    const { bits, summary } = this;
    for (let sw = 0; sw < summary.length; sw++) {
      if (summary[sw] === 0) continue; // a plain look first: most words are empty
      let s = Atomics.exchange(summary, sw, 0);
      while (s !== 0) {
        const sb = 31 - Math.clz32(s & -s);
        s &= s - 1;
        const w = sw * 32 + sb;
        let b = Atomics.exchange(bits, w, 0);
        while (b !== 0) {
          const bit = 31 - Math.clz32(b & -b);
          b &= b - 1;
          fn(w * 32 + bit);
        }
      }
    }
  }
}

/** What the main thread reads for one peer, summed (counts) or maxed (times) over all workers' slabs. */
export type PeerTraffic = Record<PeerField, number>;

export function readPeerTraffic(slabs: readonly PeerCounterSlab[], slot: number): PeerTraffic {
  // One object per read, no intermediate arrays: a `wg show dump` of 1,000,000 peers reads each once.
  const t = {} as PeerTraffic;
  for (let i = 0; i < FIELD_NAMES.length; i++) t[FIELD_NAMES[i]!] = 0;
  const base = slot * PEER_SLOT_WIDTH;
  for (const s of slabs) {
    const v = s.view;
    if (base >= v.length) continue; // a slot beyond a slab not yet grown: its worker has written nothing there
    for (let i = 0; i < FIELD_NAMES.length; i++) {
      const name = FIELD_NAMES[i]!,
        x = v[base + i]!;
      t[name] = FOLD_SUM[i] ? t[name] + x : Math.max(t[name], x);
    }
  }
  return t;
}

/** One counted field of a slot summed over the slabs (readPeerTraffic's sum for that field, with no object: get=1 reads 1,000,000 slots at once). */
export function sumPeerCount(slabs: readonly PeerCounterSlab[], slot: number, field: PeerField): number {
  const at = slot * PEER_SLOT_WIDTH + PEER_SLOT_FIELDS[field];
  let sum = 0;
  for (let s = 0; s < slabs.length; s++) {
    const v = slabs[s]!.view;
    if (at < v.length) sum += v[at]!;
  }
  return sum;
}
