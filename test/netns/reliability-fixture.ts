/**
 * Shared pieces of the reliability tests (hostile input, floods, replay,
 * faults, memory, scale, secrets): reading a daemon's resident memory and CPU
 * from /proc, its `xdpwg stats --json`, capturing its traffic with tcpdump,
 * and running the bench generators inside a namespace.
 *
 * The tests drive the kernel-socket data path. An AF_XDP variant runs the
 * same checks with the daemon started on an XDP-capable uplink: the helpers
 * here take a Side and do not care which path carries the packets.
 */
import { spawn } from 'node:child_process';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { nsExec, nsSpawn, type Lab } from '../helpers/netns.js';
import { repoRoot, xdpwgBin, type Side } from '../helpers/tunnel-lab.js';

/** True in CI (CI=true): the long runs take their short form. */
export const inCi = process.env.CI === 'true' || process.env.CI === '1';

/** Seconds from an env override, else the CI or the local default. */
export function durationFromEnv(name: string, ciSeconds: number, localSeconds = ciSeconds): number {
  const v = Number(process.env[name]);
  return v > 0 ? v : inCi ? ciSeconds : localSeconds;
}

/** PID of the daemon process of a side (`ip netns exec` execs it, so the child's pid is the daemon's). */
export function pidOf(side: Side): number {
  const pid = side.proc?.pid;
  if (!pid) throw new Error(`${side.ifname}: no daemon process`);
  return pid;
}

/** Resident set size in KiB (VmRSS of /proc/PID/status). */
export function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** utime + stime of a process in clock ticks (/proc/PID/stat fields 14 and 15), all its threads. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** Clock ticks per second (USER_HZ; 100 on Linux). */
export const CLK_TCK = 100;

/** `xdpwg stats IF --json` of a side. */
export function statsOf(side: Side): {
  drops: Record<string, number>;
  peers: Array<{ publicKey: string; rxPackets: number; txPackets: number; hasSession: boolean }>;
} {
  return JSON.parse(nsExec(side.ns, xdpwgBin, ['stats', side.ifname, '--json']));
}

/** The difference of two drop maps (after − before), reasons that moved only. */
export function dropDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  return out;
}

/**
 * Captures up to `count` UDP datagrams to `port` on `dev` inside ns into
 * `file` while `during` runs; resolves once tcpdump has written them.
 */
export async function capture(
  lab: Lab,
  ns: string,
  dev: string,
  filter: string,
  file: string,
  count: number,
  during: () => void | Promise<void>,
): Promise<void> {
  // -Z root: tcpdump would otherwise drop to its own user and may not write the file.
  try {
    unlinkSync(file);
  } catch {
    /* not there */
  }
  const td = lab.spawn(ns, 'tcpdump', ['-Z', 'root', '-i', dev, '-U', '-n', '-c', String(count), '-w', file, filter]);
  let err = '';
  td.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const deadline = Date.now() + 5000;
  while (!err.includes('listening on') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await during();
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      td.kill('SIGINT');
    }, 5000);
    td.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Runs a compiled bench script (dist/bench/NAME.js) in ns; resolves with its last JSON line. */
export function runBench<T>(ns: string, name: string, args: string[], timeoutMs = 120_000): Promise<T> {
  const child = nsSpawn(ns, process.execPath, [path.join(repoRoot, 'dist', 'bench', `${name}.js`), ...args]);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} timed out: ${err}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) reject(new Error(`${name} exited ${code}: ${err.trim()} ${out.trim()}`));
      else {
        try {
          resolve(JSON.parse(line) as T);
        } catch {
          reject(new Error(`${name} printed no JSON: ${out} ${err}`));
        }
      }
    });
  });
}

/** ping in the background: resolves with replies received of `count` sent. */
export function pingAsync(side: Side, to: string, count: number, intervalS = 0.2): Promise<{ sent: number; received: number }> {
  const child = spawn('ip', ['netns', 'exec', side.ns, 'ping', '-c', String(count), '-i', String(intervalS), '-W', '1', to], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return new Promise((resolve) => {
    child.on('exit', () => resolve({ sent: count, received: Number(/(\d+) received/.exec(out)?.[1] ?? 0) }));
  });
}

/** Samples a process's RSS every stepMs until stop() is called; returns the samples. */
export function sampleRss(pid: number, stepMs = 250): { stop(): number[] } {
  const samples: number[] = [];
  const t = setInterval(() => {
    try {
      samples.push(rssKb(pid));
    } catch {
      /* gone: the test sees it */
    }
  }, stepMs);
  return {
    stop: () => {
      clearInterval(t);
      return samples;
    },
  };
}

/** Which data path a daemon under test uses: the kernel UDP socket, or AF_XDP where the uplink takes it. */
export type DataPath = 'kernel' | 'afxdp';

/**
 * Environment that starts a daemon on the given data path (XDPWG_DATAPATH
 * names a datapath file, src/daemon/config/datapath-config.ts). The tests here run
 * 'kernel'; an AF_XDP variant passes 'afxdp' to the same test body.
 */
export function datapathEnv(path: DataPath): Record<string, string> {
  const file = `/tmp/xdpwg-rl-datapath-${path}.jsonc`;
  writeFileSync(file, JSON.stringify({ afxdp: path === 'kernel' ? 'off' : 'auto' }) + '\n');
  return { XDPWG_DATAPATH: file };
}

/** UDP datagrams the kernel dropped in ns because a socket's receive buffer was full (/proc/net/snmp Udp RcvbufErrors). */
export function udpRcvbufErrors(ns: string): number {
  const lines = nsExec(ns, 'cat', ['/proc/net/snmp'])
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  const names = lines[0]!.split(/\s+/),
    values = lines[1]!.split(/\s+/);
  return Number(values[names.indexOf('RcvbufErrors')]);
}
