/**
 * The stats socket (src/daemon/observe/stats-server.ts) is owner-only from the moment
 * it exists, whatever the process umask: it streams captures of the tunnel's
 * traffic. Checked when the server starts listening (before anything the
 * server does afterwards), under umask 000.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { StatsServer } from '../../src/daemon/observe/stats-server.js';

test('under umask 000 the stats socket is never accessible to others, and its directory is made 0700', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'xdpwg-stats-'));
  const sockDir = path.join(dir, 'run');
  const modesAtListen: number[] = [];
  const originalListen = Server.prototype.listen;
  // The first moment the socket file exists: 'listening' is emitted right after the bind.
  Server.prototype.listen = function (this: Server, ...args: unknown[]) {
    this.once('listening', () => {
      const a = this.address();
      if (typeof a === 'string') modesAtListen.push(lstatSync(a).mode & 0o777);
    });
    return (originalListen as (...a: unknown[]) => Server).apply(this, args);
  } as typeof Server.prototype.listen;
  const oldUmask = process.umask(0o000);
  let server: StatsServer | undefined;
  try {
    server = await StatsServer.open('st0', () => ({ ok: true }), undefined, sockDir);
  } finally {
    process.umask(oldUmask);
    Server.prototype.listen = originalListen;
  }
  try {
    assert.equal(process.umask(), oldUmask, 'the umask is restored');
    assert.equal(modesAtListen.length, 1, 'the bind was seen');
    assert.equal(modesAtListen[0]! & 0o077, 0, `no access for group/others when bound (mode ${modesAtListen[0]!.toString(8)})`);
    assert.equal(lstatSync(server.socketPath).mode & 0o777, 0o600);
    assert.equal(statSync(sockDir).mode & 0o777, 0o700, 'the socket directory is private');
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
