/**
 * xdpwg against wireguard-go (Debian's package), each in its own network
 * namespace, both configured with the real `wg` tool: handshakes initiated
 * by each side, IPv4 and IPv6 inside, IPv4 and IPv6 outside, a PSK, iperf3
 * TCP both ways, and `wg show` against xdpwg reporting what happened.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, nsExec, requireRoot, sh, waitFor } from '../helpers/netns.js';
import {
  addPeer,
  configureInterface,
  logsOf,
  peerDump,
  ping,
  startImplementation,
  twoSides,
  wg,
  type Side,
} from '../helpers/tunnel-lab.js';

const lab = new Lab('ig');
let a: Side; // xdpwg
let b: Side; // wireguard-go
const psk = sh('wg', ['genpsk']).trim();

before(async () => {
  requireRoot();
  ({ a, b } = twoSides(lab, 'xdpwg', 'wireguard-go', 203));
  await startImplementation(lab, a);
  await startImplementation(lab, b);
  configureInterface(a);
  configureInterface(b);
});
after(() => lab.cleanup());

test('xdpwg initiates to wireguard-go over IPv4 with a PSK: ping v4 and v6 inside', async () => {
  addPeer(a, b, { outer: 4, psk });
  addPeer(b, a, { outer: 4, psk, endpoint: false });
  assert.equal(ping(a, b.inner4, 3), 3, logsOf(a, b));
  assert.equal(ping(a, b.inner6, 3), 3, logsOf(a, b));
  const d = peerDump(a, b.keys.publicKey)!;
  assert.ok(d.latestHandshake > 0, 'xdpwg reports a handshake');
  assert.equal(d.endpoint, `${b.outer4}:${b.port}`);
  // wireguard-go learnt our endpoint from the handshake.
  assert.equal(peerDump(b, a.keys.publicKey)!.endpoint, `${a.outer4}:${a.port}`);
});

test('transfer counters agree between xdpwg and wireguard-go', async () => {
  // Let keepalives settle, then compare: what one sent the other received (same message bytes).
  await new Promise((r) => setTimeout(r, 500));
  const ours = peerDump(a, b.keys.publicKey)!;
  const theirs = peerDump(b, a.keys.publicKey)!;
  assert.ok(ours.tx > 0 && ours.rx > 0);
  assert.equal(ours.tx, theirs.rx, `xdpwg tx ${ours.tx} vs wireguard-go rx ${theirs.rx}`);
  assert.equal(ours.rx, theirs.tx, `xdpwg rx ${ours.rx} vs wireguard-go tx ${theirs.tx}`);
  const show = wg(a, ['show', a.ifname]);
  assert.match(show, /latest handshake: .* ago/);
  assert.match(show, /transfer: .* received, .* sent/);
  assert.match(show, /preshared key: \(hidden\)/);
});

test('wireguard-go initiates to xdpwg over IPv6 outer transport', async () => {
  // Fresh sessions on both sides: remove and re-add the peers.
  wg(a, ['set', a.ifname, 'peer', b.keys.publicKey, 'remove']);
  wg(b, ['set', b.ifname, 'peer', a.keys.publicKey, 'remove']);
  addPeer(a, b, { endpoint: false, psk });
  addPeer(b, a, { outer: 6, psk });
  assert.equal(ping(b, a.inner4, 3), 3, logsOf(a, b));
  assert.equal(ping(b, a.inner6, 3), 3, logsOf(a, b));
  const d = await waitFor('xdpwg to learn the v6 endpoint', () => {
    const x = peerDump(a, b.keys.publicKey);
    return x && x.endpoint.startsWith('[') ? x : undefined;
  });
  assert.equal(d.endpoint, `[${b.outer6}]:${b.port}`);
  assert.ok(d.latestHandshake > 0);
});

test('iperf3 TCP both ways through the tunnel', async () => {
  const server = lab.spawn(b.ns, 'iperf3', ['-s', '-1', '-B', b.inner4]);
  await waitFor('iperf3 server', () => nsExec(b.ns, 'ss', ['-ltn']).includes(`${b.inner4}:5201`));
  const up = JSON.parse(nsExec(a.ns, 'iperf3', ['-c', b.inner4, '-t', '3', '-J'], { timeoutMs: 30_000 }));
  const upBps = up.end.sum_received.bits_per_second as number;
  await new Promise((r) => server.once('exit', r));
  lab.spawn(b.ns, 'iperf3', ['-s', '-1', '-B', b.inner4]);
  await waitFor('iperf3 server', () => nsExec(b.ns, 'ss', ['-ltn']).includes(`${b.inner4}:5201`));
  const down = JSON.parse(nsExec(a.ns, 'iperf3', ['-c', b.inner4, '-t', '3', '-R', '-J'], { timeoutMs: 30_000 }));
  const downBps = down.end.sum_received.bits_per_second as number;
  process.stderr.write(
    `# iperf3 xdpwg→wireguard-go ${(upBps / 1e6).toFixed(0)} Mbit/s, wireguard-go→xdpwg ${(downBps / 1e6).toFixed(0)} Mbit/s\n`,
  );
  assert.ok(upBps > 10e6, `upload ${upBps} bit/s`);
  assert.ok(downBps > 10e6, `download ${downBps} bit/s`);
});
