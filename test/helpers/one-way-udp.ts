/**
 * Datagrams from one namespace to another over several UDP flows, with
 * nothing ever written back.
 *
 * iperf3 cannot do this: its UDP setup answers the client once, and a TCP
 * stream has ACKs. xdpwg's TUN steering (native/bpf/tun_steering.bpf.c)
 * moves a flow that had something written back to it, once it turns quiet,
 * to the queue of the worker that wrote; on a loaded machine every flow
 * pauses now and then, so such flows do not stay where their hash put them.
 * A flow that nothing answers stays on its hash queue for good, which is
 * what a test of "each worker sends its share" needs. Each flow is its own
 * source port to one sink port, so the flows hash apart.
 *
 * The sink counts what arrives and prints the running count every 50 ms;
 * the sender paces one datagram per flow per millisecond and prints how many
 * it sent. Both are small Node scripts run with this Node in the namespace.
 */
import { once } from 'node:events';
import type { Lab } from './netns.js';
import { waitFor } from './netns.js';

const SINK = `
const dgram = require('node:dgram');
const [addr, port] = process.argv.slice(1);
const s = dgram.createSocket(addr.includes(':') ? 'udp6' : 'udp4');
let n = 0, shown = -1;
s.on('message', () => { n++; });
s.bind(Number(port), addr, () => { process.stdout.write('ready\\n'); });
setInterval(() => { if (n !== shown) { shown = n; process.stdout.write('count ' + n + '\\n'); } }, 50);
process.on('SIGTERM', () => process.exit(0));
`;

const SENDER = `
const dgram = require('node:dgram');
const [addr, port, flows, perFlow, size] = process.argv.slice(1).map((v, i) => (i === 0 ? v : Number(v)));
const family = addr.includes(':') ? 'udp6' : 'udp4';
const payload = Buffer.alloc(size, 0x5a);
(async () => {
  const socks = [];
  for (let i = 0; i < flows; i++) {
    const s = dgram.createSocket(family);
    await new Promise((r) => s.bind(0, r));
    socks.push(s);
  }
  let sent = 0;
  for (let round = 0; round < perFlow; round++) {
    await Promise.all(socks.map((s) => new Promise((r) => s.send(payload, port, addr, (err) => { if (!err) sent++; r(); }))));
    await new Promise((r) => setTimeout(r, 1));
  }
  process.stdout.write('sent ' + sent + '\\n');
  for (const s of socks) s.close();
})();
`;

let sinkPort = 5901;

export interface OneWayUdpResult {
  /** Datagrams the sender's kernel accepted. */
  sent: number;
  /** Datagrams the sink received by the time the count stopped short of sent for 2 s, or reached it. */
  received: number;
}

/**
 * Sends `flows` × `perFlow` datagrams of `size` bytes from namespace `fromNs`
 * to `toAddr` (an address in `toNs`), one source port per flow.
 */
export async function oneWayUdp(
  lab: Lab,
  fromNs: string,
  toNs: string,
  toAddr: string,
  opts: { flows: number; perFlow: number; size: number },
): Promise<OneWayUdpResult> {
  const port = sinkPort++;
  const sink = lab.spawn(toNs, process.execPath, ['-e', SINK, toAddr, String(port)]);
  let partial = '';
  let ready = false;
  let received = 0;
  sink.stdout?.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (line === 'ready') ready = true;
      else if (line.startsWith('count ')) received = Number(line.slice(6));
    }
  });
  try {
    await waitFor(`UDP sink on ${toAddr}:${port}`, () => ready, 5_000, 20);
    const sender = lab.spawn(fromNs, process.execPath, [
      '-e',
      SENDER,
      toAddr,
      String(port),
      String(opts.flows),
      String(opts.perFlow),
      String(opts.size),
    ]);
    let senderOut = '';
    sender.stdout?.on('data', (d: Buffer) => (senderOut += d.toString()));
    let senderErr = '';
    sender.stderr?.on('data', (d: Buffer) => (senderErr += d.toString()));
    const [code] = (await once(sender, 'exit')) as [number | null];
    const m = /sent (\d+)/.exec(senderOut);
    if (code !== 0 || !m) throw new Error(`UDP sender exited ${code}: ${senderErr.trim() || senderOut.trim()}`);
    const sent = Number(m[1]);
    // Whatever is still in the tunnel arrives within moments; a loss never does, so the wait is bounded.
    await waitFor('the sink to count every datagram sent', () => received >= sent, 2_000, 20).catch(() => undefined);
    return { sent, received };
  } finally {
    sink.kill('SIGTERM');
  }
}
