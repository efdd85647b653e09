/**
 * The benchmark suite of issue 6: xdpwg ↔ xdpwg against wireguard-go ↔
 * wireguard-go, with the bare veth as the ceiling, every configuration
 * measured in the same run on the same machine, repetitions interleaved
 * (each repetition measures every configuration in turn, so a slow patch of
 * the machine hits all alike), medians reported, and the ratios
 * xdpwg / wireguard-go printed as the headline.
 *
 *   npm run bench                          (as root; 3 repetitions, < 10 min)
 *   node dist/bench/suite.js --quick       (1 repetition, 2 s runs)
 *   node dist/bench/suite.js --only xdpwg,veth
 *
 * What runs is whatever the tree holds: bin/xdpwg as built, with its own
 * defaults (workers, data path), and Debian's wireguard-go.
 *
 * Writes bench/results/latest.{json,md,svg}.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requireRoot, sh } from '../test/helpers/netns.js';
import { repoRoot } from '../test/helpers/tunnel-lab.js';
import { startIperfServer } from './suite/iperf.js';
import { measureOnce, type Repetition, type Settings } from './suite/measure.js';
import { goalsOf, markdownOf, mediansOf, ratiosOf, writeReport, type ConfigResult, type Machine, type SuiteReport } from './suite/report.js';
import { CONFIGS, setUpPair, type ConfigName, type Pair } from './suite/topology.js';

/** A command-line mistake: reported as one line, exit status 2. */
class UsageError extends Error {}

interface Options { quick: boolean; only: ConfigName[]; repetitions: number }

function parseOptions(argv: string[]): Options {
  let quick = false;
  let only: ConfigName[] = [...CONFIGS];
  let repetitions: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--only' || a.startsWith('--only=')) {
      const list = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i] ?? '';
      only = list.split(',').filter(Boolean).map((n) => {
        if (!(CONFIGS as readonly string[]).includes(n)) throw new UsageError(`--only: unknown configuration '${n}' (known: ${CONFIGS.join(', ')})`);
        return n as ConfigName;
      });
      if (only.length === 0) throw new UsageError('--only needs at least one configuration');
    } else if (a === '--repetitions') {
      repetitions = Number(argv[++i]);
      if (!Number.isInteger(repetitions) || repetitions < 1) throw new UsageError('--repetitions needs a positive integer');
    } else throw new UsageError(`unknown option ${a} (known: --quick, --only LIST, --repetitions N)`);
  }
  return { quick, only, repetitions: repetitions ?? (quick ? 1 : 3) };
}

function settingsFor(quick: boolean): Settings {
  return quick
    ? { tcpSeconds: 2, udpSeconds: 2, udpSteps: 2, pingSeconds: 1, handshake: { peers: 400, count: 2000, window: 96, timeoutMs: 8000 } }
    : { tcpSeconds: 3, udpSeconds: 3, udpSteps: 3, pingSeconds: 2, handshake: { peers: 500, count: 5000, window: 96, timeoutMs: 10000 } };
}

/** The 1-minute load average (/proc/loadavg, first field). */
function loadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

function machine(loadAtStart: number): Machine {
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown';
  const tryRun = (cmd: string, args: string[]): string => { try { return sh(cmd, args).trim(); } catch { return 'unknown'; } };
  const commit = tryRun('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']);
  const dirty = tryRun('git', ['-C', repoRoot, 'status', '--porcelain', '--untracked-files=no']) !== '';
  return {
    cpu, cores: os.cpus().length, kernel: os.release(), node: process.version,
    iperf3: tryRun('iperf3', ['--version']).split('\n')[0]!.replace(/\s*\(.*$/, ''),
    wireguardGo: tryRun('wireguard-go', ['--version']).replace(/^wireguard-go\s*/, '').split('\n')[0]!,
    xdpwgCommit: commit + (dirty ? ' (with uncommitted changes)' : ''),
    loadAverage: { atStart: loadAtStart, atEnd: loadAverage() },
  };
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  requireRoot();
  const started = performance.now();
  const loadAtStart = loadAverage();
  const settings = settingsFor(opts.quick);
  const log = (line: string): void => { process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`); };
  const pairs: Pair[] = [];
  const cleanup = (): void => { for (const p of pairs) p.lab.cleanup(); };
  process.on('SIGINT', () => { cleanup(); process.exit(130); });
  process.on('SIGTERM', () => { cleanup(); process.exit(143); });
  const reps = new Map<ConfigName, Repetition[]>(opts.only.map((c) => [c, []]));
  try {
    for (const config of opts.only) {
      log(`setting up ${config}`);
      const pair = await setUpPair(config);
      pairs.push(pair);
      await startIperfServer(pair);
    }
    for (let rep = 1; rep <= opts.repetitions; rep++) {
      for (const pair of pairs) {
        log(`repetition ${rep}/${opts.repetitions}: ${pair.config}`);
        reps.get(pair.config)!.push(await measureOnce(pair, settings, (l) => log(`  ${pair.config}: ${l}`)));
      }
    }
  } finally {
    cleanup();
  }
  const configs: SuiteReport['configs'] = {};
  for (const [name, list] of reps) configs[name] = { medians: mediansOf(list), repetitions: list } satisfies ConfigResult;
  const ratios = ratiosOf(configs);
  const report: SuiteReport = {
    date: new Date().toISOString(),
    machine: machine(loadAtStart),
    command: ['npm run bench', ...(process.argv.slice(2).length ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    settings: { ...settings, repetitions: opts.repetitions, configs: opts.only },
    totalSeconds: (performance.now() - started) / 1000,
    configs, ratios, goals: goalsOf(ratios, configs),
  };
  const dir = path.join(repoRoot, 'bench', 'results');
  writeReport(dir, report);
  process.stdout.write(markdownOf(report));
  process.stdout.write(`\nWrote ${path.relative(process.cwd(), dir) || dir}/latest.{json,md,svg}; suite took ${report.totalSeconds.toFixed(0)} s.\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`bench suite: ${err instanceof UsageError ? err.message : err.stack ?? err.message}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
});
