/**
 * Sessions with wireguard-go (Debian's package) across the operations users
 * run on a live tunnel, on the wire in two namespaces:
 *  - `wg syncconf` with an unchanged file, three times under traffic, keeps
 *    the session: no lost ping, no new handshake (issue 12, item 2);
 *  - a packet xdpwg queued before any session is delivered when the peer
 *    initiates, though xdpwg's own initiations are dropped on the way
 *    (item 4: the responder sends what it queued on key confirmation).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
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

const lab = new Lab('ics');
let a: Side; // xdpwg
let b: Side; // wireguard-go

before(async () => {
  requireRoot();
  ({ a, b } = twoSides(lab, 'xdpwg', 'wireguard-go', 223));
  await startImplementation(lab, a);
  await startImplementation(lab, b);
  configureInterface(a);
  configureInterface(b);
});
after(() => lab.cleanup());

/** Runs ping from a side in the background; resolves to the number of replies. */
function backgroundPing(side: Side, to: string, count: number, intervalS: number, waitS = 2): Promise<number> {
  const child = lab.spawn(side.ns, 'ping', ['-c', String(count), '-i', String(intervalS), '-W', String(waitS), to]);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return once(child, 'exit').then(() => Number(/(\d+) received/.exec(out)?.[1] ?? 0));
}

test('wg syncconf with an unchanged file, three times under traffic, keeps the session with wireguard-go: same handshake, no lost ping', async () => {
  addPeer(a, b);
  addPeer(b, a, { endpoint: false });
  assert.equal(ping(a, b.inner4, 2), 2, logsOf(a, b));
  const handshakeBefore = peerDump(a, b.keys.publicKey)!.latestHandshake;
  assert.ok(handshakeBefore > 0);
  // The standard reload: the running configuration (what `wg-quick strip` gives) fed back.
  const conf = wg(a, ['showconf', a.ifname]);
  nsExec(a.ns, 'sh', ['-c', `umask 077; cat > /tmp/${a.ns}.conf`], { input: conf });
  const count = 60;
  const replies = backgroundPing(a, b.inner4, count, 0.05);
  for (let i = 0; i < 3; i++) {
    // Spread over the ping run: wait until some pings went by, then reload.
    const seen = peerDump(a, b.keys.publicKey)!.tx;
    await waitFor('pings between reloads', () => peerDump(a, b.keys.publicKey)!.tx > seen + 5 * 128, 10_000, 20);
    wg(a, ['syncconf', a.ifname, `/tmp/${a.ns}.conf`]);
  }
  assert.equal(await replies, count, `every ping answered across three reloads\n${logsOf(a, b)}`);
  assert.equal(peerDump(a, b.keys.publicKey)!.latestHandshake, handshakeBefore, 'no new handshake: the session was kept');
});

test('a packet queued before any session is delivered when wireguard-go initiates, with our initiations dropped on the way', async () => {
  // Fresh peers on both sides: no session anywhere.
  wg(a, ['set', a.ifname, 'peer', b.keys.publicKey, 'remove']);
  wg(b, ['set', b.ifname, 'peer', a.keys.publicKey, 'remove']);
  // Our initiations (148-byte payload: 176-byte IPv4 datagrams) to b never arrive.
  const rule = ['OUTPUT', '-p', 'udp', '--dport', String(b.port), '-m', 'length', '--length', '176', '-j', 'DROP'];
  nsExec(a.ns, 'iptables', ['-A', ...rule]);
  try {
    addPeer(a, b);
    // One ping, queued by xdpwg until a session exists; it waits up to 25 s for its reply.
    const replies = backgroundPing(a, b.inner4, 1, 1, 25);
    await waitFor(
      'xdpwg to try (and fail) an initiation',
      () => (nsExec(a.ns, 'iptables', ['-L', 'OUTPUT', '-v', '-n', '-x']).match(/^\s*(\d+)\s+\d+\s+DROP/m)?.[1] ?? '0') !== '0',
      10_000,
    );
    // wireguard-go initiates (a persistent keepalive needs a session); its first keepalive confirms our keypair.
    addPeer(b, a, { keepalive: 1 });
    await waitFor('a handshake initiated by wireguard-go', () => (peerDump(a, b.keys.publicKey)?.latestHandshake ?? 0) > 0, 15_000);
    assert.equal(await replies, 1, `the queued ping was sent on confirmation and answered\n${logsOf(a, b)}`);
  } finally {
    nsExec(a.ns, 'iptables', ['-D', ...rule]);
  }
});
