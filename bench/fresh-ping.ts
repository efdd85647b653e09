/**
 * How a fresh daemon's idle ping settles: the suite's first repetition
 * measures a daemon seconds old, whose JIT has not yet compiled the data
 * path, and one pair per configuration; this tool measures that case over
 * many fresh pairs, alternated, batch by batch.
 *
 *   node dist/bench/fresh-ping.js [--pairs 5] [--batches 3] [--topology veth|nic]
 *        [--wireguard-go PATH] [--variant NAME=SETTINGS]... [--no-wireguard-go]
 *
 * Per round, each configuration gets a pair of its own (the suite's
 * set-up: two namespaces over a veth, the handshake done by a first ping),
 * then `--batches` runs of 200 pings every 10 ms back to back. Per batch:
 * p50 and p99 (ms), and the minor page faults both daemons took meanwhile
 * (their runtime's compiler allocates as it works: a count that falls to
 * near zero says the JIT has settled). After the last batch, 5 s without
 * traffic (as the suite's idle memory sample: longer than xdpwg's 3 s before
 * its idle release), the larger of the two daemons' resident sets. Then the
 * medians over the pairs.
 *
 * `--variant fast=--interrupt-budget=2048` adds an xdpwg configuration whose
 * daemons start with those V8 flags on top of bin/xdpwg's own (through
 * XDPWG_V8_FLAGS, which bin/xdpwg applies before anything else loads;
 * flags V8 reads only at its own start-up have no effect there);
 * `--variant js=XDPWG_DATA_TRANSPORT=js` one whose daemons start with that
 * environment variable (an XDPWG_ setting). Space separates several of either.
 */
import { measureDefaults, requireRoot } from '../test/helpers/netns.js';
import { setUpPair, type ConfigName, type Pair, type TopologyName } from './suite/topology.js';
import { OptionReader } from './suite/options.js';
import { pingRun } from './suite/ping.js';
import { memoryOf } from './suite/memory.js';
import { minorFaultsOf } from './suite/cpu.js';
import { IDLE_SETTLE_MS } from './suite/measure.js';
import { sleep } from './suite/run.js';
import { median } from './suite/stats.js';

/** One batch: about 200 pings. */
const BATCH_SECONDS = 2;

interface Configuration {
  /** What the report calls it. */
  label: string;
  config: ConfigName;
  /** XDPWG_V8_FLAGS for its daemons ('' for none). */
  v8Flags: string;
  /** XDPWG_ environment settings for its daemons. */
  env: Record<string, string>;
}

interface Options {
  pairs: number;
  batches: number;
  topology: TopologyName;
  wireguardGo: string | null;
  variants: Array<{ name: string; settings: string; flags: string; env: Record<string, string> }>;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { pairs: 5, batches: 3, topology: 'veth', wireguardGo: 'wireguard-go', variants: [] };
  const count = (flag: string, v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer, not ${v}`);
    return n;
  };
  const args = new OptionReader(argv);
  for (let a = args.next(); a !== undefined; a = args.next()) {
    if (a === '--pairs') o.pairs = count(a, args.value(a));
    else if (a === '--batches') o.batches = count(a, args.value(a));
    else if (a === '--topology') o.topology = args.topology(a);
    else if (a === '--wireguard-go') o.wireguardGo = args.value(a);
    else if (a === '--no-wireguard-go') o.wireguardGo = null;
    else if (a === '--variant') o.variants.push(parseVariant(args.value(a)));
    else throw new Error(`unknown option ${a} (known: --pairs, --batches, --topology, --wireguard-go, --no-wireguard-go, --variant)`);
  }
  return o;
}

/** NAME=SETTINGS: V8 flags (`--…`) and XDPWG_ environment settings (`XDPWG_X=value`), space-separated. */
function parseVariant(v: string): Options['variants'][number] {
  const eq = v.indexOf('=');
  const settings = v.slice(eq + 1).trim();
  const words = settings.split(/\s+/).filter((w) => w !== '');
  const flags = words.filter((w) => w.startsWith('--'));
  const assignments = words.filter((w) => /^XDPWG_[A-Z0-9_]+=/.test(w));
  if (eq <= 0 || words.length === 0 || flags.length + assignments.length !== words.length)
    throw new Error(`--variant ${v}: expected NAME=SETTINGS (V8 flags or XDPWG_ settings), e.g. fast=--interrupt-budget=2048`);
  const env = Object.fromEntries(assignments.map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
  return { name: v.slice(0, eq), settings, flags: flags.join(' '), env };
}

/** Minor page faults of a daemon so far; an error naming it when it has exited. */
function minorFaults(pid: number): number {
  const n = minorFaultsOf(pid);
  if (n === undefined) throw new Error(`daemon ${pid} exited during the measurement`);
  return n;
}

interface Batch {
  p50: number;
  p99: number;
  faults: number;
}

interface PairResult {
  batches: Batch[];
  /** The larger daemon's resident set after IDLE_SETTLE_MS without traffic, MB. */
  idleRssMb: number;
}

/** One fresh pair of `c`: its batches of pings, then its idle memory. */
async function measurePair(c: Configuration, o: Options): Promise<PairResult> {
  // The daemons inherit this process's environment: set theirs for the set-up only.
  const settings: Record<string, string> = { XDPWG_V8_FLAGS: c.v8Flags, ...c.env };
  const before = Object.fromEntries(Object.keys(settings).map((k) => [k, process.env[k]]));
  Object.assign(process.env, settings);
  let pair: Pair;
  try {
    pair = await setUpPair(c.config, o.topology, o.wireguardGo ?? 'wireguard-go');
  } finally {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  try {
    const pids = [pair.a.proc!.pid!, pair.b.proc!.pid!];
    const faults = (): number => pids.reduce((sum, pid) => sum + minorFaults(pid), 0);
    const batches: Batch[] = [];
    for (let i = 0; i < o.batches; i++) {
      const f0 = faults();
      const r = await pingRun(pair, BATCH_SECONDS);
      if (r.received < r.sent / 2) throw new Error(`${c.label}: only ${r.received} of ${r.sent} pings answered`);
      batches.push({ p50: r.p50Ms, p99: r.p99Ms, faults: faults() - f0 });
    }
    await sleep(IDLE_SETTLE_MS);
    const idleRssMb = Math.max(...pids.map((pid) => memoryOf([pid]).rssKb)) / 1024;
    return { batches, idleRssMb };
  } finally {
    pair.lab.cleanup();
  }
}

async function main(): Promise<void> {
  requireRoot();
  measureDefaults();
  const o = parseOptions(process.argv.slice(2));
  const configs: Configuration[] = [
    { label: 'xdpwg', config: 'xdpwg', v8Flags: '', env: {} },
    ...o.variants.map((v) => ({ label: `xdpwg ${v.name} (${v.settings})`, config: 'xdpwg' as const, v8Flags: v.flags, env: v.env })),
    ...(o.wireguardGo ? [{ label: `wireguard-go (${o.wireguardGo})`, config: 'wireguard-go' as const, v8Flags: '', env: {} }] : []),
  ];
  const results = new Map<string, PairResult[]>(configs.map((c) => [c.label, []]));
  for (let round = 1; round <= o.pairs; round++) {
    for (const c of configs) {
      const r = await measurePair(c, o);
      results.get(c.label)!.push(r);
      const line = r.batches.map((b) => `${b.p50.toFixed(3)}/${b.p99.toFixed(3)} ms, ${b.faults} faults`).join('; ');
      process.stdout.write(`pair ${round}/${o.pairs} ${c.label}: ${line}; idle RSS ${r.idleRssMb.toFixed(1)} MB\n`);
    }
  }
  process.stdout.write(
    `\nMedians over ${o.pairs} fresh pairs on the ${o.topology} topology, batches of ${BATCH_SECONDS} s of pings every 10 ms:\n\n`,
  );
  const head = Array.from({ length: o.batches }, (_, i) => `batch ${i + 1} p50 / p99 ms (faults)`);
  process.stdout.write(`| configuration | ${head.join(' | ')} | idle RSS MB |\n|---|${head.map(() => '---|').join('')}---|\n`);
  for (const c of configs) {
    const pairs = results.get(c.label)!;
    const cells = head.map((_, i) => {
      const at = (k: keyof Batch): number => median(pairs.map((p) => p.batches[i]![k]));
      return `${at('p50').toFixed(3)} / ${at('p99').toFixed(3)} (${Math.round(at('faults'))})`;
    });
    process.stdout.write(`| ${c.label} | ${cells.join(' | ')} | ${median(pairs.map((p) => p.idleRssMb)).toFixed(1)} |\n`);
  }
}

main().catch((err: Error) => {
  process.stderr.write(`fresh-ping: ${err.message}\n`);
  process.exit(1);
});
