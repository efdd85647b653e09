/**
 * Faults: the daemon killed with SIGKILL under traffic and restarted (the
 * tunnel is back within 6 s; no TUN, XDP program or live socket left behind,
 * the stale UAPI socket replaced), the peer restarting (the session
 * re-forms), the uplink going down and up (traffic resumes), the TUN deleted
 * (the daemon exits with status 0), and a worker thread dying (the daemon
 * logs it and exits non-zero so systemd's Restart=on-failure restarts it —
 * never a silent hang). The worker is killed by the test-only hook
 * XDPWG_TEST_CRASH_WORKER_AFTER_MS (src/datapath/worker.ts).
 *
 *   A (xdpwg under test) ── B (xdpwg peer)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import { addPeer, configureInterface, logsOf, ping, startFailure, twoSides, wg, xdpwgBin, type Side } from '../helpers/tunnel-lab.js';
import { uapiAccepts, uapiSocketPath } from '../../src/daemon/uapi/server.js';
import { datapathEnv, pingAsync } from './reliability-fixture.js';

const PATH = 'kernel';
const RECOVERY_LIMIT_MS = 6_000;
const lab = new Lab('rlk');
let a: Side;
let b: Side;
const env = (): Record<string, string> => ({ LOG_LEVEL: 'verbose', ...datapathEnv(PATH) });

/**
 * Starts a side's daemon and waits until its UAPI socket answers. Unlike
 * startImplementation it leaves a socket file a killed daemon left behind in
 * place: replacing it is the daemon's job, and part of what is tested.
 */
async function start(side: Side, extra: Record<string, string> = {}): Promise<void> {
  const child = lab.spawn(side.ns, xdpwgBin, ['-f', side.ifname], { env: { ...process.env, ...env(), ...extra } });
  side.proc = child;
  const collect = (d: Buffer): void => {
    side.log.push(...d.toString().split('\n').filter(Boolean));
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  try {
    await waitFor(
      `${side.ifname}'s UAPI socket to answer`,
      async () => (await uapiAccepts(uapiSocketPath(side.ifname))) && wg(side, ['show', side.ifname, 'listen-port']).trim() !== '',
      15_000,
      50,
    );
  } catch (err) {
    throw startFailure(err, child, side);
  }
}

/** What a (re)started side needs: its interface and its peer (A keeps a keepalive, so it handshakes at once). */
function configure(side: Side, peer: Side): void {
  configureInterface(side);
  addPeer(side, peer, side === a ? { keepalive: 25 } : {});
}

function exited(side: Side, timeoutMs: number): Promise<number | null> {
  const p = side.proc!;
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.exitCode);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

/** ms until one ping from `from` to `to` gets through (polled), or -1 after limitMs. */
async function timeToTraffic(from: Side, to: string, since: number, limitMs: number): Promise<number> {
  while (Date.now() - since < limitMs + 4000) {
    if (ping(from, to, 1) === 1) return Date.now() - since;
    await new Promise((r) => setTimeout(r, 100));
  }
  return -1;
}

const figures: Record<string, unknown> = {};

before(async () => {
  requireRoot();
  ({ a, b } = twoSides(lab, 'xdpwg', 'xdpwg', 216));
  await start(a);
  await start(b);
  configure(a, b);
  configure(b, a);
  assert.equal(ping(b, a.inner4, 3), 3, logsOf(a, b));
});
after(() => {
  console.log(`faults: ${JSON.stringify(figures)}`);
  lab.cleanup();
});

test(`${PATH} path: kill -9 under traffic, restart: tunnel back within 6 s, nothing stale left`, { timeout: 60_000 }, async () => {
  const traffic = pingAsync(b, a.inner4, 80, 0.1);
  await new Promise((r) => setTimeout(r, 1000));
  a.proc!.kill('SIGKILL');
  await exited(a, 5000);
  // The kernel removes the TUN with its last fd; nothing else may linger but the socket file.
  await waitFor('the TUN to go with the killed daemon', () => !nsExec(a.ns, 'ip', ['-o', 'link', 'show']).includes(`${a.ifname}:`), 3000);
  assert.doesNotMatch(
    nsExec(a.ns, 'ip', ['-d', 'link', 'show', 'rlkva']),
    /prog\/xdp|xdpgeneric|xdpdrv/,
    'an XDP program outlived the daemon',
  );
  const sock = `/var/run/wireguard/${a.ifname}.sock`;
  const staleSocket = existsSync(sock);
  assert.ok(staleSocket, 'SIGKILL leaves the socket file: the restart must replace it');
  const restartAt = Date.now();
  await start(a);
  // A new socket file (an inode number can be reused at once on some file
  // systems, so the change time is what tells), and it answers (start waited for that).
  assert.ok(statSync(sock).ctimeMs >= restartAt - 50, 'the stale socket file was not replaced');
  configure(a, b);
  const recovery = await timeToTraffic(b, a.inner4, restartAt, RECOVERY_LIMIT_MS);
  const t = await traffic;
  figures.killRestart = { staleSocketFileAfterKill: staleSocket, recoveryMs: recovery, pingsAcrossKill: t };
  assert.ok(recovery >= 0 && recovery <= RECOVERY_LIMIT_MS, `tunnel back after ${recovery} ms\n${logsOf(a, b)}`);
  // The stale socket was replaced by a live one.
  assert.match(wg(a, ['show', a.ifname]), /latest handshake/);
});

test(`${PATH} path: the peer restarts: the session re-forms`, { timeout: 60_000 }, async () => {
  b.proc!.kill('SIGKILL');
  await exited(b, 5000);
  const restartAt = Date.now();
  await start(b);
  configure(b, a);
  const recovery = await timeToTraffic(b, a.inner4, restartAt, RECOVERY_LIMIT_MS);
  figures.peerRestart = { recoveryMs: recovery };
  assert.ok(recovery >= 0 && recovery <= RECOVERY_LIMIT_MS, `session re-formed after ${recovery} ms\n${logsOf(a, b)}`);
  assert.equal(ping(a, b.inner4, 3), 3, 'and back the other way');
});

test(`${PATH} path: the uplink goes down and up: traffic resumes`, { timeout: 60_000 }, async () => {
  nsExec(a.ns, 'ip', ['link', 'set', 'rlkva', 'down']);
  assert.equal(ping(b, a.inner4, 2), 0, 'traffic passed over a downed link');
  await new Promise((r) => setTimeout(r, 1000));
  const upAt = Date.now();
  nsExec(a.ns, 'ip', ['link', 'set', 'rlkva', 'up']);
  const recovery = await timeToTraffic(b, a.inner4, upAt, RECOVERY_LIMIT_MS);
  figures.uplinkBounce = { recoveryMs: recovery };
  assert.ok(recovery >= 0 && recovery <= RECOVERY_LIMIT_MS, `traffic resumed after ${recovery} ms\n${logsOf(a, b)}`);
  assert.equal(a.proc!.exitCode, null);
});

test(`${PATH} path: the TUN is deleted: the daemon exits cleanly (status 0) and removes its socket`, { timeout: 30_000 }, async () => {
  const at = Date.now();
  nsExec(a.ns, 'ip', ['link', 'del', a.ifname]);
  const code = await exited(a, 10_000);
  figures.tunDeleted = { exitCode: code, exitMs: Date.now() - at };
  assert.equal(code, 0, `exit status ${code}\n${logsOf(a)}`);
  assert.equal(existsSync(`/var/run/wireguard/${a.ifname}.sock`), false, 'UAPI socket left behind');
});

test(`${PATH} path: a worker thread dies: the daemon logs it and exits non-zero (no silent hang)`, { timeout: 30_000 }, async () => {
  const logFrom = a.log.length;
  // The crash comes ~1.5 s after worker 0 is given its first peer (configure, below), however slow the start.
  await start(a, { XDPWG_TEST_CRASH_WORKER_AFTER_MS: '1500' });
  configure(a, b);
  const at = Date.now();
  const code = await exited(a, 10_000);
  const said = a.log.slice(logFrom).join('\n');
  figures.workerCrash = { exitCode: code, exitMsAfterConfigure: Date.now() - at };
  assert.notEqual(code, null, `daemon still running 10 s after its worker died\n${said}`);
  assert.notEqual(code, 0, `a dead worker must end in a non-zero status for Restart=on-failure\n${said}`);
  assert.match(said, /ERROR:.*worker 0 (crashed|exited)/, said);
  await waitFor('the TUN to go', () => !nsExec(a.ns, 'ip', ['-o', 'link', 'show']).includes(`${a.ifname}:`), 5000);
});
