/**
 * `Table = NAME` with `xdpwg up`, as wg-quick: the name comes from
 * rt_tables (here a file private to the namespace: `ip netns exec`
 * bind-mounts /etc/netns/NS/iproute2 over /etc/iproute2), every route —
 * the default one too — goes into that table, with no policy rules and no
 * fwmark; a SIGHUP reload adds and removes routes in that table, never in
 * main; down leaves the table empty.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import { exitOf, linkExists, socketPath } from '../helpers/cli-run.js';
import { genKeys, xdpwgBin } from '../helpers/tunnel-lab.js';
import { extraRules } from '../helpers/full-tunnel-lab.js';

const lab = new Lab('utb');
const ifname = 'utbwa';
const tableId = '4321';
let ns: string;
let dir: string;
let conf: string;
let netnsEtc: string;
let up: ChildProcess;
const upOutput: string[] = [];
const key = genKeys();
const peer1 = genKeys();
const peer2 = genKeys();

function configText(withPeer2: boolean): string {
  return [
    '[Interface]',
    `PrivateKey = ${key.privateKey}`,
    'Address = 10.224.1.1/24',
    'Table = wgtest',
    '',
    '[Peer]',
    `PublicKey = ${peer1.publicKey}`,
    'AllowedIPs = 10.224.5.0/24, 0.0.0.0/0',
    ...(withPeer2 ? ['', '[Peer]', `PublicKey = ${peer2.publicKey}`, 'AllowedIPs = 10.224.6.0/24'] : []),
    '',
  ].join('\n');
}

before(async () => {
  requireRoot();
  ns = lab.ns('a');
  netnsEtc = `/etc/netns/${ns}`;
  mkdirSync(path.join(netnsEtc, 'iproute2'), { recursive: true });
  writeFileSync(path.join(netnsEtc, 'iproute2', 'rt_tables'), `255 local\n254 main\n253 default\n0 unspec\n${tableId} wgtest\n`);
  dir = mkdtempSync(path.join(os.tmpdir(), 'utb-'));
  conf = path.join(dir, `${ifname}.conf`);
  writeFileSync(conf, configText(false), { mode: 0o600 });
  up = lab.spawn(ns, xdpwgBin, ['up', conf], { env: { ...process.env, LOG_LEVEL: 'verbose' }, stdio: ['ignore', 'pipe', 'pipe'] });
  up.stdout?.on('data', (d: Buffer) => upOutput.push(d.toString()));
  up.stderr?.on('data', (d: Buffer) => upOutput.push(d.toString()));
  await waitFor(
    'xdpwg up to finish its set-up',
    () => {
      if (up.exitCode !== null) throw new Error(`xdpwg up exited ${up.exitCode}:\n${upOutput.join('')}`);
      const pidFile = `/run/xdpwg/${ifname}.pid`;
      return existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() === String(up.pid);
    },
    30_000,
    100,
  );
});
after(() => {
  lab.cleanup();
  rmSync(socketPath(ifname), { force: true });
  for (const f of [`/run/xdpwg/${ifname}.pid`, `/run/xdpwg/${ifname}.undo.json`]) rmSync(f, { force: true });
  if (netnsEtc) rmSync(netnsEtc, { recursive: true, force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const inTable = (): string => nsExec(ns, 'ip', ['route', 'show', 'table', tableId]);
const inMain = (): string => nsExec(ns, 'ip', ['route', 'show', 'table', 'main', 'dev', ifname]);

test('Table = a name from rt_tables: every route in that table, the default one too; no rules, no fwmark', () => {
  assert.match(inTable(), new RegExp(`^default dev ${ifname}`, 'm'), upOutput.join(''));
  assert.match(inTable(), new RegExp(`^10\\.224\\.5\\.0/24 dev ${ifname}`, 'm'));
  assert.doesNotMatch(inMain(), /10\.224\.5\.0|default/, 'nothing of the peers in main');
  assert.deepEqual(extraRules(ns), []);
  assert.equal(nsExec(ns, 'wg', ['show', ifname, 'fwmark']).trim(), 'off');
});

test('SIGHUP: routes of a new peer go into the table, removed ones leave it', async () => {
  writeFileSync(conf, configText(true), { mode: 0o600 });
  up.kill('SIGHUP');
  await waitFor("the new peer's route in table wgtest", () => inTable().includes('10.224.6.0/24'), 10_000, 50);
  assert.doesNotMatch(inMain(), /10\.224\.6\.0/);
  writeFileSync(conf, configText(false), { mode: 0o600 });
  up.kill('SIGHUP');
  await waitFor('its route to go again', () => !inTable().includes('10.224.6.0/24'), 10_000, 50);
  assert.match(inTable(), /10\.224\.5\.0\/24/, 'the others stay');
});

test('SIGTERM: the table is empty, nothing else left', async () => {
  up.kill('SIGTERM');
  assert.equal(await exitOf(up, 15_000), 0, upOutput.join(''));
  assert.equal(linkExists(ns, ifname), false);
  assert.equal(inTable().trim(), '');
  assert.deepEqual(extraRules(ns), []);
});
