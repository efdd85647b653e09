/**
 * `xdpwg up` (the daemon's own wg-quick, what xdpwg@.service runs) with the
 * full-tunnel file of test/helpers/full-tunnel-lab.ts plus `DNS =`: the
 * same results as wg-quick — hosts behind the server answer through the
 * tunnel on the AF_XDP path, also after the endpoint moves v4 → v6 — and
 * `xdpwg down`, SIGTERM, and SIGKILL followed by a new `up` leave no policy
 * rule, route, table entry, firewall rule or DNS record behind.
 *
 * DNS: Debian's resolvconf would take over the machine's /etc/resolv.conf,
 * so the test puts a recording resolvconf first in PATH; it keeps one file
 * per record, which is what "no DNS record left" is checked against.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import { exitOf, linkExists, runXdpwg, socketPath } from '../helpers/cli-run.js';
import { xdpwgBin } from '../helpers/tunnel-lab.js';
import {
  assertThroughTunnelOnAfxdp, extraRules, fullTunnelConfig, fullTunnelLab, moveEndpointToV6, socketMarks, type FullTunnelLab,
} from '../helpers/full-tunnel-lab.js';

const lab = new Lab('uft');
let t: FullTunnelLab;
let dir: string;
let conf: string;
let fakeBin: string;
const dnsServer = '10.222.7.53';

before(async () => {
  requireRoot();
  t = await fullTunnelLab(lab, 222);
  dir = mkdtempSync(path.join(os.tmpdir(), 'uft-'));
  fakeBin = path.join(dir, 'bin');
  mkdirSync(path.join(fakeBin, 'records'), { recursive: true });
  writeFileSync(path.join(fakeBin, 'resolvconf'), [
    '#!/bin/sh',
    '# A recording stand-in for resolvconf(8): one file per record.',
    'here="$(dirname "$0")"',
    'echo "$*" >> "$here/calls.log"',
    'case "$1" in',
    '  -a) cat > "$here/records/$2" ;;',
    '  -d) rm -f "$here/records/$2" ;;',
    '  -l) cat "$here/records/$2" ;;',
    '  *) exit 1 ;;',
    'esac',
    '',
  ].join('\n'));
  chmodSync(path.join(fakeBin, 'resolvconf'), 0o755);
  conf = path.join(dir, `${t.a.ifname}.conf`);
  writeFileSync(conf, fullTunnelConfig(t, [`DNS = ${dnsServer}, corp.example`]), { mode: 0o600 });
});
after(() => {
  lab.cleanup();
  if (t) for (const s of [t.a, t.b]) rmSync(socketPath(s.ifname), { force: true });
  if (t) for (const f of [`/run/xdpwg/${t.a.ifname}.pid`, `/run/xdpwg/${t.a.ifname}.undo.json`, `/tmp/${t.b.ns}.key`]) rmSync(f, { force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const env = (): Record<string, string> => ({ PATH: `${fakeBin}:${process.env.PATH}`, LOG_LEVEL: 'verbose' });

/** `xdpwg up FILE` in A's namespace; resolves once it wrote its pid file (set-up complete). */
async function upProcess(): Promise<{ child: ChildProcess; out: string[] }> {
  const out: string[] = [];
  const child = lab.spawn(t.a.ns, xdpwgBin, ['up', conf], { env: { ...process.env, ...env() }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => out.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => out.push(d.toString()));
  await waitFor('xdpwg up to finish its set-up', () => {
    if (child.exitCode !== null) throw new Error(`xdpwg up exited ${child.exitCode}:\n${out.join('')}`);
    // A SIGKILLed predecessor leaves its pid file: wait for this process's own.
    const pidFile = `/run/xdpwg/${t.a.ifname}.pid`;
    return existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() === String(child.pid);
  }, 30_000, 100);
  return { child, out };
}

const dnsRecords = (): string[] => readdirSync(path.join(fakeBin, 'records'));
const firewallRules = (): string => ['iptables-save', 'ip6tables-save'].map((c) => nsExec(t.a.ns, c, [])).join('').split('\n').filter((l) => l.includes(`xdpwg rule for ${t.a.ifname}`)).join('\n');

/** What a full tunnel up must have in place. */
function assertInPlace(label: string): void {
  const rules = extraRules(t.a.ns);
  for (const f of ['-4', '-6']) {
    assert.equal(rules.filter((r) => r.startsWith(f) && r.includes('not from all fwmark 0xca6c lookup 51820')).length, 1, `${label}: ${f} fwmark rule, once:\n${rules.join('\n')}`);
    assert.equal(rules.filter((r) => r.startsWith(f) && r.includes('lookup main suppress_prefixlength 0')).length, 1, `${label}: ${f} suppress rule, once:\n${rules.join('\n')}`);
    assert.match(nsExec(t.a.ns, 'ip', [f, 'route', 'show', 'table', '51820']), new RegExp(`default dev ${t.a.ifname}`), `${label}: ${f} default route in table 51820`);
  }
  assert.equal(nsExec(t.a.ns, 'cat', ['/proc/sys/net/ipv4/conf/all/src_valid_mark']).trim(), '1');
  assert.match(firewallRules(), /PREROUTING .*-d 10\.222\.1\.1\/32 .*DROP/, `${label}: anti-spoofing rule for the tunnel address`);
  assert.deepEqual(dnsRecords(), [t.a.ifname], `${label}: one resolvconf record`);
  const record = readFileSync(path.join(fakeBin, 'records', t.a.ifname), 'utf8');
  assert.match(record, new RegExp(`^nameserver ${dnsServer}$`, 'm'));
  assert.match(record, /^search corp\.example$/m);
  assert.deepEqual(socketMarks(t), ['0xca6c'], `${label}: ss -uanpe:\n${nsExec(t.a.ns, 'ss', ['-uanpe'])}`);
}

/** Nothing of the interface left. */
function assertNothingLeft(label: string): void {
  assert.equal(linkExists(t.a.ns, t.a.ifname), false, `${label}: interface`);
  assert.deepEqual(extraRules(t.a.ns), [], `${label}: policy rules`);
  for (const f of ['-4', '-6']) assert.equal(nsExec(t.a.ns, 'ip', [f, 'route', 'show', 'table', '51820']).trim(), '', `${label}: ${f} table 51820`);
  assert.equal(firewallRules(), '', `${label}: firewall rules`);
  assert.deepEqual(dnsRecords(), [], `${label}: resolvconf records`);
  assert.equal(existsSync(`/run/xdpwg/${t.a.ifname}.undo.json`), false, `${label}: undo journal`);
  assert.equal(existsSync(`/run/xdpwg/${t.a.ifname}.pid`), false, `${label}: pid file`);
}

test('xdpwg up: policy rules, table, firewall, src_valid_mark, DNS and the socket mark in place', async () => {
  const { out } = await upProcess();
  assertInPlace('up');
  assert.match(out.join(''), /resolvconf -a \S+ -m 0 -x/);
  // No MTU in the file: the uplink's 1500 − 80.
  assert.match(nsExec(t.a.ns, 'ip', ['link', 'show', t.a.ifname]), /mtu 1420/);
});

test('hosts behind the server answer through the tunnel on AF_XDP, also after the endpoint moves to IPv6', async () => {
  await assertThroughTunnelOnAfxdp(t, 'xdpwg up, IPv4 endpoint');
  moveEndpointToV6(t);
  await assertThroughTunnelOnAfxdp(t, 'xdpwg up, IPv6 endpoint');
});

test('xdpwg down leaves nothing behind', async () => {
  const r = await runXdpwg(t.a.ns, ['down', conf], { env: env() });
  assert.equal(r.code, 0, r.stderr);
  assertNothingLeft('down');
});

test('SIGTERM leaves nothing behind', async () => {
  const { child } = await upProcess();
  assertInPlace('second up');
  child.kill('SIGTERM');
  assert.equal(await exitOf(child, 15_000), 0);
  assertNothingLeft('SIGTERM');
});

test('SIGKILL, then a new up: the leftovers are undone first, then down is clean', async () => {
  const { child } = await upProcess();
  child.kill('SIGKILL');
  await exitOf(child, 15_000);
  await waitFor('the TUN to go with the killed process', () => !linkExists(t.a.ns, t.a.ifname), 10_000, 50);
  assert.ok(extraRules(t.a.ns).length > 0 && dnsRecords().length === 1, 'a killed process leaves rules and its DNS record');
  const { out } = await upProcess();
  assert.match(out.join(''), /undoing what a killed `xdpwg up/, out.join(''));
  assertInPlace('up after SIGKILL');
  assert.equal(nsExec(t.a.ns, 'ping', ['-c', '1', '-W', '2', t.c.v4]).includes('1 received'), true);
  const r = await runXdpwg(t.a.ns, ['down', conf], { env: env() });
  assert.equal(r.code, 0, r.stderr);
  assertNothingLeft('down after SIGKILL and up');
});
