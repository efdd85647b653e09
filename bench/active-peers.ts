/**
 * Many active peers (issue 20): N peers with sessions, all sending at once,
 * through one xdpwg whose uplink has several rx queues. How many packets/s
 * get through at < 1% loss, how the workers share them, and whether any
 * peer starves (every peer should get close to its 1/N share).
 *
 *   node dist/bench/active-peers.js [--peers 1000] [--sockets 16] [--queues 2,1] [--workers 2]
 *        [--size 64] [--seconds 1.5] [--rate PPS [--repeat K]] [--cold-start] [--json FILE]
 *
 *   D (xdpwg, `--workers` workers) ══ veth, `--queues` rx/tx queues, native XDP ══ G (generator)
 *
 * bench/peers-gen.ts in G handshakes as N fresh peers (each with its own
 * /32 inner address on D) from `--sockets` UDP source ports (peer i from
 * port i mod S, so its endpoint is that port), and before each run seals
 * every peer's next messages (counters continue from run to run), round by
 * round: all peers send at once. bench/native/replay-gen (replay-socks)
 * replays them at a set rate from the S sockets; the S flows hash over
 * G's tx queues, which a veth maps one to one onto D's rx queues, and each
 * of D's rx queues is one worker's AF_XDP socket.
 *
 * Delivered = the peers' accepted messages (xdpwg stats, per peer
 * rxPackets) less every drop after authentication; the inner packets go to
 * a blackhole route in D. Per worker: the packets its ports received
 * (stats byPath). Per peer: its delivered messages ÷ the messages it sent.
 * Capacity: a flat-out run gives an upper bound U; then 1.0, 0.9, … × U
 * until a run loses < 1%, or, when 1.0 × U already passes, 1.1, 1.2, … × U
 * while runs pass (with --rate: that one rate only). Beside each
 * figure the CPU in use (bench/replay-run.ts).
 *
 * Needs root; run it under /tmp/xdpwg-helper-tests.lock like a netns test.
 * Throws when the setup cannot run; namespaces and daemons go on any exit.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Lab, nsExec, requireRoot, waitFor } from '../test/helpers/netns.js';
import { repoRoot, xdpwgBin } from '../test/helpers/tunnel-lab.js';
import { datapathFile } from '../test/helpers/afxdp-lab.js';
import { childLines } from './generator-io.js';
import { replayRun, type ReplayRun } from './replay-run.js';
import { formatCpuUse } from './machine-cpu.js';
import { innerAddress, type PeersGenConfig } from './peers-gen.js';
import type { DeviceStats } from '../src/daemon/observe/device-stats.js';

interface Options {
  peers: number;
  sockets: number;
  queues: number[];
  workers: number;
  size: number;
  seconds: number;
  rate: number | undefined;
  /** With --rate: runs at that rate, one after another. */
  repeat: number;
  /** No slow confirming message per peer before the measured runs: the first run also confirms every session. */
  coldStart: boolean;
  json: string | undefined;
}

function parse(argv: string[]): Options {
  const o: Options = {
    peers: 1000,
    sockets: 16,
    queues: [2, 1],
    workers: 2,
    size: 64,
    seconds: 1.5,
    rate: undefined,
    repeat: 1,
    coldStart: false,
    json: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${argv[i - 1]} needs a value`);
      return x;
    };
    switch (argv[i]) {
      case '--peers':
        o.peers = Number(v());
        break;
      case '--sockets':
        o.sockets = Number(v());
        break;
      case '--queues':
        o.queues = v().split(',').map(Number);
        break;
      case '--workers':
        o.workers = Number(v());
        break;
      case '--size':
        o.size = Number(v());
        break;
      case '--seconds':
        o.seconds = Number(v());
        break;
      case '--rate':
        o.rate = Number(v());
        break;
      case '--repeat':
        o.repeat = Number(v());
        break;
      case '--cold-start':
        o.coldStart = true;
        break;
      case '--json':
        o.json = v();
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  if (!(o.peers >= 1 && o.peers <= 60_000)) throw new Error('--peers: 1 to 60000');
  if (!(o.sockets >= 1 && o.sockets <= 1024)) throw new Error('--sockets: 1 to 1024');
  if (!(o.size >= 28 && o.size <= 1420)) throw new Error('--size: 28 to 1420 (inner IPv4/UDP packet bytes)');
  return o;
}

const IF = 'apbw';
const D_OUTER = '10.244.0.1',
  G_OUTER = '10.244.0.2';
const D_INNER = '10.59.0.1',
  BLACKHOLE = '10.243.0.1';
const PORT = 51822,
  SRC_BASE = 42000;
/** Handshakes the generator keeps in flight: few enough that the responder is never under load (it would then rate-limit G's one address). */
const HANDSHAKE_WINDOW = 16;
/** Sessions are renewed before this age: D refuses a session's messages after 180 s (REJECT_AFTER_TIME). */
const SESSION_RENEW_MS = 100_000;

interface Snapshot {
  perPeer: Map<string, number>;
  perWorker: number[];
  workerCpu: number[];
  lost: number;
  /** Every drop reason (workers + main) and the AF_XDP sockets' kernel drops, by name. */
  drops: Map<string, number>;
}

function snapshot(st: DeviceStats): Snapshot {
  const perWorker: number[] = [];
  for (const w of st.byPath) perWorker[w.worker] = w.rx.afxdp.packets + w.rx.socket.packets;
  return {
    perPeer: new Map(st.peers.map((p) => [p.publicKey, p.rxPackets])),
    perWorker,
    workerCpu: st.workerCpuSeconds,
    lost: (st.drops['tun-write-failed'] ?? 0) + (st.drops['rx-allowed-ips'] ?? 0) + (st.drops['rx-bad-inner-packet'] ?? 0),
    drops: new Map([
      ...Object.entries(st.drops),
      ...st.ports.flatMap((p) =>
        ['kernel_rx_dropped', 'kernel_rx_ring_full', 'kernel_fill_ring_empty']
          .filter((k) => typeof p[k] === 'number')
          .map((k): [string, number] => [`w${p.worker} ${k}`, p[k] as number]),
      ),
    ]),
  };
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

interface Trial {
  offered: number;
  /** What replay-gen reached (below `offered` when the generator itself ran out of CPU). */
  sentPps: number;
  sent: number;
  pps: number;
  loss: number;
  perWorkerPackets: number[];
  /** Frames each rx queue of D's veth received (ethtool -S: what the hash gave each queue, before any worker). */
  perQueueFrames: number[];
  perWorkerCpuS: number[];
  /** Per peer: delivered ÷ sent, min / median / max, and how many peers got under half their share. */
  peerShare: { min: number; median: number; max: number; under50: number };
  perPeerDelivered: { min: number; median: number; max: number; expected: number };
  replay: ReplayRun;
  /** Drop counters that grew during the run. */
  drops: Record<string, number>;
}

function describe(t: Trial): string {
  const pct = (xs: number[], name: string): string => {
    const total = xs.reduce((a, b) => a + b, 0) || 1;
    return xs.map((p, w) => `${name}${w} ${((100 * p) / total).toFixed(1)}%`).join(' ');
  };
  const cpu = t.perWorkerCpuS.map((c, w) => `w${w} ${c.toFixed(2)}`).join(' ');
  const pp = t.perPeerDelivered;
  return (
    `offered ${t.offered || 'flat out'}, sent ${t.sentPps.toFixed(0)} -> ${t.pps.toFixed(0)} pps, loss ${(100 * t.loss).toFixed(2)}%; ` +
    `queues got ${pct(t.perQueueFrames, 'q')}, workers received ${pct(t.perWorkerPackets, 'w')} (worker CPU s ${cpu}); ` +
    `per peer delivered min/median/max ${pp.min}/${pp.median}/${pp.max} of ~${pp.expected} sent ` +
    `(share ${t.peerShare.min.toFixed(3)}/${t.peerShare.median.toFixed(3)}/${t.peerShare.max.toFixed(3)}, ${t.peerShare.under50} under half); ` +
    `machine ${formatCpuUse(t.replay.machine)}, daemon ${t.replay.daemonCores.toFixed(2)}, generator ${t.replay.generatorCores.toFixed(2)}, other processes ${t.replay.otherCores.toFixed(2)} cores; ` +
    `drops ${JSON.stringify(t.drops)}`
  );
}

async function main(): Promise<void> {
  requireRoot();
  const o = parse(process.argv.slice(2));
  const gen = path.join(mkdtempSync(path.join(tmpdir(), 'active-peers-')), 'replay-gen');
  execFileSync('cc', ['-O2', '-o', gen, path.join(repoRoot, 'bench', 'native', 'replay-gen.c')]);
  const lab = new Lab('apb');
  const cleanup = (): void => {
    lab.cleanup();
    rmSync(path.dirname(gen), { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => (cleanup(), process.exit(130)));
  const results: Array<{ queues: number; trials: Trial[]; capacity: Trial | undefined }> = [];
  try {
    const d = lab.ns('d');
    const g = lab.ns('g');
    for (const queues of o.queues) {
      try {
        nsExec(d, 'ip', ['link', 'del', 'apb-vd']);
      } catch {
        /* the first topology */
      }
      lab.veth({ ns: d, dev: 'apb-vd', addrs: [`${D_OUTER}/24`] }, { ns: g, dev: 'apb-vg', addrs: [`${G_OUTER}/24`] }, queues);
      const realQueues = nsExec(d, 'ls', ['/sys/class/net/apb-vd/queues'])
        .split(/\s+/)
        .filter((q) => q.startsWith('rx-')).length;
      if (realQueues !== queues) throw new Error(`apb-vd has ${realQueues} rx queues, wanted ${queues}`);
      rmSync(`/var/run/wireguard/${IF}.sock`, { force: true });
      const daemon = lab.spawn(d, xdpwgBin, ['-f', IF], {
        env: {
          ...process.env,
          LOG_LEVEL: 'info',
          WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1',
          XDPWG_DATAPATH: datapathFile({ mode: 'native', workers: o.workers }),
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let log = '';
      daemon.stderr!.on('data', (b: Buffer) => (log += b.toString()));
      const failWith = (what: string): Error => new Error(`${what}\ndaemon log:\n${log}`);
      await waitFor('xdpwg', () => nsExec(d, 'wg', ['show', IF, 'listen-port']).trim() !== '', 15_000).catch((e: Error) => {
        throw failWith(e.message);
      });
      const priv = execFileSync('wg', ['genkey']).toString().trim();
      const pub = execFileSync('wg', ['pubkey'], { input: priv + '\n' })
        .toString()
        .trim();
      const cfg: PeersGenConfig = {
        target: D_OUTER,
        port: PORT,
        srcBase: SRC_BASE,
        sockets: o.sockets,
        peers: o.peers,
        responderPublicKey: pub,
        innerSize: o.size,
        innerDst: BLACKHOLE,
        window: HANDSHAKE_WINDOW,
      };
      const pg = lab.spawn(g, process.execPath, [path.join(repoRoot, 'dist', 'bench', 'peers-gen.js'), JSON.stringify(cfg)], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let pgErr = '';
      pg.stderr!.on('data', (b: Buffer) => (pgErr += b.toString()));
      const next = childLines(pg);
      const exited = new Promise<string>((r) =>
        pg.once('exit', (c) => r(`{"error":${JSON.stringify(`peers-gen exited ${c}: ${pgErr}`)}}`)),
      );
      const ask = async (cmd: string): Promise<Record<string, unknown>> => {
        if (cmd) pg.stdin!.write(cmd + '\n');
        const got = JSON.parse(await Promise.race([next(), exited])) as Record<string, unknown>;
        if (got.error) throw new Error(String(got.error));
        return got;
      };
      const { publicKeys } = (await ask('')) as { publicKeys: string[] };
      const conf =
        `[Interface]\nPrivateKey = ${priv}\nListenPort = ${PORT}\n` +
        publicKeys.map((k, i) => `[Peer]\nPublicKey = ${k}\nAllowedIPs = ${innerAddress(i)}/32\n`).join('');
      const confFile = `/tmp/xdpwg-${d}-peers.conf`;
      writeFileSync(confFile, conf, { mode: 0o600 });
      nsExec(d, 'wg', ['setconf', IF, confFile], { timeoutMs: 120_000 });
      rmSync(confFile, { force: true });
      nsExec(d, 'ip', ['addr', 'add', `${D_INNER}/32`, 'dev', IF]);
      nsExec(d, 'ip', ['link', 'set', IF, 'mtu', '1420', 'up']);
      nsExec(d, 'ip', ['route', 'add', '10.60.0.0/14', 'dev', IF]);
      nsExec(d, 'ip', ['route', 'add', 'blackhole', `${BLACKHOLE}/32`]);

      /**
       * Per rx queue of D's veth: the frames its XDP program saw (veth's ethtool counters
       * rx_queue_N_xdp_packets); and the veths' own drops (a full veth ring drops before XDP).
       */
      const queueFrames = (): { frames: number[]; drops: Map<string, number> } => {
        const frames: number[] = [];
        const drops = new Map<string, number>();
        const text = nsExec(d, 'ethtool', ['-S', 'apb-vd']);
        for (const m of text.matchAll(/rx_queue_(\d+)_xdp_packets:\s*(\d+)/g)) frames[Number(m[1])] = Number(m[2]);
        if (frames.length !== queues) throw new Error(`ethtool -S apb-vd: no rx_queue_N_xdp_packets for ${queues} queues`);
        for (const m of text.matchAll(/^\s*(\S*(?:drop|err)\S*):\s*(\d+)/gm)) drops.set(`apb-vd ${m[1]}`, Number(m[2]));
        drops.set('apb-vd rx_dropped', Number(nsExec(d, 'cat', ['/sys/class/net/apb-vd/statistics/rx_dropped'])));
        drops.set('apb-vg tx_dropped', Number(nsExec(g, 'cat', ['/sys/class/net/apb-vg/statistics/tx_dropped'])));
        return { frames, drops };
      };
      const stats = (): DeviceStats => JSON.parse(nsExec(d, xdpwgBin, ['stats', IF, '--json'])) as DeviceStats;
      const delivered = (s: Snapshot): number => [...s.perPeer.values()].reduce((a, b) => a + b, 0) - s.lost;
      let handshakeAt = -Infinity;
      const file = `/tmp/xdpwg-${g}-seal.bin`;
      const trial = async (rate: number): Promise<Trial> => {
        if (performance.now() - handshakeAt > SESSION_RENEW_MS) {
          const h = await ask('handshake');
          process.stderr.write(`# ${o.peers} handshakes in ${String(h.ms)} ms\n`);
          handshakeAt = performance.now();
          if (!o.coldStart) {
            // Each peer's first message confirms its new session on D (a rotation the main thread
            // broadcasts to every worker): sent slowly before the measured runs, which then see
            // established sessions only (--cold-start measures the first run with them).
            const confirmedAt = new Map(stats().peers.map((p) => [p.publicKey, p.rxPackets]));
            const confirmed = (): boolean => {
              const rx = new Map(stats().peers.map((p) => [p.publicKey, p.rxPackets]));
              return publicKeys.every((k) => (rx.get(k) ?? 0) > (confirmedAt.get(k) ?? 0));
            };
            await ask(`seal 1 ${file}`);
            await replayRun(
              g,
              gen,
              ['replay-socks', file, D_OUTER, String(PORT), String(SRC_BASE), String(o.sockets), '10000'],
              daemon.pid!,
            );
            await waitFor('every session confirmed by its first message', confirmed, 10_000, 200);
          }
        }
        const rounds = Math.max(1, Math.ceil(((rate || 300_000) * o.seconds) / o.peers));
        await ask(`seal ${rounds} ${file}`);
        const before = snapshot(stats());
        const queuesBefore = queueFrames();
        for (const [k, v] of queuesBefore.drops) before.drops.set(k, v);
        const r = await replayRun(
          g,
          gen,
          ['replay-socks', file, D_OUTER, String(PORT), String(SRC_BASE), String(o.sockets), String(rate)],
          daemon.pid!,
        );
        // Wait until the daemon has worked off what it queued (per-peer counters are live in shared memory).
        let last = delivered(snapshot(stats()));
        for (;;) {
          await new Promise((res) => setTimeout(res, 200));
          const now = delivered(snapshot(stats()));
          if (now === last) break;
          last = now;
        }
        // Then until every worker has reported its ports' counters since (they report once a second,
        // src/datapath/worker.ts): two readings more than a report period apart that agree.
        let after = snapshot(stats());
        for (;;) {
          await new Promise((res) => setTimeout(res, 1100));
          const again = snapshot(stats());
          const same = again.perWorker.every((p, w) => p === after.perWorker[w]) && again.perWorker.length === after.perWorker.length;
          after = again;
          if (same) break;
        }
        const queuesAfter = queueFrames();
        for (const [k, v] of queuesAfter.drops) after.drops.set(k, v);
        const got = delivered(after) - delivered(before);
        // A peer sent `rounds` messages when replay-gen sent everything (it retries a full queue, so it does).
        const perPeer = publicKeys.map((k) => (after.perPeer.get(k) ?? 0) - (before.perPeer.get(k) ?? 0)).sort((a, b) => a - b);
        const share = perPeer.map((n) => n / rounds);
        return {
          offered: rate,
          sentPps: r.sent / r.seconds,
          sent: r.sent,
          pps: got / r.seconds,
          loss: 1 - got / r.sent,
          perWorkerPackets: after.perWorker.map((p, w) => p - (before.perWorker[w] ?? 0)),
          perQueueFrames: queuesAfter.frames.map((f, q) => f - (queuesBefore.frames[q] ?? 0)),
          perWorkerCpuS: after.workerCpu.map((c, w) => c - (before.workerCpu[w] ?? 0)),
          peerShare: {
            min: share[0]!,
            median: quantile(share, 0.5),
            max: share[share.length - 1]!,
            under50: share.filter((s) => s < 0.5).length,
          },
          perPeerDelivered: { min: perPeer[0]!, median: quantile(perPeer, 0.5), max: perPeer[perPeer.length - 1]!, expected: rounds },
          replay: r,
          drops: Object.fromEntries(
            [...after.drops].flatMap(([k, v]) => (v !== (before.drops.get(k) ?? 0) ? [[k, v - (before.drops.get(k) ?? 0)]] : [])),
          ),
        };
      };
      const label = `${o.peers} peers, ${o.sockets} source ports, ${queues} rx queue(s), ${o.workers} workers, ${o.size} B`;
      const trials: Trial[] = [];
      let capacity: Trial | undefined;
      if (o.rate !== undefined) {
        process.stdout.write(`${label}:\n`);
        for (let k = 0; k < o.repeat; k++) {
          const t = await trial(o.rate);
          trials.push(t);
          process.stdout.write(`  at ${o.rate} pps, run ${k + 1}: ${describe(t)}\n`);
        }
      } else {
        const flat = await trial(0);
        trials.push(flat);
        process.stderr.write(`#   ${label}: ${describe(flat)}\n`);
        const at = async (f: number): Promise<Trial> => {
          const t = await trial(Math.round(flat.pps * f));
          trials.push(t);
          process.stderr.write(`#   ${label}: ${describe(t)}\n`);
          return t;
        };
        // Down from U until a run loses < 1%; when U itself passes (a flat-out run that other load on the
        // machine held back gives a low U), up by tenths while runs pass and the generator keeps up.
        const first = await at(1.0);
        if (first.loss < 0.01) {
          capacity = first;
          for (let f = 1.1; f <= 2; f += 0.1) {
            const t = await at(f);
            if (t.loss >= 0.01 || t.sentPps < 0.97 * t.offered) break;
            capacity = t;
          }
        } else
          for (let f = 0.9; f >= 0.3; f -= 0.1) {
            const t = await at(f);
            if (t.loss < 0.01) {
              capacity = t;
              break;
            }
          }
        process.stdout.write(
          `${label}:\n  flat out: ${describe(flat)}\n  at <1% loss: ${capacity ? describe(capacity) : 'none of the rates tried lost under 1%'}\n`,
        );
      }
      // How the daemon set up receive on this topology (logged once the uplink is in use).
      for (const l of log.split('\n')) if (/rx queue\(s\)|arrive by/.test(l)) process.stdout.write(`  daemon: ${l}\n`);
      results.push({ queues, trials, capacity });
      await ask('exit').catch(() => undefined);
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon.once('exit', r));
      nsExec(d, 'ip', ['route', 'del', 'blackhole', `${BLACKHOLE}/32`]);
    }
  } finally {
    cleanup();
  }
  if (o.json) writeFileSync(o.json, JSON.stringify({ options: o, results }, null, 2));
}

main().catch((err: Error) => {
  process.stderr.write(`active-peers bench: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
