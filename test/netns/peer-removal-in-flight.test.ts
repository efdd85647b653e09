/**
 * A peer removed while its packets are in flight is never sealed for again
 * (issue 20), end to end: A (xdpwg, 2 workers, the crypto crew forced on)
 * floods B over several flows, so both workers and the crew are sealing for
 * B, when `wg set A peer B remove` runs.
 *
 *   A (xdpwg, 2 workers + crew) ══ veth, 2 queues ══ ns B: B (wireguard-go, port 51822, the removed peer)
 *                                                          C (wireguard-go, port 51823, the peer that stays)
 *
 * The receivers are wireguard-go, so what is counted on the far side is the
 * wire and an independent implementation, not xdpwg's own accounting:
 *   1. before the removal, both of A's workers send and A's crew seals;
 *   2. `wg set … remove` returns; packets sealed before it may still be on
 *      their way (in a worker's burst, a crew share, an AF_XDP ring), so we
 *      wait until B's received-bytes counter stops moving (bounded);
 *   3. from then on, a capture on B's side of the veth of every transport
 *      message (type 4) to B's port must stay empty while the flood goes on
 *      and A drops at least WINDOW_DROPS more of it as tx-no-route: proof the
 *      workers kept reading the flood and sealed none of it;
 *   4. C's tunnel still pings (the daemon is healthy, other peers unharmed).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import { addPeer, configureInterface, genKeys, logsOf, peerDump, ping, startImplementation, wg, type Side } from '../helpers/tunnel-lab.js';
import { afxdpSides, capture, datapathFile, portTotals, startFresh, statsAfter, statsOf } from '../helpers/afxdp-lab.js';
import { readPcap, udpPayload } from '../helpers/pcap.js';
import type { CryptoCrewStats } from '../../src/crypto/crypto-crew.js';

const SUBNET = 238;
const lab = new Lab('prm');
let a: Side;
let b: Side;
let c: Side;
let vethB: string;
/** A's address on its tunnel for C's subnet. */
const aForC4 = `10.${SUBNET}.3.1`;
/**
 * Flows of the flood. Each lands on a TUN queue by its hash (native/bpf/tun_steering.bpf.c), so with F
 * flows and 2 queues all land on one with probability 2^(1-F): 8 flows made that 1 run in 128 (seen once,
 * in a full `npm test`); 32 make it one in two billion.
 */
const FLOWS = 32;
const FLOOD_PORT = 9000;
/** Flood packets A must drop as tx-no-route after the in-flight ones settled: the observation window. */
const WINDOW_DROPS = 20_000;

before(async () => {
  requireRoot();
  let vb: string;
  ({ a, b, vethB: vb } = afxdpSides(lab, 'xdpwg', 'wireguard-go', SUBNET, { queues: 2 }));
  vethB = vb;
  c = {
    ns: b.ns,
    impl: 'wireguard-go',
    ifname: `${lab.prefix}wc`,
    keys: genKeys(),
    port: 51823,
    log: [],
    outer4: b.outer4,
    outer6: b.outer6,
    inner4: `10.${SUBNET}.3.3`,
    inner6: `fd00:${SUBNET}:3::3`,
  };
  await startFresh(lab, a, { XDPWG_DATAPATH: datapathFile({ workers: 2, cryptoCrew: 1, cryptoCrewMinBurst: 2 }) });
  await startImplementation(lab, b);
  await startImplementation(lab, c);
  for (const s of [a, b, c]) configureInterface(s);
  nsExec(a.ns, 'ip', ['addr', 'add', `${aForC4}/24`, 'dev', a.ifname]);
  addPeer(a, b);
  addPeer(b, a);
  addPeer(a, c);
  // C sees A by its address on C's subnet.
  wg(c, ['set', c.ifname, 'peer', a.keys.publicKey, 'allowed-ips', `${aForC4}/32`, 'endpoint', `${a.outer4}:${a.port}`]);
});
after(() => lab.cleanup());

const crewOf = (side: Side): CryptoCrewStats => (statsOf(side) as unknown as { cryptoCrew: CryptoCrewStats }).cryptoCrew;
const noRouteDrops = (side: Side): number => statsOf(side).drops['tx-no-route'] ?? 0;
/** What B (wireguard-go) received from A, in bytes, as `wg show` reports it. */
const bReceived = (): number => peerDump(b, a.keys.publicKey)?.rx ?? 0;

// The flood: FLOWS sockets (FLOWS source ports, so the kernel spreads them over A's TUN
// queues and so over both workers), rounds of 256 datagrams over them, until killed.
const FLOOD = `
const dgram = require('node:dgram');
const [to, port, flows] = process.argv.slice(1);
const socks = Array.from({ length: Number(flows) }, () => dgram.createSocket('udp4'));
const payload = Buffer.alloc(200, 0x5a);
const round = () => {
  let pending = 0;
  for (const s of socks) for (let i = 0; i < 256 / socks.length; i++) {
    pending++;
    // After the removal the kernel still routes to the tunnel; the daemon drops: no errors expected, none fatal.
    s.send(payload, Number(port), to, () => { if (--pending === 0) setTimeout(round, 1); });
  }
};
round();
`;

test('a peer removed while both workers and the crew seal for it gets no transport message afterwards; the other peer still works', async () => {
  assert.equal(ping(a, b.inner4, 3), 3, logsOf(a, b));
  assert.equal(ping(a, c.inner4, 3), 3, logsOf(a, c));
  assert.equal(crewOf(a).threads, 1, `A's crew: ${JSON.stringify(crewOf(a))}`);

  // 1. The flood runs, and both workers and the crew seal for B.
  const s0 = statsOf(a);
  const crew0 = crewOf(a);
  const rx0 = bReceived();
  const flood = lab.spawn(a.ns, process.execPath, ['-e', FLOOD, b.inner4, String(FLOOD_PORT), String(FLOWS)]);
  let floodErr = '';
  flood.stderr!.on('data', (d: Buffer) => (floodErr += d.toString()));
  const w0 = portTotals(s0, 'af_xdp').byWorker;
  const busy = await statsAfter(
    a,
    (s) => {
      const w = portTotals(s, 'af_xdp').byWorker;
      return [0, 1].every((i) => (w.get(i)?.opackets ?? 0) - (w0.get(i)?.opackets ?? 0) >= 500);
    },
    20_000,
  );
  await waitFor('B to receive the flood', () => bReceived() - rx0 > 1_000_000, 20_000, 100);
  const perWorker = [0, 1].map((i) => (portTotals(busy, 'af_xdp').byWorker.get(i)?.opackets ?? 0) - (w0.get(i)?.opackets ?? 0));
  assert.ok(
    perWorker.every((n) => n >= 500),
    `both workers send the flood (af_xdp frames out per worker: ${perWorker.join(', ')}); ${floodErr}`,
  );
  const crewBefore = crewOf(a);
  assert.ok(crewBefore.crewPackets - crew0.crewPackets >= 100, `A's crew sealed ${crewBefore.crewPackets - crew0.crewPackets} packets`);

  // 2. Remove B while the flood runs; wait (bounded) for what was sealed before to arrive.
  const rxAtRemove = bReceived();
  const removeStart = Date.now();
  wg(a, ['set', a.ifname, 'peer', b.keys.publicKey, 'remove']);
  const removeMs = Date.now() - removeStart;
  const rxAtReturn = bReceived();
  assert.ok(!wg(a, ['show', a.ifname, 'peers']).includes(b.keys.publicKey), 'B is gone from A');
  let last = bReceived();
  let stableSince = Date.now();
  const settledAt = await waitFor(
    "B's received counter to stop moving (in-flight packets delivered)",
    () => {
      const now = bReceived();
      if (now !== last) {
        last = now;
        stableSince = Date.now();
        return undefined;
      }
      return Date.now() - stableSince >= 1_000 ? now : undefined;
    },
    15_000,
    50,
  );
  const inFlightBytes = settledAt - rxAtReturn;
  // The crew's counters are live (native atomics): nothing A receives after the removal is
  // opened (B's keypairs are gone) and nothing is sealed, so they stand still from here on.
  const crewSettled = crewOf(a);

  // 3. From here on nothing for B may leave A while the flood goes on.
  const file = `/tmp/${b.ns}.after-removal.pcap`;
  const cap = await capture(lab, b.ns, vethB, file, `udp dst port ${b.port} and udp[8] = 4`);
  const drops0 = noRouteDrops(a);
  const windowStats = await statsAfter(a, (s) => (s.drops['tx-no-route'] ?? 0) - drops0 >= WINDOW_DROPS, 30_000);
  const windowDrops = (windowStats.drops['tx-no-route'] ?? 0) - drops0;
  const rxAfterWindow = bReceived();
  await cap.stop();
  flood.kill('SIGTERM');
  const { linkType, packets } = readPcap(file);
  const transport = packets.filter((f) => udpPayload(f, linkType)?.payload[0] === 4);
  const crewAfter = crewOf(a);
  const crewInWindow = crewAfter.packets - crewSettled.packets;

  process.stderr.write(
    `# wg set … remove took ${removeMs} ms; B received ${rxAtReturn - rxAtRemove} bytes while it ran, ${inFlightBytes} bytes after it returned (in flight)\n` +
      `# per-worker af_xdp frames out before removal: ${perWorker.join(', ')}; crew sealed +${crewBefore.crewPackets - crew0.crewPackets} packets\n` +
      `# window: A dropped +${windowDrops} flood packets as tx-no-route; capture held ${packets.length} frames (${transport.length} transport) for B's port (${statSync(file).size} bytes); B received +${rxAfterWindow - settledAt} bytes\n` +
      `# crew during the window: +${crewInWindow} packets shared; drops ${JSON.stringify(windowStats.drops)}\n`,
  );
  assert.ok(windowDrops >= WINDOW_DROPS, `A kept reading the flood and dropped it as no route (+${windowDrops})\n${logsOf(a)}`);
  assert.equal(transport.length, 0, `no transport message for B left A after the in-flight ones (${transport.length} captured)`);
  assert.equal(rxAfterWindow, settledAt, 'B received nothing more from A');
  assert.equal(crewInWindow, 0, "A's crew sealed or opened nothing during the window");

  // 4. The daemon is healthy and the other peer's tunnel works.
  assert.equal(ping(a, c.inner4, 3), 3, `C still pings after B's removal\n${logsOf(a, c)}`);
  assert.ok(a.proc!.exitCode === null && a.proc!.signalCode === null, `A still runs\n${logsOf(a)}`);
});
