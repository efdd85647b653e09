/**
 * SaveConfig replaces the file atomically (issue 21, item 5): the running
 * configuration — the private key included — goes into a new file, 0600,
 * renamed over the old one, so there is never a moment when the file is
 * empty or cut short:
 *
 * - the file after down is a new inode, mode 0600, with no temporary file
 *   left beside it; a symbolic link stays a link, its target replaced;
 * - on a file system with no space left (a 16 KiB tmpfs, filled up) the
 *   save fails, and the old file is intact byte for byte. Writing in place
 *   would have truncated it first (freeing its page) and then run out of
 *   space in the middle of the larger new content.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Lab, nsExec, requireRoot, sh, waitFor } from '../helpers/netns.js';
import { exitOf, runXdpwg, socketPath } from '../helpers/cli-run.js';
import { genKeys, xdpwgBin } from '../helpers/tunnel-lab.js';
import { parseConfig } from '../../src/daemon/config/config-file.js';
import { keyToBase64 } from '../../src/crypto/encoding.js';

const lab = new Lab('qss');
const ifname = 'qsswa';
let ns: string;
let dir: string;
let small: string | undefined;
const own = genKeys();

before(() => {
  requireRoot();
  ns = lab.ns('a');
  dir = mkdtempSync(path.join(os.tmpdir(), 'qss-'));
});
after(() => {
  lab.cleanup();
  rmSync(socketPath(ifname), { force: true });
  for (const f of [`/run/xdpwg/${ifname}.pid`, `/run/xdpwg/${ifname}.undo.json`]) rmSync(f, { force: true });
  if (small) {
    try {
      sh('umount', [small]);
    } catch {
      /* not mounted */
    }
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const original = [
  '[Interface]',
  `PrivateKey = ${own.privateKey}`,
  'ListenPort = 51877',
  'Address = 10.233.1.1/24',
  'SaveConfig = true',
  '',
].join('\n');

/** `xdpwg up file`, `peers` peers added with wg(8) while it runs (what SaveConfig is for), then `xdpwg down`. */
async function upAddDown(file: string, peers: number): Promise<string> {
  const out: string[] = [];
  const up = lab.spawn(ns, xdpwgBin, ['up', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  up.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
  up.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
  const pidFile = `/run/xdpwg/${ifname}.pid`;
  await waitFor(
    'xdpwg up to finish its set-up',
    () => {
      if (up.exitCode !== null) throw new Error(`xdpwg up exited ${up.exitCode}:\n${out.join('')}`);
      return existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() === String(up.pid);
    },
    30_000,
    100,
  );
  const args = ['set', ifname];
  for (let i = 0; i < peers; i++) args.push('peer', randomBytes(32).toString('base64'), 'allowed-ips', `10.233.9.${i + 1}/32`);
  nsExec(ns, 'wg', args);
  const r = await runXdpwg(undefined, ['down', ifname]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await exitOf(up, 15_000), 0, out.join(''));
  return out.join('');
}

test('SaveConfig renames a new 0600 file over the old one; a symbolic link stays a link', async () => {
  const plain = path.join(dir, 'plain');
  mkdirSync(plain);
  const file = path.join(plain, `${ifname}.conf`);
  writeFileSync(file, original, { mode: 0o600 });
  const inode = statSync(file).ino;
  await upAddDown(file, 1);
  const st = statSync(file);
  assert.notEqual(st.ino, inode, 'a new file, renamed over the old one (not rewritten in place)');
  assert.equal(st.mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(plain), [`${ifname}.conf`], 'no temporary file left');
  const saved = parseConfig(readFileSync(file, 'utf8'), file);
  assert.equal(keyToBase64(saved.interface.privateKey!), own.privateKey);
  assert.equal(saved.peers.length, 1);

  // /etc/wireguard/wg0.conf as a link into a managed directory: the link stays, its target is replaced.
  const linked = path.join(dir, 'linked');
  const target = path.join(dir, 'target');
  mkdirSync(linked);
  mkdirSync(target);
  const real = path.join(target, 'real.conf');
  writeFileSync(real, original, { mode: 0o600 });
  const link = path.join(linked, `${ifname}.conf`);
  symlinkSync(real, link);
  const realInode = statSync(real).ino;
  await upAddDown(link, 2);
  assert.ok(lstatSync(link).isSymbolicLink(), 'still a symbolic link');
  assert.notEqual(statSync(real).ino, realInode);
  assert.equal(statSync(real).mode & 0o777, 0o600);
  assert.equal(parseConfig(readFileSync(link, 'utf8'), link).peers.length, 2);
  assert.deepEqual(readdirSync(target), ['real.conf'], 'no temporary file left beside the target');
});

test('no space left for the new file: SaveConfig fails and the old file is intact', async () => {
  small = path.join(dir, 'small');
  mkdirSync(small);
  sh('mount', ['-t', 'tmpfs', '-o', 'size=16k,mode=0700', 'tmpfs', small]);
  const file = path.join(small, `${ifname}.conf`);
  writeFileSync(file, original, { mode: 0o600 });
  // Fill the rest: the write stops at ENOSPC, keeping what fitted.
  try {
    writeFileSync(path.join(small, 'filler'), Buffer.alloc(64 * 1024));
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
  }
  assert.equal(statfsSync(small).bavail, 0, 'the file system is full');
  // 60 peers: the saved file would be over 4 KiB, a page more than the old one.
  const out = await upAddDown(file, 60);
  assert.equal(readFileSync(file, 'utf8'), original, `the old file, byte for byte:\n${out}`);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(small).sort(), ['filler', `${ifname}.conf`], 'no temporary file left');
  assert.match(out, /^ERROR: .*SaveConfig: .*ENOSPC/m, out);
});
