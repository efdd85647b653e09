/**
 * CPU accounting of the daemons under test, from the kernel's own books:
 * utime + stime of /proc/PID/stat (fields 14 and 15, proc(5)), which for a
 * thread-group leader already sum every thread of the process — so the
 * xdpwg worker threads and wireguard-go's goroutine threads are included.
 * Descendant processes are found through their parent pid and added, so a
 * launcher that forks is accounted too.
 *
 * Not included, by design: softirq work the kernel does for packets outside
 * the processes' context (veth, UDP receive in ksoftirqd). Both tunnels pay
 * it alike, and it is the same work the bare veth does.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second of utime/stime (USER_HZ); 100 on every Linux architecture we run on. */
export const USER_HZ = 100;

interface ProcStat {
  pid: number;
  ppid: number;
  ticks: number;
  /** Minor page faults so far (field 10). */
  minorFaults: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): field N is rest[N - 3].
  const ppid = Number(rest[4 - 3]);
  const utime = Number(rest[14 - 3]);
  const stime = Number(rest[15 - 3]);
  return { pid, ppid, ticks: utime + stime, minorFaults: Number(rest[10 - 3]) };
}

/** A process's minor page faults so far; undefined when it has exited. */
export function minorFaultsOf(pid: number): number | undefined {
  return readStat(pid)?.minorFaults;
}

/** The pids of root and all its descendants alive now. */
export function processTree(root: number): number[] {
  const all: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) all.push(s);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const s of all) if (s.ppid === tree[i]) tree.push(s.pid);
  return tree;
}

/** User + system CPU seconds consumed so far by the given processes (all their threads). */
export function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) ticks += readStat(pid)?.ticks ?? 0;
  return ticks / USER_HZ;
}

/** One thread's name and its utime and stime so far (clock ticks). */
export interface ThreadTicks {
  name: string;
  user: number;
  sys: number;
}

/** Every thread of pid now: tid → name, user and system ticks (empty once the process is gone). */
export function threadsOf(pid: number): Map<number, ThreadTicks> {
  const out = new Map<number, ThreadTicks>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
      const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), { name, user: Number(rest[14 - 3]), sys: Number(rest[15 - 3]) });
    } catch {
      /* the thread ended */
    }
  }
  return out;
}
