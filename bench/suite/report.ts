/**
 * The suite's outputs: bench/results/latest.json (every raw figure),
 * latest.md (per topology, the median table with the ratios xdpwg /
 * wireguard-go for each wireguard-go build measured) and latest.svg,
 * latest-nic.svg (bar charts drawn here as plain SVG text, one group of bars
 * per figure, each group on its own scale). Nothing here measures: it only
 * formats what the suite measured.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { METRICS, type MetricKey, type Repetition, type Settings } from './measure.js';
import { median } from './stats.js';
import { TOPOLOGY_LABELS, type ConfigName, type TopologyName } from './topology.js';

/** Where and on what the suite ran. */
export interface Machine {
  cpu: string;
  cores: number;
  kernel: string;
  node: string;
  iperf3: string;
  xdpwgCommit: string;
  /** The reference wireguard-go: its path and what its `--version` says. */
  wireguardGo: { path: string; version: string };
  /** Debian's packaged wireguard-go, when it was measured beside the reference. */
  debianWireguardGo?: { path: string; version: string };
  /** 1-minute load average when the suite started and when it ended: other work on the machine shows here. */
  loadAverage: { atStart: number; atEnd: number };
}

/** One configuration's repetitions and their medians. */
export interface ConfigResult {
  medians: Partial<Record<MetricKey, number>>;
  repetitions: Repetition[];
}

/** A goal of issue 19, checked against the medians: a ratio to the reference wireguard-go, or an absolute figure. */
export interface Goal {
  /** floor: no figure may be worse than the reference; stretch: the project's aim; memory: absolute bounds. */
  kind: 'floor' | 'stretch' | 'memory';
  text: string;
  /** The ratio (×) or, for memory goals, the figure in MB. */
  measured: number;
  unit: '×' | 'MB';
  met: boolean;
}

/** The wireguard-go builds xdpwg is compared with. */
export type Reference = 'wireguard-go' | 'debian-wireguard-go';
export const REFERENCES: readonly Reference[] = ['wireguard-go', 'debian-wireguard-go'];

/** Everything measured on one topology. */
export interface TopologyResult {
  configs: Partial<Record<ConfigName, ConfigResult>>;
  /** xdpwg median / reference median, per reference and per figure both have. */
  ratios: Partial<Record<Reference, Partial<Record<MetricKey, number>>>>;
  /** The goals, against the reference wireguard-go. */
  goals: Goal[];
}

/** The whole run, as written to latest.json. */
export interface SuiteReport {
  date: string;
  machine: Machine;
  command: string;
  settings: Settings & { repetitions: number; configs: ConfigName[]; topologies: TopologyName[] };
  totalSeconds: number;
  topologies: Partial<Record<TopologyName, TopologyResult>>;
}

/**
 * Medians across repetitions, figure by figure. One pair serves every
 * repetition, so only the first repetition's idle RSS is a fresh daemon's:
 * rss_idle_mb is that one, and the later ones (after the earlier
 * repetitions' traffic) are rss_idle_after_mb.
 */
export function mediansOf(reps: readonly Repetition[]): Partial<Record<MetricKey, number>> {
  const out: Partial<Record<MetricKey, number>> = {};
  const valuesOf = (key: MetricKey): Array<number | undefined> => {
    if (key === 'rss_idle_mb') return reps.slice(0, 1).map((r) => r.figures.rss_idle_mb);
    if (key === 'rss_idle_after_mb') return reps.slice(1).map((r) => r.figures.rss_idle_mb);
    return reps.map((r) => r.figures[key]);
  };
  for (const key of Object.keys(METRICS) as MetricKey[]) {
    const values = valuesOf(key).filter((v): v is number => v !== undefined);
    if (values.length > 0) out[key] = median(values);
  }
  return out;
}

/** xdpwg / reference for every figure both configurations measured. */
function ratiosAgainst(configs: TopologyResult['configs'], reference: Reference): Partial<Record<MetricKey, number>> | undefined {
  const x = configs.xdpwg?.medians;
  const g = configs[reference]?.medians;
  if (!x || !g) return undefined;
  const out: Partial<Record<MetricKey, number>> = {};
  for (const key of Object.keys(METRICS) as MetricKey[]) {
    // A ratio of loss percentages near zero says nothing; loss is shown as measured.
    if (key.endsWith('_loss')) continue;
    const a = x[key];
    const b = g[key];
    if (a !== undefined && b !== undefined && b !== 0) out[key] = a / b;
  }
  return out;
}

/**
 * The goals of issue 19 (absent where a side was not measured). The floor: a
 * user comparing the two must never find wireguard-go better on any of these.
 */
function goalsOf(ratios: Partial<Record<MetricKey, number>>, configs: TopologyResult['configs']): Goal[] {
  const goals: Goal[] = [];
  const add = (kind: Goal['kind'], text: string, measured: number | undefined, met: (r: number) => boolean): void => {
    if (measured !== undefined && Number.isFinite(measured))
      goals.push({ kind, text, measured, unit: kind === 'memory' ? 'MB' : '×', met: met(measured) });
  };
  const atLeast = (x: number) => (r: number) => r >= x;
  const atMost = (x: number) => (r: number) => r <= x;
  const lossUnder1 = (key: 'udp1420_loss' | 'udp64_loss'): boolean => (configs.xdpwg?.medians[key] ?? 100) < 1;
  for (const key of ['tcp1_fwd_mbps', 'tcp1_rev_mbps', 'tcp4_fwd_mbps', 'tcp4_rev_mbps', 'handshakes_per_s'] as const)
    add('floor', `${METRICS[key].label} ≥ 1.0×`, ratios[key], atLeast(1));
  for (const key of ['cpu_s_per_gb', 'ping_idle_p50_ms', 'ping_idle_p99_ms', 'ping_load_p50_ms', 'ping_load_p99_ms'] as const)
    add('floor', `${METRICS[key].label} ≤ 1.0×`, ratios[key], atMost(1));
  add('stretch', 'TCP 1 stream a→b ≥ 1.5×', ratios.tcp1_fwd_mbps, atLeast(1.5));
  add('stretch', 'Daemon CPU per GB ≤ 0.67×', ratios.cpu_s_per_gb, atMost(0.67));
  add('stretch', 'UDP 1420 B received pps ≥ 3×, loss < 1%', ratios.udp1420_kpps, (r) => r >= 3 && lossUnder1('udp1420_loss'));
  add('stretch', 'UDP 64 B received pps ≥ 3×, loss < 1%', ratios.udp64_kpps, (r) => r >= 3 && lossUnder1('udp64_loss'));
  add('stretch', 'Handshakes/s ≥ 1.5×', ratios.handshakes_per_s, atLeast(1.5));
  add('stretch', 'Idle ping p99 ≤ 1.0×', ratios.ping_idle_p99_ms, atMost(1));
  add('stretch', 'Ping under TCP load p99 ≤ 0.5×', ratios.ping_load_p99_ms, atMost(0.5));
  add('memory', 'xdpwg RSS idle (fresh daemons) ≤ 80 MB', configs.xdpwg?.medians.rss_idle_mb, atMost(80));
  add('memory', 'xdpwg RSS during the TCP runs ≤ 120 MB', configs.xdpwg?.medians.rss_tcp_peak_mb, atMost(120));
  return goals;
}

/** Medians, ratios and goals of one topology's repetitions. */
export function topologyResultOf(reps: ReadonlyMap<ConfigName, Repetition[]>): TopologyResult {
  const configs: TopologyResult['configs'] = {};
  for (const [name, list] of reps) configs[name] = { medians: mediansOf(list), repetitions: list };
  const ratios: TopologyResult['ratios'] = {};
  for (const ref of REFERENCES) {
    const r = ratiosAgainst(configs, ref);
    if (r) ratios[ref] = r;
  }
  return { configs, ratios, goals: ratios['wireguard-go'] ? goalsOf(ratios['wireguard-go'], configs) : [] };
}

const fmt = (v: number | undefined): string => {
  if (v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
};

/** A configuration's name in a report: the wireguard-go builds with their versions. */
function columnOf(r: SuiteReport, name: ConfigName): string {
  if (name === 'wireguard-go') return `wireguard-go ${r.machine.wireguardGo.version}`;
  if (name === 'debian-wireguard-go') return `wireguard-go ${r.machine.debianWireguardGo?.version ?? '?'} (Debian)`;
  return name === 'veth' ? 'bare veth' : name;
}

/** The headline figures, in order. */
const HEADLINE: Array<[MetricKey, string]> = [
  ['tcp1_fwd_mbps', 'TCP 1 stream'],
  ['tcp4_fwd_mbps', 'TCP 4 streams'],
  ['cpu_s_per_gb', 'CPU per GB'],
  ['udp1420_kpps', 'UDP 1420 B pps'],
  ['udp64_kpps', 'UDP 64 B pps'],
  ['ping_idle_p50_ms', 'idle ping p50'],
  ['ping_idle_p99_ms', 'idle ping p99'],
  ['ping_load_p99_ms', 'loaded ping p99'],
  ['handshakes_per_s', 'handshakes/s'],
];

/** The markdown report: provenance, then per topology the headline, the median table and the goals. */
export function markdownOf(r: SuiteReport): string {
  const m = r.machine;
  const debian = m.debianWireguardGo ? `; Debian's wireguard-go ${m.debianWireguardGo.version} (${m.debianWireguardGo.path})` : '';
  const lines = [
    `Measured ${r.date} on ${m.cpu} (${m.cores} cores), Linux ${m.kernel}, Node ${m.node}, ${m.iperf3}, xdpwg ${m.xdpwgCommit}; reference wireguard-go ${m.wireguardGo.version} (${m.wireguardGo.path})${debian}.`,
    `Command: \`${r.command}\` — medians of ${r.settings.repetitions} repetition(s), TCP runs ${r.settings.tcpSeconds} s, UDP runs ${r.settings.udpSeconds} s; whole suite ${r.totalSeconds.toFixed(0)} s; load average ${m.loadAverage.atStart.toFixed(2)} at the start, ${m.loadAverage.atEnd.toFixed(2)} at the end.`,
  ];
  for (const [topology, t] of Object.entries(r.topologies) as Array<[TopologyName, TopologyResult]>) {
    const names = Object.keys(t.configs) as ConfigName[];
    const refs = REFERENCES.filter((ref) => t.ratios[ref] !== undefined);
    lines.push('', `### ${TOPOLOGY_LABELS[topology]}`, '');
    for (const ref of refs) {
      const parts = HEADLINE.filter(([k]) => t.ratios[ref]![k] !== undefined).map(([k, label]) => `${label} ${fmt(t.ratios[ref]![k])}×`);
      lines.push(`**xdpwg / ${columnOf(r, ref)}:** ${parts.join(', ')}.`, '');
    }
    lines.push(
      `| Figure | ${names.map((n) => columnOf(r, n)).join(' | ')}${refs.map((ref) => ` | xdpwg / ${columnOf(r, ref)}`).join('')} |`,
      `|---|${names.map(() => '---:').join('|')}|${refs.map(() => '---:|').join('')}`,
    );
    for (const [key, metric] of Object.entries(METRICS) as Array<[MetricKey, (typeof METRICS)[MetricKey]]>) {
      const cells = names.map((n) => fmt(t.configs[n]?.medians[key]));
      if (cells.every((c) => c === '–')) continue;
      const ratios = refs.map((ref) => ` | ${t.ratios[ref]![key] !== undefined ? fmt(t.ratios[ref]![key]) + '×' : '–'}`).join('');
      lines.push(`| ${metric.label} (${metric.unit}, ${metric.better} is better) | ${cells.join(' | ')}${ratios} |`);
    }
    if (t.goals.length > 0) {
      lines.push('', `Goals of issue 19 (ratios: xdpwg / ${columnOf(r, 'wireguard-go')}):`, '');
      for (const g of t.goals)
        lines.push(`- ${g.kind}, ${g.met ? 'met' : 'NOT met'}: ${g.text} — measured ${fmt(g.measured)}${g.unit === '×' ? '×' : ' MB'}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** Figures drawn in the chart. */
const CHARTED: MetricKey[] = [
  'tcp1_fwd_mbps',
  'tcp1_rev_mbps',
  'tcp4_fwd_mbps',
  'tcp4_rev_mbps',
  'udp1420_kpps',
  'udp64_kpps',
  'handshakes_per_s',
  'cpu_s_per_gb',
  'ping_idle_p50_ms',
  'ping_load_p50_ms',
];
const COLOURS: Record<ConfigName, string> = {
  xdpwg: '#d9480f',
  'wireguard-go': '#1c7ed6',
  'debian-wireguard-go': '#74c0fc',
  veth: '#adb5bd',
};

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * A horizontal bar chart of one topology: one group per figure, one bar per
 * tunnel, each group scaled to its own largest tunnel value, with the ratio
 * xdpwg / reference wireguard-go at the right. The bare veth is an order of
 * magnitude faster than either tunnel, so it is printed as a number beside
 * the label (the ceiling) instead of a bar that would flatten the others.
 */
export function svgOf(r: SuiteReport, topology: TopologyName): string {
  const t = r.topologies[topology]!;
  const names = Object.keys(t.configs) as ConfigName[];
  const tunnels = names.filter((n) => n !== 'veth');
  const barred = tunnels.length > 0 ? tunnels : names;
  const showCeiling = tunnels.length > 0 && names.includes('veth');
  const ratios = t.ratios['wireguard-go'];
  const bar = 16;
  const gap = 16;
  const labelW = 330;
  const plotW = 430;
  const width = labelW + plotW + 160;
  const groups = CHARTED.filter((k) => barred.some((n) => t.configs[n]?.medians[k] !== undefined));
  const groupH = barred.length * bar + gap;
  const top = 78;
  const height = top + groups.length * groupH + 24;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${esc(TOPOLOGY_LABELS[topology].replace(/ \(.*$/, ''))} — medians of ${r.settings.repetitions} repetition(s), ${esc(r.date.slice(0, 10))}</text>`,
  ];
  barred.forEach((n, i) => {
    const x = 10 + i * 280;
    out.push(`<rect x="${x}" y="50" width="12" height="12" fill="${COLOURS[n]}"/><text x="${x + 17}" y="60">${esc(columnOf(r, n))}</text>`);
  });
  if (ratios) out.push(`<text x="${labelW + plotW + 50}" y="${top - 4}" font-weight="bold">xdpwg / wg-go</text>`);
  groups.forEach((key, gi) => {
    const m = METRICS[key];
    const y0 = top + gi * groupH;
    const values = barred.map((n) => t.configs[n]?.medians[key]);
    const max = Math.max(...values.filter((v): v is number => v !== undefined && Number.isFinite(v)), 1e-9);
    const mid = y0 + (barred.length * bar) / 2;
    out.push(`<text x="10" y="${mid}">${esc(`${m.label} (${m.unit}${m.better === 'lower' ? ', lower is better' : ''})`)}</text>`);
    const ceiling = showCeiling ? t.configs.veth?.medians[key] : undefined;
    if (ceiling !== undefined) out.push(`<text x="10" y="${mid + 14}" font-size="10" fill="#666">bare veth: ${esc(fmt(ceiling))}</text>`);
    barred.forEach((n, i) => {
      const v = values[i];
      const y = y0 + i * bar;
      const w = v !== undefined && Number.isFinite(v) ? Math.max(1, (v / max) * plotW) : 0;
      out.push(`<rect x="${labelW}" y="${y + 1}" width="${w.toFixed(1)}" height="${bar - 2}" fill="${COLOURS[n]}"/>`);
      out.push(`<text x="${(labelW + w + 4).toFixed(1)}" y="${y + bar - 4}" font-size="11">${esc(fmt(v))}</text>`);
    });
    const ratio = ratios?.[key];
    if (ratio !== undefined) out.push(`<text x="${labelW + plotW + 50}" y="${mid + 4}" font-weight="bold">${esc(fmt(ratio))}×</text>`);
  });
  out.push(
    `<text x="10" y="${height - 8}" font-size="10" fill="#666">${esc(`${r.machine.cpu}, ${r.machine.cores} cores, Linux ${r.machine.kernel} — ${r.command}`)}</text>`,
  );
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Writes latest.json, latest.md and one chart per topology (latest.svg for the plain veth, latest-nic.svg) into dir. */
export function writeReport(dir: string, r: SuiteReport): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'latest.json'), JSON.stringify(r, null, 2) + '\n');
  writeFileSync(path.join(dir, 'latest.md'), markdownOf(r));
  for (const topology of Object.keys(r.topologies) as TopologyName[]) {
    writeFileSync(path.join(dir, topology === 'veth' ? 'latest.svg' : `latest-${topology}.svg`), svgOf(r, topology));
  }
}
