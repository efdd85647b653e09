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
export const PEER_SLOT_FIELDS = {
  rxBytes: 0,          // authenticated bytes received (whole UDP payloads, as wireguard-go counts)
  txBytes: 1,          // bytes sent (whole UDP payloads)
  lastDataRxMs: 2,     // last decrypted non-keepalive data packet
  lastDataTxMs: 3,     // last data packet sent (not keepalive)
  lastAuthRxMs: 4,     // last authenticated packet of any kind (incl. keepalive)
  lastAnyTxMs: 5,      // last packet of any kind sent (incl. keepalive)
  rxPackets: 6,
  txPackets: 7,
} as const;
export const PEER_SLOT_WIDTH = 8;

/** One worker's slab: `maxPeers` slots of PEER_SLOT_WIDTH float64 each. */
export class PeerCounterSlab {
  readonly view: Float64Array;
  constructor(readonly buffer: SharedArrayBuffer) { this.view = new Float64Array(buffer); }

  static create(maxPeers: number): PeerCounterSlab {
    return new PeerCounterSlab(new SharedArrayBuffer(maxPeers * PEER_SLOT_WIDTH * 8));
  }
  get maxPeers(): number { return this.view.length / PEER_SLOT_WIDTH; }

  /** Zeroes a slot before it is given to a new peer (main thread, before announcing the peer). */
  clear(slot: number): void { this.view.fill(0, slot * PEER_SLOT_WIDTH, (slot + 1) * PEER_SLOT_WIDTH); }
}

/** What the main thread reads for one peer, summed (bytes) or maxed (times) over all workers' slabs. */
export interface PeerTraffic {
  rxBytes: number; txBytes: number; rxPackets: number; txPackets: number;
  lastDataRxMs: number; lastDataTxMs: number; lastAuthRxMs: number; lastAnyTxMs: number;
}

export function readPeerTraffic(slabs: readonly PeerCounterSlab[], slot: number): PeerTraffic {
  const t: PeerTraffic = { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0, lastDataRxMs: 0, lastDataTxMs: 0, lastAuthRxMs: 0, lastAnyTxMs: 0 };
  const base = slot * PEER_SLOT_WIDTH;
  const f = PEER_SLOT_FIELDS;
  for (const s of slabs) {
    const v = s.view;
    t.rxBytes += v[base + f.rxBytes]!;
    t.txBytes += v[base + f.txBytes]!;
    t.rxPackets += v[base + f.rxPackets]!;
    t.txPackets += v[base + f.txPackets]!;
    t.lastDataRxMs = Math.max(t.lastDataRxMs, v[base + f.lastDataRxMs]!);
    t.lastDataTxMs = Math.max(t.lastDataTxMs, v[base + f.lastDataTxMs]!);
    t.lastAuthRxMs = Math.max(t.lastAuthRxMs, v[base + f.lastAuthRxMs]!);
    t.lastAnyTxMs = Math.max(t.lastAnyTxMs, v[base + f.lastAnyTxMs]!);
  }
  return t;
}
