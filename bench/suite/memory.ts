/**
 * Resident memory of the daemons under test, from the kernel's books:
 * VmRSS of /proc/PID/status and its anonymous / file-backed / shared split
 * (RssAnon, RssFile, RssShmem; proc(5)), and the thread count. Summed over a
 * process tree (pids from cpu.ts processTree), so a launcher that forks is
 * counted too.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** One sample of a process tree's memory, KiB (threads: a count). */
export interface MemorySample {
  rssKb: number;
  anonKb: number;
  fileKb: number;
  shmemKb: number;
  threads: number;
}

function field(text: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** The memory of one process; undefined when it is gone. */
export function memoryOfPid(pid: number): MemorySample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return {
      rssKb: field(status, 'VmRSS'),
      anonKb: field(status, 'RssAnon'),
      fileKb: field(status, 'RssFile'),
      shmemKb: field(status, 'RssShmem'),
      threads: readdirSync(`/proc/${pid}/task`).length,
    };
  } catch {
    return undefined;
  }
}

/** The memory of several processes, summed. */
export function memoryOf(pids: readonly number[]): MemorySample {
  const sum: MemorySample = { rssKb: 0, anonKb: 0, fileKb: 0, shmemKb: 0, threads: 0 };
  for (const pid of pids) {
    const m = memoryOfPid(pid);
    if (!m) continue;
    sum.rssKb += m.rssKb;
    sum.anonKb += m.anonKb;
    sum.fileKb += m.fileKb;
    sum.shmemKb += m.shmemKb;
    sum.threads += m.threads;
  }
  return sum;
}

/** The names of a process's threads (comm), counted: what the threads are. */
export function threadNames(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let name = '?';
    try {
      name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
    } catch {
      /* exited */
    }
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}

/**
 * Samples a set of processes every intervalMs until stopped and keeps the
 * largest RSS seen (and the sample it was in): the peak during a run.
 */
export class PeakSampler {
  private peak: MemorySample | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pids: () => number[],
    intervalMs = 100,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    const m = memoryOf(this.pids());
    if (!this.peak || m.rssKb > this.peak.rssKb) this.peak = m;
  }

  /** Stops sampling; the sample with the largest RSS. */
  stop(): MemorySample {
    clearInterval(this.timer);
    this.sample();
    return this.peak!;
  }
}
