/**
 * The benchmark suite of issues 6 and 14: xdpwg ↔ xdpwg against wireguard-go
 * ↔ wireguard-go, with the bare veth as the ceiling, on two topologies (the
 * plain veth and a NIC-like veth, see suite/topology.ts), every
 * configuration measured in the same run on the same machine, repetitions
 * interleaved (each repetition measures every configuration in turn, so a
 * slow patch of the machine hits all alike), medians reported, and the ratios
 * xdpwg / wireguard-go printed as the headline.
 *
 *   npm run bench                                   (as root; 3 repetitions)
 *   npm run bench -- --wireguard-go PATH            (the reference build to compare with)
 *   node dist/bench/suite.js --quick                (1 repetition, 2 s runs)
 *   node dist/bench/suite.js --only xdpwg,veth --topologies nic
 *
 * What runs is whatever the tree holds: bin/xdpwg as built, with its own
 * defaults (workers, data path), and the reference wireguard-go: the build
 * given with --wireguard-go, else the one first in PATH. When the reference
 * is not Debian's package, Debian's package is measured too, on the plain
 * veth, so that the README can label both.
 *
 * Writes bench/results/latest.{json,md,svg} and latest-nic.svg.
 */
import { readFileSync, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { measureDefaults, requireRoot, sh } from '../test/helpers/netns.js';
import { repoRoot } from '../test/helpers/tunnel-lab.js';
import { startIperfServer } from './suite/iperf.js';
import { measureOnce, type Repetition, type Settings } from './suite/measure.js';
import { markdownOf, topologyResultOf, writeReport, type Machine, type SuiteReport } from './suite/report.js';
import { CONFIGS, DEBIAN_WIREGUARD_GO, setUpPair, TOPOLOGIES, type ConfigName, type Pair, type TopologyName } from './suite/topology.js';

/** A command-line mistake: reported as one line, exit status 2. */
class UsageError extends Error {}

interface Options {
  quick: boolean;
  only?: ConfigName[];
  topologies: TopologyName[];
  repetitions: number;
  wireguardGo: string;
}

/** A comma-separated list of known names. */
function listOption<T extends string>(option: string, value: string, known: readonly T[]): T[] {
  const list = value
    .split(',')
    .filter(Boolean)
    .map((n) => {
      if (!(known as readonly string[]).includes(n)) throw new UsageError(`${option}: unknown name '${n}' (known: ${known.join(', ')})`);
      return n as T;
    });
  if (list.length === 0) throw new UsageError(`${option} needs at least one name`);
  return list;
}

function parseOptions(argv: string[]): Options {
  let quick = false;
  let only: ConfigName[] | undefined;
  let topologies: TopologyName[] = [...TOPOLOGIES];
  let repetitions: number | undefined;
  let wireguardGo = 'wireguard-go';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [name, inline] =
      a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new UsageError(`${name} needs a value`);
      return v;
    };
    if (name === '--quick') quick = true;
    else if (name === '--only') only = listOption('--only', value(), CONFIGS);
    else if (name === '--topologies') topologies = listOption('--topologies', value(), TOPOLOGIES);
    else if (name === '--wireguard-go') wireguardGo = value();
    else if (name === '--repetitions') {
      repetitions = Number(value());
      if (!Number.isInteger(repetitions) || repetitions < 1) throw new UsageError('--repetitions needs a positive integer');
    } else
      throw new UsageError(`unknown option ${a} (known: --quick, --only LIST, --topologies LIST, --repetitions N, --wireguard-go PATH)`);
  }
  return { quick, only, topologies, repetitions: repetitions ?? (quick ? 1 : 3), wireguardGo };
}

/** The first line of `bin --version`, without the program name; a clear error when bin does not run. */
function versionOf(bin: string): string {
  let out: string;
  try {
    out = sh(bin, ['--version']);
  } catch (err) {
    throw new UsageError(`--wireguard-go: cannot run '${bin} --version': ${(err as Error).message.split('\n')[0]}`);
  }
  return out
    .split('\n')[0]!
    .replace(/^wireguard-go\s*/, '')
    .trim();
}

/** The executable bin names: itself when it has a slash, else its first match in PATH. */
function resolveExecutable(bin: string): string {
  if (bin.includes('/')) return realpathSync(path.resolve(bin));
  for (const dir of (process.env.PATH ?? '').split(':')) {
    try {
      return realpathSync(path.join(dir || '.', bin));
    } catch {
      /* not in this directory */
    }
  }
  throw new UsageError(`--wireguard-go: '${bin}' is not in PATH`);
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

function machine(loadAtStart: number, reference: Machine['wireguardGo'], debian: Machine['debianWireguardGo']): Machine {
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown';
  const tryRun = (cmd: string, args: string[]): string => {
    try {
      return sh(cmd, args).trim();
    } catch {
      return 'unknown';
    }
  };
  const commit = tryRun('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']);
  const dirty = tryRun('git', ['-C', repoRoot, 'status', '--porcelain', '--untracked-files=no']) !== '';
  return {
    cpu,
    cores: os.cpus().length,
    kernel: os.release(),
    node: process.version,
    iperf3: tryRun('iperf3', ['--version'])
      .split('\n')[0]!
      .replace(/\s*\(.*$/, ''),
    wireguardGo: reference,
    ...(debian ? { debianWireguardGo: debian } : {}),
    xdpwgCommit: commit + (dirty ? ' (with uncommitted changes)' : ''),
    loadAverage: { atStart: loadAtStart, atEnd: loadAverage() },
  };
}

/** The configurations measured on a topology: Debian's package only on the plain veth, and only when the reference is another build. */
function configsFor(topology: TopologyName, opts: Options, debianIsReference: boolean): ConfigName[] {
  const wanted = opts.only ?? CONFIGS.filter((c) => c !== 'debian-wireguard-go' || topology === 'veth');
  return wanted.filter((c) => c !== 'debian-wireguard-go' || !debianIsReference);
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  requireRoot();
  measureDefaults();
  const started = performance.now();
  const loadAtStart = loadAverage();
  const settings = settingsFor(opts.quick);
  const referencePath = resolveExecutable(opts.wireguardGo);
  const reference = { path: referencePath, version: versionOf(referencePath) };
  const debianIsReference = referencePath === realpathSync(DEBIAN_WIREGUARD_GO);
  const log = (line: string): void => {
    process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
  };
  log(`reference wireguard-go ${reference.version} (${reference.path})`);
  const pairs: Pair[] = [];
  const cleanup = (): void => {
    for (const p of pairs) p.lab.cleanup();
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  process.on('SIGTERM', () => {
    cleanup();
    process.exit(143);
  });
  const reps = new Map<TopologyName, Map<ConfigName, Repetition[]>>();
  try {
    for (const topology of opts.topologies) {
      const configs = configsFor(topology, opts, debianIsReference);
      reps.set(topology, new Map(configs.map((c) => [c, []])));
      for (const config of configs) {
        log(`setting up ${config} on the ${topology} topology`);
        const pair = await setUpPair(config, topology, referencePath);
        pairs.push(pair);
        await startIperfServer(pair);
      }
    }
    for (let rep = 1; rep <= opts.repetitions; rep++) {
      for (const pair of pairs) {
        const name = `${pair.topology}/${pair.config}`;
        log(`repetition ${rep}/${opts.repetitions}: ${name}`);
        reps
          .get(pair.topology)!
          .get(pair.config)!
          .push(await measureOnce(pair, settings, (l) => log(`  ${name}: ${l}`)));
      }
    }
  } finally {
    cleanup();
  }
  const topologies: SuiteReport['topologies'] = {};
  for (const [topology, byConfig] of reps) topologies[topology] = topologyResultOf(byConfig);
  const measuredDebian = [...reps.values()].some((m) => m.has('debian-wireguard-go'));
  const report: SuiteReport = {
    date: new Date().toISOString(),
    machine: machine(
      loadAtStart,
      reference,
      measuredDebian ? { path: DEBIAN_WIREGUARD_GO, version: versionOf(DEBIAN_WIREGUARD_GO) } : undefined,
    ),
    command: ['npm run bench', ...(process.argv.slice(2).length ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    settings: {
      ...settings,
      repetitions: opts.repetitions,
      configs: [...new Set([...reps.values()].flatMap((m) => [...m.keys()]))],
      topologies: opts.topologies,
    },
    totalSeconds: (performance.now() - started) / 1000,
    topologies,
  };
  const dir = path.join(repoRoot, 'bench', 'results');
  writeReport(dir, report);
  process.stdout.write(markdownOf(report));
  process.stdout.write(
    `\nWrote ${path.relative(process.cwd(), dir) || dir}/latest.{json,md,svg}; suite took ${report.totalSeconds.toFixed(0)} s.\n`,
  );
}

main().catch((err: Error) => {
  process.stderr.write(`bench suite: ${err instanceof UsageError ? err.message : (err.stack ?? err.message)}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
});
