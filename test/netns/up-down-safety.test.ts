/**
 * `xdpwg down` signals only the interface's own `xdpwg up`, and cleans up
 * after a dead one (issue 21, item 4):
 *
 * - a pid file naming another process (a `sleep`: what a reused pid looks
 *   like) is refused and that process lives;
 * - a malformed pid file (empty: process.kill(0) would signal down's own
 *   process group; 0; junk) is a clear error, and nothing is signalled;
 * - after `kill -9` of a full-tunnel `xdpwg up` with DNS, `down` undoes the
 *   policy rules, the firewall table and the DNS record it left, and says
 *   so; also when the pid was reused by then (it leaves that process
 *   alone); run outside the dead daemon's network namespace it refuses to
 *   undo anything there.
 *
 * `down` runs in a process group of its own (detached), so that a build
 * that signals "pid 0" hits down itself, not the test runner.
 *
 * DNS: a recording resolvconf first in PATH (one file per record), as in
 * up-full-tunnel.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import { alive, exitOf, linkExists, socketPath, type CliResult } from '../helpers/cli-run.js';
import { genKeys, xdpwgBin } from '../helpers/tunnel-lab.js';
import { extraRules } from '../helpers/full-tunnel-lab.js';

const lab = new Lab('qsd');
const ifname = 'qsdwa';
const pidFile = `/run/xdpwg/${ifname}.pid`;
const journalFile = `/run/xdpwg/${ifname}.undo.json`;
let ns: string;
let dir: string;
let conf: string;
let fakeBin: string;
const sleepers: ChildProcess[] = [];
const key = genKeys();
const peer = genKeys();

before(() => {
  requireRoot();
  ns = lab.ns('a');
  dir = mkdtempSync(path.join(os.tmpdir(), 'qsd-'));
  fakeBin = path.join(dir, 'bin');
  mkdirSync(path.join(fakeBin, 'records'), { recursive: true });
  writeFileSync(
    path.join(fakeBin, 'resolvconf'),
    [
      '#!/bin/sh',
      '# A recording stand-in for resolvconf(8): one file per record.',
      'here="$(dirname "$0")"',
      'case "$1" in',
      '  -a) cat > "$here/records/$2" ;;',
      '  -d) rm -f "$here/records/$2" ;;',
      '  -l) cat "$here/records/$2" ;;',
      '  *) exit 1 ;;',
      'esac',
      '',
    ].join('\n'),
  );
  chmodSync(path.join(fakeBin, 'resolvconf'), 0o755);
  conf = path.join(dir, `${ifname}.conf`);
  writeFileSync(
    conf,
    [
      '[Interface]',
      `PrivateKey = ${key.privateKey}`,
      'Address = 10.232.1.1/24, fd00:232::1/64',
      'DNS = 10.232.7.53',
      '',
      '[Peer]',
      `PublicKey = ${peer.publicKey}`,
      'AllowedIPs = 0.0.0.0/0, ::/0',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  for (const f of [pidFile, journalFile]) rmSync(f, { force: true });
});
after(() => {
  for (const s of sleepers) s.kill('SIGKILL');
  lab.cleanup();
  rmSync(socketPath(ifname), { force: true });
  for (const f of [pidFile, journalFile]) rmSync(f, { force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const env = (): NodeJS.ProcessEnv => ({ ...process.env, PATH: `${fakeBin}:${process.env.PATH}` });

/** `xdpwg down IF` (in ns, or in this namespace) in a process group of its own. */
function down(inNs: boolean): Promise<CliResult> {
  const argv = inNs ? (['ip', ['netns', 'exec', ns, xdpwgBin, 'down', ifname]] as const) : ([xdpwgBin, ['down', ifname]] as const);
  const child = spawn(argv[0], [...argv[1]], { env: env(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`xdpwg down: no end within 20 s; stderr: ${stderr}`));
    }, 20_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A process that is not xdpwg: what a reused pid names. */
function sleeper(): ChildProcess {
  const s = spawn('sleep', ['600'], { stdio: 'ignore' });
  sleepers.push(s);
  return s;
}

const dnsRecords = (): string[] => readdirSync(path.join(fakeBin, 'records'));
function firewallLeft(): string {
  // Whichever firewall tools are installed (xdpwg up uses nft where it is, else iptables-restore).
  const nft = haveTool('nft')
    ? nsExec(ns, 'nft', ['list', 'tables'])
        .split('\n')
        .filter((l) => l.includes(`xdpwg-${ifname}`))
    : [];
  const ipt = ['iptables-save', 'ip6tables-save']
    .filter(haveTool)
    .flatMap((c) => nsExec(ns, c, []).split('\n'))
    .filter((l) => l.includes(`xdpwg rule for ${ifname}`));
  return [...nft, ...ipt].join('\n');
}

function haveTool(name: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(path.join(d, name)));
}

/** A full-tunnel `xdpwg up` with DNS, killed with SIGKILL once set up: it leaves its rules, firewall and DNS record. */
async function upThenKill9(): Promise<number> {
  const out: string[] = [];
  const up = lab.spawn(ns, xdpwgBin, ['up', conf], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  up.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
  up.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
  await waitFor(
    'xdpwg up to finish its set-up',
    () => {
      if (up.exitCode !== null) throw new Error(`xdpwg up exited ${up.exitCode}:\n${out.join('')}`);
      return existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() === String(up.pid);
    },
    30_000,
    100,
  );
  up.kill('SIGKILL');
  await exitOf(up, 15_000);
  await waitFor('the TUN to go with the killed process', () => !linkExists(ns, ifname), 10_000, 50);
  assert.equal(extraRules(ns).length, 4, `v4 and v6 policy rules left:\n${extraRules(ns).join('\n')}`);
  assert.notEqual(firewallLeft(), '', 'firewall rules left');
  assert.deepEqual(dnsRecords(), [ifname], 'the DNS record left');
  return up.pid!;
}

function assertNothingLeft(label: string): void {
  assert.deepEqual(extraRules(ns), [], `${label}: policy rules`);
  for (const f of ['-4', '-6'])
    assert.equal(nsExec(ns, 'ip', [f, 'route', 'show', 'table', '51820']).trim(), '', `${label}: ${f} table 51820`);
  assert.equal(firewallLeft(), '', `${label}: firewall`);
  assert.deepEqual(dnsRecords(), [], `${label}: DNS record`);
  assert.equal(existsSync(journalFile), false, `${label}: undo journal`);
  assert.equal(existsSync(pidFile), false, `${label}: pid file`);
}

test('a pid file naming another process: down refuses to signal it, and it lives', async () => {
  const s = sleeper();
  writeFileSync(pidFile, `${s.pid}\n`);
  const r = await down(true);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(`names pid ${s.pid} \\(sleep 600\\), which is not the xdpwg up of .${ifname}.; not signalling it`),
    r.stderr,
  );
  // Given the time a SIGTERM needs to land.
  await new Promise((res) => setTimeout(res, 200));
  assert.ok(alive(s.pid!) && s.exitCode === null && s.signalCode === null, 'the sleep still runs');
  assert.equal(existsSync(pidFile), false, 'the stale pid file is removed');
});

test('malformed pid files: a clear error, nothing signalled', async () => {
  // Only texts that are harmless even to a build that signals them (never a small pid like 7: that could be anyone).
  for (const text of ['', '\n', '0\n', 'abc\n', '99999999999\n']) {
    writeFileSync(pidFile, text);
    const r = await down(true);
    assert.equal(
      r.signal,
      null,
      `down with pid file ${JSON.stringify(text)} was killed by ${r.signal} (it signalled its own process group)`,
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /holds no process id/, `${JSON.stringify(text)}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(existsSync(pidFile), false);
  }
});

test('after kill -9 of xdpwg up, down undoes the rules, firewall table and DNS record it left, and says so', async () => {
  const pid = await upThenKill9();
  const r = await down(true);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(
      `xdpwg up of .${ifname}. \\(pid ${pid}\\) had died; undid what it left: .*rule not fwmark 51820 table 51820.*DNS settings ${ifname}`,
    ),
    r.stderr,
  );
  assertNothingLeft('down after kill -9');
});

test('kill -9, and its pid now names another process: down leaves that one alone and still undoes', async () => {
  await upThenKill9();
  const s = sleeper();
  writeFileSync(pidFile, `${s.pid}\n`);
  const r = await down(true);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /not signalling it/, r.stderr);
  assert.match(r.stderr, /had died; undid what it left/, r.stderr);
  await new Promise((res) => setTimeout(res, 200));
  assert.ok(alive(s.pid!) && s.exitCode === null && s.signalCode === null, 'the sleep still runs');
  assertNothingLeft('down after kill -9 and a reused pid');
});

test("a dead xdpwg up's changes are undone only inside its network namespace", async () => {
  await upThenKill9();
  const outside = await down(false);
  assert.equal(outside.code, 1, outside.stderr);
  assert.match(outside.stderr, /died in another network namespace .*run `xdpwg down qsdwa' inside that namespace/, outside.stderr);
  assert.equal(extraRules(ns).length, 4, 'nothing undone from outside');
  assert.deepEqual(dnsRecords(), [ifname]);
  const inside = await down(true);
  assert.equal(inside.code, 0, inside.stderr);
  assertNothingLeft('down inside the namespace');
});

test('a second SIGTERM while xdpwg up is going down does not cut its teardown short', async () => {
  // PreDown takes a while: the window in which an impatient second `down` (or Ctrl-C twice) lands.
  const saved = readFileSync(conf, 'utf8');
  writeFileSync(conf, saved.replace('[Peer]', `PreDown = sleep 1\nPostDown = touch ${dir}/postdown\n\n[Peer]`), { mode: 0o600 });
  const out: string[] = [];
  const up = lab.spawn(ns, xdpwgBin, ['up', conf], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    up.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
    up.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
    await waitFor(
      'xdpwg up to finish its set-up',
      () => {
        if (up.exitCode !== null) throw new Error(`xdpwg up exited ${up.exitCode}:\n${out.join('')}`);
        return existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() === String(up.pid);
      },
      30_000,
      100,
    );
    up.kill('SIGTERM');
    await waitFor('PreDown to start', () => out.join('').includes('[#] sleep 1'), 5_000, 20);
    up.kill('SIGTERM');
    assert.equal(await exitOf(up, 15_000), 0, out.join(''));
    assert.equal(up.signalCode, null, 'not killed by the second signal');
    assert.ok(existsSync(path.join(dir, 'postdown')), `the teardown ran to its end:\n${out.join('')}`);
    assertNothingLeft('two SIGTERMs');
  } finally {
    writeFileSync(conf, saved, { mode: 0o600 });
  }
});
