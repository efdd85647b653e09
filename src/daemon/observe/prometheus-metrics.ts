/**
 * The device's counters as Prometheus metrics (text exposition format, via
 * prom-client). The numbers are the ones `xdpwg stats --json`
 * (Device.statsSnapshot) and the UAPI `get=1` (Device.getSnapshot) report:
 * one snapshot of each per scrape, so every metric of a scrape agrees with
 * the others.
 *
 * Names: where the common WireGuard exporters have one (MindFlavor's
 * prometheus_wireguard_exporter: wireguard_sent_bytes_total,
 * wireguard_received_bytes_total, wireguard_latest_handshake_seconds,
 * wireguard_latest_handshake_delay_seconds with the labels interface,
 * public_key, allowed_ips), it is used, so existing dashboards and alert
 * rules work; the rest are xdpwg_*.
 *
 * Threading: main thread; collect() callbacks run inside registry.metrics().
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { keyToBase64 } from '../../crypto/encoding.js';
import type { DeviceStats } from './device-stats.js';
import { PEER_METRICS } from '../../datapath/peer-counters.js';
import type { DeviceSnapshot, PeerSnapshot } from '../config/device-config.js';
import { formatIP } from '../../packet/ip-prefix.js';

/** Where the numbers come from (the Device, or a test's stand-in). */
export interface MetricsSource {
  stats(): DeviceStats;
  uapi(): DeviceSnapshot;
  /** The wall clock in ms since the epoch (default Date.now; tests fix it). */
  now?(): number;
}

/** One scrape's snapshot; `now` (ms since the epoch) is the wall clock the handshake delays are measured against. */
interface Scrape {
  stats: DeviceStats;
  uapi: { peers: PeerSnapshot[] };
  now: number;
}

/**
 * Port fields that are levels, not running totals: they go up and down, so
 * they are gauges named without `_total` (a counter that falls reads as a
 * reset to rate() and increase()).
 */
const PORT_LEVELS: ReadonlySet<string> = new Set(['frames', 'frames_free', 'tx_outstanding']);

/** "af_xdp veth0 queue 1" → its parts; "udp" → the kernel socket. */
function portLabels(path: string): { kind: string; device: string; queue: string } {
  const m = /^af_xdp (\S+) queue (\d+)$/.exec(path);
  return m ? { kind: 'af_xdp', device: m[1]!, queue: m[2]! } : { kind: path, device: '', queue: '' };
}

/** A port counter's name as a metric name part: rx_invalid → rx_invalid, fqEmpty → fq_empty. */
function metricPart(field: string): string {
  return field
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_');
}

/** "kernel socket (why)" → kernel + why; "af_xdp" → af_xdp. */
function pathLabels(path: string | undefined): { path: string; reason: string } {
  if (path === undefined) return { path: 'unknown', reason: 'peer not in the stats' };
  if (path === 'af_xdp') return { path, reason: '' };
  const m = /^kernel socket \((.*)\)$/s.exec(path);
  return { path: 'kernel', reason: m ? m[1]! : path };
}

export class DeviceMetrics {
  readonly registry = new Registry();
  private scrape: Scrape | undefined;
  /** Names of the per-port metrics registered so far (ensurePortMetrics). */
  private readonly portMetrics = new Set<string>();

  constructor(private readonly source: MetricsSource) {
    const r = [this.registry];
    const self = this;
    /** Defines a counter whose values are set from the current scrape by `fill`. */
    const counter = (
      name: string,
      help: string,
      labelNames: string[],
      fill: (s: Scrape, set: (labels: Record<string, string>, v: number) => void) => void,
    ): void => {
      new Counter({
        name,
        help,
        labelNames,
        registers: r,
        collect(this: Counter<string>) {
          this.reset();
          if (self.scrape) fill(self.scrape, (labels, v) => this.inc(labels, Math.max(0, v)));
        },
      });
    };
    const gauge = (
      name: string,
      help: string,
      labelNames: string[],
      fill: (s: Scrape, set: (labels: Record<string, string>, v: number) => void) => void,
    ): void => {
      new Gauge({
        name,
        help,
        labelNames,
        registers: r,
        collect(this: Gauge<string>) {
          this.reset();
          if (self.scrape) fill(self.scrape, (labels, v) => this.set(labels, v));
        },
      });
    };
    const peerLabels = (s: Scrape, p: PeerSnapshot): Record<string, string> => ({
      interface: s.stats.interface,
      public_key: keyToBase64(p.publicKey),
      allowed_ips: [...p.allowedIPs].map((a) => `${formatIP(a.address)}/${a.bits}`).join(','),
    });

    counter(
      'wireguard_sent_bytes_total',
      'Bytes sent to the peer (as `wg show IF transfer`)',
      ['interface', 'public_key', 'allowed_ips'],
      (s, set) => {
        for (const p of s.uapi.peers) set(peerLabels(s, p), Number(p.txBytes));
      },
    );
    counter(
      'wireguard_received_bytes_total',
      'Bytes received from the peer (as `wg show IF transfer`)',
      ['interface', 'public_key', 'allowed_ips'],
      (s, set) => {
        for (const p of s.uapi.peers) set(peerLabels(s, p), Number(p.rxBytes));
      },
    );
    gauge(
      'wireguard_latest_handshake_seconds',
      'UNIX time of the latest completed handshake with the peer, 0 if none',
      ['interface', 'public_key', 'allowed_ips'],
      (s, set) => {
        for (const p of s.uapi.peers) set(peerLabels(s, p), p.lastHandshakeSec);
      },
    );
    // The exporter's alerting form (`> 180`: the peer has not handshaken for 3 minutes). A peer that never
    // completed a handshake has no delay, so no sample; wireguard_latest_handshake_seconds == 0 finds those.
    gauge(
      'wireguard_latest_handshake_delay_seconds',
      'Seconds since the latest completed handshake with the peer (no sample if none yet)',
      ['interface', 'public_key', 'allowed_ips'],
      (s, set) => {
        for (const p of s.uapi.peers) {
          if (p.lastHandshakeSec > 0)
            set(peerLabels(s, p), Math.max(0, (s.now - (p.lastHandshakeSec * 1000 + p.lastHandshakeNsec / 1e6)) / 1000));
        }
      },
    );

    // The per-peer counters of the workers' slabs, as PEER_SLOT_LAYOUT names them.
    for (const m of PEER_METRICS) {
      counter(m.name, m.help, ['interface', 'public_key'], (s, set) => {
        for (const p of s.stats.peers) set({ interface: s.stats.interface, public_key: p.publicKey }, p[m.field]);
      });
    }
    counter(
      'xdpwg_peer_staged_dropped_total',
      'Packets dropped while waiting for a handshake (staging queue full)',
      ['interface', 'public_key'],
      (s, set) => {
        for (const p of s.stats.peers) set({ interface: s.stats.interface, public_key: p.publicKey }, p.stagedDropped);
      },
    );
    gauge(
      'xdpwg_peer_info',
      "Always 1: the peer's endpoint and the path its outer packets take (af_xdp, or kernel with the reason)",
      ['interface', 'public_key', 'endpoint', 'path', 'reason'],
      (s, set) => {
        for (const p of s.stats.peers) {
          const path = pathLabels(s.stats.paths.find((x) => x.publicKey === p.publicKey)?.path);
          set({ interface: s.stats.interface, public_key: p.publicKey, endpoint: p.endpoint ?? '', ...path }, 1);
        }
      },
    );

    counter('xdpwg_drops_total', 'Packets dropped, by reason (as `xdpwg stats` drops)', ['interface', 'reason'], (s, set) => {
      for (const [reason, v] of Object.entries(s.stats.drops)) set({ interface: s.stats.interface, reason }, v);
    });
    counter(
      'xdpwg_handshake_messages_total',
      'Handshake messages sent and accepted, by type',
      ['interface', 'type', 'direction'],
      (s, set) => {
        const h = s.stats.handshakes;
        const i = s.stats.interface;
        set({ interface: i, type: 'initiation', direction: 'sent' }, h.initiationsSent);
        set({ interface: i, type: 'initiation', direction: 'received' }, h.initiationsReceived);
        set({ interface: i, type: 'response', direction: 'sent' }, h.responsesSent);
        set({ interface: i, type: 'response', direction: 'received' }, h.responsesReceived);
        set({ interface: i, type: 'cookie_reply', direction: 'sent' }, h.cookieRepliesSent);
        set({ interface: i, type: 'cookie_reply', direction: 'received' }, h.cookieRepliesReceived);
      },
    );
    counter(
      'xdpwg_worker_cpu_seconds_total',
      'CPU time (user + system) of each data-plane worker thread',
      ['interface', 'worker'],
      (s, set) => s.stats.workerCpuSeconds.forEach((v, w) => set({ interface: s.stats.interface, worker: String(w) }, v)),
    );
    gauge('xdpwg_workers', 'Data-plane worker threads (= TUN queues)', ['interface'], (s, set) =>
      set({ interface: s.stats.interface }, s.stats.workers),
    );
    gauge('xdpwg_listen_port', 'The UDP listen port', ['interface'], (s, set) => set({ interface: s.stats.interface }, s.stats.listenPort));
    gauge(
      'xdpwg_xdp_program_info',
      'Always 1: whose XDP program steers frames to AF_XDP (own, device-plugin, kernel-fallback)',
      ['interface', 'program'],
      (s, set) => set({ interface: s.stats.interface, program: s.stats.xdpProgram }, 1),
    );
    gauge(
      'xdpwg_afxdp_device_info',
      'Always 1: an egress device, its XDP mode and rx queues, and why it cannot take AF_XDP (unusable)',
      ['interface', 'device', 'mode', 'queues', 'unusable'],
      (s, set) => {
        for (const a of s.stats.afxdp)
          set({ interface: s.stats.interface, device: a.device, mode: a.mode, queues: String(a.queues), unusable: a.unusable ?? '' }, 1);
      },
    );
    gauge(
      'xdpwg_afxdp_bound_workers',
      'Workers whose AF_XDP socket on the device is bound in the XSK map',
      ['interface', 'device'],
      (s, set) => {
        for (const a of s.stats.afxdp) set({ interface: s.stats.interface, device: a.device }, a.boundWorkers.length);
      },
    );
  }

  /**
   * Per port/queue metrics (CNDP's lport_stats_t names and the ring
   * counters): one per field, labelled with the worker, the port kind (udp,
   * af_xdp) and for AF_XDP the device and queue. Running totals are
   * counters xdpwg_port_<field>_total; levels (PORT_LEVELS) are gauges
   * xdpwg_port_<field>. Fields appear as ports report them, so they are
   * registered here.
   */
  private ensurePortMetrics(stats: DeviceStats): void {
    for (const port of stats.ports) {
      for (const [field, v] of Object.entries(port)) {
        if (field === 'worker' || field === 'path' || typeof v !== 'number') continue;
        const level = PORT_LEVELS.has(field);
        const name = `xdpwg_port_${metricPart(field)}${level ? '' : '_total'}`;
        if (this.portMetrics.has(name)) continue;
        const self = this;
        const config = {
          name,
          labelNames: ['interface', 'worker', 'kind', 'device', 'queue'],
          registers: [this.registry],
          help: `Port ${level ? 'level' : 'counter'} ${field} per worker port (udp: the kernel socket; af_xdp: the socket on device/queue)`,
        };
        /** Each port's value of the field in the current scrape. */
        const each = (put: (labels: Record<string, string>, v: number) => void): void => {
          const s = self.scrape?.stats;
          for (const p of s?.ports ?? []) {
            const value = p[field];
            if (typeof value === 'number') put({ interface: s!.interface, worker: String(p.worker), ...portLabels(String(p.path)) }, value);
          }
        };
        this.portMetrics.add(name);
        if (level) {
          new Gauge({
            ...config,
            collect(this: Gauge<string>) {
              this.reset();
              each((l, v) => this.set(l, v));
            },
          });
        } else {
          new Counter({
            ...config,
            collect(this: Counter<string>) {
              this.reset();
              each((l, v) => this.inc(l, Math.max(0, v)));
            },
          });
        }
      }
    }
  }

  /**
   * One scrape: the text exposition of every metric, from one snapshot of
   * each source. registry.metrics() awaits between metrics, so scrapes are
   * chained: a second one never replaces the snapshot a first is reading.
   */
  render(): Promise<string> {
    const run = async (): Promise<string> => {
      this.scrape = { stats: this.source.stats(), uapi: { peers: [...this.source.uapi().peers] }, now: (this.source.now ?? Date.now)() };
      try {
        this.ensurePortMetrics(this.scrape.stats);
        return await this.registry.metrics();
      } finally {
        this.scrape = undefined;
      }
    };
    const result = this.chain.then(run, run);
    this.chain = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private chain: Promise<void> = Promise.resolve();

  get contentType(): string {
    return this.registry.contentType;
  }
}
