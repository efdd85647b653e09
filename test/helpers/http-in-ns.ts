/**
 * One HTTP request made from inside a network namespace (a daemon's metrics
 * endpoint listens on the namespace's own addresses): a short Node script
 * run with `ip netns exec`, so the tests need no curl.
 */
import { nsExec } from './netns.js';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const SCRIPT = `
const [method, url] = process.argv.slice(1);
fetch(url, { method, signal: AbortSignal.timeout(5000) }).then(async (r) => {
  process.stdout.write(JSON.stringify({ status: r.status, headers: Object.fromEntries(r.headers), body: await r.text() }));
}, (e) => { process.stderr.write(String(e && e.cause ? e.cause : e)); process.exit(2); });`;

export function httpInNs(ns: string, method: string, url: string): HttpAnswer {
  return JSON.parse(nsExec(ns, process.execPath, ['-e', SCRIPT, method, url], { timeoutMs: 10_000 })) as HttpAnswer;
}

/** One sample of the Prometheus text format: name, labels, value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text exposition format's sample lines (comments skipped; label values unescaped). */
export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample with this name whose labels include `match`; throws when not exactly one. */
export function sampleValue(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  const hits = samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
  if (hits.length !== 1) throw new Error(`${hits.length} samples of ${name} match ${JSON.stringify(match)}`);
  return hits[0]!.value;
}
