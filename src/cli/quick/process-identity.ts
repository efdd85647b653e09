/**
 * Which process a recorded pid was, beyond its number: pids are reused, so
 * a pid file left by a killed `xdpwg up` can name any later process (a
 * `sleep`, a shell). A process is identified by its pid, its start time
 * (clock ticks after boot, /proc/PID/stat field 22, fixed for its life)
 * and the boot it started in: the same triple later means the same process.
 * Also the network namespace a process works in, so that what it changed
 * there is undone there and nowhere else.
 */
import { readFileSync, readlinkSync } from 'node:fs';

export interface ProcessIdentity {
  pid: number;
  /** /proc/PID/stat's starttime, as text (it can exceed 2^53 in theory). */
  startTicks: string;
  bootId: string;
}

function bootId(): string {
  return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}

/**
 * The identity of a live process, or null when there is none with that pid
 * or it is a zombie (it has exited; only its exit status waits to be read).
 */
export function identityOf(pid: number): ProcessIdentity | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may itself hold spaces and parentheses: fields follow the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  const startTicks = rest[19];
  if (state === undefined || startTicks === undefined || state === 'Z' || state === 'X') return null;
  return { pid, startTicks, bootId: bootId() };
}

/** This process's identity. */
export function ownIdentity(): ProcessIdentity {
  const id = identityOf(process.pid);
  if (!id) throw new Error('cannot read /proc/self/stat');
  return id;
}

/** True while the process `id` names still runs (the pid not reused by another since). */
export function stillRunning(id: ProcessIdentity): boolean {
  const now = identityOf(id.pid);
  return now !== null && now.startTicks === id.startTicks && now.bootId === id.bootId;
}

/** What a pid runs, for messages: its command line, shortened; null when there is no such process. */
export function commandLineOf(pid: number): string | null {
  try {
    const line = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return line.length > 80 ? `${line.slice(0, 77)}...` : line;
  } catch {
    return null;
  }
}

/** This process's network namespace, as the kernel names it (`net:[4026531840]`). */
export function ownNetns(): string {
  return readlinkSync('/proc/self/ns/net');
}
