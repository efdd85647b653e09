/**
 * One peer's capacity with the crypto crew off and on (issue 20): packets/s
 * one peer gets through xdpwg at < 1% loss, receive and send, with inner
 * packets of 1420 B and 64 B, for each datapath configuration.
 *
 *   node dist/bench/crypto-crew.js [--sizes 1420,64] [--configs w1-off,w2-off,w2-auto] [--seconds 1.5] [--dir rx,tx]
 *
 *   D (xdpwg under test) ══ veth, 2 queues, native XDP ══ G (generator)
 *
 * Receive: bench/crew-gen.ts handshakes with D from G as a fresh peer and
 * seals the messages in advance (counters 0, 1, 2, …); bench/native/replay-gen
 * replays them at a set rate with sendmmsg. Delivered = D's TUN rx_packets
 * (the inner packets go to a blackhole route in D: no reply traffic).
 * Send: replay-gen in D sends one inner UDP flow into the TUN towards the
 * peer; delivered = the transport messages G's veth received (G binds the
 * port and never reads). One inner flow and one outer 4-tuple: one TUN
 * queue, one rx queue, one worker, as issue 20 asks.
 *
 * Capacity: a flat-out run gives an upper bound U; then runs at 1.0, 0.9,
 * 0.8, … × U until one loses < 1%. Each run seals a fresh session.
 *
 * Beside each figure: the cores the whole machine used while the generator
 * sent (/proc/stat: user, system, softirq; bench/machine-cpu.ts) and the
 * daemon's own, so a reader sees how much of the 2 cores a configuration
 * already takes at its capacity: the ceiling on what a second worker can add.
 * Needs root; run it under /tmp/xdpwg-helper-tests.lock like a netns test.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Lab, nsExec, requireRoot, waitFor } from '../test/helpers/netns.js';
import { repoRoot, xdpwgBin } from '../test/helpers/tunnel-lab.js';
import { datapathFile } from '../test/helpers/afxdp-lab.js';
import { childLines } from './generator-io.js';
import { replayRun, type ReplayRun } from './replay-run.js';
import { formatCpuUse } from './machine-cpu.js';

interface Options {
  sizes: number[];
  configs: string[];
  seconds: number;
  dirs: string[];
}

function parse(argv: string[]): Options {
  const o: Options = { sizes: [1420, 64], configs: ['w1-off', 'w2-off', 'w2-auto'], seconds: 1.5, dirs: ['rx', 'tx'] };
  for (let i = 0; i < argv.length; i++) {
    const v = (): string => argv[++i] ?? '';
    switch (argv[i]) {
      case '--sizes':
        o.sizes = v().split(',').map(Number);
        break;
      case '--configs':
        o.configs = v().split(',');
        break;
      case '--seconds':
        o.seconds = Number(v());
        break;
      case '--dir':
        o.dirs = v().split(',');
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return o;
}

const IF = 'ccbw';
const D_OUTER = '10.241.0.1',
  G_OUTER = '10.241.0.2';
const D_INNER = '10.241.1.1',
  G_INNER = '10.241.2.2',
  BLACKHOLE = '10.241.3.3';
const PORT = 51821,
  G_PORT = 51900;

const counter = (ns: string, dev: string, name: string): number =>
  Number(nsExec(ns, 'cat', [`/sys/class/net/${dev}/statistics/${name}`]).trim());

async function main(): Promise<void> {
  requireRoot();
  const o = parse(process.argv.slice(2));
  const gen = path.join(mkdtempSync(path.join(tmpdir(), 'crew-bench-')), 'replay-gen');
  execFileSync('cc', ['-O2', '-o', gen, path.join(repoRoot, 'bench', 'native', 'replay-gen.c')]);
  const lab = new Lab('ccb');
  const d = lab.ns('d');
  const g = lab.ns('g');
  const results: string[] = [];
  const cleanup = (): void => lab.cleanup();
  process.on('SIGINT', () => (cleanup(), process.exit(130)));
  try {
    for (const cfg of o.configs) {
      // w{workers}-{off|auto|N}[-s{µs an idle crew thread spins}]
      const [w, crew, spin] = cfg.split('-') as [string, string, string | undefined];
      const workers = Number(w.slice(1));
      // As many queues as workers: each worker's AF_XDP socket has its queue (the one flow lands on one of them).
      try {
        nsExec(d, 'ip', ['link', 'del', 'ccb-vd']);
      } catch {
        /* first config */
      }
      lab.veth({ ns: d, dev: 'ccb-vd', addrs: [`${D_OUTER}/24`] }, { ns: g, dev: 'ccb-vg', addrs: [`${G_OUTER}/24`] }, workers);
      const env = {
        XDPWG_DATAPATH: datapathFile({
          mode: 'native',
          workers,
          cryptoCrew: crew === 'off' ? 'off' : crew === 'auto' ? 'auto' : Number(crew),
        }),
        XDPWG_TX_PATH: 'afxdp',
        ...(spin ? { XDPWG_CRYPTO_CREW_SPIN_US: spin.slice(1) } : {}),
      };
      rmSync(`/var/run/wireguard/${IF}.sock`, { force: true });
      const daemon = lab.spawn(d, xdpwgBin, ['-f', IF], {
        env: { ...process.env, LOG_LEVEL: 'info', WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1', ...env },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      await waitFor('xdpwg', () => nsExec(d, 'wg', ['show', IF, 'listen-port']).trim() !== '', 15_000);
      const priv = execFileSync('wg', ['genkey']).toString().trim();
      const pub = execFileSync('wg', ['pubkey'], { input: priv + '\n' })
        .toString()
        .trim();
      nsExec(d, 'sh', ['-c', `umask 077; printf '%s' '${priv}' > /tmp/ccb.key`]);
      nsExec(d, 'wg', ['set', IF, 'private-key', '/tmp/ccb.key', 'listen-port', String(PORT)]);
      nsExec(d, 'ip', ['addr', 'add', `${D_INNER}/24`, 'dev', IF]);
      nsExec(d, 'ip', ['link', 'set', IF, 'mtu', '1420', 'up']);
      nsExec(d, 'ip', ['route', 'add', '10.241.2.0/24', 'dev', IF]);
      nsExec(d, 'ip', ['route', 'add', 'blackhole', '10.241.3.0/24']);
      let previousPeer: string | undefined;
      /**
       * Inner packets the TUN took: the current peer's authenticated messages
       * (each carries one inner packet; none is a keepalive here), less every
       * drop after authentication (allowed IPs, bad inner packet, failed TUN
       * write). Not the TUN's rx_packets: coalesced writes count one per super packet.
       */
      const delivered = (): number => {
        const st = JSON.parse(nsExec(d, xdpwgBin, ['stats', IF, '--json'])) as {
          peers: Array<{ publicKey: string; rxPackets: number }>;
          drops: Record<string, number>;
        };
        const rx = st.peers.find((p) => p.publicKey === previousPeer)?.rxPackets ?? 0;
        const lost = (st.drops['tun-write-failed'] ?? 0) + (st.drops['rx-allowed-ips'] ?? 0) + (st.drops['rx-bad-inner-packet'] ?? 0);
        return rx - lost;
      };
      /** A fresh peer from G with a session on D; `count` messages sealed in advance into `file`. */
      const session = async (size: number, count: number, file: string, bindPort: number): Promise<void> => {
        if (previousPeer) nsExec(d, 'wg', ['set', IF, 'peer', previousPeer, 'remove']);
        const cg = lab.spawn(
          g,
          process.execPath,
          [
            path.join(repoRoot, 'dist', 'bench', 'crew-gen.js'),
            JSON.stringify({
              target: D_OUTER,
              port: PORT,
              bindPort,
              responderPublicKey: pub,
              count,
              innerSize: size,
              innerSrc: G_INNER,
              innerDst: BLACKHOLE,
              file,
            }),
          ],
          { stdio: ['pipe', 'pipe', 'pipe'] },
        );
        let err = '';
        cg.stderr!.on('data', (x: Buffer) => (err += x.toString()));
        const next = childLines(cg);
        const { publicKey } = JSON.parse(await next()) as { publicKey: string };
        nsExec(d, 'wg', ['set', IF, 'peer', publicKey, 'allowed-ips', '10.241.2.0/24']);
        previousPeer = publicKey;
        cg.stdin!.write('go\n');
        const ready = await Promise.race([
          next(),
          new Promise<string>((r) => cg.once('exit', () => r(`{"error":${JSON.stringify(err)}}`))),
        ]);
        if (!ready.includes('ready')) throw new Error(`crew-gen: ${ready}`);
      };
      const replay = (ns: string, args: string[]): { sent: number; seconds: number } =>
        JSON.parse(nsExec(ns, gen, args, { timeoutMs: 120_000 }).trim().split('\n').pop()!);
      const timed = (ns: string, args: string[]): Promise<ReplayRun> => replayRun(ns, gen, args, daemon.pid!);
      const settle = async (read: () => number): Promise<number> => {
        let last = read();
        for (;;) {
          await new Promise((r) => setTimeout(r, 150));
          const now = read();
          if (now === last) return now;
          last = now;
        }
      };
      for (const dir of o.dirs) {
        for (const size of o.sizes) {
          const file = path.join(tmpdir(), `ccb-${size}.bin`);
          interface Trial {
            pps: number;
            loss: number;
            sent: number;
            cpu: string;
          }
          const cpuOf = (r: ReplayRun): string =>
            `machine ${formatCpuUse(r.machine)}, daemon ${r.daemonCores.toFixed(2)}, generator ${r.generatorCores.toFixed(2)}, other processes ${r.otherCores.toFixed(2)} cores`;
          const trial = async (rate: number): Promise<Trial> => {
            const count = Math.round((rate || 400_000) * o.seconds);
            if (dir === 'rx') {
              await session(size, count, file, 40000 + Math.floor(Math.random() * 1000));
              const before = delivered();
              // PERF_DIR: a profile of the daemon during each flat-out receive run.
              const perf =
                process.env.PERF_DIR && rate === 0
                  ? spawn(
                      'perf',
                      [
                        'record',
                        '-F',
                        '999',
                        '-g',
                        '-o',
                        path.join(process.env.PERF_DIR, `${cfg}-${dir}-${size}.data`),
                        '-p',
                        String(daemon.pid),
                        '--',
                        'sleep',
                        '1.5',
                      ],
                      { stdio: 'ignore' },
                    )
                  : undefined;
              const r = await timed(g, ['replay', file, D_OUTER, String(PORT), '0', String(rate)]);
              if (perf) await new Promise((res) => perf.once('exit', res));
              const after = await settle(delivered);
              const got = after - before;
              return { pps: got / r.seconds, loss: 1 - got / r.sent, sent: r.sent, cpu: cpuOf(r) };
            }
            // tx: a session whose first message (replayed) confirms it on D, then G's port only sinks.
            await session(size, 1, file, G_PORT);
            replay(g, ['replay', file, D_OUTER, String(PORT), String(G_PORT), '0']);
            await waitFor(
              'the session confirmed',
              () => Number(nsExec(d, 'wg', ['show', IF, 'transfer']).trim().split(/\s+/)[1]) > 0,
              5_000,
              50,
            );
            const sink = lab.spawn(g, gen, ['sink', String(G_PORT)]);
            try {
              await new Promise((r) => setTimeout(r, 100));
              const before = counter(g, 'ccb-vg', 'rx_packets');
              const r = await timed(d, ['udp', G_INNER, '9', String(size - 28), String(rate), String(count)]);
              const after = await settle(() => counter(g, 'ccb-vg', 'rx_packets'));
              const got = after - before;
              return { pps: got / r.seconds, loss: 1 - got / r.sent, sent: r.sent, cpu: cpuOf(r) };
            } finally {
              sink.kill('SIGKILL');
              await new Promise((r) => sink.once('exit', r));
            }
          };
          const flat = await trial(0);
          let best = { rate: 0, pps: 0, loss: 1, cpu: 'n/a' };
          for (let f = 1.0; f >= 0.3; f -= 0.1) {
            const rate = Math.round(flat.pps * f);
            const t = await trial(rate);
            process.stderr.write(
              `#   ${cfg} ${dir} ${size} B: offered ${rate} pps -> ${t.pps.toFixed(0)} pps, loss ${(100 * t.loss).toFixed(2)}%; ${t.cpu}\n`,
            );
            if (t.loss < 0.01) {
              best = { rate, pps: t.pps, loss: t.loss, cpu: t.cpu };
              break;
            }
          }
          const line =
            `${cfg} ${dir} ${size} B: flat out ${flat.pps.toFixed(0)} pps (loss ${(100 * flat.loss).toFixed(1)}%; ${flat.cpu}); ` +
            `at <1% loss: ${best.pps.toFixed(0)} pps (offered ${best.rate}, loss ${(100 * best.loss).toFixed(2)}%; ${best.cpu})`;
          process.stderr.write(`# ${line}\n`);
          results.push(line);
          rmSync(file, { force: true });
        }
      }
      const stats = JSON.parse(nsExec(d, xdpwgBin, ['stats', IF, '--json'])) as { cryptoCrew?: unknown; workerCpuSeconds: number[] };
      results.push(`${cfg}: crypto crew ${JSON.stringify(stats.cryptoCrew)}; worker cpu s ${JSON.stringify(stats.workerCpuSeconds)}`);
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon.once('exit', r));
      nsExec(d, 'ip', ['route', 'del', 'blackhole', '10.241.3.0/24']);
    }
  } finally {
    cleanup();
  }
  process.stdout.write(results.join('\n') + '\n');
}

main().catch((err: Error) => {
  process.stderr.write(`crypto-crew bench: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
