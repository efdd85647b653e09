/**
 * Two workers on a 2-queue veth in native XDP mode, each with its own
 * AF_XDP port, sending under one keypair at once:
 *
 *   A (xdpwg, 2 workers) ══ M (router, tcpdump) ══ B (xdpwg, 2 workers)
 *
 * Many inner flows spread over the TUN's queues by a hash of each flow, so
 * both workers of each side send on their own af_xdp port. Only flows that
 * nothing answers are sure to keep their hash queue: the TUN steering
 * (native/bpf/tun_steering.bpf.c) moves a flow that had something written
 * back to it (TCP's ACKs; iperf3's UDP setup answers once), whenever it
 * turns quiet, to the queue of the worker that wrote it — for one peer
 * always the same one — and on a loaded machine every flow pauses now and
 * then (CI saw all of one side's iperf3 UDP streams end on worker 0). So
 * the spread rests on 16 one-way UDP flows each way (test/helpers/one-way-udp.ts);
 * all 16 hashing to one of two queues has odds of 2^-15 per side. The nonce (the 64-bit counter
 * of a transport-data message, whitepaper §5.4.6) must never repeat under a
 * receiver index even though two threads draw from it — checked on the
 * wire, in a capture taken in M (a router in the middle sees both
 * directions, whatever XDP does at the ends) — and the receivers accept no
 * replay and drop nothing as one (rx-replay stays 0) while traffic arrives
 * whole.
 */
import { REPLAY_WINDOW_SIZE } from '../../src/protocol/constants.js';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Lab, requireRoot } from '../helpers/netns.js';
import { addPeer, configureInterface, logsOf, ping, type Side } from '../helpers/tunnel-lab.js';
import {
  capture,
  datapathFile,
  iperf,
  mbit,
  pathTo,
  portTotals,
  routedSides,
  statsAfter,
  statsOf,
  type AfxdpStats,
  startFresh,
} from '../helpers/afxdp-lab.js';
import { oneWayUdp } from '../helpers/one-way-udp.js';
import { readPcap, reorderBeyond, repeatedNonces, wireguardDataHeaders } from '../helpers/pcap.js';

const lab = new Lab('axq');
let a: Side;
let b: Side;
let m: string;
let mA: string;

before(async () => {
  requireRoot();
  ({ a, b, m, mA } = routedSides(lab, 213, { queues: 2 }));
  const env = { XDPWG_DATAPATH: datapathFile({ mode: 'native', workers: 2 }) };
  await startFresh(lab, a, env);
  await startFresh(lab, b, env);
  configureInterface(a);
  configureInterface(b);
  addPeer(a, b, { outer: 4 });
  addPeer(b, a, { outer: 4 });
});
const dir = mkdtempSync(path.join(tmpdir(), 'axq-'));
after(() => {
  lab.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function perWorker(s0: AfxdpStats, s1: AfxdpStats): Array<{ worker: number; i: number; o: number }> {
  const t0 = portTotals(s0, 'af_xdp').byWorker;
  return [...portTotals(s1, 'af_xdp').byWorker]
    .map(([worker, t]) => ({
      worker,
      i: t.ipackets - (t0.get(worker)?.ipackets ?? 0),
      o: t.opackets - (t0.get(worker)?.opackets ?? 0),
    }))
    .sort((x, y) => x.worker - y.worker);
}

test('native mode, two workers on two queues: both send on their af_xdp port; no nonce repeats on the wire; no replay drops', async () => {
  assert.equal(ping(a, b.inner4, 3), 3, logsOf(a, b));
  assert.equal(ping(a, b.inner6, 3), 3, logsOf(a, b));
  for (const [x, peer] of [
    [a, b],
    [b, a],
  ] as const) {
    const s = await statsAfter(
      x,
      (st) => pathTo(st, peer.keys.publicKey) === 'af_xdp' && st.afxdp.some((d) => d.boundWorkers.length === 2),
    );
    assert.equal(s.workers, 2, `${x.ns}: ${s.workers} workers`);
    assert.equal(pathTo(s, peer.keys.publicKey), 'af_xdp', `${x.ns}: ${JSON.stringify(s.paths)}\n${logsOf(x, peer)}`);
    const dev = s.afxdp.find((d) => !d.unusable)!;
    assert.equal(dev.mode, 'native', `${x.ns}: ${JSON.stringify(s.afxdp)}`);
    assert.equal(dev.queues, 2);
    assert.deepEqual([...dev.boundWorkers].sort(), [0, 1], `${x.ns}: ${JSON.stringify(s.afxdp)}`);
  }

  const a0 = statsOf(a);
  const b0 = statsOf(b);
  const file = path.join(dir, 'middle.pcap');
  const cap = await capture(lab, m, mA, file);
  // Sixteen TCP flows A→B (their ACKs flow B→A), then sixteen one-way UDP flows each way: those keep
  // their hash queue (see the file comment), so each side's UDP spreads over both of its workers.
  const tcp = await iperf(lab, a, b, b.inner4, ['-t', '3', '-P', '16', '-b', '8M']);
  const flows = { flows: 16, perFlow: 2_000, size: 1200 };
  const udpAB = await oneWayUdp(lab, a.ns, b.ns, b.inner4, flows);
  const udp = await oneWayUdp(lab, b.ns, a.ns, a.inner4, flows);
  const tcpdumpSays = await cap.stop();

  const a1 = await statsAfter(
    a,
    (s) => perWorker(a0, s).every((w) => w.o > 0) && portTotals(s, 'af_xdp').ipackets - portTotals(a0, 'af_xdp').ipackets >= udp.received,
  );
  const b1 = await statsAfter(
    b,
    (s) => perWorker(b0, s).every((w) => w.o > 0) && portTotals(s, 'af_xdp').ipackets - portTotals(b0, 'af_xdp').ipackets >= udpAB.received,
  );
  const wa = perWorker(a0, a1);
  const wb = perWorker(b0, b1);
  const headers = wireguardDataHeaders(file);
  const repeats = repeatedNonces(headers);
  const receivers = new Set(headers.map((h) => h.receiver));
  const reorder = reorderBeyond(headers, REPLAY_WINDOW_SIZE);
  const fmt = (w: typeof wa): string => w.map((x) => `worker ${x.worker} +${x.o} out +${x.i} in`).join(', ');
  process.stderr.write(
    `# iperf3 TCP -P 16 A→B ${mbit(tcp.bitsPerSecond)}; UDP 16 one-way flows A→B ${udpAB.received}/${udpAB.sent}, B→A ${udp.received}/${udp.sent} datagrams\n`,
  );
  process.stderr.write(`# A af_xdp: ${fmt(wa)}\n# B af_xdp: ${fmt(wb)}\n`);
  process.stderr.write(
    `# capture in M: ${headers.length} data messages, ${receivers.size} receiver indices, ${repeats.length} repeated (receiver, counter) pairs, reordered by up to ${reorder.maxBehind} (${reorder.beyond} beyond the ${REPLAY_WINDOW_SIZE} window); ${tcpdumpSays.trim().split('\n').slice(-2).join('; ')}\n`,
  );
  process.stderr.write(`# drops A ${JSON.stringify(a1.drops)} B ${JSON.stringify(b1.drops)}\n`);

  assert.ok(tcp.bitsPerSecond > 10e6, `TCP ${mbit(tcp.bitsPerSecond)}`);
  assert.ok(udp.received > udp.sent * 0.5, `UDP B→A: ${udp.received} of ${udp.sent} arrived`);
  assert.ok(udpAB.received > udpAB.sent * 0.5, `UDP A→B: ${udpAB.received} of ${udpAB.sent} arrived`);
  // Both workers of each side sent a real share of the traffic on their own port.
  for (const [side, w] of [
    ['A', wa],
    ['B', wb],
  ] as const) {
    assert.equal(w.length, 2, `${side}: ${JSON.stringify(w)}`);
    for (const x of w) assert.ok(x.o >= 200, `${side} worker ${x.worker} sent only ${x.o} on its af_xdp port: ${fmt(w)}`);
  }
  // The wire: many messages under both sides' receiver indices, no (receiver, counter) twice.
  assert.ok(headers.length > 5_000, `only ${headers.length} data messages captured`);
  assert.ok(receivers.size >= 2, `captured receiver indices: ${[...receivers].join(', ')}`);
  // The checker itself: the same capture with one data frame recorded twice must show exactly that repeat.
  const { linkType, packets } = readPcap(file);
  const frame = packets.find((f) => wireguardDataHeaders.fromFrame(f, linkType));
  assert.ok(frame, 'a data frame in the capture');
  const doubled = path.join(dir, 'doubled.pcap');
  const record = Buffer.alloc(16);
  record.writeUInt32LE(frame.length, 8);
  record.writeUInt32LE(frame.length, 12);
  writeFileSync(doubled, Buffer.concat([readFileSync(file), record, frame]));
  assert.equal(repeatedNonces(wireguardDataHeaders(doubled)).length, 1, 'the repeat detector finds a planted repeat');
  assert.deepEqual(
    repeats.slice(0, 5),
    [],
    `nonce reuse on the wire: ${JSON.stringify(repeats.slice(0, 5), (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`,
  );
  assert.equal(a1.drops['rx-replay'] ?? 0, 0, `A rx-replay: ${JSON.stringify(a1.drops)}`);
  assert.equal(b1.drops['rx-replay'] ?? 0, 0, `B rx-replay: ${JSON.stringify(b1.drops)}`);
  // Intact after the load: the tunnel still answers at once.
  assert.equal(ping(a, b.inner4, 3), 3, logsOf(a, b));
});
