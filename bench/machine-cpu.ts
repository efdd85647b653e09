/**
 * The whole machine's CPU in use over an interval, from /proc/stat's first
 * line (proc(5): cumulative jiffies of all CPUs by kind). A benchmark on a
 * 2-core machine uses it to say how much of the machine a figure already
 * took: everything counts here (the daemon, the generator, the kernel's
 * softirq receive work in any context), which per-process accounting
 * (bench/suite/cpu.ts) leaves out.
 */
import { readFileSync } from 'node:fs';
import { USER_HZ } from './suite/cpu.js';

/** Cumulative jiffies of all CPUs by kind, and when they were read. */
export interface CpuSample {
  atMs: number;
  user: number;
  system: number;
  irq: number;
  softirq: number;
  steal: number;
}

export function sampleCpu(): CpuSample {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already inside user.
  const [user, nice, system, , , irq, softirq, steal] = f as [number, number, number, number, number, number, number, number];
  return { atMs: performance.now(), user: user + nice, system, irq, softirq, steal };
}

/** Cores in use between two samples (busy jiffies ÷ elapsed), in all and by kind. */
export interface CpuUse {
  cores: number;
  user: number;
  system: number;
  softirq: number;
}

export function cpuUse(a: CpuSample, b: CpuSample): CpuUse {
  const jiffies = ((b.atMs - a.atMs) / 1000) * USER_HZ;
  if (!(jiffies > 0)) throw new Error('cpuUse: the samples are not in time order');
  const user = (b.user - a.user) / jiffies;
  const system = (b.system - a.system + b.irq - a.irq) / jiffies;
  const softirq = (b.softirq - a.softirq) / jiffies;
  return { cores: user + system + softirq + (b.steal - a.steal) / jiffies, user, system, softirq };
}

/** "1.93 cores (user 0.71, sys 0.40, softirq 0.82)". */
export function formatCpuUse(u: CpuUse): string {
  return `${u.cores.toFixed(2)} cores (user ${u.user.toFixed(2)}, sys ${u.system.toFixed(2)}, softirq ${u.softirq.toFixed(2)})`;
}
