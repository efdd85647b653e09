/**
 * The private state directory (src/daemon/run-dir.ts): created 0700, an
 * existing looser one (older versions made /run/xdpwg 0755) tightened, a
 * symlink or a directory owned by someone else refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensurePrivateDir } from '../../src/daemon/run-dir.js';

test('ensurePrivateDir creates 0700, tightens a 0755 one, refuses a symlink and a foreign owner', (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'xdpwg-rundir-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const fresh = path.join(root, 'fresh');
  const oldUmask = process.umask(0o000);
  try {
    ensurePrivateDir(fresh);
  } finally {
    process.umask(oldUmask);
  }
  assert.equal(statSync(fresh).mode & 0o7777, 0o700);

  const loose = path.join(root, 'loose');
  mkdirSync(loose);
  chmodSync(loose, 0o755);
  ensurePrivateDir(loose);
  assert.equal(statSync(loose).mode & 0o7777, 0o700, 'an old 0755 directory is tightened');

  const link = path.join(root, 'link');
  symlinkSync(loose, link);
  assert.throws(() => ensurePrivateDir(link), /not a directory \(a symlink\?\)/);

  if (process.geteuid?.() !== 0) throw new Error('this test needs root (to make a directory owned by someone else)');
  const foreign = path.join(root, 'foreign');
  mkdirSync(foreign, { mode: 0o700 });
  chownSync(foreign, 65534, 65534);
  assert.throws(() => ensurePrivateDir(foreign), /owned by uid 65534.*refusing/);
});
