/**
 * `xdpwg up FILE` (wg-quick's job in one foreground process, as systemd runs
 * it) and `xdpwg down FILE`: addresses v4+v6, MTU, PostUp/PostDown hooks with
 * %i, SIGHUP applying an edited file without dropping the running session,
 * and SaveConfig writing the running configuration back on down. The peer is
 * wireguard-go configured with wg(8).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import { exitOf, linkExists, runXdpwg, socketPath } from '../helpers/cli-run.js';
import {
  addPeer,
  configureInterface,
  genKeys,
  logsOf,
  peerDump,
  ping,
  startImplementation,
  twoSides,
  wg,
  xdpwgBin,
  type Side,
} from '../helpers/tunnel-lab.js';
import { parseConfig } from '../../src/daemon/config/config-file.js';
import { keyToBase64 } from '../../src/crypto/encoding.js';

const lab = new Lab('h7u');
let a: Side; // xdpwg up
let b: Side; // wireguard-go
let dir: string;
let conf: string;
let upProc: ChildProcess;
const upLog: string[] = [];
const third = genKeys();
const saveIf = 'h7usave';

before(async () => {
  requireRoot();
  ({ a, b } = twoSides(lab, 'xdpwg', 'wireguard-go', 211));
  for (const i of [a.ifname, b.ifname, saveIf]) rmSync(socketPath(i), { force: true });
  dir = mkdtempSync(path.join(os.tmpdir(), 'h7u-'));
  conf = path.join(dir, `${a.ifname}.conf`);
  writeFileSync(conf, configText([`${b.inner4}/32`, `${b.inner6}/128`], false), { mode: 0o600 });
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
  rmSync(socketPath(saveIf), { force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** a's config: b as a peer with the given AllowedIPs, optionally a second peer (no endpoint). */
function configText(bAllowed: string[], withThird: boolean): string {
  return [
    '[Interface]',
    `PrivateKey = ${a.keys.privateKey}`,
    `ListenPort = ${a.port}`,
    `Address = ${a.inner4}/24`,
    `Address = ${a.inner6}/64`,
    'MTU = 1380',
    `PostUp = touch ${dir}/%i.up`,
    // PreDown talks to the daemon being stopped: it must still answer (not deadlock).
    `PreDown = wg show %i peers > ${dir}/%i.predown`,
    `PostDown = touch ${dir}/%i.down`,
    '',
    '[Peer]',
    `PublicKey = ${b.keys.publicKey}`,
    `AllowedIPs = ${bAllowed.join(', ')}`,
    `Endpoint = ${b.outer4}:${b.port}`,
    ...(withThird ? ['', '[Peer]', `PublicKey = ${third.publicKey}`, 'AllowedIPs = 10.211.6.0/24'] : []),
    '',
  ].join('\n');
}

const pidFile = (ifname: string): string => `/run/xdpwg/${ifname}.pid`;

/** Starts `xdpwg up file` in ns in the foreground; resolves once it wrote its pid file (set-up complete). */
async function startUp(ns: string, file: string, ifname: string, log: string[]): Promise<ChildProcess> {
  const child = lab.spawn(ns, xdpwgBin, ['up', file]);
  const collect = (d: Buffer): void => {
    log.push(...d.toString().split('\n').filter(Boolean));
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  await waitFor(
    `xdpwg up ${ifname} to finish its set-up`,
    () => {
      if (child.exitCode !== null) throw new Error(`xdpwg up exited with ${child.exitCode}:\n${log.join('\n')}`);
      return existsSync(pidFile(ifname)) && readFileSync(pidFile(ifname), 'utf8').trim() === String(child.pid);
    },
    15_000,
    50,
  );
  return child;
}

test('xdpwg up FILE: addresses v4+v6, MTU, PostUp with %i, traffic to wireguard-go', async () => {
  upProc = await startUp(a.ns, conf, a.ifname, upLog);
  assert.ok(existsSync(path.join(dir, `${a.ifname}.up`)), `PostUp ran with %i replaced:\n${upLog.join('\n')}`);
  const link = nsExec(a.ns, 'ip', ['-o', 'link', 'show', a.ifname]);
  assert.match(link, /mtu 1380/);
  assert.match(link, /[<,]UP[,>]/);
  const addrs = nsExec(a.ns, 'ip', ['-o', 'addr', 'show', 'dev', a.ifname]);
  assert.ok(addrs.includes(`inet ${a.inner4}/24`) && addrs.includes(`inet6 ${a.inner6}/64`), addrs);
  assert.equal(ping(a, b.inner4, 3), 3, logsOf(b) + upLog.join('\n'));
  assert.equal(ping(a, b.inner6, 3), 3, logsOf(b) + upLog.join('\n'));
});

test('SIGHUP after editing the file applies the difference and keeps the running session', async () => {
  const before = peerDump(a, b.keys.publicKey)!;
  assert.ok(before.latestHandshake > 0, 'a session exists');
  // Handshake times have one-second resolution: wait so a new handshake would show.
  await new Promise((r) => setTimeout(r, 1100));
  // The edit: b gains 10.211.5.0/24 and loses its IPv6 address; a third peer appears.
  writeFileSync(conf, configText([`${b.inner4}/32`, '10.211.5.0/24'], true), { mode: 0o600 });
  upProc.kill('SIGHUP');
  await waitFor('the reload to add the new peer', () => wg(a, ['show', a.ifname, 'peers']).includes(third.publicKey), 5_000, 50);

  const allowed = wg(a, ['show', a.ifname, 'allowed-ips']);
  assert.match(allowed, new RegExp(`${escape(b.keys.publicKey)}\\t.*10\\.211\\.5\\.0/24`), allowed);
  assert.match(allowed, new RegExp(`${escape(third.publicKey)}\\t10\\.211\\.6\\.0/24`), allowed);
  assert.ok(!allowed.includes(b.inner6), `b's IPv6 address was removed:\n${allowed}`);
  for (const r of ['10.211.5.0/24', '10.211.6.0/24']) {
    assert.match(nsExec(a.ns, 'ip', ['route', 'show', r]), /dev h7uwa/, `route for the new AllowedIPs ${r}`);
  }
  assert.equal(ping(a, b.inner4, 3), 3, 'traffic keeps flowing after the reload');
  assert.equal(ping(a, b.inner6, 2), 0, 'the removed allowed IP no longer routes to b');
  const afterReload = peerDump(a, b.keys.publicKey)!;
  assert.equal(afterReload.latestHandshake, before.latestHandshake, 'no new handshake: the session survived the reload');
  assert.ok(afterReload.rx > before.rx && afterReload.tx > before.tx, 'counters kept counting (the peer was not re-created)');
  assert.equal(upProc.exitCode, null, 'still running');
  // Polled: the synchronous calls above kept our event loop from reading its output.
  await waitFor('the reload to be logged', () => upLog.some((l) => /reloaded .*h7uwa\.conf: \d+ change/.test(l)), 2_000, 50);
});

test('xdpwg down FILE stops it: PreDown could query it, PostDown ran, interface, socket and pid file gone', async () => {
  const r = await runXdpwg(undefined, ['down', conf]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await exitOf(upProc), 0, 'xdpwg up ended with status 0');
  const preDown = path.join(dir, `${a.ifname}.predown`);
  assert.ok(
    existsSync(preDown) && readFileSync(preDown, 'utf8').includes(b.keys.publicKey),
    `PreDown's \`wg show %i peers\` was answered by the stopping daemon:\n${upLog.join('\n')}`,
  );
  assert.ok(existsSync(path.join(dir, `${a.ifname}.down`)), `PostDown ran with %i replaced:\n${upLog.join('\n')}`);
  assert.equal(linkExists(a.ns, a.ifname), false);
  assert.equal(existsSync(socketPath(a.ifname)), false);
  assert.equal(existsSync(pidFile(a.ifname)), false);
  const again = await runXdpwg(undefined, ['down', conf]);
  assert.equal(again.code, 1, 'down of an interface that is not up fails');
  assert.match(again.stderr, /h7uwa/);
});

test('SaveConfig = true writes the running configuration back on down', async () => {
  const file = path.join(dir, `${saveIf}.conf`);
  const own = genKeys();
  writeFileSync(
    file,
    ['[Interface]', `PrivateKey = ${own.privateKey}`, 'ListenPort = 51899', 'Address = 10.211.8.1/24', 'SaveConfig = true', ''].join('\n'),
    { mode: 0o600 },
  );
  const log: string[] = [];
  const proc = await startUp(a.ns, file, saveIf, log);
  // Changes made at runtime with wg(8) are what SaveConfig is for.
  const added = genKeys();
  nsExec(a.ns, 'wg', [
    'set',
    saveIf,
    'listen-port',
    '51898',
    'peer',
    added.publicKey,
    'allowed-ips',
    '10.211.9.0/24',
    'endpoint',
    '192.0.2.7:51820',
    'persistent-keepalive',
    '25',
  ]);
  const r = await runXdpwg(undefined, ['down', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await exitOf(proc), 0, log.join('\n'));

  assert.equal(statSync(file).mode & 0o777, 0o600, 'the saved file stays private (it holds the private key)');
  const saved = parseConfig(readFileSync(file, 'utf8'), file);
  assert.equal(saved.interface.saveConfig, true, 'SaveConfig itself is kept');
  assert.equal(keyToBase64(saved.interface.privateKey!), own.privateKey);
  assert.equal(saved.interface.listenPort, 51898, 'the runtime listen port');
  assert.deepEqual(
    saved.interface.addresses.map((x) => `${x.family}/${x.bits}`),
    ['4/24'],
    'Address kept',
  );
  assert.equal(saved.peers.length, 1);
  const p = saved.peers[0]!;
  assert.equal(keyToBase64(p.publicKey), added.publicKey);
  assert.equal(p.endpoint, '192.0.2.7:51820');
  assert.equal(p.persistentKeepalive, 25);
  assert.deepEqual(
    p.allowedIPs.map((x) => `${x.address.join('.')}/${x.bits}`),
    ['10.211.9.0/24'],
  );
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
