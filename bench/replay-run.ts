/**
 * One run of bench/native/replay-gen inside a namespace, with the CPU the
 * machine and the daemon under test used while it sent: sampled when
 * replay-gen says it starts its clock (everything prepared: the file mapped,
 * the sockets bound) and when it ends, so the setup's own CPU (mapping a
 * large file) stays out of the figures.
 */
import { nsSpawn } from '../test/helpers/netns.js';
import { cpuSeconds } from './suite/cpu.js';
import { cpuUse, sampleCpu, type CpuUse } from './machine-cpu.js';

export interface ReplayRun {
  sent: number;
  seconds: number;
  /** The whole machine while replay-gen sent. */
  machine: CpuUse;
  /** Cores the daemon (all its threads) used meanwhile. */
  daemonCores: number;
  /** Cores replay-gen itself used. */
  generatorCores: number;
  /** Cores neither of them nor softirq took: other processes on the machine (a disturbed run shows here). */
  otherCores: number;
}

export async function replayRun(ns: string, gen: string, args: string[], daemonPid: number, timeoutMs = 120_000): Promise<ReplayRun> {
  const child = nsSpawn(ns, gen, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '',
    err = '';
  let startCpu: ReturnType<typeof sampleCpu> | undefined;
  let startDaemon = 0;
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  child.stdout!.on('data', (b: Buffer) => {
    out += b.toString();
    if (!startCpu && out.includes('"start"')) {
      startCpu = sampleCpu();
      startDaemon = cpuSeconds([daemonPid]);
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
  const endCpu = sampleCpu();
  const endDaemon = cpuSeconds([daemonPid]);
  clearTimeout(timer);
  const last = out.trim().split('\n').pop() ?? '';
  if (code !== 0 || !startCpu || !last.includes('"sent"'))
    throw new Error(`replay-gen ${args.join(' ')} in ${ns}: exit ${code}: ${err.trim() || out.trim()}`);
  const r = JSON.parse(last) as { sent: number; seconds: number; cpu: number };
  const elapsed = (endCpu.atMs - startCpu.atMs) / 1000;
  const machine = cpuUse(startCpu, endCpu);
  const daemonCores = (endDaemon - startDaemon) / elapsed;
  const generatorCores = r.cpu / elapsed;
  return {
    sent: r.sent,
    seconds: r.seconds,
    machine,
    daemonCores,
    generatorCores,
    otherCores: Math.max(0, machine.cores - machine.softirq - daemonCores - generatorCores),
  };
}
