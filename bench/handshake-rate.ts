/**
 * The suite's handshake figure alone (bench/suite/handshake.ts, the same
 * generator and settings as `npm run bench`), xdpwg against a wireguard-go
 * build, repetitions interleaved, medians printed — plus where the
 * responder's CPU went: per thread of its process (/proc/PID/task/TID/stat),
 * so a handshake's cost shows up split over the main thread and the others.
 *
 *   node dist/bench/handshake-rate.js [--wireguard-go PATH] [--repetitions N] [--count N] [--cpu-prof DIR]
 *        [--only xdpwg,wireguard-go] [--xdpwg BIN]
 *
 * --xdpwg BIN runs another build's launcher (e.g. a copy of an older
 * checkout's bin/, dist/ and build/) as the xdpwg side, for A/B runs of two
 * builds alternated invocation by invocation.
 *
 * --cpu-prof DIR starts the xdpwg daemons under `node --cpu-prof` (which
 * NODE_OPTIONS may not carry): profiles of their main threads and workers
 * land in DIR when they exit.
 * Needs root; run it under /tmp/xdpwg-netns.lock like any netns test.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { measureDefaults, requireRoot } from '../test/helpers/netns.js';
import { xdpwgBin } from '../test/helpers/tunnel-lab.js';
import { dropDelta, statsOf } from '../test/netns/reliability-fixture.js';
import { handshakeRun } from './suite/handshake.js';
import { threadsOf, USER_HZ } from './suite/cpu.js';
import { setUpPair, type ConfigName, type Pair } from './suite/topology.js';

interface Options {
  wireguardGo: string;
  repetitions: number;
  count: number;
  cpuProf?: string;
  only: ConfigName[];
  xdpwg?: string;
}

function parse(argv: string[]): Options {
  const o: Options = { wireguardGo: 'wireguard-go', repetitions: 3, count: 5000, only: ['xdpwg', 'wireguard-go'] };
  for (let i = 0; i < argv.length; i++) {
    const v = (): string => {
      const x = argv[++i];
      if (!x) throw new Error(`${argv[i - 1]} needs a value`);
      return x;
    };
    switch (argv[i]) {
      case '--wireguard-go':
        o.wireguardGo = v();
        break;
      case '--repetitions':
        o.repetitions = Number(v());
        break;
      case '--count':
        o.count = Number(v());
        break;
      case '--cpu-prof':
        o.cpuProf = v();
        break;
      case '--only':
        o.only = v().split(',') as ConfigName[];
        break;
      case '--xdpwg':
        o.xdpwg = v();
        break;
      default:
        throw new Error(
          `unknown option ${argv[i]} (known: --wireguard-go PATH, --repetitions N, --count N, --cpu-prof DIR, --only xdpwg,wireguard-go, --xdpwg BIN)`,
        );
    }
  }
  return o;
}

/** A script that runs bin/xdpwg under `node --cpu-prof --cpu-prof-dir=dir`. */
function profilingWrapper(dir: string, bin = xdpwgBin): string {
  mkdirSync(dir, { recursive: true });
  const wrapper = path.join(dir, 'xdpwg-profiled');
  writeFileSync(wrapper, `#!/bin/sh\nexec ${process.execPath} --cpu-prof --cpu-prof-dir=${dir} ${bin} "$@"\n`, { mode: 0o755 });
  return wrapper;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  requireRoot();
  measureDefaults();
  const pairs: Pair[] = [];
  const cleanup = (): void => {
    for (const p of pairs) p.lab.cleanup();
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  const rates = new Map<ConfigName, number[]>();
  try {
    for (const config of o.only) {
      pairs.push(await setUpPair(config, 'veth', o.wireguardGo, o.cpuProf ? profilingWrapper(o.cpuProf, o.xdpwg) : o.xdpwg));
      rates.set(config, []);
    }
    for (let rep = 1; rep <= o.repetitions; rep++) {
      for (const pair of pairs) {
        const pid = pair.b.proc!.pid!;
        const before = threadsOf(pid);
        const drops0 = pair.config === 'xdpwg' ? statsOf(pair.b).drops : {};
        const r = await handshakeRun(pair, { peers: 500, count: o.count, window: 96, timeoutMs: 20_000 });
        const after = threadsOf(pid);
        const drops = pair.config === 'xdpwg' ? dropDelta(drops0, statsOf(pair.b).drops) : {};
        rates.get(pair.config)!.push(r.handshakesPerSecond);
        const threads = [...after]
          .map(([tid, t]) => ({
            tid,
            name: t.name,
            s: (t.user + t.sys - (before.get(tid)?.user ?? 0) - (before.get(tid)?.sys ?? 0)) / USER_HZ,
          }))
          .filter((t) => t.s > 0)
          .sort((x, y) => y.s - x.s);
        const total = threads.reduce((a, t) => a + t.s, 0);
        process.stderr.write(
          `${pair.config} rep ${rep}: ${r.handshakesPerSecond.toFixed(0)}/s (${r.responses} responses, ${r.cookieReplies} cookie replies, ${r.lost} lost, ${r.elapsedMs.toFixed(0)} ms); ` +
            `responder CPU ${total.toFixed(2)} s = ${((total / r.responses) * 1e6).toFixed(0)} µs/handshake; threads: ` +
            (Object.keys(drops).length ? `drops ${JSON.stringify(drops)}; ` : '') +
            threads.map((t) => `${t.tid === pid ? 'main' : `${t.name}#${t.tid - pid}`}:${t.s.toFixed(2)}`).join(' ') +
            '\n',
        );
      }
    }
    // --cpu-prof writes its profiles when the process exits on its own: SIGTERM, not the lab's SIGKILL.
    if (o.cpuProf)
      await Promise.all(
        pairs.map(
          (p) =>
            new Promise((resolve) => {
              p.b.proc!.once('exit', resolve);
              p.b.proc!.kill('SIGTERM');
            }),
        ),
      );
  } finally {
    cleanup();
  }
  const x = rates.get('xdpwg'),
    g = rates.get('wireguard-go');
  for (const [config, rs] of rates)
    process.stdout.write(`${config}: median ${median(rs).toFixed(0)}/s of [${rs.map((r) => r.toFixed(0)).join(', ')}]\n`);
  if (x && g) process.stdout.write(`ratio xdpwg / wireguard-go: ${(median(x) / median(g)).toFixed(2)}×\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`handshake-rate: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
