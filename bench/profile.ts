/**
 * Where the time goes: one workload of the bench suite on one configuration,
 * with the CPU of every thread of both daemons (user and system seconds,
 * from /proc/PID/task/TID/stat), the whole machine's split (user, system,
 * softirq from /proc/stat: the veth and UDP work done outside any process),
 * and with --perf a `perf record` of both daemons and the symbols that
 * took the most samples. Issue 14's note quotes this tool's output for
 * every goal the suite shows unmet.
 *
 *   node dist/bench/profile.js --workload tcp [--config xdpwg|wireguard-go]
 *        [--topology veth|nic] [--seconds 10] [--perf] [--wireguard-go PATH]
 *        [--warm-up SECONDS]
 *
 * Workloads: tcp, tcp4 (4 streams), udp1420, udp64 (offered flat out),
 * ping (idle: every 10 ms, nothing else flowing), ping-load (ping under a TCP stream),
 * handshakes, idle (nothing sent: what the daemons cost at rest).
 * --warm-up runs a 4-stream TCP load first (not measured), as the suite's
 * later repetitions see the daemons: their JIT has compiled the data path.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { measureDefaults, requireRoot } from '../test/helpers/netns.js';
import { startIperfServer, tcpRun, udpRun } from './suite/iperf.js';
import { pingRun } from './suite/ping.js';
import { handshakeRun } from './suite/handshake.js';
import { UDP_PAYLOADS } from './suite/measure.js';
import { threadsOf, USER_HZ } from './suite/cpu.js';
import { setUpPair, type ConfigName, type Pair, type TopologyName } from './suite/topology.js';
import { OptionReader } from './suite/options.js';

const WORKLOADS = ['tcp', 'tcp4', 'udp1420', 'udp64', 'ping', 'ping-load', 'handshakes', 'idle'] as const;
type Workload = (typeof WORKLOADS)[number];

interface Options {
  workload: Workload;
  config: ConfigName;
  topology: TopologyName;
  seconds: number;
  perf: boolean;
  wireguardGo: string;
  warmUpSeconds: number;
}

function parseOptions(argv: string[]): Options {
  const o: Options = {
    workload: 'tcp',
    config: 'xdpwg',
    topology: 'veth',
    seconds: 10,
    perf: false,
    wireguardGo: 'wireguard-go',
    warmUpSeconds: 0,
  };
  const args = new OptionReader(argv);
  for (let a = args.next(); a !== undefined; a = args.next()) {
    if (a === '--workload') {
      const w = args.value(a);
      if (!(WORKLOADS as readonly string[]).includes(w)) throw new Error(`--workload: one of ${WORKLOADS.join(', ')}`);
      o.workload = w as Workload;
    } else if (a === '--config') {
      const c = args.value(a);
      if (c !== 'xdpwg' && c !== 'wireguard-go') throw new Error('--config: xdpwg or wireguard-go');
      o.config = c;
    } else if (a === '--topology') o.topology = args.topology(a);
    else if (a === '--seconds') {
      o.seconds = Number(args.value(a));
      if (!(o.seconds >= 1)) throw new Error('--seconds: at least 1');
    } else if (a === '--perf') o.perf = true;
    else if (a === '--wireguard-go') o.wireguardGo = args.value(a);
    else if (a === '--warm-up') {
      o.warmUpSeconds = Number(args.value(a));
      if (!(o.warmUpSeconds >= 0)) throw new Error('--warm-up: seconds, at least 0');
    } else throw new Error(`unknown option ${a}`);
  }
  return o;
}

/** The machine's CPU split (ticks) from the first line of /proc/stat. */
function machineTicks(): { user: number; sys: number; softirq: number; idle: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { user: f[0]! + f[1]!, sys: f[2]!, idle: f[3]! + f[4]!, softirq: f[6]! + f[5]! };
}

async function runWorkload(pair: Pair, o: Options): Promise<string> {
  switch (o.workload) {
    case 'tcp':
    case 'tcp4': {
      const r = await tcpRun(pair, { streams: o.workload === 'tcp' ? 1 : 4, reverse: false, seconds: o.seconds });
      return `${(r.bitsPerSecond / 1e6).toFixed(0)} Mbit/s, ${(r.daemonCpuSeconds / (r.bytes / 1e9)).toFixed(2)} daemon CPU-s per GB`;
    }
    case 'udp1420':
    case 'udp64': {
      const r = await udpRun(pair, { payload: UDP_PAYLOADS[o.workload], offeredPps: Infinity, seconds: o.seconds });
      return `${(r.receivedPps / 1e3).toFixed(1)} kpps received, loss ${r.lossPercent.toFixed(2)}%`;
    }
    case 'ping': {
      const ping = await pingRun(pair, o.seconds);
      return `idle ping p50 ${ping.p50Ms} ms p99 ${ping.p99Ms} ms (${ping.received}/${ping.sent} replies)`;
    }
    case 'idle':
      await new Promise((r) => setTimeout(r, o.seconds * 1000));
      return 'nothing sent';
    case 'ping-load': {
      const tcp = tcpRun(pair, { streams: 1, reverse: false, seconds: o.seconds });
      const ping = await pingRun(pair, Math.max(1, o.seconds - 1));
      const r = await tcp;
      return `ping p50 ${ping.p50Ms} ms p99 ${ping.p99Ms} ms under ${(r.bitsPerSecond / 1e6).toFixed(0)} Mbit/s`;
    }
    case 'handshakes': {
      const r = await handshakeRun(pair, { peers: 500, count: Math.max(2000, o.seconds * 1500), window: 96, timeoutMs: 10_000 });
      return `${r.handshakesPerSecond.toFixed(0)} handshakes/s (${r.responses} responses, ${r.cookieReplies} cookie replies, ${r.lost} lost)`;
    }
  }
}

/** `perf record` of the given pids for `seconds`; resolves with perf's report, top symbols. */
function perfRecord(pids: number[], seconds: number): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'xdpwg-perf-'));
  const data = path.join(dir, 'perf.data');
  return new Promise((resolve) => {
    const child = spawn('perf', ['record', '-q', '-F', '999', '-g', '-o', data, '-p', pids.join(','), '--', 'sleep', String(seconds)], {
      stdio: 'ignore',
    });
    child.on('close', () => {
      let report: string;
      try {
        report = execFileSync(
          'perf',
          ['report', '-i', data, '--stdio', '--no-children', '--sort', 'comm,dso,sym', '-g', 'none', '--percent-limit', '0.8'],
          { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] },
        );
      } catch (err) {
        report = `perf report failed: ${(err as Error).message}`;
      }
      rmSync(dir, { recursive: true, force: true });
      resolve(
        report
          .split('\n')
          .filter((l) => l.trim() !== '' && !l.startsWith('#'))
          .join('\n'),
      );
    });
  });
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  requireRoot();
  measureDefaults();
  const pair = await setUpPair(o.config, o.topology, o.wireguardGo);
  const server = o.warmUpSeconds > 0 || !['handshakes', 'ping', 'idle'].includes(o.workload) ? await startIperfServer(pair) : undefined;
  if (o.warmUpSeconds > 0) await tcpRun(pair, { streams: 4, reverse: false, seconds: o.warmUpSeconds });
  try {
    const sides = [
      ['a (sender)', pair.a.proc!.pid!],
      ['b (receiver)', pair.b.proc!.pid!],
    ] as const;
    const before = sides.map(([, pid]) => threadsOf(pid));
    const machineBefore = machineTicks();
    const perf = o.perf ? perfRecord(pair.daemonPids(), o.seconds) : undefined;
    const outcome = await runWorkload(pair, o);
    const machineAfter = machineTicks();
    const after = sides.map(([, pid]) => threadsOf(pid));
    console.log(`${o.config} on the ${o.topology} topology, ${o.workload} for ${o.seconds} s: ${outcome}`);
    const total = (k: 'user' | 'sys' | 'softirq' | 'idle'): number => machineAfter[k] - machineBefore[k];
    const all = total('user') + total('sys') + total('softirq') + total('idle');
    console.log(
      `machine: user ${((100 * total('user')) / all).toFixed(0)}%, system ${((100 * total('sys')) / all).toFixed(0)}%, softirq ${((100 * total('softirq')) / all).toFixed(0)}%, idle ${((100 * total('idle')) / all).toFixed(0)}% of ${os.cpus().length} cores`,
    );
    sides.forEach(([label], i) => {
      const rows: Array<[string, number, number]> = [];
      // One row per thread (Node names its worker threads 'node' too): the main thread is the one whose id is the pid.
      const pid = sides[i]![1];
      for (const [tid, t] of after[i]!) {
        const b = before[i]!.get(tid);
        const u = t.user - (b?.user ?? 0),
          s = t.sys - (b?.sys ?? 0);
        if (u + s > 0) rows.push([tid === pid ? `${t.name} (main)` : `${t.name} ${tid}`, u / USER_HZ, s / USER_HZ]);
      }
      rows.sort((x, y) => y[1] + y[2] - (x[1] + x[2]));
      const [tu, ts] = rows.reduce(([u, s], r) => [u + r[1], s + r[2]], [0, 0]);
      console.log(`${label}: ${tu.toFixed(2)} user + ${ts.toFixed(2)} sys CPU-s`);
      for (const [name, u, s] of rows) console.log(`  ${name.padEnd(22)} ${u.toFixed(2).padStart(6)} user ${s.toFixed(2).padStart(6)} sys`);
    });
    if (perf) console.log(`perf (both daemons, samples by thread, object, symbol):\n${await perf}`);
  } finally {
    server?.kill('SIGKILL');
    pair.lab.cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`profile: ${(err as Error).message}\n`);
  process.exit(1);
});
