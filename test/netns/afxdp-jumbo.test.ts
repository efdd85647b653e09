/**
 * Jumbo TUN MTU (9000) on both ends over AF_XDP-capable veths, with the
 * veth MTU at 9000 and at 1500: a message too large for an AF_XDP frame
 * (2048 B by default) or for the device MTU takes the kernel UDP socket
 * (which fragments when it must), small ones stay on AF_XDP. ping -s 8972
 * and iperf3 TCP pass; the per-port counters show which path each took.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, requireRoot } from '../helpers/netns.js';
import { addPeer, configureInterface, logsOf, ping, type Side } from '../helpers/tunnel-lab.js';
import { afxdpSides, iperf, mbit, pathTo, portTotals, startFresh, statsAfter, statsOf, type AfxdpStats } from '../helpers/afxdp-lab.js';

const labs: Lab[] = [];
after(() => {
  for (const l of labs) l.cleanup();
});

/** Worker port counters are posted once a second: wait for a snapshot that includes everything so far. */
const settled = async (x: Side): Promise<AfxdpStats> => {
  await new Promise((r) => setTimeout(r, 1_200));
  return statsOf(x);
};

const out = (s: AfxdpStats): { xsk: number; udp: number } => ({
  xsk: portTotals(s, 'af_xdp').opackets,
  udp: portTotals(s, 'udp').opackets,
});

for (const [vethMtu, subnet] of [
  [9000, 219],
  [1500, 220],
] as const) {
  test(`TUN MTU 9000 over a veth with MTU ${vethMtu}: large packets on the kernel socket, small ones on AF_XDP`, async () => {
    requireRoot();
    const lab = new Lab(`axj${vethMtu === 9000 ? 'j' : 's'}`);
    labs.push(lab);
    const { a, b } = afxdpSides(lab, 'xdpwg', 'xdpwg', subnet, { queues: 2, vethMtu });
    await startFresh(lab, a);
    await startFresh(lab, b);
    configureInterface(a, 9000);
    configureInterface(b, 9000);
    addPeer(b, a, { outer: 4 });
    addPeer(a, b, { outer: 4 });
    assert.equal(ping(a, b.inner4, 3), 3, logsOf(a, b));
    const s0 = await statsAfter(a, (s) => pathTo(s, b.keys.publicKey) === 'af_xdp');
    assert.equal(pathTo(s0, b.keys.publicKey), 'af_xdp', JSON.stringify(s0.paths));

    // Small packets: AF_XDP.
    const small0 = out(await settled(a));
    assert.equal(ping(a, b.inner4, 10), 10, logsOf(a, b));
    const small1 = out(await settled(a));
    // Full-size packets (9000-byte inner, DF set): the kernel socket.
    assert.equal(ping(a, b.inner4, 10, 8972), 10, `ping -s 8972: ${logsOf(a, b)}`);
    assert.equal(ping(a, b.inner6, 5, 8952), 5, `ping -6 -s 8952: ${logsOf(a, b)}`);
    const big1 = out(await settled(a));
    const tcp = await iperf(lab, a, b, b.inner4, ['-t', '2']);
    const t1 = out(await settled(a));
    process.stderr.write(
      `# veth MTU ${vethMtu}: 10 small pings → af_xdp +${small1.xsk - small0.xsk} udp +${small1.udp - small0.udp}; 15 jumbo pings → af_xdp +${big1.xsk - small1.xsk} udp +${big1.udp - small1.udp}; iperf3 TCP ${mbit(tcp.bitsPerSecond)} → af_xdp +${t1.xsk - big1.xsk} udp +${t1.udp - big1.udp}\n`,
    );
    // A worker posts its counters when it wakes, so the last packet of a phase may land in the next snapshot.
    assert.ok(big1.xsk - small0.xsk >= 10, `small pings: af_xdp +${big1.xsk - small0.xsk}`);
    assert.ok(small1.udp - small0.udp <= 2, `small pings took the kernel socket: udp +${small1.udp - small0.udp}`);
    assert.ok(t1.udp - small1.udp >= 15 && big1.udp - small1.udp >= 13, `jumbo pings: udp +${big1.udp - small1.udp}`);
    assert.ok(
      tcp.bitsPerSecond > 10e6,
      `TCP ${mbit(tcp.bitsPerSecond)}; A ${JSON.stringify(statsOf(a))}\nB ${JSON.stringify(statsOf(b))}\n${logsOf(a, b)}`,
    );
    assert.ok(t1.udp - big1.udp > 1000, `iperf3's full-size segments on the kernel socket: udp +${t1.udp - big1.udp}`);
    const s = statsOf(a);
    assert.equal(pathTo(s, b.keys.publicKey), 'af_xdp', 'the peer keeps its AF_XDP route for what fits');
    assert.equal(s.drops['rx-replay'] ?? 0, 0, JSON.stringify(s.drops));
    // Frames too big for an AF_XDP frame must reach the kernel socket, not die at the receiver's XSK.
    const xskDropped = statsOf(b).ports.reduce((n, p) => n + Number(p.kernel_rx_dropped ?? 0), 0);
    assert.equal(xskDropped, 0, "B's AF_XDP sockets dropped frames (too large for a frame?)");
  });
}
