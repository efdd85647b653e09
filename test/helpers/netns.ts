/**
 * Network-namespace fixtures for integration tests: namespaces, veth pairs,
 * commands run inside them, and cleanup that runs even when a test fails.
 * Tests that need root call requireRoot(): it throws (the test fails) rather
 * than skipping, because CI runs as root and must exercise them.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * The daemons these fixtures start run on veths, where "afxdp": "auto" takes
 * the kernel socket (src/daemon/xdp/afxdp-choice.ts). The tests are mostly
 * about the AF_XDP path, so their daemons get XDPWG_AFXDP=on (the default of
 * "afxdp"; a datapath file that sets it wins) unless the environment already
 * says; the tests of the auto choice itself clear it for their daemons, and
 * the benchmarks, which measure what users get, call measureDefaults().
 */
const afxdpSetHere = process.env.XDPWG_AFXDP === undefined;
if (afxdpSetHere) process.env.XDPWG_AFXDP = 'on';

/** For the benchmarks: daemons started from here on run with the defaults users get (undoes the tests' XDPWG_AFXDP). */
export function measureDefaults(): void {
  if (afxdpSetHere) delete process.env.XDPWG_AFXDP;
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('this test needs root (network namespaces); CI runs it as root');
}

/** Runs a command (no shell) and returns stdout; throws with stderr on failure. */
export function sh(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): string {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      input: opts.input,
      timeout: opts.timeoutMs ?? 30_000,
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 256 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** Runs a command inside namespace ns. */
export function nsExec(ns: string, cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): string {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/** Starts a long-running process inside ns; the caller kills it (or Lab.cleanup does). */
export function nsSpawn(ns: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

/**
 * A set of namespaces and links owned by one test file. Names get the given
 * prefix so concurrently running tests never collide. cleanup() is idempotent.
 */
export class Lab {
  readonly namespaces: string[] = [];
  readonly children: ChildProcess[] = [];
  constructor(readonly prefix: string) {}

  ns(name: string): string {
    const full = `${this.prefix}-${name}`;
    try {
      sh('ip', ['netns', 'del', full]);
    } catch {
      /* not there: fine */
    }
    sh('ip', ['netns', 'add', full]);
    this.namespaces.push(full);
    nsExec(full, 'ip', ['link', 'set', 'lo', 'up']);
    return full;
  }

  /** A veth pair between two namespaces with addresses; returns the device names. */
  veth(a: { ns: string; dev: string; addrs: string[] }, b: { ns: string; dev: string; addrs: string[] }, queues = 1): void {
    const q = queues > 1 ? ['numtxqueues', String(queues), 'numrxqueues', String(queues)] : [];
    sh('ip', ['link', 'add', a.dev, ...q, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.dev, ...q, 'netns', b.ns]);
    for (const end of [a, b]) {
      for (const addr of end.addrs) nsExec(end.ns, 'ip', ['addr', 'add', addr, 'dev', end.dev, ...(addr.includes(':') ? ['nodad'] : [])]);
      nsExec(end.ns, 'ip', ['link', 'set', end.dev, 'up']);
    }
  }

  spawn(ns: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = nsSpawn(ns, cmd, args, opts);
    this.children.push(child);
    return child;
  }

  /**
   * Stops everything the lab started: SIGTERM first, so daemons remove their
   * UAPI sockets and detach their XDP programs as users' would, then SIGKILL
   * whatever is still there after a moment; then the namespaces go.
   */
  cleanup(): void {
    const pidsOf = (ns: string): number[] => {
      try {
        return sh('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return [];
      }
    };
    const signal = (pids: number[], sig: NodeJS.Signals): void => {
      for (const p of pids) {
        try {
          process.kill(p, sig);
        } catch {
          /* gone */
        }
      }
    };
    const all = (): number[] => this.namespaces.flatMap(pidsOf);
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    signal(all(), 'SIGTERM');
    const until = Date.now() + 1500;
    while (all().length > 0 && Date.now() < until) execFileSync('sleep', ['0.05']);
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    signal(all(), 'SIGKILL');
    for (const ns of this.namespaces.splice(0)) {
      removeShareSockets(ns);
      try {
        sh('ip', ['netns', 'del', ns]);
      } catch {
        /* already gone */
      }
      removeScratchFiles(ns);
    }
  }
}

/**
 * A daemon killed with -9 leaves its uplink share socket
 * (src/daemon/xdp/uplink-share.ts), named by its namespace's inode.
 */
function removeShareSockets(ns: string): void {
  try {
    const ino = statSync(`/run/netns/${ns}`).ino;
    for (const f of readdirSync('/run/xdpwg')) if (f.startsWith(`uplink-${ino}-`)) rmSync(`/run/xdpwg/${f}`, { force: true });
  } catch {
    /* no namespace or no directory: nothing left */
  }
}

/**
 * The files tests keep beside a namespace: the helpers and tests name them
 * after it, `/tmp/<ns>.key`, `/tmp/<ns>.psk`, `/tmp/xdpwg-<ns>…`; they go with it.
 */
function removeScratchFiles(ns: string): void {
  let names: string[];
  try {
    names = readdirSync('/tmp');
  } catch {
    return;
  }
  for (const name of names) {
    if (name.startsWith(`${ns}.`) || name.startsWith(`xdpwg-${ns}`)) rmSync(path.join('/tmp', name), { recursive: true, force: true });
  }
}

/** Polls until fn returns truthy or the deadline passes (then throws with what). */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 10_000, stepMs = 100): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}
