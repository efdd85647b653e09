/**
 * The threads of a process as the scheduler sees them: name (comm) and
 * scheduling policy (field 41 of /proc/PID/task/TID/stat: 0 SCHED_OTHER,
 * 5 SCHED_IDLE), for the checks of native/thread_roles.cc.
 */
import { readdirSync, readFileSync } from 'node:fs';

export const SCHED_OTHER = 0;
export const SCHED_IDLE = 5;

export interface ThreadPolicy {
  tid: number;
  name: string;
  policy: number;
}

export function threadPolicies(pid: number | 'self'): ThreadPolicy[] {
  const out: ThreadPolicy[] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    // Fields after the name start at field 3 (state): policy is field 41.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.push({ tid: Number(t), name, policy: Number(fields[41 - 3]) });
  }
  return out;
}
