/**
 * wg-quick's full tunnel with xdpwg as its userspace implementation
 * (test/helpers/full-tunnel-lab.ts): `AllowedIPs = 0.0.0.0/0, ::/0`, the
 * server reached through the default gateway. wg-quick sets `fwmark 51820`
 * through our UAPI and routes everything unmarked into table 51820; the
 * daemon's own packets must carry the mark (SO_MARK on the kernel socket,
 * the mark in the AF_XDP path's route lookup) or they would loop into the
 * tunnel. Also after the endpoint moves from IPv4 to IPv6 with the rules in
 * place, and `wg-quick down` leaves nothing behind. wg-quick adds its
 * anti-spoofing rules through nft where it is installed, else iptables: the
 * test checks whichever it used, so it holds on a host with or without nft.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Lab, nsExec, requireRoot, sh, waitFor } from '../helpers/netns.js';
import { alive, daemonPid, linkExists, socketPath } from '../helpers/cli-run.js';
import { xdpwgBin } from '../helpers/tunnel-lab.js';
import { findInPath } from '../../src/cli/quick/run-command.js';
import {
  assertThroughTunnelOnAfxdp,
  extraRules,
  fullTunnelConfig,
  fullTunnelLab,
  moveEndpointToV6,
  socketMarks,
  type FullTunnelLab,
} from '../helpers/full-tunnel-lab.js';

const lab = new Lab('wft');
let t: FullTunnelLab;
let dir: string;
let conf: string;
let pathWithXdpwg: string;

before(async () => {
  requireRoot();
  if (existsSync('/sys/module/wireguard')) throw new Error('the wireguard kernel module is loaded: wg-quick would use it instead of xdpwg');
  t = await fullTunnelLab(lab, 221);
  dir = mkdtempSync(path.join(os.tmpdir(), 'wft-'));
  symlinkSync(xdpwgBin, path.join(dir, 'xdpwg'));
  pathWithXdpwg = `${dir}:${process.env.PATH}`;
  conf = path.join(dir, `${t.a.ifname}.conf`);
  writeFileSync(conf, fullTunnelConfig(t), { mode: 0o600 });
});
after(() => {
  // wg-quick down first if a test failed half-way: its rules live in the namespace, which goes anyway.
  lab.cleanup();
  if (t) for (const s of [t.a, t.b]) rmSync(socketPath(s.ifname), { force: true });
  if (t) rmSync(`/tmp/${t.b.ns}.key`, { force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function wgQuick(action: 'up' | 'down'): string {
  return sh(
    'ip',
    [
      'netns',
      'exec',
      t.a.ns,
      'env',
      `PATH=${pathWithXdpwg}`,
      'WG_QUICK_USERSPACE_IMPLEMENTATION=xdpwg',
      'sh',
      '-c',
      `wg-quick ${action} '${conf}' 2>&1`,
    ],
    { timeoutMs: 30_000 },
  );
}

/** wg-quick's firewall rules for A's interface: its nft table (`wg-quick-IF`), or its iptables rules (comment `wg-quick(8) rule for IF`). */
function wgQuickFirewall(): string {
  const iptables = ['iptables-save', 'ip6tables-save']
    .map((c) => nsExec(t.a.ns, c, []))
    .join('')
    .split('\n')
    .filter((l) => l.includes(`wg-quick(8) rule for ${t.a.ifname}`));
  const nft = findInPath('nft')
    ? nsExec(t.a.ns, 'nft', ['list', 'tables'])
        .split('\n')
        .filter((l) => l.trim().endsWith(` wg-quick-${t.a.ifname}`))
    : [];
  return [...iptables, ...nft].join('\n');
}

test("wg-quick up: fwmark policy routing in place, the daemon's socket carries the mark", () => {
  const out = wgQuick('up');
  assert.match(out, /wg set \S+ fwmark 51820/, out);
  assert.match(out, /ip -4 rule add not fwmark 51820 table 51820/, out);
  // wg-quick's own choice of firewall tool, as on the host: nft when installed.
  assert.match(out, findInPath('nft') ? /\[#\] nft -f/ : /\[#\] iptables-restore -n/, out);
  assert.notEqual(wgQuickFirewall(), '', `wg-quick's firewall rules for ${t.a.ifname}`);
  assert.ok(daemonPid(t.a.ns, t.a.ifname), 'the daemon serves its socket');
  assert.deepEqual(socketMarks(t), ['0xca6c'], `ss -uanpe in ${t.a.ns}:\n${nsExec(t.a.ns, 'ss', ['-uanpe'])}`);
});

test('hosts behind the server answer through the tunnel, v4 and v6, on the AF_XDP path', async () => {
  await assertThroughTunnelOnAfxdp(t, 'IPv4 endpoint');
});

test('the endpoint moves to IPv6 with the rules in place: still through the tunnel on AF_XDP', async () => {
  moveEndpointToV6(t);
  await assertThroughTunnelOnAfxdp(t, 'IPv6 endpoint');
  const dump = nsExec(t.b.ns, 'wg', ['show', t.b.ifname, 'endpoints']);
  assert.ok(dump.includes(`[${t.a.outer6}]:${t.a.port}`), `B sees A at its IPv6 address now: ${dump}`);
});

test('wg-quick down: interface, daemon, rules and table 51820 gone', async () => {
  const pid = daemonPid(t.a.ns, t.a.ifname)!;
  wgQuick('down');
  assert.equal(linkExists(t.a.ns, t.a.ifname), false);
  await waitFor('the daemon to exit after wg-quick down', () => !alive(pid), 10_000, 50);
  assert.deepEqual(extraRules(t.a.ns), []);
  for (const f of ['-4', '-6'])
    assert.equal(nsExec(t.a.ns, 'ip', [f, 'route', 'show', 'table', 'all', 'table', '51820']).trim(), '', `${f} table 51820`);
  assert.equal(wgQuickFirewall(), '', 'wg-quick down removed its firewall rules');
});
