/**
 * What `xdpwg stats` and the metrics export show of a device: per port/queue
 * counters and CPU time as the workers last reported them, handshakes by
 * type, drops by reason (workers + main thread), the AF_XDP paths, and
 * per-peer counters.
 *
 * Threading: main thread only; the workers' reports arrive as messages and
 * their counters are read from shared memory (src/datapath/peer-counters.ts).
 */
import { keyToBase64 } from '../../crypto/encoding.js';
import { cryptoCrewStats, type CryptoCrewStats } from '../../crypto/crypto-crew.js';
import { DropCounters } from '../../datapath/drop-counters.js';
import { peerMetricsOf, type PeerMetricField } from '../../datapath/peer-counters.js';
import type { FromWorker } from '../../datapath/worker-messages.js';
import { formatEndpoint } from '../config/device-config.js';
import type { DataPlaneLink } from '../device/data-plane-link.js';
import type { HandshakePath } from '../handshake/handshake-path.js';
import type { PeerSet } from '../device/peer-set.js';
import type { XdpPaths } from '../xdp/xdp-paths.js';
import { describeXdpSteering } from '../xdp/xdp-steering.js';
import type { HandshakeCounts } from '../handshake/handshake-counters.js';

/** The JSON `xdpwg stats` prints. */
export interface DeviceStats {
  interface: string;
  listenPort: number;
  workers: number;
  /** Whose XDP program steers frames to AF_XDP: own, device-plugin, kernel-fallback (src/daemon/xdp/xdp-steering.ts). */
  xdpProgram: string;
  /** Per worker: CPU seconds its thread has used (index = worker). */
  workerCpuSeconds: number[];
  /** Handshake crypto threads running now: 0 at idle, started under handshake load (handshake-crypto-pool.ts). */
  handshakeCryptoThreads: number;
  /** The crypto crew (src/crypto/crypto-crew.ts): its threads, and the bursts and packets it shared. */
  cryptoCrew?: CryptoCrewStats;
  handshakes: HandshakeCounts;
  ports: Array<Record<string, number | string>>;
  afxdp: ReturnType<XdpPaths['summary']>;
  paths: Array<{ publicKey: string; path: string }>;
  drops: Record<string, number>;
  /** Counted, not lost (drop-counters.ts EVENTS). */
  events: Record<string, number>;
  /** Per peer: the counters PEER_SLOT_LAYOUT exports (rxPackets, txPackets, ...) beside the fields named here. */
  peers: Array<{ publicKey: string; endpoint: string | null; rxBytes: number; txBytes: number; stagedDropped: number; hasSession: boolean;
    /** When a worker last sent this peer a data message a port took (ms since the epoch; 0 = never). */
    lastDataTxMs: number } & Record<PeerMetricField, number>>;
}

/** The device parts the statistics read. */
export interface StatsSources {
  ifname: string;
  listenPort(): number;
  link: DataPlaneLink;
  peers: PeerSet;
  handshakes: HandshakePath;
}

export class DeviceStatsBook {
  /** Per worker: its ports' counters, as last reported. */
  private readonly portStats: Array<Array<Record<string, number | string>>> = [];
  /** Per worker: CPU seconds, as last reported. */
  private readonly workerCpu: number[] = [];

  constructor(private readonly src: StatsSources) {}

  /** A worker's periodic report. */
  record(m: Extract<FromWorker, { t: 'port-stats' }>): void {
    this.portStats[m.worker] = m.ports.map((p) => ({ worker: m.worker, path: p.path, ...p.stats }));
    if (m.cpuSeconds !== undefined) this.workerCpu[m.worker] = m.cpuSeconds;
  }

  /** What `xdpwg stats` shows: per port/queue counters, drops by reason, per-peer counters. */
  snapshot(): DeviceStats {
    const { link, peers } = this.src;
    const xdp = link.xdp;
    return {
      interface: this.src.ifname,
      listenPort: this.src.listenPort(),
      workers: link.workers,
      xdpProgram: describeXdpSteering(xdp?.steering ?? { kind: 'own' }),
      workerCpuSeconds: Array.from({ length: link.workers }, (_, i) => this.workerCpu[i] ?? 0),
      handshakeCryptoThreads: this.src.handshakes.cryptoThreads,
      cryptoCrew: cryptoCrewStats(),
      handshakes: this.src.handshakes.counters.snapshot(),
      ports: this.portStats.filter(Boolean).flat(),
      afxdp: xdp?.summary() ?? [],
      paths: [...peers.values()].map((p) => ({ publicKey: keyToBase64(p.publicKey), path: xdp?.reasonFor(p.slot) === '' ? 'af_xdp' : `kernel socket (${xdp?.reasonFor(p.slot)})` })),
      drops: this.drops(),
      events: DropCounters.summarizeEvents(link.pool?.dropSlabs ?? []),
      peers: [...peers.values()].map((p) => {
        const t = link.traffic(p.slot);
        return {
          publicKey: keyToBase64(p.publicKey),
          endpoint: p.endpoint ? formatEndpoint(p.endpoint) : null,
          rxBytes: t.rxBytes + p.controlRxBytes, txBytes: t.txBytes + p.controlTxBytes,
          ...peerMetricsOf(t), lastDataTxMs: t.lastDataTxMs,
          stagedDropped: p.staged.dropped,
          hasSession: p.keypairs.current !== undefined,
        };
      }),
    };
  }

  /** Drop counters of the whole device (workers + main thread). */
  drops(): Record<string, number> {
    return DropCounters.summarize([...(this.src.link.pool?.dropSlabs ?? []), this.src.handshakes.drops]);
  }
}
