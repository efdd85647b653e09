/**
 * xdpwg on a router: its XDP filter must steer only what is addressed to the
 * router itself, and pass everything else to the kernel's forwarding path.
 *
 *   A ── M (router, xdpwg wm on port 51820) ── B
 *   A: wireguard-go wa (port 51820, tunnel to B through M) and wa2 (to M)
 *   B: wireguard-go wb (port 51820, tunnel to A through M) and wb2 (to M)
 *
 * The A↔B tunnel's outer datagrams carry the router's own listen port on
 * both ends, so a filter matching the port alone would take them off the
 * wire (and drop them as unknown WireGuard indices). M's own tunnels take
 * AF_XDP on both of M's devices meanwhile. IPv4 with options addressed to M
 * goes to the kernel socket.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import { addPeer, configureInterface, genKeys, logsOf, ping, wg, type Side } from '../helpers/tunnel-lab.js';
import {
  carriedOverAfxdp,
  kernelUdp,
  portTotals,
  routedSides,
  startFresh,
  statsAfter,
  statsOf,
  type AfxdpStats,
} from '../helpers/afxdp-lab.js';
import { xdpAttached } from './echo-fixture.js';

const S = 215;
const lab = new Lab('sdr');
let a: Side, b: Side, a2: Side, b2: Side, wm: Side;
let m: string, mA: string, mB: string;

before(async () => {
  requireRoot();
  ({ a, b, m, mA, mB } = routedSides(lab, S, { implB: 'wireguard-go' }));
  a.impl = 'wireguard-go';
  a.port = b.port = 51820;
  // M's own tunnels: one peer on each side, so its filter sits on both of M's devices.
  const mk = (ns: string, impl: Side['impl'], ifname: string, host: number, outer4: string, outer6: string, port: number): Side => ({
    ns,
    impl,
    ifname,
    keys: genKeys(),
    port,
    log: [],
    outer4,
    outer6,
    inner4: `10.${S}.3.${host}`,
    inner6: `fd00:${S}:3::${host}`,
  });
  wm = mk(m, 'xdpwg', `${lab.prefix}wm`, 254, `10.${S}.0.254`, `fd00:${S}::fe`, 51820);
  a2 = mk(a.ns, 'wireguard-go', `${lab.prefix}wa2`, 1, a.outer4, a.outer6, 51830);
  b2 = mk(b.ns, 'wireguard-go', `${lab.prefix}wb2`, 2, b.outer4, b.outer6, 51830);
  for (const side of [a, b, a2, b2, wm]) {
    await startFresh(lab, side);
    configureInterface(side);
  }
  addPeer(a, b, { outer: 4 });
  addPeer(b, a, { outer: 4 });
  addPeer(a2, wm, { outer: 4 });
  addPeer(b2, wm, { outer: 4 });
  // M reaches B by its address beyond the router's other device.
  addPeer(wm, a2, { outer: 4 });
  addPeer(wm, b2, { outer: 4 });
});
after(() => lab.cleanup());

test("M's own tunnels take AF_XDP on both of its devices", async () => {
  for (const peer of [a2, b2]) {
    assert.equal(ping(wm, peer.inner4, 3), 3, logsOf(wm, peer));
    const proof = await carriedOverAfxdp(wm, peer, 10, () => {
      assert.equal(ping(wm, peer.inner4, 10), 10, logsOf(wm, peer));
    });
    process.stderr.write(`# ${proof.text}\n`);
  }
  assert.ok(xdpAttached(m, mA) && xdpAttached(m, mB), "the filter is on both of M's devices");
});

test('forwarded WireGuard to port 51820 passes through M, v4 and v6, both directions', async () => {
  const before = await settled(wm);
  const k0 = kernelUdp(m);
  assert.equal(ping(a, b.inner4, 10), 10, `A→B through M (outer v4)\n${logsOf(a, b, wm)}`);
  assert.equal(ping(b, a.inner6, 10), 10, `B→A through M (outer v4)\n${logsOf(a, b, wm)}`);
  // Outer IPv6: A moves its endpoint for B; B roams to A's v6 source on the first packet.
  wg(a, ['set', a.ifname, 'peer', b.keys.publicKey, 'endpoint', `[${b.outer6}]:${b.port}`]);
  assert.equal(ping(a, b.inner4, 10), 10, `A→B through M (outer v6)\n${logsOf(a, b, wm)}`);
  assert.equal(ping(b, a.inner4, 10), 10, `B→A through M (outer v6)\n${logsOf(a, b, wm)}`);
  assert.match(wg(b, ['show', b.ifname, 'endpoints']), new RegExp(`\\[${a.outer6}\\]:${a.port}`), 'B saw A over IPv6');
  const after = await settled(wm);
  const k1 = kernelUdp(m);
  const received = portTotals(after, 'af_xdp').ipackets - portTotals(before, 'af_xdp').ipackets;
  const ownRx = (s: AfxdpStats): number => s.peers.reduce((sum, p) => sum + p.rxPackets, 0);
  const own = ownRx(after) - ownRx(before);
  process.stderr.write(
    `# 40 forwarded pings A↔B (160 outer datagrams through M); M's af_xdp +${received} in, of them +${own} for M's own peers (keepalives); kernel UDP +${k1.in - k0.in} in\n`,
  );
  // M's own idle tunnels may send keepalives (and a handshake) meanwhile; nothing else may arrive.
  assert.ok(received - own <= 4, `M's AF_XDP took ${received - own} frames that were not for its own peers`);
  assert.equal(after.drops['rx-unknown-index'] ?? 0, before.drops['rx-unknown-index'] ?? 0, "no forwarded WireGuard reached M's daemon");
});

/**
 * Port counters come from the workers once a second: a snapshot whose
 * af_xdp counters stood still for longer than that has everything before it.
 */
async function settled(x: Side): Promise<AfxdpStats> {
  let last = statsOf(x);
  let since = Date.now();
  return waitFor(
    'settled af_xdp counters',
    () => {
      const s = statsOf(x);
      if (portTotals(s, 'af_xdp').ipackets !== portTotals(last, 'af_xdp').ipackets) {
        last = s;
        since = Date.now();
        return undefined;
      }
      return Date.now() - since > 1_500 ? s : undefined;
    },
    10_000,
    250,
  );
}

/** Sends n UDP datagrams from A to M's listen port, with IPv4 options (Router Alert, RFC 2113) when asked. */
function sendToM(n: number, withOptions: boolean): void {
  const py = String.raw`
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if sys.argv[1] == '1':
    s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, b'\x94\x04\x00\x00')
for i in range(int(sys.argv[2])):
    s.sendto(b'\xff' * 32, (sys.argv[3], 51820))
`;
  nsExec(a.ns, 'python3', ['-c', py, withOptions ? '1' : '0', String(n), wm.outer4]);
}

test('IPv4 with options addressed to M reaches its kernel socket; without options, AF_XDP', async () => {
  const n = 20;
  const s0 = statsOf(wm);
  const k0 = kernelUdp(m);
  sendToM(n, true);
  const k1 = kernelUdp(m);
  assert.equal(k1.in - k0.in, n, 'datagrams with IP options went to the kernel');
  sendToM(n, false);
  const s1 = await statsAfter(wm, (s) => portTotals(s, 'af_xdp').ipackets - portTotals(s0, 'af_xdp').ipackets >= n);
  const k2 = kernelUdp(m);
  assert.equal(k2.in - k1.in, 0, 'datagrams without options did not reach the kernel');
  assert.ok(portTotals(s1, 'af_xdp').ipackets - portTotals(s0, 'af_xdp').ipackets >= n, 'datagrams without options took AF_XDP');
});
