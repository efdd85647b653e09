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
import type { IdleReleaseReport } from '../../native/idle-memory.js';
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
  /**
   * Per thread (main, then each worker): how many times it gave its spare
   * memory back once the daemon was quiet, and whether it has had activity
   * since, so that one is due (src/native/idle-memory.ts).
   */
  idleMemory: Array<{ thread: string } & IdleReleaseReport>;
  /** Handshake crew threads (native, started with the device: handshake-crypto-pool.ts). */
  handshakeCryptoThreads: number;
  /** The crypto crew (src/crypto/crypto-crew.ts): its threads, and the bursts and packets it shared. */
  cryptoCrew?: CryptoCrewStats;
  handshakes: HandshakeCounts;
  ports: Array<Record<string, number | string>>;
  afxdp: ReturnType<XdpPaths['summary']>;
  /**
   * Per worker, what each path carried (sums of its ports' counters): receive
   * and transmit by AF_XDP (every device) and by the kernel socket, with the
   * socket's GRO-coalesced receives and its bulk sends from the UMEM
   * (txPath, src/datapath/tx-path.ts). Why each device takes its paths:
   * afxdp[].txPath / rxPathReason.
   */
  byPath: PathTraffic[];
  paths: Array<{ publicKey: string; path: string }>;
  drops: Record<string, number>;
  /** Counted, not lost (drop-counters.ts EVENTS). */
  events: Record<string, number>;
  /** Per peer: the counters PEER_SLOT_LAYOUT exports (rxPackets, txPackets, ...) beside the fields named here. */
  peers: Array<
    {
      publicKey: string;
      endpoint: string | null;
      rxBytes: number;
      txBytes: number;
      stagedDropped: number;
      hasSession: boolean;
      /** When a worker last sent this peer a data message a port took (ms since the epoch; 0 = never). */
      lastDataTxMs: number;
    } & Record<PeerMetricField, number>
  >;
}

/** Bursts, packets and bytes one path carried in one direction. */
export interface PathCount {
  bursts: number;
  packets: number;
  bytes: number;
}
export interface PathTraffic {
  worker: number;
  rx: { afxdp: PathCount; socket: PathCount & { groReceives: number; groDatagrams: number } };
  tx: { afxdp: PathCount; socket: PathCount & { bulkBursts: number; bulkBytes: number } };
}

/** A worker's ports' counters summed by path (ports: as the worker reported them). */
export function pathTraffic(worker: number, ports: Array<Record<string, number | string>>): PathTraffic {
  const num = (p: Record<string, number | string>, k: string): number => (typeof p[k] === 'number' ? (p[k] as number) : 0);
  const zero = (): PathCount => ({ bursts: 0, packets: 0, bytes: 0 });
  const t: PathTraffic = {
    worker,
    rx: { afxdp: zero(), socket: { ...zero(), groReceives: 0, groDatagrams: 0 } },
    tx: { afxdp: zero(), socket: { ...zero(), bulkBursts: 0, bulkBytes: 0 } },
  };
  for (const p of ports) {
    const side = p.path === 'udp' ? 'socket' : 'afxdp';
    const rx = t.rx[side],
      tx = t.tx[side];
    rx.bursts += num(p, 'rx_bursts');
    rx.packets += num(p, 'ipackets');
    rx.bytes += num(p, 'ibytes');
    tx.bursts += num(p, 'tx_bursts');
    tx.packets += num(p, 'opackets');
    tx.bytes += num(p, 'obytes');
  }
  for (const p of ports.filter((q) => q.path === 'udp')) {
    t.rx.socket.groReceives += num(p, 'rx_gro_receives');
    t.rx.socket.groDatagrams += num(p, 'rx_gro_datagrams');
    t.tx.socket.bulkBursts += num(p, 'tx_bulk_via_socket_bursts');
    t.tx.socket.bulkBytes += num(p, 'tx_bulk_via_socket_bytes');
  }
  return t;
}

/** The device parts the statistics read. */
export interface StatsSources {
  ifname: string;
  listenPort(): number;
  link: DataPlaneLink;
  peers: PeerSet;
  handshakes: HandshakePath;
  /** The main thread's idle releases. */
  mainIdleMemory(): IdleReleaseReport;
}

export class DeviceStatsBook {
  /** Per worker: its ports' counters, as last reported. */
  private readonly portStats: Array<Array<Record<string, number | string>>> = [];
  /** Per worker: CPU seconds, as last reported. */
  private readonly workerCpu: number[] = [];
  /** Per worker: idle releases, as last reported. */
  private readonly workerReleases: IdleReleaseReport[] = [];

  constructor(private readonly src: StatsSources) {}

  /** A worker's periodic report. */
  record(m: Extract<FromWorker, { t: 'port-stats' }>): void {
    this.portStats[m.worker] = m.ports.map((p) => ({ worker: m.worker, path: p.path, ...p.stats }));
    if (m.cpuSeconds !== undefined) this.workerCpu[m.worker] = m.cpuSeconds;
    if (m.idleMemory !== undefined) this.workerReleases[m.worker] = m.idleMemory;
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
      idleMemory: [
        { thread: 'main', ...this.src.mainIdleMemory() },
        ...Array.from({ length: link.workers }, (_, i) => ({
          thread: `worker ${i}`,
          ...(this.workerReleases[i] ?? { releases: 0, pending: true }),
        })),
      ],
      handshakeCryptoThreads: this.src.handshakes.cryptoThreads,
      cryptoCrew: cryptoCrewStats(),
      handshakes: this.src.handshakes.counters.snapshot(),
      ports: this.portStats.filter(Boolean).flat(),
      afxdp: xdp?.summary() ?? [],
      byPath: this.portStats.flatMap((ports, worker) => (ports ? [pathTraffic(worker, ports)] : [])),
      paths: [...peers.values()].map((p) => ({
        publicKey: keyToBase64(p.publicKey),
        path: xdp?.reasonFor(p.slot) === '' ? 'af_xdp' : `kernel socket (${xdp?.reasonFor(p.slot)})`,
      })),
      drops: this.drops(),
      events: DropCounters.summarizeEvents(link.pool?.dropSlabs ?? []),
      peers: [...peers.values()].map((p) => {
        const t = link.traffic(p.slot);
        return {
          publicKey: keyToBase64(p.publicKey),
          endpoint: p.endpoint ? formatEndpoint(p.endpoint) : null,
          rxBytes: t.rxBytes + p.controlRxBytes,
          txBytes: t.txBytes + p.controlTxBytes,
          ...peerMetricsOf(t),
          lastDataTxMs: t.lastDataTxMs,
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
