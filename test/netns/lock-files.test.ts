/**
 * xdpwg's lock files under /run/xdpwg (native/run_dir.cc, native/xdp_filter.cc)
 * are root's alone and never stall the daemon:
 * - an unprivileged user can open none of them (flock() needs only a
 *   read-only descriptor, so a file anyone can open is a lock anyone can
 *   hold), not even files an older version left 0644 in a 0755 directory,
 *   and so cannot hold up a filter set-up, not even with a descriptor of the
 *   old set-up lock opened before the upgrade;
 * - a stale filter whose old-style (0644) owner lock is held by someone who
 *   is not its owner (whose pid is dead) is still replaced;
 * - a set-up lock held by another root process ends the attach with a clear
 *   error after a bounded wait instead of blocking the main thread for ever.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { nsExec, waitFor } from '../helpers/netns.js';
import { makeEchoLab, startEcho, xdpAttached } from './echo-fixture.js';

const RUN_DIR = '/run/xdpwg';
const PORT = 7111;
const env = makeEchoLab('lkf', 'lkf0', 'lkf1');
const holders: ChildProcess[] = [];
const killGroup = (c: ChildProcess): void => {
  try {
    process.kill(-c.pid!, 'SIGKILL');
  } catch {
    /* gone */
  }
};
after(() => {
  for (const h of holders) killGroup(h);
  env.lab.cleanup();
});

const nsIno = statSync(`/run/netns/${env.a}`).ino;
const ifindex = Number(nsExec(env.a, 'cat', [`/sys/class/net/${env.devA}/ifindex`]).trim());
const setupLock = `${RUN_DIR}/filter-${nsIno}-${ifindex}-setup.lock`;
/** Older versions' name of the set-up lock. */
const legacySetupLock = `${RUN_DIR}/filter-${nsIno}-${ifindex}.lock`;
/** The owner locks of process `pid`'s filters here (each holds its owner's pid; a namespace inode can be reused, with files of others). */
const ownerLocks = (pid: number | undefined): string[] =>
  readdirSync(RUN_DIR)
    .filter((f) => f.startsWith(`filter-${nsIno}-${ifindex}-prog`))
    .map((f) => `${RUN_DIR}/${f}`)
    .filter((f) => {
      try {
        return readFileSync(f, 'utf8').trim() === String(pid);
      } catch {
        return false;
      }
    });
const AS_NOBODY = ['--reuid=nobody', '--regid=nogroup', '--clear-groups'];

/**
 * Starts `flock FILE` holding the lock until killed (as nobody when `unprivileged`);
 * resolves once it holds it, or with its stderr when it could not.
 */
async function holdLock(file: string, unprivileged: boolean): Promise<{ held: boolean; stderr: string; release(): void }> {
  const args = [...(unprivileged ? AS_NOBODY : []), 'flock', file, 'sh', '-c', 'echo held; exec sleep 120'];
  // Its own process group: flock's child inherits the lock, so release() ends both.
  const child = spawn(unprivileged ? 'setpriv' : args.shift()!, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  holders.push(child);
  let out = '',
    stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let done = false;
  void exited.then(() => {
    done = true;
  });
  await waitFor(`flock on ${file} to be held or refused`, () => out.includes('held') || done, 10_000, 20);
  if (done) await exited;
  return { held: out.includes('held'), stderr, release: () => killGroup(child) };
}

/** Tries to open and lock `file` as nobody without waiting; returns flock(1)'s complaint. */
function nobodyLock(file: string): string {
  try {
    nsExec(env.a, 'setpriv', [...AS_NOBODY, 'flock', '-n', file, 'true']);
  } catch (err) {
    return (err as Error).message;
  }
  return 'locked';
}

test('an unprivileged user can neither open nor lock any lock file, and cannot hold up a set-up, not even with an old 0644 file', async () => {
  // What an older version left: a 0755 directory with a 0644 setup lock, which anyone could open and lock,
  // and nobody opened and locked before the upgrade (a descriptor survives any later chmod).
  mkdirSync(RUN_DIR, { recursive: true });
  chmodSync(RUN_DIR, 0o755);
  writeFileSync(legacySetupLock, '', { mode: 0o644 });
  chmodSync(legacySetupLock, 0o644);
  const pre = await holdLock(legacySetupLock, true);
  assert.equal(pre.held, true, `the old layout let nobody lock it: ${pre.stderr}`);
  try {
    const first = startEcho(env.lab, env.a, ['--interface', env.devA, '--port', String(PORT), '--mode', 'generic']);
    await first.ready;
    const owned = ownerLocks(first.child.pid);
    assert.equal(owned.length, 1, 'the running filter has its owner lock');
    for (const f of [setupLock, ...owned, legacySetupLock]) assert.match(nobodyLock(f), /Permission denied/, `nobody cannot open ${f}`);
    assert.equal(statSync(RUN_DIR).mode & 0o7777, 0o700, `${RUN_DIR} was made private`);
    for (const f of [setupLock, ...owned]) {
      assert.equal(statSync(f).mode & 0o7777, 0o600, `${f} is 0600`);
      assert.equal(statSync(f).uid, 0, `${f} is root's`);
    }
    assert.equal(await first.stop('SIGTERM'), 0, first.stderr);
  } finally {
    pre.release();
    rmSync(legacySetupLock, { force: true });
  }

  // Now an unprivileged holder of the set-up lock is refused, so the next attach goes through.
  const h = await holdLock(setupLock, true);
  assert.equal(h.held, false, 'nobody could not lock the set-up lock');
  assert.match(h.stderr, /Permission denied/);
  const second = startEcho(env.lab, env.a, ['--interface', env.devA, '--port', String(PORT), '--mode', 'generic']);
  await second.ready;
  assert.equal(await second.stop('SIGTERM'), 0, second.stderr);
  assert.equal(xdpAttached(env.a, env.devA), false);
});

test('a stale filter is replaced even when its old-style (0644) owner lock is held by someone other than its dead owner', async () => {
  const first = startEcho(env.lab, env.a, ['--interface', env.devA, '--port', String(PORT), '--mode', 'generic']);
  await first.ready;
  const [owner] = ownerLocks(first.child.pid);
  assert.ok(owner, 'the owner lock exists');
  assert.equal(await first.stop('SIGKILL'), null);
  assert.ok(xdpAttached(env.a, env.devA), 'kill -9 left the filter attached');
  // As an older version left it, opened by someone (here root: nobody can no longer reach it) who keeps its lock.
  chmodSync(owner!, 0o644);
  const h = await holdLock(owner!, false);
  assert.equal(h.held, true, h.stderr);
  try {
    const next = startEcho(env.lab, env.a, ['--interface', env.devA, '--port', String(PORT), '--mode', 'generic']);
    const r = await next.ready;
    assert.equal(r.filter?.replacedStale, 1, "the dead owner's filter was replaced despite its held lock");
    assert.equal(await next.stop('SIGTERM'), 0, next.stderr);
  } finally {
    h.release();
    rmSync(owner!, { force: true });
  }
});

test('a set-up lock held by another process ends the attach with a clear error within the bounded wait', async () => {
  assert.ok(existsSync(setupLock));
  const h = await holdLock(setupLock, false);
  assert.equal(h.held, true, h.stderr);
  try {
    const started = Date.now();
    const echo = startEcho(env.lab, env.a, ['--interface', env.devA, '--port', String(PORT), '--mode', 'generic']);
    await assert.rejects(echo.ready, /setup lock .* is still held by another process after 10 s/);
    const took = Date.now() - started;
    assert.ok(took >= 9_000 && took < 15_000, `gave up after ${took} ms (bounded wait: 10 s)`);
    assert.notEqual(await echo.exited, 0);
    assert.equal(xdpAttached(env.a, env.devA), false, 'nothing was attached');
  } finally {
    h.release();
  }
  // Released: the next attach goes through at once.
  const echo = startEcho(env.lab, env.a, ['--interface', env.devA, '--port', String(PORT), '--mode', 'generic']);
  await echo.ready;
  assert.equal(await echo.stop('SIGTERM'), 0, echo.stderr);
});

test('the sweep of dead namespaces never removes a live namespace it cannot see (a daemon without CAP_SYS_PTRACE)', async () => {
  // A namespace no bind mount keeps, held only by a process: the shape of a container's.
  const holder = spawn('unshare', ['--net', 'sleep', '600'], { stdio: 'ignore', detached: true });
  holders.push(holder);
  const nsPath = `/proc/${holder.pid}/ns/net`;
  const holderIno = await waitFor('the holder in its own namespace', () => {
    try {
      const ino = statSync(nsPath).ino;
      return ino !== statSync('/proc/self/ns/net').ino ? ino : undefined;
    } catch {
      return undefined;
    }
  });
  const liveFile = `${RUN_DIR}/filter-${holderIno}-${process.pid}-setup.lock`;
  const deadFile = `${RUN_DIR}/filter-1-${process.pid}-setup.lock`;
  const binding = new URL('../../src/native/binding.js', import.meta.url).pathname;
  const sweep = (args: string[]): number => {
    const script = `import(${JSON.stringify(binding)}).then((b) => console.log(b.native().sweepDeadNamespaceLocks()))`;
    const r = spawnSync('setpriv', [...args, process.execPath, '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return Number(r.stdout.trim());
  };
  try {
    for (const f of [liveFile, deadFile]) writeFileSync(f, '', { mode: 0o600 });
    // As the daemon after dropping its capabilities: most processes' namespaces are unreadable.
    assert.equal(sweep(['--inh-caps=-sys_ptrace', '--bounding-set=-sys_ptrace']), -1, 'an incomplete view removes nothing');
    assert.equal(existsSync(liveFile), true, 'the live namespace kept its lock file');
    assert.equal(existsSync(deadFile), true, 'nothing is removed on an incomplete view');
    // With every namespace in view (as the daemon sweeps at start): the dead one goes, the live one stays.
    assert.ok(sweep([]) >= 1);
    assert.equal(existsSync(deadFile), false, 'the dead namespace lost its lock file');
    assert.equal(existsSync(liveFile), true, 'the live namespace kept its lock file');
  } finally {
    killGroup(holder);
    for (const f of [liveFile, deadFile]) rmSync(f, { force: true });
  }
});
