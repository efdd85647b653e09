/**
 * One repetition of every measurement on one configuration, flattened into
 * named figures (the keys of {@link METRICS}) so repetitions can be reduced
 * to medians and configurations compared key by key.
 */
import { handshakeRun } from './handshake.js';
import { tcpRun, udpSearch, type TcpResult, type UdpSearch } from './iperf.js';
import { pingRun } from './ping.js';
import { memoryOf, PeakSampler, type MemorySample } from './memory.js';
import { sleep } from './run.js';
import type { Pair } from './topology.js';

/** Durations and sizes of one repetition. */
export interface Settings {
  /** Length of each iperf3 TCP run, s. */
  tcpSeconds: number;
  /** Length of each iperf3 UDP run of the rate search, s. */
  udpSeconds: number;
  /** Further UDP runs after the unlimited one, at most. */
  udpSteps: number;
  /** Length of the idle ping, s. */
  pingSeconds: number;
  /** Handshake generator: fresh peers, initiations, window, timeout. */
  handshake: { peers: number; count: number; window: number; timeoutMs: number };
}

/** UDP payloads measured: 1392 B fills a 1420 B packet (the tunnel MTU) with its 28 B of IPv4+UDP headers; 64 B is the small-packet case. */
export const UDP_PAYLOADS = { udp1420: 1392, udp64: 64 } as const;

/** How a figure is read: its label, unit, and which way is better. */
export interface Metric {
  label: string;
  unit: string;
  better: 'higher' | 'lower';
}

/** Every figure a repetition yields, in report order. */
export const METRICS = {
  tcp1_fwd_mbps: { label: 'TCP 1 stream a→b', unit: 'Mbit/s', better: 'higher' },
  tcp1_rev_mbps: { label: 'TCP 1 stream b→a (-R)', unit: 'Mbit/s', better: 'higher' },
  tcp4_fwd_mbps: { label: 'TCP 4 streams a→b', unit: 'Mbit/s', better: 'higher' },
  tcp4_rev_mbps: { label: 'TCP 4 streams b→a (-R)', unit: 'Mbit/s', better: 'higher' },
  cpu_s_per_gb: { label: 'Daemon CPU per GB (TCP runs)', unit: 'CPU-s/GB', better: 'lower' },
  udp1420_kpps: { label: 'UDP 1420 B packets received', unit: 'kpps', better: 'higher' },
  udp1420_mbps: { label: 'UDP 1420 B payload received', unit: 'Mbit/s', better: 'higher' },
  udp1420_loss: { label: 'UDP 1420 B loss at that rate', unit: '%', better: 'lower' },
  udp1420_flat_out_kpps: { label: 'UDP 1420 B received, sender flat out (any loss)', unit: 'kpps', better: 'higher' },
  udp64_kpps: { label: 'UDP 64 B packets received', unit: 'kpps', better: 'higher' },
  udp64_mbps: { label: 'UDP 64 B payload received', unit: 'Mbit/s', better: 'higher' },
  udp64_loss: { label: 'UDP 64 B loss at that rate', unit: '%', better: 'lower' },
  udp64_flat_out_kpps: { label: 'UDP 64 B received, sender flat out (any loss)', unit: 'kpps', better: 'higher' },
  ping_idle_p50_ms: { label: 'Ping RTT idle p50', unit: 'ms', better: 'lower' },
  ping_idle_p99_ms: { label: 'Ping RTT idle p99', unit: 'ms', better: 'lower' },
  ping_load_p50_ms: { label: 'Ping RTT under TCP load p50', unit: 'ms', better: 'lower' },
  ping_load_p99_ms: { label: 'Ping RTT under TCP load p99', unit: 'ms', better: 'lower' },
  handshakes_per_s: { label: 'Handshakes/s (responder)', unit: '1/s', better: 'higher' },
  rss_idle_mb: {
    label: 'Daemon RSS idle (5 s without traffic) after a handshake, fresh daemons (larger of the two)',
    unit: 'MB',
    better: 'lower',
  },
  rss_idle_after_mb: {
    label: "Daemon RSS idle (5 s without traffic) after the earlier repetitions' traffic (larger of the two)",
    unit: 'MB',
    better: 'lower',
  },
  rss_tcp_peak_mb: { label: 'Daemon RSS peak during the TCP runs (larger of the two)', unit: 'MB', better: 'lower' },
} as const satisfies Record<string, Metric>;

/** A figure's key. */
export type MetricKey = keyof typeof METRICS;

/** Everything one repetition measured on one configuration. */
export interface Repetition {
  figures: Partial<Record<MetricKey, number>>;
  /** Raw outcomes kept in the JSON for whoever wants to look closer. */
  raw: {
    tcp: Record<string, TcpResult>;
    udp: Record<string, UdpSearch>;
    ping: Record<string, unknown>;
    handshake?: unknown;
    /** Per daemon (a, b): resident memory idle, and at its peak during the TCP runs. */
    memory?: { idle: { a: MemorySample; b: MemorySample }; tcpPeak: { a: MemorySample; b: MemorySample } };
  };
}

/** Runs every measurement once on pair; `log` gets a line per measurement. */
/** No traffic for this long before the idle memory sample (longer than xdpwg's QUIET_MS of 3 s). */
export const IDLE_SETTLE_MS = 5_000;

export async function measureOnce(pair: Pair, s: Settings, log: (line: string) => void): Promise<Repetition> {
  const f: Partial<Record<MetricKey, number>> = {};
  const raw: Repetition['raw'] = { tcp: {}, udp: {}, ping: {} };

  const idle = await pingRun(pair, s.pingSeconds);
  raw.ping.idle = idle;
  f.ping_idle_p50_ms = idle.p50Ms;
  f.ping_idle_p99_ms = idle.p99Ms;

  // Memory, per daemon: idle (the pair has had its handshake and the idle ping, then nothing for
  // IDLE_SETTLE_MS: an idle daemon is one with no traffic, and xdpwg gives a quiet thread's spare
  // memory back after 3 s, src/native/idle-memory.ts; both implementations get the same wait),
  // then the largest resident set each reaches while the TCP runs go.
  const daemons = pair.config === 'veth' ? undefined : { a: pair.a.proc!.pid!, b: pair.b.proc!.pid! };
  if (daemons) await sleep(IDLE_SETTLE_MS);
  const idleMemory = daemons && { a: memoryOf([daemons.a]), b: memoryOf([daemons.b]) };
  const peaks = daemons && { a: new PeakSampler(() => [daemons.a]), b: new PeakSampler(() => [daemons.b]) };

  // TCP single stream a→b, with the loaded ping riding along in the same direction.
  const tcpRuns: Array<[string, number, boolean, MetricKey]> = [
    ['tcp1_fwd', 1, false, 'tcp1_fwd_mbps'],
    ['tcp1_rev', 1, true, 'tcp1_rev_mbps'],
    ['tcp4_fwd', 4, false, 'tcp4_fwd_mbps'],
    ['tcp4_rev', 4, true, 'tcp4_rev_mbps'],
  ];
  for (const [name, streams, reverse, key] of tcpRuns) {
    const run = tcpRun(pair, { streams, reverse, seconds: s.tcpSeconds });
    if (name === 'tcp1_fwd') {
      await sleep(300);
      const loaded = await pingRun(pair, Math.max(0.5, s.tcpSeconds - 0.8));
      raw.ping.load = loaded;
      f.ping_load_p50_ms = loaded.p50Ms;
      f.ping_load_p99_ms = loaded.p99Ms;
    }
    const r = await run;
    raw.tcp[name] = r;
    f[key] = r.bitsPerSecond / 1e6;
    log(`${name} ${(r.bitsPerSecond / 1e6).toFixed(0)} Mbit/s, daemons ${r.daemonCpuSeconds.toFixed(2)} CPU-s`);
  }
  if (idleMemory && peaks) {
    raw.memory = { idle: idleMemory, tcpPeak: { a: peaks.a.stop(), b: peaks.b.stop() } };
    f.rss_idle_mb = Math.max(idleMemory.a.rssKb, idleMemory.b.rssKb) / 1024;
    f.rss_tcp_peak_mb = Math.max(raw.memory.tcpPeak.a.rssKb, raw.memory.tcpPeak.b.rssKb) / 1024;
    log(`RSS idle ${f.rss_idle_mb.toFixed(1)} MB, TCP peak ${f.rss_tcp_peak_mb.toFixed(1)} MB`);
  }
  const tcp = Object.values(raw.tcp);
  const bytes = tcp.reduce((sum, r) => sum + r.bytes, 0);
  const cpu = tcp.reduce((sum, r) => sum + r.daemonCpuSeconds, 0);
  if (pair.config !== 'veth') f.cpu_s_per_gb = cpu / (bytes / 1e9);
  log(`ping idle p50 ${idle.p50Ms} ms, loaded p50 ${f.ping_load_p50_ms} ms p99 ${f.ping_load_p99_ms} ms`);

  for (const [name, payload] of Object.entries(UDP_PAYLOADS) as Array<[keyof typeof UDP_PAYLOADS, number]>) {
    const search = await udpSearch(pair, { payload, seconds: s.udpSeconds, maxSteps: s.udpSteps });
    raw.udp[name] = search;
    f[`${name}_kpps`] = search.reported.receivedPps / 1e3;
    f[`${name}_mbps`] = search.reported.receivedMbps;
    f[`${name}_loss`] = search.reported.lossPercent;
    f[`${name}_flat_out_kpps`] = search.runs[0]!.receivedPps / 1e3;
    log(
      `${name} ${(search.reported.receivedPps / 1e3).toFixed(1)} kpps received, loss ${search.reported.lossPercent.toFixed(2)}% (${search.runs.length} runs)`,
    );
  }

  // The handshake rate does not depend on how the veth segments bulk
  // traffic: measured on the plain topology only, to keep the suite short.
  if (pair.config !== 'veth' && pair.topology === 'veth') {
    try {
      const hs = await handshakeRun(pair, s.handshake);
      raw.handshake = hs;
      f.handshakes_per_s = hs.handshakesPerSecond;
      log(
        `handshakes ${hs.handshakesPerSecond.toFixed(0)}/s (${hs.responses} responses, ${hs.cookieReplies} cookie replies, ${hs.lost} lost)`,
      );
    } catch (err) {
      // Recorded as missing (no figure), with the reason in the raw results.
      raw.handshake = { error: (err as Error).message };
      log(`handshake measurement failed: ${(err as Error).message}`);
    }
  }
  return { figures: f, raw };
}
