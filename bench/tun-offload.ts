/**
 * TUN offloads, measured: xdpwg ↔ xdpwg iperf3 TCP (one stream, a → b)
 * with the daemons' TUN offloads on and off (XDPWG_TUN_OFFLOAD=0), and
 * wireguard-go ↔ wireguard-go as the reference, in one run. The rounds
 * interleave the configurations so a noisy neighbour on the shared machine
 * hits them alike; the report gives each one's median and every sample.
 *
 *   node dist/bench/tun-offload.js [--rounds N] [--seconds S] [--streams P] [--no-wireguard-go]
 *
 * Namespaces and interfaces are named h9o*, h9f*, h9g* (removed at exit).
 */
import { Lab, nsExec, waitFor } from '../test/helpers/netns.js';
import { addPeer, configureInterface, startImplementation, twoSides, type Implementation, type Side } from '../test/helpers/tunnel-lab.js';
import { nsRun } from './suite/run.js';

interface Setup {
  name: string;
  impl: Implementation;
  env: Record<string, string>;
  prefix: string;
  subnet: number;
}

const SETUPS: Setup[] = [
  { name: 'xdpwg offload on', impl: 'xdpwg', env: {}, prefix: 'h9o', subnet: 171 },
  { name: 'xdpwg offload off', impl: 'xdpwg', env: { XDPWG_TUN_OFFLOAD: '0' }, prefix: 'h9f', subnet: 172 },
  { name: 'wireguard-go', impl: 'wireguard-go', env: {}, prefix: 'h9g', subnet: 173 },
];

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

interface Running {
  setup: Setup;
  lab: Lab;
  a: Side;
  b: Side;
}

async function start(setup: Setup): Promise<Running> {
  const lab = new Lab(setup.prefix);
  const { a, b } = twoSides(lab, setup.impl, setup.impl, setup.subnet);
  for (const side of [a, b]) await startImplementation(lab, side, { LOG_LEVEL: 'verbose', ...setup.env });
  configureInterface(a);
  configureInterface(b);
  addPeer(a, b, { outer: 4 });
  addPeer(b, a, { outer: 4 });
  await waitFor(
    `first ping over ${setup.name}`,
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
  lab.spawn(b.ns, 'iperf3', ['-s', '-B', b.inner4, '-p', '5201']);
  await waitFor('iperf3 server', () => nsExec(b.ns, 'ss', ['-ltn']).includes(`${b.inner4}:5201`));
  return { setup, lab, a, b };
}

async function tcp(r: Running, seconds: number, streams: number): Promise<number> {
  const { stdout } = await nsRun(r.a.ns, 'iperf3', ['-c', r.b.inner4, '-p', '5201', '-t', String(seconds), '-P', String(streams), '-J'], {
    timeoutMs: (seconds + 20) * 1000,
  });
  const report = JSON.parse(stdout) as { end: { sum_received: { bits_per_second: number } } };
  return report.end.sum_received.bits_per_second / 1e6;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const rounds = arg('--rounds', 5),
    seconds = arg('--seconds', 5),
    streams = arg('--streams', 1);
  const setups = process.argv.includes('--no-wireguard-go') ? SETUPS.filter((s) => s.impl === 'xdpwg') : SETUPS;
  const running: Running[] = [];
  const cleanup = (): void => {
    for (const r of running) r.lab.cleanup();
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    for (const s of setups) running.push(await start(s));
    for (const r of running.filter((x) => x.setup.impl === 'xdpwg')) {
      const line = r.a.log.find((l) => l.includes('TUN offloads'));
      console.log(`${r.setup.name}: ${line ?? '(no offload log line)'}`);
    }
    const samples = new Map<string, number[]>(running.map((r) => [r.setup.name, []]));
    for (let round = 0; round < rounds; round++) {
      for (const r of running) {
        const mbps = await tcp(r, seconds, streams);
        samples.get(r.setup.name)!.push(mbps);
        console.log(`round ${round + 1} ${r.setup.name}: ${mbps.toFixed(0)} Mbit/s`);
      }
    }
    console.log(`\niperf3 TCP, ${streams} stream(s), ${seconds} s, ${rounds} rounds (median, samples in Mbit/s):`);
    for (const [name, xs] of samples)
      console.log(`  ${name.padEnd(20)} ${median(xs).toFixed(0).padStart(6)}   [${xs.map((x) => x.toFixed(0)).join(', ')}]`);
    // The daemons log their offload counters when they stop (a sends, b receives).
    const offloaded = running.filter((r) => r.setup.impl === 'xdpwg');
    await Promise.all(
      offloaded
        .flatMap((r) => [r.a, r.b])
        .map(
          (side) =>
            new Promise<void>((resolve) => {
              if (!side.proc || side.proc.exitCode !== null) {
                resolve();
                return;
              }
              const timer = setTimeout(resolve, 5000);
              side.proc.on('close', () => {
                clearTimeout(timer);
                resolve();
              });
              side.proc.kill('SIGTERM');
            }),
        ),
    );
    for (const r of offloaded) {
      for (const side of [r.a, r.b]) {
        const line = side.log.find((l) => l.includes('TUN offload:'));
        if (line) console.log(`${r.setup.name} ${side === r.a ? 'a (sender)' : 'b (receiver)'}: ${line.replace(/^.*TUN offload: /, '')}`);
      }
    }
  } finally {
    cleanup();
  }
}

await main();
