/**
 * `xdpwg up` (the daemon's own wg-quick, what xdpwg@.service runs) with the
 * full-tunnel file of test/helpers/full-tunnel-lab.ts plus `DNS =`: the
 * same results as wg-quick — hosts behind the server answer through the
 * tunnel on the AF_XDP path, also after the endpoint moves v4 → v6 — and
 * `xdpwg down`, SIGTERM, and SIGKILL followed by a new `up` leave no policy
 * rule, route, table entry, firewall rule or DNS record behind.
 *
 * Every back-end, on every run: the firewall rules through nft and through
 * iptables-restore (XDPWG_FIREWALL forces each; the automatic choice is
 * checked too), the DNS settings through resolvconf and through resolvectl
 * (XDPWG_DNS). So the machine needs nft and iptables both
 * (scripts/bootstrap.sh installs them); a missing one is an error, not a
 * skip (without nft only the nft variant fails; the others run).
 *
 * DNS: Debian's resolvconf would take over the machine's /etc/resolv.conf
 * and systemd-resolved need not run here, so the test puts recording
 * stand-ins for both first in PATH. The resolvconf one keeps a file per
 * record; the resolvectl one a file per link and setting, and — like
 * systemd-resolved, which forgets a link's settings when the link goes —
 * only the files of links that still exist count as settings in force.
 *
 * Each test brings the interface up and down itself; after each one, passed
 * or failed, the daemon is killed, the journal undone, the interface
 * deleted, so one failure never leaves a daemon or rules for the next.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, nsExec, requireRoot, sh, waitFor } from '../helpers/netns.js';
import { exitOf, linkExists, runXdpwg, socketPath } from '../helpers/cli-run.js';
import { xdpwgBin } from '../helpers/tunnel-lab.js';
import {
  assertThroughTunnelOnAfxdp,
  extraRules,
  fullTunnelConfig,
  fullTunnelLab,
  moveEndpointToV6,
  socketMarks,
  type FullTunnelLab,
} from '../helpers/full-tunnel-lab.js';
import { findInPath } from '../../src/cli/quick/run-command.js';

const lab = new Lab('uft');
let t: FullTunnelLab;
let dir: string;
let conf: string;
let fakeBin: string;
const dnsServer = '10.222.7.53';
const undoStaleJournal = path.join(path.dirname(fileURLToPath(import.meta.url)), '../helpers/undo-stale-journal.js');

type Firewall = 'nft' | 'iptables';
type Dns = 'resolvconf' | 'resolvectl';
/** A back-end pair: forced through the environment, or undefined for the automatic choice. */
interface Variant {
  firewall?: Firewall;
  dns?: Dns;
}
const VARIANTS: Variant[] = [
  { firewall: 'nft', dns: 'resolvectl' },
  { firewall: 'iptables', dns: 'resolvconf' },
  // What users get without the variables: nft where installed (as wg-quick), resolvconf where installed.
  {},
];
const autoFirewall = (): Firewall => (findInPath('nft') ? 'nft' : 'iptables');

/** Processes of `xdpwg up` this file started and has not seen exit. */
const ups = new Set<ChildProcess>();

const stub = (name: string, body: string[]): void => {
  writeFileSync(
    path.join(fakeBin, name),
    ['#!/bin/sh', 'here="$(dirname "$0")"', `echo "${name} $*" >> "$here/calls.log"`, ...body, ''].join('\n'),
  );
  chmodSync(path.join(fakeBin, name), 0o755);
};

before(async () => {
  requireRoot();
  for (const tool of ['iptables-save', 'iptables-restore', 'ip6tables-save', 'ip6tables-restore']) {
    if (!findInPath(tool))
      throw new Error(
        `${tool} is not installed: this test checks both firewall back-ends (scripts/bootstrap.sh installs nftables and iptables)`,
      );
  }
  t = await fullTunnelLab(lab, 222);
  dir = mkdtempSync(path.join(os.tmpdir(), 'uft-'));
  fakeBin = path.join(dir, 'bin');
  mkdirSync(path.join(fakeBin, 'records'), { recursive: true });
  mkdirSync(path.join(fakeBin, 'resolved'), { recursive: true });
  stub('resolvconf', [
    '# A recording stand-in for resolvconf(8): one file per record.',
    'case "$1" in',
    '  -a) cat > "$here/records/$2" ;;',
    '  -d) rm -f "$here/records/$2" ;;',
    '  -l) cat "$here/records/$2" ;;',
    '  *) exit 1 ;;',
    'esac',
  ]);
  stub('resolvectl', [
    '# A recording stand-in for resolvectl(1): one file per link and setting.',
    'case "$1" in',
    '  dns|domain) what="$1"; link="$2"; shift 2; echo "$*" > "$here/resolved/$link.$what" ;;',
    '  revert) rm -f "$here/resolved/$2.dns" "$here/resolved/$2.domain" ;;',
    '  *) exit 1 ;;',
    'esac',
  ]);
  conf = path.join(dir, `${t.a.ifname}.conf`);
  writeFileSync(conf, fullTunnelConfig(t, [`DNS = ${dnsServer}, corp.example`]), { mode: 0o600 });
});
after(async () => {
  if (t) await cleanUp();
  lab.cleanup();
  if (t) for (const s of [t.a, t.b]) rmSync(socketPath(s.ifname), { force: true });
  if (t) rmSync(`/tmp/${t.b.ns}.key`, { force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const pidFile = (): string => `/run/xdpwg/${t.a.ifname}.pid`;
const journalFile = (): string => `/run/xdpwg/${t.a.ifname}.undo.json`;

/**
 * Whatever a test left: its `xdpwg up` killed, the journal undone (the dead
 * process's, with xdpwg's own code), the interface, pid file and stand-in
 * records gone. Never asserts: the test's own failure is the one to see.
 */
async function cleanUp(): Promise<void> {
  for (const child of ups) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exitOf(child, 10_000).catch(() => undefined);
  }
  ups.clear();
  if (existsSync(journalFile())) {
    try {
      sh('ip', ['netns', 'exec', t.a.ns, 'env', `PATH=${fakeBin}:${process.env.PATH}`, process.execPath, undoStaleJournal, t.a.ifname]);
    } catch (err) {
      process.stderr.write(`# clean-up: ${(err as Error).message}\n`);
      rmSync(journalFile(), { force: true });
    }
  }
  if (linkExists(t.a.ns, t.a.ifname)) {
    try {
      nsExec(t.a.ns, 'ip', ['link', 'del', t.a.ifname]);
    } catch {
      /* went meanwhile */
    }
  }
  rmSync(pidFile(), { force: true });
  rmSync(socketPath(t.a.ifname), { force: true });
  for (const d of ['records', 'resolved']) for (const f of readdirSync(path.join(fakeBin, d))) rmSync(path.join(fakeBin, d, f));
}

const envOf = (v: Variant): Record<string, string> => ({
  PATH: `${fakeBin}:${process.env.PATH}`,
  LOG_LEVEL: 'verbose',
  ...(v.firewall ? { XDPWG_FIREWALL: v.firewall } : {}),
  ...(v.dns ? { XDPWG_DNS: v.dns } : {}),
});

/** `xdpwg up FILE` in A's namespace; resolves once it wrote its pid file (set-up complete). */
async function upProcess(v: Variant): Promise<{ child: ChildProcess; out: string[] }> {
  const out: string[] = [];
  const env: NodeJS.ProcessEnv = { ...process.env, ...envOf(v) };
  if (!v.firewall) delete env.XDPWG_FIREWALL;
  if (!v.dns) delete env.XDPWG_DNS;
  const child = lab.spawn(t.a.ns, xdpwgBin, ['up', conf], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  ups.add(child);
  child.once('exit', () => ups.delete(child));
  child.stdout?.on('data', (d: Buffer) => out.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => out.push(d.toString()));
  await waitFor(
    'xdpwg up to finish its set-up',
    () => {
      if (child.exitCode !== null) throw new Error(`xdpwg up exited ${child.exitCode}:\n${out.join('')}`);
      // A SIGKILLed predecessor leaves its pid file: wait for this process's own.
      return existsSync(pidFile()) && readFileSync(pidFile(), 'utf8').trim() === String(child.pid);
    },
    30_000,
    100,
  );
  return { child, out };
}

async function down(v: Variant, label: string): Promise<void> {
  const r = await runXdpwg(t.a.ns, ['down', conf], { env: envOf(v) });
  assert.equal(r.code, 0, `${label}: ${r.stderr}`);
}

/** The anti-spoofing and mark rules of A's interface: [iptables-save lines, nft tables (family and body)]. */
function firewallRules(): { iptables: string; nft: string } {
  const iptables = ['iptables-save', 'ip6tables-save']
    .map((c) => nsExec(t.a.ns, c, []))
    .join('')
    .split('\n')
    .filter((l) => l.includes(`xdpwg rule for ${t.a.ifname}`))
    .join('\n');
  const name = `xdpwg-${t.a.ifname}`;
  const tables = (findInPath('nft') ? nsExec(t.a.ns, 'nft', ['list', 'tables']) : '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.endsWith(` ${name}`));
  const nft = tables.map((l) => nsExec(t.a.ns, 'nft', ['list', ...l.split(/\s+/)])).join('');
  return { iptables, nft };
}

/** The DNS settings in force for A's interface, as the stand-ins recorded them. */
function dnsInForce(): { resolvconf: string[]; resolvectl: string[] } {
  const resolvconf = readdirSync(path.join(fakeBin, 'records'));
  // systemd-resolved drops a link's settings with the link.
  const resolvectl = linkExists(t.a.ns, t.a.ifname) ? readdirSync(path.join(fakeBin, 'resolved')) : [];
  return { resolvconf, resolvectl };
}

/** What a full tunnel up must have in place, through the variant's back-ends. */
function assertInPlace(v: Variant, label: string): void {
  const rules = extraRules(t.a.ns);
  for (const f of ['-4', '-6']) {
    assert.equal(
      rules.filter((r) => r.startsWith(f) && r.includes('not from all fwmark 0xca6c lookup 51820')).length,
      1,
      `${label}: ${f} fwmark rule, once:\n${rules.join('\n')}`,
    );
    assert.equal(
      rules.filter((r) => r.startsWith(f) && r.includes('lookup main suppress_prefixlength 0')).length,
      1,
      `${label}: ${f} suppress rule, once:\n${rules.join('\n')}`,
    );
    assert.match(
      nsExec(t.a.ns, 'ip', [f, 'route', 'show', 'table', '51820']),
      new RegExp(`default dev ${t.a.ifname}`),
      `${label}: ${f} default route in table 51820`,
    );
  }
  assert.equal(nsExec(t.a.ns, 'cat', ['/proc/sys/net/ipv4/conf/all/src_valid_mark']).trim(), '1');
  const fw = firewallRules();
  const [a4, a6] = [t.a.inner4, t.a.inner6].map((a) => a.replace(/[.:]/g, (c) => `\\${c}`));
  if ((v.firewall ?? autoFirewall()) === 'nft') {
    assert.match(
      fw.nft,
      new RegExp(`ip daddr ${a4} fib saddr type != local drop`),
      `${label}: nft anti-spoofing rule for the tunnel address:\n${fw.nft}`,
    );
    assert.match(
      fw.nft,
      new RegExp(`ip6 daddr ${a6} fib saddr type != local drop`),
      `${label}: nft anti-spoofing rule for the v6 address:\n${fw.nft}`,
    );
    assert.match(fw.nft, /ct mark set (meta )?mark/, `${label}: nft saves the mark:\n${fw.nft}`);
    assert.equal(fw.iptables, '', `${label}: no iptables rules with nft`);
  } else {
    assert.match(
      fw.iptables,
      new RegExp(`PREROUTING .*-d ${a4}/32 .*DROP`),
      `${label}: iptables anti-spoofing rule for the tunnel address:\n${fw.iptables}`,
    );
    assert.match(fw.iptables, new RegExp(`PREROUTING .*-d ${a6}/128 .*DROP`), `${label}: ip6tables anti-spoofing rule:\n${fw.iptables}`);
    assert.match(fw.iptables, /CONNMARK --save-mark/, `${label}: iptables saves the mark:\n${fw.iptables}`);
    assert.equal(fw.nft, '', `${label}: no nft table with iptables`);
  }
  const dns = dnsInForce();
  if ((v.dns ?? 'resolvconf') === 'resolvconf') {
    assert.deepEqual(dns.resolvconf, [t.a.ifname], `${label}: one resolvconf record`);
    const record = readFileSync(path.join(fakeBin, 'records', t.a.ifname), 'utf8');
    assert.match(record, new RegExp(`^nameserver ${dnsServer}$`, 'm'));
    assert.match(record, /^search corp\.example$/m);
    assert.deepEqual(dns.resolvectl, [], `${label}: nothing through resolvectl`);
  } else {
    assert.deepEqual(
      dns.resolvectl.sort(),
      [`${t.a.ifname}.dns`, `${t.a.ifname}.domain`],
      `${label}: resolvectl dns and domain for the link`,
    );
    assert.equal(readFileSync(path.join(fakeBin, 'resolved', `${t.a.ifname}.dns`), 'utf8').trim(), dnsServer);
    assert.equal(readFileSync(path.join(fakeBin, 'resolved', `${t.a.ifname}.domain`), 'utf8').trim(), '~. corp.example');
    assert.deepEqual(dns.resolvconf, [], `${label}: nothing through resolvconf`);
  }
  assert.deepEqual(socketMarks(t), ['0xca6c'], `${label}: ss -uanpe:\n${nsExec(t.a.ns, 'ss', ['-uanpe'])}`);
}

/** Nothing of the interface left. */
function assertNothingLeft(label: string): void {
  assert.equal(linkExists(t.a.ns, t.a.ifname), false, `${label}: interface`);
  assert.deepEqual(extraRules(t.a.ns), [], `${label}: policy rules`);
  for (const f of ['-4', '-6'])
    assert.equal(nsExec(t.a.ns, 'ip', [f, 'route', 'show', 'table', '51820']).trim(), '', `${label}: ${f} table 51820`);
  assert.deepEqual(firewallRules(), { iptables: '', nft: '' }, `${label}: firewall rules`);
  assert.deepEqual(dnsInForce(), { resolvconf: [], resolvectl: [] }, `${label}: DNS settings`);
  assert.equal(existsSync(journalFile()), false, `${label}: undo journal`);
  assert.equal(existsSync(pidFile()), false, `${label}: pid file`);
}

for (const v of VARIANTS) {
  describe(`firewall ${v.firewall ?? `auto (${autoFirewall()})`}, DNS ${v.dns ?? 'auto (resolvconf)'}`, () => {
    before(() => {
      // Not a skip: a host without nft fails this variant (the others still run).
      if (v.firewall === 'nft' && !findInPath('nft'))
        throw new Error('nft is not installed: the nft firewall back-end cannot be checked (scripts/bootstrap.sh installs nftables)');
    });
    afterEach(cleanUp);

    test('up: policy rules, table, firewall, src_valid_mark, DNS and the socket mark; through the tunnel on AF_XDP, also with an IPv6 endpoint; down leaves nothing', async () => {
      const { out } = await upProcess(v);
      assertInPlace(v, 'up');
      const log = out.join('');
      if ((v.dns ?? 'resolvconf') === 'resolvconf') assert.match(log, /resolvconf -a \S+ -m 0 -x/, log);
      else assert.match(log, new RegExp(`resolvectl dns ${t.a.ifname} ${dnsServer.replace(/\./g, '\\.')}`), log);
      assert.match(log, (v.firewall ?? autoFirewall()) === 'nft' ? /\[#\] nft -f -/ : /\[#\] ip6?tables-restore -n/, log);
      // No MTU in the file: the uplink's 1500 − 80.
      assert.match(nsExec(t.a.ns, 'ip', ['link', 'show', t.a.ifname]), /mtu 1420/);
      await assertThroughTunnelOnAfxdp(t, 'xdpwg up, IPv4 endpoint');
      moveEndpointToV6(t);
      await assertThroughTunnelOnAfxdp(t, 'xdpwg up, IPv6 endpoint');
      await down(v, 'down');
      assertNothingLeft('down');
    });

    test('SIGTERM leaves nothing behind', async () => {
      const { child } = await upProcess(v);
      assertInPlace(v, 'up');
      child.kill('SIGTERM');
      assert.equal(await exitOf(child, 15_000), 0);
      assertNothingLeft('SIGTERM');
    });

    test('SIGKILL, then a new up: the leftovers are undone first, then down is clean', async () => {
      const { child } = await upProcess(v);
      child.kill('SIGKILL');
      await exitOf(child, 15_000);
      await waitFor('the TUN to go with the killed process', () => !linkExists(t.a.ns, t.a.ifname), 10_000, 50);
      assert.ok(extraRules(t.a.ns).length > 0, 'a killed process leaves its policy rules');
      const fw = firewallRules();
      assert.ok(fw.iptables !== '' || fw.nft !== '', 'a killed process leaves its firewall rules');
      if ((v.dns ?? 'resolvconf') === 'resolvconf')
        assert.equal(dnsInForce().resolvconf.length, 1, 'a killed process leaves its resolvconf record');
      const { out } = await upProcess(v);
      assert.match(out.join(''), /undoing what a killed `xdpwg up/, out.join(''));
      assertInPlace(v, 'up after SIGKILL');
      assert.equal(nsExec(t.a.ns, 'ping', ['-c', '1', '-W', '2', t.c.v4]).includes('1 received'), true);
      await down(v, 'down after SIGKILL and up');
      assertNothingLeft('down after SIGKILL and up');
    });
  });
}
