/**
 * The real wg-quick(8) driving xdpwg as its userspace implementation
 * (WG_QUICK_USERSPACE_IMPLEMENTATION=xdpwg, as it drives wireguard-go):
 * `wg-quick up FILE` starts our daemon through the wireguard-go contract and
 * configures it with wg(8) and ip(8); traffic flows to a wireguard-go peer;
 * `wg-quick down FILE` deletes the interface and the daemon goes with it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Lab, nsExec, requireRoot, sh, waitFor } from '../helpers/netns.js';
import { alive, daemonPid, linkExists, socketPath } from '../helpers/cli-run.js';
import {
  addPeer,
  configureInterface,
  logsOf,
  peerDump,
  ping,
  startImplementation,
  twoSides,
  xdpwgBin,
  type Side,
} from '../helpers/tunnel-lab.js';

const lab = new Lab('h7q');
let a: Side; // wg-quick + xdpwg
let b: Side; // wireguard-go, configured with wg
let dir: string;
let conf: string;
let pathWithXdpwg: string;
// Outside the interface's own subnets, so wg-quick has to add a route for them.
const extraPrefix = '10.209.5.0/24';
const extraPrefix6 = 'fd00:209:5::/64';

before(async () => {
  requireRoot();
  // wg-quick prefers the kernel module whenever it is loaded; then this test would not test us.
  if (existsSync('/sys/module/wireguard')) throw new Error('the wireguard kernel module is loaded: wg-quick would use it instead of xdpwg');
  ({ a, b } = twoSides(lab, 'xdpwg', 'wireguard-go', 209));
  for (const s of [a, b]) rmSync(socketPath(s.ifname), { force: true });
  dir = mkdtempSync(path.join(os.tmpdir(), 'h7q-'));
  // wg-quick runs "$WG_QUICK_USERSPACE_IMPLEMENTATION IFNAME" through PATH.
  symlinkSync(xdpwgBin, path.join(dir, 'xdpwg'));
  pathWithXdpwg = `${dir}:${process.env.PATH}`;
  // A path, not a bare name: wg-quick only looks in /etc/wireguard for bare names. No DNS (it would need resolvconf).
  conf = path.join(dir, `${a.ifname}.conf`);
  writeFileSync(
    conf,
    [
      '[Interface]',
      `PrivateKey = ${a.keys.privateKey}`,
      `ListenPort = ${a.port}`,
      `Address = ${a.inner4}/24, ${a.inner6}/64`,
      'MTU = 1400',
      '',
      '[Peer]',
      `PublicKey = ${b.keys.publicKey}`,
      `AllowedIPs = ${b.inner4}/32, ${b.inner6}/128, ${extraPrefix}, ${extraPrefix6}`,
      `Endpoint = ${b.outer4}:${b.port}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );

  await startImplementation(lab, b);
  configureInterface(b);
  addPeer(b, a, { endpoint: false });
});
after(() => {
  lab.cleanup();
  for (const s of [a, b])
    if (s) {
      rmSync(socketPath(s.ifname), { force: true });
      rmSync(`/tmp/${s.ns}.key`, { force: true });
    }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** wg-quick ACTION FILE inside a's namespace; returns its output (wg-quick echoes every command it runs). */
function wgQuick(action: 'up' | 'down'): string {
  const out = sh(
    'ip',
    [
      'netns',
      'exec',
      a.ns,
      'env',
      `PATH=${pathWithXdpwg}`,
      'WG_QUICK_USERSPACE_IMPLEMENTATION=xdpwg',
      'sh',
      '-c',
      `wg-quick ${action} '${conf}' 2>&1`,
    ],
    { timeoutMs: 30_000 },
  );
  return out;
}

test('wg-quick up FILE starts xdpwg and gives the interface its addresses, MTU and routes', () => {
  const out = wgQuick('up');
  assert.match(out, /\[#\] xdpwg h7qwa/, `wg-quick ran our daemon:\n${out}`);
  const pid = daemonPid(a.ns, a.ifname);
  assert.ok(pid, `${socketPath(a.ifname)} is served`);
  assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /xdpwg/, 'the daemon behind the socket is xdpwg');

  const link = nsExec(a.ns, 'ip', ['-o', 'link', 'show', a.ifname]);
  assert.match(link, /mtu 1400/);
  assert.match(link, /[<,]UP[,>]/);
  const addrs = nsExec(a.ns, 'ip', ['-o', 'addr', 'show', 'dev', a.ifname]);
  assert.ok(addrs.includes(`inet ${a.inner4}/24`), addrs);
  assert.ok(addrs.includes(`inet6 ${a.inner6}/64`), addrs);
  const routes4 = nsExec(a.ns, 'ip', ['-4', 'route', 'show', 'dev', a.ifname]);
  assert.ok(routes4.includes(extraPrefix), `route for AllowedIPs ${extraPrefix}:\n${routes4}`);
  const routes6 = nsExec(a.ns, 'ip', ['-6', 'route', 'show', 'dev', a.ifname]);
  assert.ok(routes6.includes(extraPrefix6), `route for AllowedIPs ${extraPrefix6}:\n${routes6}`);
  // wg(8) reads back what wg-quick set through our UAPI.
  const dump = nsExec(a.ns, 'wg', ['show', a.ifname, 'dump']).trim().split('\n');
  assert.equal(dump[0]!.split('\t')[2], String(a.port), 'listen port');
  assert.equal(dump.length, 2, 'one peer');
});

test('traffic flows to the wireguard-go peer, both ways, v4 and v6', () => {
  assert.equal(ping(a, b.inner4, 3), 3, logsOf(b));
  assert.equal(ping(a, b.inner6, 3), 3, logsOf(b));
  assert.equal(ping(b, a.inner4, 3), 3, logsOf(b));
  const d = peerDump(a, b.keys.publicKey)!;
  assert.ok(d.latestHandshake > 0 && d.rx > 0 && d.tx > 0, JSON.stringify(d));
});

test('wg-quick down FILE removes the interface, and the daemon exits with it', async () => {
  const pid = daemonPid(a.ns, a.ifname)!;
  assert.ok(pid);
  const out = wgQuick('down');
  assert.match(out, /ip link delete dev h7qwa/, out);
  assert.equal(linkExists(a.ns, a.ifname), false);
  await waitFor('the daemon to exit after wg-quick down', () => !alive(pid), 10_000, 50);
  assert.equal(existsSync(socketPath(a.ifname)), false, 'the socket went with it');
  assert.equal(nsExec(a.ns, 'ip', ['route', 'show', extraPrefix]).trim(), '', 'its routes too');
});
