/**
 * One peer on every core (issue 20): with the crypto crew forced on (a crew
 * thread shares every burst of two or more packets), one inner flow's
 * numbered datagrams are sealed by A's worker and its crew, and opened by
 * B's worker and its crew, and must reach B's socket (after B's TUN write)
 * all of them, each exactly once and in the order sent:
 *
 *   A (xdpwg, 2 workers + crew) ══ veth, 2 queues ══ B (xdpwg, 2 workers + crew)
 *     sender: UDP to B's inner address, sequence numbers         receiver checks the sequence
 *
 * The crew's counters on both sides prove it did part of the AEAD work, so
 * the order checked really crossed threads. The sender paces blocks (so the
 * receiving socket never overflows: any loss is the tunnel's) but sends each
 * block back to back, so the workers read bursts large enough to share.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, requireRoot, waitFor } from '../helpers/netns.js';
import { logsOf, ping, startPeered, type Side } from '../helpers/tunnel-lab.js';
import { afxdpSides, datapathFile, startFresh, statsOf } from '../helpers/afxdp-lab.js';
import type { CryptoCrewStats } from '../../src/crypto/crypto-crew.js';

const lab = new Lab('ccw');
let a: Side;
let b: Side;
const PORT = 7711;
const COUNT = 30_000;
const BLOCK = 48;

before(async () => {
  requireRoot();
  ({ a, b } = afxdpSides(lab, 'xdpwg', 'xdpwg', 231, { queues: 2 }));
  const env = { XDPWG_DATAPATH: datapathFile({ workers: 2, cryptoCrew: 1, cryptoCrewMinBurst: 2 }) };
  await startPeered(lab, a, b, env, startFresh);
});
after(() => lab.cleanup());

const crewOf = (side: Side): CryptoCrewStats => (statsOf(side) as unknown as { cryptoCrew: CryptoCrewStats }).cryptoCrew;

// The receiver: records every datagram's sequence number; prints a summary once COUNT arrived or 3 s passed without one.
const RECEIVER = `
const dgram = require('node:dgram');
const [port, count] = process.argv.slice(1).map(Number);
const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 16 << 20 });
let received = 0, outOfOrder = 0, duplicates = 0, last = -1, firstBad = null, idle;
const seen = new Uint8Array(count);
const done = () => { console.log(JSON.stringify({ received, outOfOrder, duplicates, firstBad })); process.exit(0); };
s.on('message', (m) => {
  const seq = m.readUInt32BE(0);
  received++;
  if (seq >= count || seen[seq]) duplicates++; else seen[seq] = 1;
  if (seq <= last) { outOfOrder++; if (firstBad === null) firstBad = [last, seq]; }
  last = seq;
  clearTimeout(idle);
  if (received === count) done();
  idle = setTimeout(done, 3000);
});
s.bind(port, () => console.log('ready'));
`;

// The sender: COUNT datagrams of 1000 bytes, sequence number first, in blocks of BLOCK sent back to back.
const SENDER = `
const dgram = require('node:dgram');
const [to, port, count, block] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
const payload = Buffer.alloc(1000, 0x5a);
let seq = 0;
const blockOnce = () => {
  let pending = 0;
  for (let i = 0; i < Number(block) && seq < Number(count); i++, seq++) {
    const m = Buffer.from(payload);
    m.writeUInt32BE(seq, 0);
    pending++;
    s.send(m, Number(port), to, () => { if (--pending === 0) (seq < Number(count) ? setTimeout(blockOnce, 1) : s.close()); });
  }
};
blockOnce();
`;

test('one flow through one peer, sealed and opened with the crypto crew: every datagram arrives once, in order', async () => {
  assert.equal(ping(a, b.inner4, 3), 3, logsOf(a, b));
  const crewA0 = crewOf(a);
  const crewB0 = crewOf(b);
  assert.equal(crewA0.threads, 1, `A's crew: ${JSON.stringify(crewA0)}`);
  assert.equal(crewB0.threads, 1, `B's crew: ${JSON.stringify(crewB0)}`);

  const rx = lab.spawn(b.ns, process.execPath, ['-e', RECEIVER, String(PORT), String(COUNT)]);
  let rxOut = '';
  rx.stdout!.on('data', (d: Buffer) => (rxOut += d.toString()));
  const rxDone = new Promise<void>((r) => rx.once('exit', () => r()));
  await waitFor('the receiver to bind', () => rxOut.includes('ready'), 10_000, 20);
  const tx = lab.spawn(a.ns, process.execPath, ['-e', SENDER, b.inner4, String(PORT), String(COUNT), String(BLOCK)]);
  let txErr = '';
  tx.stderr!.on('data', (d: Buffer) => (txErr += d.toString()));
  await rxDone;
  const summary = JSON.parse(rxOut.trim().split('\n').pop()!) as {
    received: number;
    outOfOrder: number;
    duplicates: number;
    firstBad: number[] | null;
  };

  const crewA = crewOf(a);
  const crewB = crewOf(b);
  const drops = { a: statsOf(a).drops, b: statsOf(b).drops };
  process.stderr.write(
    `# ${summary.received}/${COUNT} arrived, ${summary.outOfOrder} out of order, ${summary.duplicates} duplicates\n` +
      `# crew A (seal): +${crewA.bursts - crewA0.bursts} bursts shared, +${crewA.packets - crewA0.packets} packets, +${crewA.crewPackets - crewA0.crewPackets} by the crew\n` +
      `# crew B (open): +${crewB.bursts - crewB0.bursts} bursts shared, +${crewB.packets - crewB0.packets} packets, +${crewB.crewPackets - crewB0.crewPackets} by the crew\n` +
      `# drops ${JSON.stringify(drops)}\n`,
  );
  assert.equal(txErr, '', 'the sender reported no error');
  assert.equal(summary.outOfOrder, 0, `first reordering: ${JSON.stringify(summary.firstBad)}`);
  assert.equal(summary.duplicates, 0);
  assert.equal(summary.received, COUNT, `all arrived (drops ${JSON.stringify(drops)})`);
  // The crew really shared the flow's bursts on both sides.
  assert.ok(crewA.crewPackets - crewA0.crewPackets >= 100, `A's crew sealed ${crewA.crewPackets - crewA0.crewPackets} packets`);
  assert.ok(crewB.crewPackets - crewB0.crewPackets >= 100, `B's crew opened ${crewB.crewPackets - crewB0.crewPackets} packets`);
});
