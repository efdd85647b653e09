/**
 * xdpwg ↔ xdpwg across a router namespace that NATs one side:
 * persistent keepalive through NAT, roaming (the NAT's public address
 * changes and the far side follows), the allowed-IPs source filter, large
 * and runtime-changed MTUs, and `wg setconf` / `wg showconf` round trips.
 *
 *   A (xdpwg, 10.204.1.1) ── R (router, SNAT) ── B (xdpwg, 10.204.2.2)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import {
  addPeer,
  configureInterface,
  genKeys,
  logsOf,
  peerDump,
  ping,
  startImplementation,
  wg,
  xdpwgBin,
  type Side,
} from '../helpers/tunnel-lab.js';

const lab = new Lab('xp');
let a: Side; // behind NAT
let b: Side; // public
let r: string;

before(async () => {
  requireRoot();
  const nsA = lab.ns('a');
  r = lab.ns('r');
  const nsB = lab.ns('b');
  lab.veth({ ns: nsA, dev: 'xpva', addrs: ['10.204.1.1/24'] }, { ns: r, dev: 'xpra', addrs: ['10.204.1.254/24'] });
  lab.veth({ ns: r, dev: 'xprb', addrs: ['10.204.2.254/24', '10.204.2.253/24'] }, { ns: nsB, dev: 'xpvb', addrs: ['10.204.2.2/24'] });
  nsExec(nsA, 'ip', ['route', 'add', 'default', 'via', '10.204.1.254']);
  nsExec(nsB, 'ip', ['route', 'add', 'default', 'via', '10.204.2.254']);
  nsExec(r, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  nsExec(r, 'iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-o', 'xprb', '-j', 'SNAT', '--to-source', '10.204.2.254']);
  const mk = (ns: string, host: number, ifname: string, outer: string): Side => ({
    ns,
    impl: 'xdpwg',
    ifname,
    keys: genKeys(),
    port: 51820 + host,
    log: [],
    outer4: outer,
    outer6: '',
    inner4: `10.205.0.${host}`,
    inner6: `fd00:205::${host}`,
  });
  a = mk(nsA, 1, 'xpwa', '10.204.1.1');
  b = mk(nsB, 2, 'xpwb', '10.204.2.2');
  await startImplementation(lab, a);
  await startImplementation(lab, b);
  configureInterface(a);
  configureInterface(b);
});
after(() => lab.cleanup());

test('persistent keepalive through NAT: the public side learns the NATed endpoint and can reach back', async () => {
  // B first: A's keepalive starts a handshake at once, which B must already accept
  // (a first initiation B refuses is retried only after REKEY_TIMEOUT, 5 s).
  addPeer(b, a, { endpoint: false });
  addPeer(a, b, { keepalive: 1 });
  // B learns the endpoint from A's initiation, and (as responder) stamps the handshake
  // only once A's first data message confirms the session (whitepaper §5.4.6).
  const d = await waitFor(
    'B to learn A through the NAT and the session to be confirmed',
    () => {
      const x = peerDump(b, a.keys.publicKey);
      return x && x.endpoint.startsWith('10.204.2.254:') && x.latestHandshake > 0 ? x : undefined;
    },
    10_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${logsOf(a, b)}`);
  });
  assert.ok(d.latestHandshake > 0, logsOf(a, b));
  // B initiates nothing: it answers through the NAT mapping A's keepalives hold open.
  assert.equal(ping(b, a.inner4, 3), 3, logsOf(a, b));
  assert.equal(ping(b, a.inner6, 3), 3, logsOf(a, b));
});

test('roaming: when the NAT moves A to another public address, B follows from authenticated traffic', async () => {
  nsExec(r, 'iptables', ['-t', 'nat', '-F', 'POSTROUTING']);
  nsExec(r, 'iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-o', 'xprb', '-j', 'SNAT', '--to-source', '10.204.2.253']);
  // The old mapping lives in conntrack until flushed; SNAT applies to new flows only.
  nsExec(r, 'conntrack', ['-F'], {}).toString();
  await waitFor(
    'B to follow A to the new public address',
    () => {
      ping(a, b.inner4, 1);
      return peerDump(b, a.keys.publicKey)?.endpoint.startsWith('10.204.2.253:');
    },
    15_000,
  );
  assert.equal(ping(b, a.inner4, 3), 3, logsOf(a, b));
});

test('allowed-IPs source filter: a packet from an address A does not own is dropped by B and counted', async () => {
  nsExec(a.ns, 'ip', ['addr', 'add', '10.205.0.77/24', 'dev', a.ifname]);
  const before = JSON.parse(nsExec(b.ns, xdpwgBin, ['stats', b.ifname, '--json'])).drops['rx-allowed-ips'] ?? 0;
  // A routes it (B owns 10.205.0.2/32 in A's table) but B must refuse the inner source .77.
  let replies = 0;
  try {
    replies = Number(
      /(\d+) received/.exec(nsExec(a.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', '-I', '10.205.0.77', b.inner4]))?.[1] ?? 0,
    );
  } catch {
    replies = 0;
  }
  assert.equal(replies, 0, 'spoofed source got through');
  const afterCount = JSON.parse(nsExec(b.ns, xdpwgBin, ['stats', b.ifname, '--json'])).drops['rx-allowed-ips'] ?? 0;
  assert.ok(afterCount - before >= 3, `rx-allowed-ips went from ${before} to ${afterCount}`);
  assert.equal(ping(a, b.inner4, 2), 2, 'legitimate traffic still passes');
});

test('large MTU and an MTU changed at runtime: full-size packets go through', async () => {
  // The daemon follows the TUN's MTU within a tick (100 ms); give it that.
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 300));
  for (const s of [a, b]) nsExec(s.ns, 'ip', ['link', 'set', s.ifname, 'mtu', '9000']);
  await settle();
  assert.equal(ping(a, b.inner4, 2, 9000 - 28), 2, `MTU 9000: ${logsOf(a, b)}`);
  for (const s of [a, b]) nsExec(s.ns, 'ip', ['link', 'set', s.ifname, 'mtu', '60000']);
  await settle();
  assert.equal(ping(a, b.inner4, 2, 60000 - 28), 2, `MTU 60000: ${logsOf(a, b)}`);
  for (const s of [a, b]) nsExec(s.ns, 'ip', ['link', 'set', s.ifname, 'mtu', '1420']);
  await settle();
  assert.equal(ping(a, b.inner4, 2, 1420 - 28), 2, `MTU 1420: ${logsOf(a, b)}`);
});

test('wg showconf / wg setconf round trip', () => {
  const first = wg(a, ['showconf', a.ifname]);
  assert.match(first, /\[Peer\]/);
  const dir = mkdtempSync(path.join(tmpdir(), 'xdpwg-conf-'));
  const file = path.join(dir, 'a.conf');
  writeFileSync(file, first);
  wg(a, ['setconf', a.ifname, file]);
  const second = wg(a, ['showconf', a.ifname]);
  assert.equal(second, first);
  // And the tunnel still works after setconf (peers were replaced: a new handshake).
  assert.ok(ping(a, b.inner4, 3) >= 2, logsOf(a, b));
});
