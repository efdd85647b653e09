/**
 * wireguard-go's command-line contract, which wg-quick and scripts rely on:
 * `xdpwg IFNAME` returns 0 only once the TUN and /var/run/wireguard/IFNAME.sock
 * exist and leaves a detached daemon behind; -f / WG_PROCESS_FOREGROUND=1
 * keep it in the foreground; it ends on SIGTERM, on the TUN being deleted and
 * on its socket being removed; LOG_LEVEL decides how much it says; a stale
 * socket is replaced; the TUN keeps working after being moved to another
 * namespace (the "namespace trick" of wireguard.com/netns).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import { alive, daemonPid, exitOf, linkExists, runXdpwg, socketPath } from '../helpers/cli-run.js';
import {
  addPeer,
  configureInterface,
  genKeys,
  logsOf,
  ping,
  repoRoot,
  startImplementation,
  twoSides,
  wg,
  xdpwgBin,
  type Side,
} from '../helpers/tunnel-lab.js';

const lab = new Lab('h7c');
let ns: string;
const started: number[] = [];
const ifnames = ['h7cd0', 'h7cd1', 'h7cd2', 'h7cd3', 'h7cd4', 'h7cf0', 'h7cl0', 'h7cwa', 'h7cwb'];

before(() => {
  requireRoot();
  for (const i of ifnames) rmSync(socketPath(i), { force: true });
  ns = lab.ns('d');
});
after(() => {
  for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
  lab.cleanup();
  for (const i of ifnames) rmSync(socketPath(i), { force: true });
  for (const n of ['a', 'b']) rmSync(`/tmp/h7c-${n}.key`, { force: true }); // tunnel-lab's key files
});

/** `xdpwg IFNAME` in ns (daemon mode); returns the daemon's pid once the parent returned 0. */
async function daemonize(ifname: string, env: Record<string, string> = {}): Promise<number> {
  const r = await runXdpwg(ns, [ifname], { env });
  assert.equal(r.code, 0, `xdpwg ${ifname} exit status; stderr: ${r.stderr}`);
  assert.equal(await connectError(socketPath(ifname)), undefined, `${socketPath(ifname)} accepts right after the parent returned`);
  // Which process: ss's socket dump can miss an entry while other sockets come and go (a daemon of
  // the test before still exiting), so ask it again for a moment.
  const pid = await waitFor(`ss -xlp to name the process listening on ${socketPath(ifname)}`, () => daemonPid(ns, ifname), 3_000, 50);
  started.push(pid);
  return pid;
}

/** The error code of connecting to a unix socket, undefined when the connection is accepted. */
function connectError(file: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const c = connect(file);
    c.once('connect', () => {
      c.destroy();
      resolve(undefined);
    });
    c.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
  });
}

async function gone(pid: number, ifname: string, why: string): Promise<void> {
  await waitFor(`the daemon (pid ${pid}) to exit after ${why}`, () => !alive(pid), 10_000, 50);
  assert.equal(linkExists(ns, ifname), false, `${ifname} is gone after ${why}`);
  await waitFor(
    `${socketPath(ifname)} to be removed after ${why}`,
    () => {
      try {
        lstatSync(socketPath(ifname));
        return false;
      } catch {
        return true;
      }
    },
    3_000,
    50,
  );
}

test('xdpwg IFNAME returns 0 once the TUN and the UAPI socket exist, and leaves a detached daemon that SIGTERM ends', async () => {
  // The socket directory: created 0755 under the caller's umask when missing (as wireguard-go's
  // MkdirAll), never changed when it exists (wg-quick, under umask 077, may have made it 0700).
  const dir = path.dirname(socketPath('h7cd0'));
  const dirModeBefore = existsSync(dir) ? statSync(dir).mode & 0o777 : undefined;
  const umask = process.umask(0o022);
  process.umask(umask); // the daemon inherits this process's umask
  // runXdpwg waits for EOF on stdout/stderr too: the daemon must not hold them (LOG_LEVEL unset).
  const r = await runXdpwg(ns, ['h7cd0'], { env: { LOG_LEVEL: '' } });
  assert.equal(r.code, 0, r.stderr);
  // Checked synchronously after the parent's exit: readiness was promised, not eventual.
  assert.ok(linkExists(ns, 'h7cd0'), 'the TUN exists when the parent returns');
  const st = lstatSync(socketPath('h7cd0'));
  assert.ok(st.isSocket(), 'the UAPI path is a socket');
  assert.equal(st.mode & 0o777, 0o600, `socket mode ${(st.mode & 0o777).toString(8)}`);
  assert.equal(
    statSync(dir).mode & 0o777,
    dirModeBefore ?? 0o755 & ~umask,
    `socket directory mode (${dirModeBefore === undefined ? 'created by the daemon' : 'existed before'})`,
  );

  const pid = await waitFor('ss -xlp to name the process serving the socket', () => daemonPid(ns, 'h7cd0'), 3_000, 50);
  started.push(pid);
  const [ppid, sid] = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ')
    .slice(1, 4)
    .filter((_, i) => i !== 1)
    .map(Number);
  assert.notEqual(ppid, process.pid, 'the daemon is not our child');
  assert.equal(sid, pid, 'the daemon leads its own session (detached from our terminal)');
  assert.ok(
    nsExec(ns, 'ip', ['netns', 'pids', ns]).split(/\s+/).includes(String(pid)),
    'the daemon lives in the namespace it was started in',
  );
  assert.match(nsExec(ns, 'wg', ['show', 'h7cd0']), /listening port: \d+/, 'wg(8) talks to it');

  process.kill(pid, 'SIGTERM');
  await gone(pid, 'h7cd0', 'SIGTERM');
});

test('a stale socket left by a killed daemon is replaced', async () => {
  const first = await daemonize('h7cd1');
  const before = lstatSync(socketPath('h7cd1'), { bigint: true });
  process.kill(first, 'SIGKILL');
  await waitFor('the killed daemon to disappear', () => !alive(first), 5_000, 50);
  assert.ok(lstatSync(socketPath('h7cd1')).isSocket(), 'SIGKILL left the socket file behind (the stale case)');
  assert.equal(await connectError(socketPath('h7cd1')), 'ECONNREFUSED', 'nobody accepts on the stale socket');
  await waitFor('the kernel to delete the TUN of the killed daemon', () => !linkExists(ns, 'h7cd1'), 5_000, 50);

  const second = await daemonize('h7cd1');
  const now = lstatSync(socketPath('h7cd1'), { bigint: true });
  // Not the inode number: ext4 hands a freed one straight out again.
  assert.ok(now.ctimeNs > before.ctimeNs, 'a new socket was bound in place of the stale one');
  assert.equal(now.mode & 0o777n, 0o600n);
  assert.equal(await connectError(socketPath('h7cd1')), undefined, 'the new socket accepts');
  assert.match(nsExec(ns, 'wg', ['show', 'h7cd1']), /listening port/, 'the new daemon answers on it');

  // Replacing a stale socket is routine, not an error: LOG_LEVEL=error stays silent about it.
  process.kill(second, 'SIGKILL');
  await waitFor('the second daemon to disappear', () => !alive(second) && !linkExists(ns, 'h7cd1'), 5_000, 50);
  const third = lab.spawn(ns, xdpwgBin, ['-f', 'h7cd1'], { env: { ...process.env, LOG_LEVEL: 'error' } });
  let said = '';
  third.stdout!.on('data', (d: Buffer) => {
    said += d.toString();
  });
  third.stderr!.on('data', (d: Buffer) => {
    said += d.toString();
  });
  await waitFor('the third daemon to serve the socket', () => daemonPid(ns, 'h7cd1') === third.pid, 10_000, 50);
  third.kill('SIGTERM');
  assert.equal(await exitOf(third), 0);
  assert.equal(said, '', 'nothing logged at LOG_LEVEL=error');
});

test('a second xdpwg for a running interface is refused and leaves the first untouched', async () => {
  const pid = await daemonize('h7cd4');
  const r = await runXdpwg(ns, ['h7cd4']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /another process already serves \/var\/run\/wireguard\/h7cd4\.sock/, r.stderr);
  assert.equal(daemonPid(ns, 'h7cd4'), pid, 'the first daemon still serves the socket');
  assert.match(nsExec(ns, 'wg', ['show', 'h7cd4']), /listening port/);
  process.kill(pid, 'SIGTERM');
  await gone(pid, 'h7cd4', 'SIGTERM');
});

test('the daemon exits when its TUN is deleted', async () => {
  const pid = await daemonize('h7cd2');
  nsExec(ns, 'ip', ['link', 'del', 'h7cd2']);
  await gone(pid, 'h7cd2', 'ip link del');
});

test('the daemon exits when its socket file is removed', async () => {
  const pid = await daemonize('h7cd3');
  rmSync(socketPath('h7cd3'));
  await gone(pid, 'h7cd3', 'rm of the socket');
});

test('WG_PROCESS_FOREGROUND=1 keeps the daemon in the foreground (same pid, no return until it ends)', async () => {
  const child = lab.spawn(ns, xdpwgBin, ['h7cf0'], { env: { ...process.env, WG_PROCESS_FOREGROUND: '1' } });
  await waitFor('the foreground daemon to serve its socket', () => daemonPid(ns, 'h7cf0'), 10_000, 50);
  // `ip netns exec` execs the command, so the process we spawned is the daemon itself.
  assert.equal(daemonPid(ns, 'h7cf0'), child.pid, 'the socket is served by the process we started');
  assert.equal(child.exitCode, null, 'it did not return');
  child.kill('SIGTERM');
  assert.equal(await exitOf(child), 0, 'SIGTERM ends it with status 0');
  assert.equal(linkExists(ns, 'h7cf0'), false);
});

test('LOG_LEVEL: debug says the most, verbose less, error nothing in a quiet run', async () => {
  const peer = genKeys();
  const own = genKeys();
  const logs: Record<string, string> = {};
  for (const level of ['debug', 'verbose', 'error']) {
    const child = lab.spawn(ns, xdpwgBin, ['-f', 'h7cl0'], { env: { ...process.env, LOG_LEVEL: level } });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await waitFor('the daemon to serve its socket', () => daemonPid(ns, 'h7cl0'), 10_000, 50);
    // The same work at each level: a key, a peer nobody answers for, one packet that starts a handshake.
    nsExec(ns, 'sh', ['-c', `printf '%s' '${own.privateKey}' > /tmp/h7cl0.key`]);
    nsExec(ns, 'wg', [
      'set',
      'h7cl0',
      'private-key',
      '/tmp/h7cl0.key',
      'peer',
      peer.publicKey,
      'allowed-ips',
      '10.77.0.2/32',
      'endpoint',
      '127.0.0.1:9',
    ]);
    nsExec(ns, 'ip', ['addr', 'add', '10.77.0.1/24', 'dev', 'h7cl0']);
    nsExec(ns, 'ip', ['link', 'set', 'h7cl0', 'up']);
    try {
      nsExec(ns, 'ping', ['-c', '1', '-W', '1', '10.77.0.2']);
    } catch {
      /* nobody answers: expected */
    }
    child.kill('SIGTERM');
    assert.equal(await exitOf(child), 0);
    logs[level] = out;
  }
  rmSync('/tmp/h7cl0.key', { force: true });
  assert.match(logs.debug!, /^DEBUG: .*sending handshake initiation/m, `debug log:\n${logs.debug}`);
  assert.match(logs.debug!, /^INFO: /m);
  assert.match(logs.verbose!, /^INFO: .*UAPI: listening on/m, `verbose log:\n${logs.verbose}`);
  assert.doesNotMatch(logs.verbose!, /^DEBUG: /m);
  assert.equal(logs.error, '', 'LOG_LEVEL=error prints nothing when nothing went wrong');
});

test('an invalid interface name is refused clearly with status 1, and nothing is created', async () => {
  for (const bad of ['h7c/bad', 'h7c-much-too-long', '..']) {
    const r = await runXdpwg(ns, [bad]);
    assert.equal(r.code, 1, `status for '${bad}'`);
    assert.match(r.stderr, /invalid interface name/, r.stderr);
    assert.ok(r.stderr.includes(bad), 'the message names what was refused');
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  }
  const r = await runXdpwg(ns, ['-x', 'h7cx']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /unknown option -x/);
  assert.equal(linkExists(ns, 'h7cx'), false);
});

test('--version and --help', async () => {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const v = await runXdpwg(undefined, ['--version']);
  assert.equal(v.code, 0);
  assert.equal(v.stdout, `xdpwg v${pkg.version}\n`);
  const h = await runXdpwg(undefined, ['--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /^Usage: xdpwg \[-f\|--foreground\] IFNAME/);
  for (const verb of ['up', 'down', 'show', 'stats', 'genkey']) assert.match(h.stdout, new RegExp(`\\b${verb}\\b`));
  const none = await runXdpwg(undefined, []);
  assert.equal(none.code, 1, 'no arguments is a usage error');
  assert.match(none.stderr, /^Usage:/);
});

test('the TUN moved to another namespace after start keeps working (ping a wireguard-go peer through it)', async () => {
  // a: where xdpwg starts and keeps its UDP socket; b: wireguard-go; c: where the TUN goes.
  const { a, b } = twoSides(lab, 'xdpwg', 'wireguard-go', 207);
  const c = lab.ns('c');
  await startImplementation(lab, a);
  await startImplementation(lab, b);
  configureInterface(b);
  nsExec(a.ns, 'sh', ['-c', `printf '%s' '${a.keys.privateKey}' > /tmp/${a.ns}.key`]);
  wg(a, ['set', a.ifname, 'private-key', `/tmp/${a.ns}.key`, 'listen-port', String(a.port)]);
  addPeer(a, b, { outer: 4 });
  addPeer(b, a, { endpoint: false });

  nsExec(a.ns, 'ip', ['link', 'set', a.ifname, 'netns', c]);
  assert.equal(linkExists(a.ns, a.ifname), false, 'the TUN left the first namespace');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(a.proc!.exitCode, null, `moving the TUN must not look like its deletion\n${logsOf(a)}`);
  nsExec(c, 'ip', ['addr', 'add', `${a.inner4}/24`, 'dev', a.ifname]);
  nsExec(c, 'ip', ['addr', 'add', `${a.inner6}/64`, 'dev', a.ifname, 'nodad']);
  nsExec(c, 'ip', ['link', 'set', a.ifname, 'mtu', '1420', 'up']);
  const inC: Side = { ...a, ns: c };
  assert.equal(ping(inC, b.inner4, 3), 3, logsOf(a, b));
  assert.equal(ping(inC, b.inner6, 3), 3, logsOf(a, b));
  // c has no route to b's outer address: the packets really went out through a's socket.
  assert.throws(() => nsExec(c, 'ip', ['route', 'get', b.outer4]));
  assert.ok(wg(a, ['show', a.ifname, 'latest-handshakes']).trim().split(/\s+/)[1] !== '0', 'a handshake happened');

  nsExec(c, 'ip', ['link', 'del', a.ifname]);
  assert.equal(await exitOf(a.proc!), 0, 'deleting the moved TUN still ends the daemon');
});
