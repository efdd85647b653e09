/**
 * `npm run bench:scale`: how an interface scales with its number of peers.
 * For each N, a fresh daemon in its own namespace gets N peers (each one
 * /32 and one /128, random keys) through Debian's `wg setconf`, and we print:
 *
 *   setconf   wall time of `wg setconf` (the whole apply, as a user waits for it)
 *   dump      wall time of `wg show IF dump` (every peer back)
 *   rss       the daemon's VmRSS after the apply (MB)
 *   B/peer    (rss(N) − rss(0)) / N
 *   idle cpu  the daemon's CPU use over IDLE_SECONDS with nothing happening (% of one core)
 *
 * Usage: node dist/bench/scale.js [--wireguard-go PATH] [--sizes 0,1000,10000,60000,200000,1000000]
 *        [--go-sizes 0,1000,10000,60000] [--idle-seconds 5] [--json FILE]
 *        [--sessions 1000 --sessions-of 100000 --keepalive 25]
 * With --sessions K, one more xdpwg run: --sessions-of N peers configured, K of
 * them scripted peers in a second namespace (bench/handshake-flood.ts peers)
 * that handshake, echo once and answer the echo's reply with a keepalive, as
 * a real peer would, with a persistent keepalive of --keepalive s on the
 * daemon's side; then the daemon's idle CPU with those K live sessions, over
 * at least one keepalive interval and 5 s more (a shorter window would leave
 * out some sessions' keepalives), --idle-seconds if that is longer.
 * wireguard-go runs only with --wireguard-go (Debian's /usr/bin/wireguard-go is fine), for --go-sizes.
 * --sizes none skips the table above.
 *
 * With --tunnel N (e.g. 200000): does the data path or the handshake grow
 * with the peer count? Two xdpwg pairs side by side (bench/suite's
 * measurements: iperf3 TCP a→b, ping every 10 ms, the handshake generator
 * against b), one pair with no other peers, one whose daemons both hold N
 * more random peers (a /32 and a /128 each). Each of --tunnel-reps
 * repetitions (default 3) measures both pairs in turn, so load from
 * elsewhere on the machine falls on both; medians are printed, and the
 * ratio N : 0 of each figure.
 *
 * --one-peer CONFIGS (e.g. w1-off,w2-off,w2-auto) runs bench/crypto-crew.ts
 * after the rest: one peer's receive and send capacity with 1 and 2 workers,
 * the machine's cores in use beside each. --active-peers QUEUES (e.g. 2,1)
 * runs bench/active-peers.ts: 1,000 peers with sessions sending at once.
 * Both print as they go; they are their own commands too.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Lab, nsExec, measureDefaults, requireRoot } from '../test/helpers/netns.js';
import { genKeys, startImplementation, type Side } from '../test/helpers/tunnel-lab.js';
import { runBench } from '../test/netns/reliability-fixture.js';
import { generateKeyPair } from '../src/crypto/x25519.js';
import { keyToBase64 } from '../src/crypto/encoding.js';
import type { PeersResult } from './handshake-flood.js';
import { twoSides, configureInterface, addPeer } from '../test/helpers/tunnel-lab.js';
import { waitFor } from '../test/helpers/netns.js';
import { startIperfServer, tcpRun } from './suite/iperf.js';
import { pingRun } from './suite/ping.js';
import { handshakeRun } from './suite/handshake.js';
import { processTree } from './suite/cpu.js';
import { median } from './suite/stats.js';
import type { Pair } from './suite/topology.js';

interface Row {
  impl: string;
  n: number;
  sessions?: number;
  setconfMs: number;
  dumpMs: number;
  dumpLines: number;
  rssMb: number;
  bytesPerPeer: number;
  idleCpuPct: number;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const sizesArg = arg('--sizes') ?? '0,1000,10000,60000,200000,1000000';
const sizes = sizesArg === 'none' ? [] : sizesArg.split(',').map(Number);
const goSizes = (arg('--go-sizes') ?? '0,1000,10000,60000').split(',').map(Number);
const goBin = arg('--wireguard-go');
const idleSeconds = Number(arg('--idle-seconds') ?? 5);
const jsonOut = arg('--json');
const USER_HZ = 100;

/** N peers' config text: random public keys, 10.x.y.z/32 and fd00::x/128 each. */
function config(privateKey: string, n: number): string {
  return `[Interface]\nPrivateKey = ${privateKey}\nListenPort = 51999\n` + randomPeers(n);
}

/** N [Peer] sections: random public keys, 10.x.y.z/32 and fd00::x/128 each (x < 16 for N ≤ 1,048,576). */
function randomPeers(n: number): string {
  const parts: string[] = [];
  const keys = randomBytes(32 * n);
  for (let i = 0; i < n; i++) {
    const k = keys.subarray(i * 32, i * 32 + 32).toString('base64');
    const a = i + 1;
    parts.push(
      `[Peer]\nPublicKey = ${k}\nAllowedIPs = 10.${(a >> 16) & 255}.${(a >> 8) & 255}.${a & 255}/32, fd00::${(a >> 16).toString(16)}:${(a & 0xffff).toString(16)}/128\n`,
    );
  }
  return parts.join('');
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** utime + stime of the process (all threads), in clock ticks. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** The daemon's pid: the process in the namespace that holds the UAPI socket's name in its command line. */
function daemonPid(side: Side): number {
  const pids = execFileSync('ip', ['netns', 'pids', side.ns]).toString().split(/\s+/).filter(Boolean).map(Number);
  for (const p of pids) {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.includes(side.ifname)) return p;
    } catch {
      /* gone */
    }
  }
  throw new Error(`no daemon for ${side.ifname} in ${side.ns}`);
}

async function measure(impl: 'xdpwg' | 'wireguard-go', n: number, rss0: number | undefined): Promise<Row> {
  const lab = new Lab('scb');
  try {
    const ns = lab.ns('a');
    const side: Side = {
      ns,
      impl,
      ifname: 'scbwg0',
      keys: genKeys(),
      port: 51999,
      log: [],
      outer4: '',
      outer6: '',
      inner4: '',
      inner6: '',
      bin: impl === 'wireguard-go' ? goBin : undefined,
    };
    await startImplementation(lab, side, { LOG_LEVEL: 'error' });
    const pid = daemonPid(side);
    const file = `/tmp/xdpwg-${ns}-scale.conf`;
    writeFileSync(file, config(side.keys.privateKey, n), { mode: 0o600 });
    let t0 = performance.now();
    nsExec(ns, 'wg', ['setconf', side.ifname, file], { timeoutMs: 600_000 });
    const setconfMs = performance.now() - t0;
    rmSync(file, { force: true });
    t0 = performance.now();
    const dump = execFileSync('ip', ['netns', 'exec', ns, 'wg', 'show', side.ifname, 'dump'], { maxBuffer: 1 << 30 }).toString();
    const dumpMs = performance.now() - t0;
    const dumpLines = dump.split('\n').filter(Boolean).length - 1;
    if (dumpLines !== n) throw new Error(`${impl}: dump listed ${dumpLines} peers, configured ${n}`);
    // Let the apply's garbage go before reading RSS (both runtimes collect lazily).
    await new Promise((r) => setTimeout(r, 1500));
    const rss = rssMb(pid);
    const c0 = cpuTicks(pid);
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const idleCpuPct = ((cpuTicks(pid) - c0) / USER_HZ / idleSeconds) * 100;
    const bytesPerPeer = n > 0 && rss0 !== undefined ? ((rss - rss0) * 1024 * 1024) / n : 0;
    return { impl, n, setconfMs, dumpMs, dumpLines, rssMb: rss, bytesPerPeer, idleCpuPct };
  } finally {
    lab.cleanup();
  }
}

/** The sessions run's idle window: one keepalive interval and 5 s more (every session's keepalive falls in it), or --idle-seconds. */
function sessionIdleSeconds(keepalive: number): number {
  return Math.max(idleSeconds, keepalive + 5);
}

/**
 * N peers, K of them live (scripted initiators in namespace g, one echo each),
 * every one of the K with a persistent keepalive: the idle CPU that costs.
 */
async function measureSessions(n: number, k: number, keepalive: number, rss0: number | undefined): Promise<Row> {
  const lab = new Lab('scs');
  try {
    const ns = lab.ns('a');
    const g = lab.ns('g');
    lab.veth({ ns, dev: 'scsva', addrs: ['10.219.9.1/24'] }, { ns: g, dev: 'scsvg', addrs: ['10.219.9.2/24'] });
    const side: Side = {
      ns,
      impl: 'xdpwg',
      ifname: 'scswg0',
      keys: genKeys(),
      port: 51997,
      log: [],
      outer4: '10.219.9.1',
      outer6: '',
      inner4: '10.219.0.1',
      inner6: '',
    };
    await startImplementation(lab, side, { LOG_LEVEL: 'error' });
    const pid = daemonPid(side);
    const live = Array.from({ length: k }, () => generateKeyPair());
    const inner = (i: number): string => `10.${220 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
    const parts = [`[Interface]\nPrivateKey = ${side.keys.privateKey}\nListenPort = ${side.port}\n`];
    const raw = randomBytes(32 * n);
    for (let i = 0; i < n; i++) {
      const key = i < k ? keyToBase64(live[i]!.publicKey) : raw.subarray(i * 32, i * 32 + 32).toString('base64');
      parts.push(`[Peer]\nPublicKey = ${key}\nAllowedIPs = ${inner(i + 1)}/32\n${i < k ? `PersistentKeepalive = ${keepalive}\n` : ''}`);
    }
    const file = `/tmp/xdpwg-${ns}-scale.conf`;
    writeFileSync(file, parts.join(''), { mode: 0o600 });
    let t0 = performance.now();
    nsExec(ns, 'wg', ['setconf', side.ifname, file], { timeoutMs: 600_000 });
    const setconfMs = performance.now() - t0;
    rmSync(file, { force: true });
    nsExec(ns, 'ip', ['addr', 'add', `${side.inner4}/8`, 'dev', side.ifname]);
    nsExec(ns, 'ip', ['link', 'set', side.ifname, 'up']);
    const keysFile = `/tmp/xdpwg-${g}-keys.json`;
    writeFileSync(keysFile, JSON.stringify(live.map((p) => keyToBase64(p.privateKey))), { mode: 0o600 });
    const result = await runBench<PeersResult>(
      g,
      'handshake-flood',
      [
        'peers',
        '--target',
        `${side.outer4}:${side.port}`,
        '--responder-public',
        side.keys.publicKey,
        '--keys',
        keysFile,
        '--inner',
        live.map((_, i) => inner(i + 1)).join(','),
        '--ping',
        side.inner4,
        '--from',
        '10.219.9.2',
        '--retry-ms',
        '2000',
        '--timeout-ms',
        '60000',
      ],
      120_000,
    );
    if (result.completed !== k) throw new Error(`only ${result.completed} of ${k} scripted peers completed a handshake`);
    t0 = performance.now();
    const dump = execFileSync('ip', ['netns', 'exec', ns, 'wg', 'show', side.ifname, 'dump'], { maxBuffer: 1 << 30 }).toString();
    const dumpMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 1500));
    const rss = rssMb(pid);
    const c0 = cpuTicks(pid);
    const window = sessionIdleSeconds(keepalive);
    await new Promise((r) => setTimeout(r, window * 1000));
    const idleCpuPct = ((cpuTicks(pid) - c0) / USER_HZ / window) * 100;
    return {
      impl: 'xdpwg',
      n,
      sessions: k,
      setconfMs,
      dumpMs,
      dumpLines: dump.split('\n').filter(Boolean).length - 1,
      rssMb: rss,
      bytesPerPeer: rss0 !== undefined ? ((rss - rss0) * 1024 * 1024) / n : 0,
      idleCpuPct,
    };
  } finally {
    lab.cleanup();
  }
}

/** One of --tunnel's pairs: a bench/suite Pair of two xdpwg daemons on a veth, each with `extra` more random peers. */
async function tunnelPair(prefix: string, subnet: number, extra: number): Promise<Pair> {
  const lab = new Lab(prefix);
  try {
    const { a, b } = twoSides(lab, 'xdpwg', 'xdpwg', subnet);
    for (const side of [a, b]) await startImplementation(lab, side, { LOG_LEVEL: 'error' });
    configureInterface(a);
    configureInterface(b);
    if (extra > 0) {
      const file = `/tmp/xdpwg-${lab.prefix}-extra.conf`;
      writeFileSync(file, randomPeers(extra), { mode: 0o600 });
      try {
        for (const side of [a, b]) nsExec(side.ns, 'wg', ['addconf', side.ifname, file], { timeoutMs: 600_000 });
      } finally {
        rmSync(file, { force: true });
      }
    }
    addPeer(a, b, { outer: 4 });
    addPeer(b, a, { outer: 4 });
    await waitFor(
      `a first ping through ${a.ifname}`,
      () => {
        try {
          nsExec(a.ns, 'ping', ['-c', '1', '-W', '1', b.inner4]);
          return true;
        } catch {
          return false;
        }
      },
      15_000,
      200,
    );
    return {
      config: 'xdpwg',
      topology: 'veth',
      lab,
      a,
      b,
      target: b.inner4,
      daemonPids: () => [a.proc!, b.proc!].flatMap((p) => (p.pid === undefined ? [] : processTree(p.pid))),
    };
  } catch (err) {
    lab.cleanup();
    throw err;
  }
}

/** A figure with `digits` decimals; "n/a" when there is none (no ping reply, no handshake answered). */
function fix(x: number | null | undefined, digits: number): string {
  return typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
}

interface TunnelFigures {
  tcpMbps: number;
  cpuSPerGb: number;
  pingP50Ms: number;
  pingP99Ms: number;
  handshakesPerS: number;
}

/** --tunnel N: the data path and the handshake rate with N more peers against none (see the top of this file). */
async function measureTunnel(n: number, reps: number, seconds: number): Promise<Record<string, unknown>> {
  const pairs: Pair[] = [];
  try {
    pairs.push(await tunnelPair('sct0', 241, 0));
    pairs.push(await tunnelPair('sctn', 242, n));
    for (const p of pairs) await startIperfServer(p);
    const got: TunnelFigures[][] = [[], []];
    for (let r = 0; r < reps; r++) {
      for (let i = 0; i < pairs.length; i++) {
        const p = pairs[i]!;
        const tcp = await tcpRun(p, { streams: 1, reverse: false, seconds });
        const ping = await pingRun(p, 2);
        const hs = await handshakeRun(p, { peers: 500, count: 5000, window: 96, timeoutMs: 10_000 });
        const f: TunnelFigures = {
          tcpMbps: tcp.bitsPerSecond / 1e6,
          cpuSPerGb: tcp.daemonCpuSeconds / (tcp.bytes / 1e9),
          pingP50Ms: ping.p50Ms,
          pingP99Ms: ping.p99Ms,
          handshakesPerS: hs.handshakesPerSecond,
        };
        got[i]!.push(f);
        process.stdout.write(
          `  rep ${r + 1} ${String(i === 0 ? 0 : n).padStart(8)} peers: TCP ${fix(f.tcpMbps, 0)} Mbit/s (${fix(f.cpuSPerGb, 2)} CPU-s/GB)  ping p50 ${fix(f.pingP50Ms, 3)} p99 ${fix(f.pingP99Ms, 3)} ms (${ping.received}/${ping.sent})  ${fix(f.handshakesPerS, 0)} handshakes/s (${hs.responses}/${hs.sent}, ${hs.cookieReplies} cookie replies, ${hs.lost} lost)\n`,
        );
      }
    }
    const med = (i: number, k: keyof TunnelFigures): number => median(got[i]!.map((f) => f[k]));
    const keys: Array<[keyof TunnelFigures, string]> = [
      ['tcpMbps', 'TCP 1 stream a→b, Mbit/s'],
      ['cpuSPerGb', 'daemons CPU-s per GB'],
      ['pingP50Ms', 'ping p50, ms'],
      ['pingP99Ms', 'ping p99, ms'],
      ['handshakesPerS', 'handshakes/s (responder)'],
    ];
    process.stdout.write(`medians of ${reps}          0 peers  ${String(n).padStart(8)} peers   ratio\n`);
    const out: Record<string, unknown> = { n, reps, seconds, runs: got };
    for (const [k, label] of keys) {
      const z = med(0, k),
        m = med(1, k);
      const digits = k === 'tcpMbps' || k === 'handshakesPerS' ? 0 : k === 'cpuSPerGb' ? 2 : 3;
      process.stdout.write(
        `${label.padEnd(28)} ${fix(z, digits).padStart(9)}  ${fix(m, digits).padStart(14)}  ${fix(m / z, 2).padStart(6)}\n`,
      );
      out[k] = { zero: z, n: m, ratio: m / z };
    }
    return out;
  } finally {
    for (const p of pairs) p.lab.cleanup();
  }
}

async function main(): Promise<void> {
  requireRoot();
  measureDefaults();
  const rows: Row[] = [];
  const print = (r: Row): void => {
    process.stdout.write(
      `${r.impl.padEnd(13)} ${String(r.n).padStart(8)}  setconf ${(r.setconfMs / 1000).toFixed(2).padStart(7)} s  dump ${(r.dumpMs / 1000).toFixed(2).padStart(6)} s  rss ${r.rssMb.toFixed(0).padStart(5)} MB  ${r.bytesPerPeer.toFixed(0).padStart(6)} B/peer  idle cpu ${r.idleCpuPct.toFixed(1)} %\n`,
    );
  };
  const impls: Array<['xdpwg' | 'wireguard-go', number[]]> = [['xdpwg', sizes]];
  if (goBin) impls.push(['wireguard-go', goSizes]);
  for (const [impl, ns] of impls) {
    let rss0: number | undefined;
    for (const n of ns) {
      const r = await measure(impl, n, rss0);
      if (n === 0) rss0 = r.rssMb;
      rows.push(r);
      print(r);
    }
  }
  const sessions = Number(arg('--sessions') ?? 0);
  const keepalive = Number(arg('--keepalive') ?? 25);
  if (sessions > 0) {
    const r = await measureSessions(
      Number(arg('--sessions-of') ?? 100_000),
      sessions,
      keepalive,
      rows.find((x) => x.impl === 'xdpwg' && x.n === 0)?.rssMb,
    );
    rows.push(r);
    process.stdout.write(`with ${sessions} live sessions (keepalive ${keepalive} s; idle over ${sessionIdleSeconds(keepalive)} s): `);
    print(r);
  }
  const tunnelN = arg('--tunnel');
  let tunnel: Record<string, unknown> | undefined;
  if (tunnelN !== undefined) {
    process.stdout.write(`one tunnel, 0 and ${tunnelN} other peers configured on both daemons:\n`);
    tunnel = await measureTunnel(Number(tunnelN), Number(arg('--tunnel-reps') ?? 3), Number(arg('--tunnel-seconds') ?? 3));
  }
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(tunnel ? { rows, tunnel } : rows, null, 2));
  const onePeer = arg('--one-peer');
  if (onePeer !== undefined) runSection('one peer on several workers', 'crypto-crew.js', ['--configs', onePeer]);
  const active = arg('--active-peers');
  if (active !== undefined) runSection('many active peers', 'active-peers.js', ['--queues', active]);
}

/** Runs another bench of this directory as a section of this one (its output passes through; a failure fails this run). */
function runSection(title: string, script: string, args: string[]): void {
  process.stdout.write(`${title} (bench/${script.replace(/\.js$/, '.ts')} ${args.join(' ')}):\n`);
  execFileSync(process.execPath, [new URL(`./${script}`, import.meta.url).pathname, ...args], { stdio: 'inherit' });
}

await main();
