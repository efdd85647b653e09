/**
 * Running the xdpwg command line as users do (bin/xdpwg, optionally inside a
 * namespace) and finding the daemon it left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { nsExec } from './netns.js';
import { xdpwgBin } from './tunnel-lab.js';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `xdpwg ...args` (inside `ns` when given) to completion: resolves when
 * the process exited AND its stdout/stderr reached EOF, so a daemon that kept
 * them open makes this time out. Rejects after timeoutMs.
 */
export function runXdpwg(
  ns: string | undefined,
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  const argv = ns ? (['ip', ['netns', 'exec', ns, xdpwgBin, ...args]] as const) : ([xdpwgBin, args] as const);
  const child = spawn(argv[0], [...argv[1]], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`xdpwg ${args.join(' ')}: no end of output within ${timeoutMs} ms (exit ${child.exitCode}); stderr: ${stderr}`));
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Resolves with the exit status of a child once it exited and its output
 * pipes were drained ('close'), so everything it printed has been read.
 * Rejects after timeoutMs.
 */
export function exitOf(child: ChildProcess, timeoutMs = 10_000): Promise<number | null> {
  const exited = child.exitCode !== null || child.signalCode !== null;
  const drained = (child.stdout?.destroyed ?? true) && (child.stderr?.destroyed ?? true);
  if (exited && drained) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pid ${child.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** The UAPI socket path of an interface (wireguard-go's place for it). */
export function socketPath(ifname: string): string {
  return `/var/run/wireguard/${ifname}.sock`;
}

/** The pid listening on the interface's UAPI socket, as `ss -xlp` in ns reports it; undefined when none. */
export function daemonPid(ns: string, ifname: string): number | undefined {
  const out = nsExec(ns, 'ss', ['-xlpn']);
  const line = out.split('\n').find((l) => l.includes(` ${socketPath(ifname)} `));
  const m = line && /pid=(\d+)/.exec(line);
  return m ? Number(m[1]) : undefined;
}

/**
 * True until a process has fully exited. A zombie thread-group leader whose
 * other threads are still exiting counts as alive: those threads still hold
 * its descriptors (sockets keep accepting, the TUN stays open).
 */
export function alive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  if (!/^\d+ \(.*\) Z/.test(stat)) return true;
  try {
    return readdirSync(`/proc/${pid}/task`).length > 1;
  } catch {
    return false;
  }
}

/** True when `ip link show ifname` in ns finds the device. */
export function linkExists(ns: string, ifname: string): boolean {
  try {
    nsExec(ns, 'ip', ['link', 'show', ifname]);
    return true;
  } catch {
    return false;
  }
}
