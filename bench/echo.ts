/**
 * bench/echo: packets per second of `xdpwg echo` (AF_XDP, one queue) against
 * a Node `dgram` UDP echo server, same load, same run, 64-byte payloads,
 * printed as a ratio.
 *
 * Load: bench/echo-gen.ts in the peer namespace, sending from an AF_XDP port
 * as fast as its tx ring takes frames and counting replies (open loop: the
 * server's capacity is what comes back). The generator is pinned to one core,
 * the server under test to the other.
 *
 *   sudo node dist/bench/echo.js [--seconds S] [--rounds N] [--mode generic,native] [--size BYTES]
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Lab, nsExec } from '../test/helpers/netns.js';

const args = process.argv.slice(2);
function opt(name: string, dflt: string): string {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
}
const SECONDS = Number(opt('--seconds', '2'));
const ROUNDS = Number(opt('--rounds', '5'));
/** XDP modes to measure; on veth, generic is the faster of the two (native veth XDP copies each skb into an xdp frame). */
const MODES = opt('--mode', 'generic,native').split(',');
const SIZE = Number(opt('--size', '64'));
const WARMUP = 1;
const PORT = 7401;
const MAIN_JS = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const GEN_JS = fileURLToPath(new URL('./echo-gen.js', import.meta.url));

const DGRAM_SERVER = `
const s = require('node:dgram').createSocket('udp4');
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.bind(${PORT}, () => console.log('ready'));
setTimeout(() => process.exit(0), ${(SECONDS + WARMUP + 3) * 1000});
`;

function mac(ns: string, dev: string): string {
  return (JSON.parse(nsExec(ns, 'ip', ['-j', 'link', 'show', 'dev', dev])) as { address: string }[])[0]!.address;
}

async function waitLine(child: ChildProcess, re: RegExp, what: string): Promise<void> {
  let buf = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} not ready: ${buf}`)), 15_000);
    const on = (d: Buffer): void => {
      buf += d.toString();
      if (re.test(buf)) {
        clearTimeout(t);
        resolve();
      }
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (c) => {
      clearTimeout(t);
      reject(new Error(`${what} exited ${c}: ${buf}`));
    });
  });
}

function generate(b: string, devB: string, srcMac: string, dstMac: string): { pps: number; sent: number } {
  const out = nsExec(
    b,
    'taskset',
    [
      '-c',
      '1',
      process.execPath,
      GEN_JS,
      devB,
      srcMac,
      dstMac,
      '10.78.0.2',
      '10.78.0.1',
      String(PORT),
      String(SECONDS),
      String(WARMUP),
      String(SIZE),
    ],
    { timeoutMs: (SECONDS + WARMUP + 20) * 1000 },
  );
  const r = JSON.parse(out.trim().split('\n').pop()!) as { pps: number; sent: number };
  return r;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/echo needs root (network namespaces, AF_XDP)');
  const lab = new Lab('h1-bench');
  try {
    const a = lab.ns('a');
    const b = lab.ns('b');
    lab.veth({ ns: a, dev: 'h1ba0', addrs: ['10.78.0.1/24'] }, { ns: b, dev: 'h1bb0', addrs: ['10.78.0.2/24'] });
    const macA = mac(a, 'h1ba0');
    const macB = mac(b, 'h1bb0');
    // Static neighbours: the kernel (dgram) side must not wait on ARP for the generator.
    nsExec(a, 'ip', ['neigh', 'replace', '10.78.0.2', 'lladdr', macB, 'dev', 'h1ba0', 'nud', 'permanent']);

    // Each server is one "contender"; rounds interleave them so a noisy
    // neighbour on this shared 2-core machine hits all of them alike, and
    // the median of the rounds is reported.
    interface Contender {
      name: string;
      start(): Promise<ChildProcess>;
      runs: { pps: number; offered: number }[];
      final: string;
    }
    const echoArgs = (extra: string[]): string[] => ['-c', '0', process.execPath, MAIN_JS, 'echo', '--port', String(PORT), ...extra];
    const contenders: Contender[] = [
      {
        name: 'node dgram echo',
        runs: [],
        final: '',
        start: async () => {
          const c = lab.spawn(a, 'taskset', ['-c', '0', process.execPath, '-e', DGRAM_SERVER]);
          await waitLine(c, /ready/, 'dgram server');
          return c;
        },
      },
      {
        name: 'xdpwg echo --udp (UdpPort)',
        runs: [],
        final: '',
        start: async () => {
          const c = lab.spawn(a, 'taskset', echoArgs(['--udp']));
          await waitLine(c, /echoing UDP port/, 'xdpwg echo --udp');
          return c;
        },
      },
      ...MODES.map((mode): Contender => ({
        name: `xdpwg echo, ${mode} XDP`,
        runs: [],
        final: '',
        start: async () => {
          const c = lab.spawn(a, 'taskset', echoArgs(['--interface', 'h1ba0', '--mode', mode]));
          await waitLine(c, /echoing UDP port/, 'xdpwg echo');
          return c;
        },
      })),
    ];
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of contenders) {
        const child = await c.start();
        let out = '';
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
        });
        const r = generate(b, 'h1bb0', macB, macA);
        child.kill('SIGTERM');
        await new Promise((res) => child.once('exit', res));
        c.runs.push({ pps: r.pps, offered: Math.round(r.sent / (SECONDS + WARMUP)) });
        c.final = out.split('\n').find((l) => l.startsWith('final')) ?? '';
      }
    }

    const median = (xs: number[]): number => {
      const s = [...xs].sort((x, y) => x - y);
      return s[Math.floor(s.length / 2)]!;
    };
    const fmt = (n: number): string => n.toLocaleString('en-US');
    let out =
      `bench/echo (${SIZE} B payload, one queue; ${ROUNDS} interleaved rounds of ${SECONDS} s after ${WARMUP} s warm-up, median shown, ratio = median of per-round ratios;\n` +
      `            load: AF_XDP generator in the peer namespace, pinned to CPU 1; servers pinned to CPU 0)\n`;
    for (const c of contenders) {
      const m = median(c.runs.map((r) => r.pps));
      // The ratio per round (both measured minutes apart at most), then its median.
      const ratio = median(c.runs.map((r, i) => r.pps / Math.max(1, contenders[0]!.runs[i]!.pps)));
      out +=
        `  ${c.name.padEnd(28)} ${fmt(m).padStart(9)} replies/s  ratio ${ratio.toFixed(2)}x vs dgram` +
        `  [rounds: ${c.runs.map((r) => fmt(r.pps)).join(', ')}; offered ~${fmt(median(c.runs.map((r) => r.offered)))} pkt/s]\n`;
      if (c.final) out += `      last run's port stats: ${c.final}\n`;
    }
    out += `  reproduce: npm run build && sudo node dist/bench/echo.js --seconds ${SECONDS} --rounds ${ROUNDS} --mode ${MODES.join(',')} --size ${SIZE}\n`;
    process.stdout.write(out);
  } finally {
    lab.cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/echo: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
