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
 *   sudo node dist/bench/echo.js [--seconds S] [--mode generic,native] [--size BYTES]
 */
import { fileURLToPath } from 'node:url';
import { Lab, nsExec } from '../test/helpers/netns.js';

const args = process.argv.slice(2);
function opt(name: string, dflt: string): string {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
}
const SECONDS = Number(opt('--seconds', '5'));
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

async function waitLine(child: import('node:child_process').ChildProcess, re: RegExp, what: string): Promise<void> {
  let buf = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} not ready: ${buf}`)), 15_000);
    const on = (d: Buffer): void => { buf += d.toString(); if (re.test(buf)) { clearTimeout(t); resolve(); } };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (c) => { clearTimeout(t); reject(new Error(`${what} exited ${c}: ${buf}`)); });
  });
}

function generate(b: string, devB: string, srcMac: string, dstMac: string): { pps: number; sent: number } {
  const out = nsExec(b, 'taskset', ['-c', '1', process.execPath, GEN_JS, devB, srcMac, dstMac, '10.78.0.2', '10.78.0.1', String(PORT), String(SECONDS), String(WARMUP), String(SIZE)], { timeoutMs: (SECONDS + WARMUP + 20) * 1000 });
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

    const results: { mode: string; pps: number; offered: number; final: string }[] = [];
    for (const mode of MODES) {
      const xdp = lab.spawn(a, 'taskset', ['-c', '0', process.execPath, MAIN_JS, 'echo', '--interface', 'h1ba0', '--port', String(PORT), '--mode', mode]);
      await waitLine(xdp, /echoing UDP port/, 'xdpwg echo');
      let xdpOut = '';
      xdp.stdout!.on('data', (d: Buffer) => { xdpOut += d.toString(); });
      const r = generate(b, 'h1bb0', macB, macA);
      xdp.kill('SIGTERM');
      await new Promise((res) => xdp.once('exit', res));
      results.push({ mode, pps: r.pps, offered: Math.round(r.sent / (SECONDS + WARMUP)), final: xdpOut.split('\n').find((l) => l.startsWith('final')) ?? '' });
    }

    const dg = lab.spawn(a, 'taskset', ['-c', '0', process.execPath, '-e', DGRAM_SERVER]);
    await waitLine(dg, /ready/, 'dgram server');
    const rd = generate(b, 'h1bb0', macB, macA);
    dg.kill('SIGKILL');

    // The same echo over the UdpPort (kernel socket, recvmmsg/sendmmsg batches).
    const ux = lab.spawn(a, 'taskset', ['-c', '0', process.execPath, MAIN_JS, 'echo', '--udp', '--port', String(PORT)]);
    await waitLine(ux, /echoing UDP port/, 'xdpwg echo --udp');
    const ru = generate(b, 'h1bb0', macB, macA);
    ux.kill('SIGTERM');
    await new Promise((res) => ux.once('exit', res));

    const fmt = (n: number): string => n.toLocaleString('en-US');
    let out = `bench/echo (${SIZE} B payload, one queue, ${SECONDS} s after ${WARMUP} s warm-up; load from an AF_XDP generator in the peer namespace)\n`;
    out += `  node dgram echo:               ${fmt(rd.pps)} replies/s  (offered ${fmt(Math.round(rd.sent / (SECONDS + WARMUP)))} pkt/s)\n`;
    out += `  xdpwg echo --udp (UdpPort):    ${fmt(ru.pps)} replies/s  (offered ${fmt(Math.round(ru.sent / (SECONDS + WARMUP)))} pkt/s)  ratio ${(rd.pps > 0 ? ru.pps / rd.pps : Infinity).toFixed(2)}x vs dgram\n`;
    for (const x of results) {
      out += `  xdpwg echo, ${x.mode.padEnd(7)} XDP:    ${fmt(x.pps)} replies/s  (offered ${fmt(x.offered)} pkt/s)  ratio ${(rd.pps > 0 ? x.pps / rd.pps : Infinity).toFixed(2)}x vs dgram\n`;
      out += `    port stats: ${x.final}\n`;
    }
    out += `  reproduce: npm run build && sudo node dist/bench/echo.js --seconds ${SECONDS} --mode ${MODES.join(',')} --size ${SIZE}\n`;
    process.stdout.write(out);
  } finally {
    lab.cleanup();
  }
}

main().catch((err: unknown) => { process.stderr.write(`bench/echo: ${(err as Error).message}\n`); process.exitCode = 1; });
