/**
 * The suite's outputs: bench/results/latest.json (every raw figure),
 * latest.md (the median table with the ratios xdpwg / wireguard-go) and
 * latest.svg (a bar chart drawn here as plain SVG text, one group of bars
 * per figure, each group on its own scale). Nothing here measures: it only
 * formats what the suite measured.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { METRICS, type MetricKey, type Repetition, type Settings } from './measure.js';
import { median } from './stats.js';
import type { ConfigName } from './topology.js';

/** Where and on what the suite ran. */
export interface Machine {
  cpu: string; cores: number; kernel: string; node: string; iperf3: string; wireguardGo: string; xdpwgCommit: string;
  /** 1-minute load average when the suite started and when it ended: other work on the machine shows here. */
  loadAverage: { atStart: number; atEnd: number };
}

/** One configuration's repetitions and their medians. */
export interface ConfigResult { medians: Partial<Record<MetricKey, number>>; repetitions: Repetition[] }

/** A goal of issue 6, checked against the medians. */
export interface Goal { text: string; ratio: number; met: boolean }

/** The whole run, as written to latest.json. */
export interface SuiteReport {
  date: string;
  machine: Machine;
  command: string;
  settings: Settings & { repetitions: number; configs: ConfigName[] };
  totalSeconds: number;
  configs: Partial<Record<ConfigName, ConfigResult>>;
  /** xdpwg median / wireguard-go median, per figure both have. */
  ratios: Partial<Record<MetricKey, number>>;
  goals: Goal[];
}

/** Medians across repetitions, figure by figure. */
export function mediansOf(reps: readonly Repetition[]): Partial<Record<MetricKey, number>> {
  const out: Partial<Record<MetricKey, number>> = {};
  for (const key of Object.keys(METRICS) as MetricKey[]) {
    const values = reps.map((r) => r.figures[key]).filter((v): v is number => v !== undefined);
    if (values.length > 0) out[key] = median(values);
  }
  return out;
}

/** xdpwg / wireguard-go for every figure both configurations measured. */
export function ratiosOf(configs: SuiteReport['configs']): Partial<Record<MetricKey, number>> {
  const x = configs.xdpwg?.medians;
  const g = configs['wireguard-go']?.medians;
  const out: Partial<Record<MetricKey, number>> = {};
  if (!x || !g) return out;
  for (const key of Object.keys(METRICS) as MetricKey[]) {
    // A ratio of loss percentages near zero says nothing; loss is shown as measured.
    if (key.endsWith('_loss')) continue;
    const a = x[key];
    const b = g[key];
    if (a !== undefined && b !== undefined && b !== 0) out[key] = a / b;
  }
  return out;
}

/** The goals of issue 6 against the measured ratios (absent when a side was not measured). */
export function goalsOf(ratios: Partial<Record<MetricKey, number>>, configs: SuiteReport['configs']): Goal[] {
  const goals: Goal[] = [];
  const add = (text: string, ratio: number | undefined, met: (r: number) => boolean): void => {
    if (ratio !== undefined && Number.isFinite(ratio)) goals.push({ text, ratio, met: met(ratio) });
  };
  add('TCP single stream a→b ≥ 3× wireguard-go', ratios.tcp1_fwd_mbps, (r) => r >= 3);
  add('CPU per GB ≤ 1/3 of wireguard-go', ratios.cpu_s_per_gb, (r) => r <= 1 / 3);
  add('Idle ping p50 no worse than wireguard-go', ratios.ping_idle_p50_ms, (r) => r <= 1);
  const lossOk = (configs.xdpwg?.medians.udp1420_loss ?? 100) < 1;
  add('UDP 1420 B received pps ≥ 3× wireguard-go, loss < 1%', ratios.udp1420_kpps, (r) => r >= 3 && lossOk);
  return goals;
}

const fmt = (v: number | undefined): string => {
  if (v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
};

/** The markdown report: provenance, the median table, the goals. */
export function markdownOf(r: SuiteReport): string {
  const names = Object.keys(r.configs) as ConfigName[];
  const both = names.includes('xdpwg') && names.includes('wireguard-go');
  const lines = [
    `Measured ${r.date} on ${r.machine.cpu} (${r.machine.cores} cores), Linux ${r.machine.kernel}, Node ${r.machine.node}, ${r.machine.iperf3}, wireguard-go ${r.machine.wireguardGo}, xdpwg ${r.machine.xdpwgCommit}.`,
    `Command: \`${r.command}\` — medians of ${r.settings.repetitions} repetition(s), TCP runs ${r.settings.tcpSeconds} s, UDP runs ${r.settings.udpSeconds} s; whole suite ${r.totalSeconds.toFixed(0)} s; load average ${r.machine.loadAverage.atStart.toFixed(2)} at the start, ${r.machine.loadAverage.atEnd.toFixed(2)} at the end.`,
    '',
    `| Figure | ${names.join(' | ')}${both ? ' | xdpwg / wireguard-go' : ''} |`,
    `|---|${names.map(() => '---:').join('|')}|${both ? '---:|' : ''}`,
  ];
  for (const [key, m] of Object.entries(METRICS) as Array<[MetricKey, (typeof METRICS)[MetricKey]]>) {
    const cells = names.map((n) => fmt(r.configs[n]?.medians[key]));
    if (cells.every((c) => c === '–')) continue;
    const ratio = both ? ` | ${r.ratios[key] !== undefined ? fmt(r.ratios[key]) + '×' : '–'}` : '';
    lines.push(`| ${m.label} (${m.unit}, ${m.better} is better) | ${cells.join(' | ')}${ratio} |`);
  }
  if (both) {
    const headline: Array<[MetricKey, string]> = [
      ['tcp1_fwd_mbps', 'TCP 1 stream'], ['tcp4_fwd_mbps', 'TCP 4 streams'], ['cpu_s_per_gb', 'CPU per GB'],
      ['udp1420_kpps', 'UDP 1420 B pps'], ['udp64_kpps', 'UDP 64 B pps'], ['ping_idle_p50_ms', 'idle ping p50'], ['handshakes_per_s', 'handshakes/s'],
    ];
    const parts = headline.filter(([k]) => r.ratios[k] !== undefined).map(([k, label]) => `${label} ${fmt(r.ratios[k])}×`);
    lines.splice(2, 0, '', `**Headline, xdpwg / wireguard-go:** ${parts.join(', ')}.`);
  }
  if (r.goals.length > 0) {
    lines.push('', 'Goals of issue 6 (xdpwg / wireguard-go):', '');
    for (const g of r.goals) lines.push(`- ${g.met ? 'met' : 'NOT met'}: ${g.text} — measured ${fmt(g.ratio)}×`);
  }
  return lines.join('\n') + '\n';
}

/** Figures drawn in the chart. */
const CHARTED: MetricKey[] = ['tcp1_fwd_mbps', 'tcp1_rev_mbps', 'tcp4_fwd_mbps', 'tcp4_rev_mbps', 'udp1420_kpps', 'udp64_kpps', 'handshakes_per_s', 'cpu_s_per_gb', 'ping_idle_p50_ms', 'ping_load_p50_ms'];
const COLOURS: Record<ConfigName, string> = { xdpwg: '#d9480f', 'wireguard-go': '#1c7ed6', veth: '#adb5bd' };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * A horizontal bar chart: one group per figure, one bar per tunnel, each
 * group scaled to its own largest tunnel value, with the ratio
 * xdpwg / wireguard-go at the right. The bare veth is an order of magnitude
 * faster than either tunnel, so it is printed as a number beside the label
 * (the ceiling) instead of a bar that would flatten the others.
 */
export function svgOf(r: SuiteReport): string {
  const names = Object.keys(r.configs) as ConfigName[];
  const tunnels = names.filter((n) => n !== 'veth');
  const barred = tunnels.length > 0 ? tunnels : names;
  const showCeiling = tunnels.length > 0 && names.includes('veth');
  const bar = 16;
  const gap = 16;
  const labelW = 330;
  const plotW = 430;
  const width = labelW + plotW + 160;
  const groups = CHARTED.filter((k) => barred.some((n) => r.configs[n]?.medians[k] !== undefined));
  const groupH = barred.length * bar + gap;
  const top = 60;
  const height = top + groups.length * groupH + 24;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${esc(barred.join(' vs '))} — medians of ${r.settings.repetitions} repetition(s), ${esc(r.date.slice(0, 10))}</text>`,
  ];
  barred.forEach((n, i) => {
    const x = 10 + i * 150;
    out.push(`<rect x="${x}" y="34" width="12" height="12" fill="${COLOURS[n]}"/><text x="${x + 17}" y="44">${esc(n)}</text>`);
  });
  if (barred.includes('xdpwg') && barred.includes('wireguard-go')) out.push(`<text x="${labelW + plotW + 50}" y="44" font-weight="bold">xdpwg / wg-go</text>`);
  groups.forEach((key, gi) => {
    const m = METRICS[key];
    const y0 = top + gi * groupH;
    const values = barred.map((n) => r.configs[n]?.medians[key]);
    const max = Math.max(...values.filter((v): v is number => v !== undefined && Number.isFinite(v)), 1e-9);
    const mid = y0 + (barred.length * bar) / 2;
    out.push(`<text x="10" y="${mid}">${esc(`${m.label} (${m.unit}${m.better === 'lower' ? ', lower is better' : ''})`)}</text>`);
    const ceiling = showCeiling ? r.configs.veth?.medians[key] : undefined;
    if (ceiling !== undefined) out.push(`<text x="10" y="${mid + 14}" font-size="10" fill="#666">bare veth: ${esc(fmt(ceiling))}</text>`);
    barred.forEach((n, i) => {
      const v = values[i];
      const y = y0 + i * bar;
      const w = v !== undefined && Number.isFinite(v) ? Math.max(1, (v / max) * plotW) : 0;
      out.push(`<rect x="${labelW}" y="${y + 1}" width="${w.toFixed(1)}" height="${bar - 2}" fill="${COLOURS[n]}"/>`);
      out.push(`<text x="${(labelW + w + 4).toFixed(1)}" y="${y + bar - 4}" font-size="11">${esc(fmt(v))}</text>`);
    });
    const ratio = r.ratios[key];
    if (ratio !== undefined) out.push(`<text x="${labelW + plotW + 50}" y="${mid + 4}" font-weight="bold">${esc(fmt(ratio))}×</text>`);
  });
  out.push(`<text x="10" y="${height - 8}" font-size="10" fill="#666">${esc(`${r.machine.cpu}, ${r.machine.cores} cores, Linux ${r.machine.kernel} — ${r.command}`)}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Writes latest.json, latest.md and latest.svg into dir. */
export function writeReport(dir: string, r: SuiteReport): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'latest.json'), JSON.stringify(r, null, 2) + '\n');
  writeFileSync(path.join(dir, 'latest.md'), markdownOf(r));
  writeFileSync(path.join(dir, 'latest.svg'), svgOf(r));
}
