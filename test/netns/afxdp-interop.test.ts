/**
 * The AF_XDP data plane carries the tunnel: xdpwg ↔ wireguard-go and
 * xdpwg ↔ xdpwg over a 2-queue veth (one queue per worker, so every worker
 * has its AF_XDP port). Ping v4/v6 inside, iperf3 TCP and UDP; then the
 * proof that the data did not take the kernel's UDP stack:
 *
 *  - every data packet the tunnel counted as sent (the per-peer counters)
 *    is accounted for by the workers' port counters: it left on an af_xdp
 *    port, or on the worker's kernel socket port (the path for a peer with
 *    no usable route yet or a message over the egress MTU: counted there,
 *    and bounded by the kernel UDP check below), or a full port refused it
 *    (counted tx-send-failed; on a busy machine a full AF_XDP tx ring drops
 *    a few packets, as a NIC queue would) — the sum is checked exactly, not
 *    af_xdp alone; received data arrived on the same ports;
 *  - the namespace's kernel UDP counters (/proc/net/snmp Udp, /proc/net/snmp6
 *    Udp6) grow by a handful (handshakes, keepalives from the main thread),
 *    plus exactly the inner iperf3 datagrams when iperf3 itself runs UDP in
 *    that namespace — had the outer packets gone through the kernel, they
 *    would be counted too, doubling it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, requireRoot } from '../helpers/netns.js';
import { addPeer, configureInterface, logsOf, ping, type Side } from '../helpers/tunnel-lab.js';
import { afxdpSides, iperf, kernelUdp, mbit, pathTo, portTotals, statsAfter, type AfxdpStats, startFresh } from '../helpers/afxdp-lab.js';

/** Handshakes, keepalives, cookie traffic on the main thread's socket during one run: generous. */
const KERNEL_UDP_SLACK = 40;

/**
 * Where the data packets the tunnel counted as sent to `publicKey` between
 * two snapshots went: af_xdp ports, the workers' kernel socket ports, or
 * refused by a full port (tx-send-failed). send.ts counts a packet as sent
 * when it queues it (today: before the port takes it, so a refused one is
 * in `tunnel` and in `refused`; counted once the port accepts it, it is in
 * `refused` only): either way afxdp + kernel ≤ tunnel ≤ afxdp + kernel +
 * refused, and only that sum is exact. Port counters come from the workers'
 * once-a-second reports, the peer counters are live: `settled` says a
 * snapshot's ports have caught up with its peer counters (totals since the
 * start: workers send nothing but data), and both ends of a difference must
 * be settled, or the ports of the first lag and the difference over-counts.
 */
interface SentAccount {
  tunnel: number;
  afxdp: number;
  kernel: number;
  refused: number;
}
function sentAccount(s0: AfxdpStats, s1: AfxdpStats, publicKey: string): SentAccount {
  return {
    tunnel: peerPackets(s1, publicKey).tx - peerPackets(s0, publicKey).tx,
    afxdp: portTotals(s1, 'af_xdp').opackets - portTotals(s0, 'af_xdp').opackets,
    kernel: portTotals(s1, 'udp').opackets - portTotals(s0, 'udp').opackets,
    refused: (s1.drops['tx-send-failed'] ?? 0) - (s0.drops['tx-send-failed'] ?? 0),
  };
}
const settled = (a: SentAccount): boolean => a.afxdp + a.kernel + a.refused >= a.tunnel;
/** The snapshot's port counters cover every data packet its peer counters count (all peers). */
function settledSnapshot(s: AfxdpStats): boolean {
  const tunnel = s.peers.reduce((n, p) => n + p.txPackets, 0);
  return portTotals(s, 'af_xdp').opackets + portTotals(s, 'udp').opackets + (s.drops['tx-send-failed'] ?? 0) >= tunnel;
}
function assertSentAccounted(a: SentAccount, label: string): void {
  const onWire = a.afxdp + a.kernel;
  assert.ok(
    onWire <= a.tunnel && a.tunnel <= onWire + a.refused,
    `${label}: tunnel data packets +${a.tunnel} vs af_xdp +${a.afxdp} + kernel socket +${a.kernel} (+ refused by a full port ${a.refused}): packets left by an uncounted path`,
  );
}
const accountText = (a: SentAccount): string => `af_xdp +${a.afxdp} + kernel socket +${a.kernel} + refused ${a.refused}`;

function peerPackets(s: AfxdpStats, publicKey: string): { rx: number; tx: number } {
  const p = s.peers.find((x) => x.publicKey === publicKey);
  return { rx: p?.rxPackets ?? 0, tx: p?.txPackets ?? 0 };
}

/** Runs the checks for one xdpwg side `x` talking to `peer` (any implementation). */
async function carriesOverAfxdp(lab: Lab, x: Side, peer: Side, label: string): Promise<{ udpReceived: number }> {
  assert.equal(ping(x, peer.inner4, 3), 3, logsOf(x, peer));
  assert.equal(ping(x, peer.inner6, 3), 3, logsOf(x, peer));
  // Workers post their port counters once a second: wait for a snapshot with the pings in it.
  const s0 = await statsAfter(
    x,
    (s) =>
      pathTo(s, peer.keys.publicKey) === 'af_xdp' &&
      s.afxdp.some((d) => d.boundWorkers.length === s.workers) &&
      portTotals(s, 'af_xdp').opackets > 0 &&
      settledSnapshot(s),
  );
  assert.equal(pathTo(s0, peer.keys.publicKey), 'af_xdp', `${label}: ${JSON.stringify(s0.paths)}\n${logsOf(x, peer)}`);
  const dev = s0.afxdp.find((d) => !d.unusable);
  assert.ok(dev, `${label}: no usable AF_XDP device: ${JSON.stringify(s0.afxdp)}`);
  assert.equal(dev.boundWorkers.length, s0.workers, `${label}: every worker has its AF_XDP queue: ${JSON.stringify(s0.afxdp)}`);
  assert.ok(portTotals(s0, 'af_xdp').opackets > 0, `${label}: the pings went out on af_xdp ports: ${JSON.stringify(s0.ports)}`);

  // TCP: no inner UDP at all, so the namespace's kernel UDP counters see only the main thread's handful.
  const k0 = kernelUdp(x.ns);
  const tcp = await iperf(lab, x, peer, peer.inner4, ['-t', '3']);
  const k1 = kernelUdp(x.ns);
  const received = (s: AfxdpStats, since: AfxdpStats): number =>
    portTotals(s, 'af_xdp').ipackets -
    portTotals(since, 'af_xdp').ipackets +
    portTotals(s, 'udp').ipackets -
    portTotals(since, 'udp').ipackets;
  const tcpStats = await statsAfter(
    x,
    (s) =>
      settledSnapshot(s) &&
      settled(sentAccount(s0, s, peer.keys.publicKey)) &&
      received(s, s0) >= peerPackets(s, peer.keys.publicKey).rx - peerPackets(s0, peer.keys.publicKey).rx,
  );
  const xTcp = {
    i: portTotals(tcpStats, 'af_xdp').ipackets - portTotals(s0, 'af_xdp').ipackets,
    o: portTotals(tcpStats, 'af_xdp').opackets - portTotals(s0, 'af_xdp').opackets,
  };
  const pTcp = {
    rx: peerPackets(tcpStats, peer.keys.publicKey).rx - peerPackets(s0, peer.keys.publicKey).rx,
    tx: peerPackets(tcpStats, peer.keys.publicKey).tx - peerPackets(s0, peer.keys.publicKey).tx,
  };
  const sentTcp = sentAccount(s0, tcpStats, peer.keys.publicKey);
  process.stderr.write(
    `# ${label} iperf3 TCP ${mbit(tcp.bitsPerSecond)}; ${accountText(sentTcp)} out, af_xdp +${xTcp.i} in; tunnel data +${pTcp.tx} out +${pTcp.rx} in; kernel UDP +${k1.out - k0.out} out +${k1.in - k0.in} in\n`,
  );
  assert.ok(tcp.bitsPerSecond > 10e6, `${label}: TCP ${mbit(tcp.bitsPerSecond)}`);
  assert.ok(pTcp.tx > 1000, `${label}: tunnel carried ${pTcp.tx} data packets`);
  assertSentAccounted(sentTcp, `${label} TCP`);
  assert.ok(
    received(tcpStats, s0) >= pTcp.rx,
    `${label}: af_xdp ipackets +${xTcp.i} (+ kernel socket) < tunnel data packets received +${pTcp.rx}`,
  );
  assert.ok(
    k1.out - k0.out <= KERNEL_UDP_SLACK,
    `${label}: kernel UDP out grew by ${k1.out - k0.out} during TCP (${pTcp.tx} tunnel packets)`,
  );
  assert.ok(k1.in - k0.in <= KERNEL_UDP_SLACK, `${label}: kernel UDP in grew by ${k1.in - k0.in} during TCP (${pTcp.rx} tunnel packets)`);

  // UDP: iperf3's own inner datagrams are counted by this namespace's kernel (once); outer ones must not be.
  const k2 = kernelUdp(x.ns);
  const udp = await iperf(lab, x, peer, peer.inner4, ['-u', '-b', '200M', '-l', '1200', '-t', '3']);
  const k3 = kernelUdp(x.ns);
  // Not "as many as iperf3 sent": datagrams lost before the tunnel (TUN queue) never reach a port.
  const udpStats = await statsAfter(x, (s) => settledSnapshot(s) && settled(sentAccount(tcpStats, s, peer.keys.publicKey)));
  const sentUdp = sentAccount(tcpStats, udpStats, peer.keys.publicKey);
  const pUdp = sentUdp.tunnel;
  process.stderr.write(
    `# ${label} iperf3 UDP ${mbit(udp.bitsPerSecond)} received, ${udp.packets} datagrams sent, ${udp.received} arrived (${udp.lostPercent.toFixed(1)}% lost); ${accountText(sentUdp)} out; tunnel data +${pUdp} out; kernel UDP +${k3.out - k2.out} out\n`,
  );
  // 200 Mbit/s is more than two shared cores can encrypt and decrypt: loss is expected, and only reported.
  assert.ok(udp.received > 1000, `${label}: ${udp.received} of ${udp.packets} iperf3 datagrams arrived`);
  assert.ok(pUdp >= udp.received, `${label}: tunnel sent +${pUdp} but ${udp.received} iperf3 datagrams arrived`);
  assertSentAccounted(sentUdp, `${label} UDP`);
  assert.ok(
    k3.out - k2.out <= udp.packets + KERNEL_UDP_SLACK,
    `${label}: kernel UDP out +${k3.out - k2.out} for ${udp.packets} inner datagrams: outer packets took the kernel path`,
  );
  assert.equal(udpStats.drops['rx-replay'] ?? 0, 0, `${label}: replay drops ${JSON.stringify(udpStats.drops)}`);
  return { udpReceived: udp.received };
}

describe('xdpwg ↔ wireguard-go over AF_XDP', () => {
  const lab = new Lab('axg');
  let a: Side;
  let b: Side;
  before(async () => {
    requireRoot();
    ({ a, b } = afxdpSides(lab, 'xdpwg', 'wireguard-go', 211, { queues: 2 }));
    await startFresh(lab, a);
    await startFresh(lab, b);
    configureInterface(a);
    configureInterface(b);
    addPeer(a, b, { outer: 4 });
    addPeer(b, a, { outer: 4 });
  });
  after(() => lab.cleanup());

  test('ping v4/v6 and iperf3 TCP/UDP on the af_xdp ports, not the kernel UDP stack', async () => {
    await carriesOverAfxdp(lab, a, b, 'xdpwg→wireguard-go');
  });
});

describe('xdpwg ↔ xdpwg over AF_XDP (IPv6 outer)', () => {
  const lab = new Lab('axx');
  let a: Side;
  let b: Side;
  before(async () => {
    requireRoot();
    ({ a, b } = afxdpSides(lab, 'xdpwg', 'xdpwg', 212, { queues: 2 }));
    await startFresh(lab, a);
    await startFresh(lab, b);
    configureInterface(a);
    configureInterface(b);
    addPeer(a, b, { outer: 6 });
    addPeer(b, a, { outer: 6 });
  });
  after(() => lab.cleanup());

  test('both sides send and receive on af_xdp; ping v4/v6 and iperf3 TCP/UDP', async () => {
    const b0 = await statsAfter(b, settledSnapshot);
    const kb0 = kernelUdp(b.ns);
    const { udpReceived } = await carriesOverAfxdp(lab, a, b, 'xdpwg(A)→xdpwg(B)');
    // The receiving xdpwg: what A's runs sent arrived on B's af_xdp ports, and B's replies left on them.
    const b1 = await statsAfter(
      b,
      (s) =>
        pathTo(s, a.keys.publicKey) === 'af_xdp' &&
        portTotals(s, 'af_xdp').ipackets - portTotals(b0, 'af_xdp').ipackets >=
          peerPackets(s, a.keys.publicKey).rx - peerPackets(b0, a.keys.publicKey).rx &&
        settledSnapshot(s) &&
        settled(sentAccount(b0, s, a.keys.publicKey)),
    );
    const kb1 = kernelUdp(b.ns);
    const xi = portTotals(b1, 'af_xdp').ipackets - portTotals(b0, 'af_xdp').ipackets;
    const sent = sentAccount(b0, b1, a.keys.publicKey);
    const p = { rx: peerPackets(b1, a.keys.publicKey).rx - peerPackets(b0, a.keys.publicKey).rx, tx: sent.tunnel };
    process.stderr.write(
      `# xdpwg(B) receiving: af_xdp +${xi} in, ${accountText(sent)} out; tunnel data +${p.rx} in +${p.tx} out; kernel UDP +${kb1.in - kb0.in} in +${kb1.out - kb0.out} out (inner iperf3 datagrams included)\n`,
    );
    assert.equal(pathTo(b1, a.keys.publicKey), 'af_xdp', JSON.stringify(b1.paths));
    assert.ok(p.rx > 10_000, `B received ${p.rx} tunnel data packets`);
    assert.ok(xi >= p.rx, `B af_xdp +${xi} in vs tunnel +${p.rx} in`);
    assertSentAccounted(sent, 'xdpwg(B) replies');
    // B's namespace counts the inner iperf3 datagrams it received, never the outer ones on top.
    assert.ok(
      kb1.in - kb0.in <= udpReceived + KERNEL_UDP_SLACK,
      `B kernel UDP in +${kb1.in - kb0.in} for ${udpReceived} inner datagrams and ${p.rx} tunnel packets`,
    );
  });
});
