/**
 * A wire between two TUNs for the offload tests: each namespace gets a TUN
 * (with or without IFF_VNET_HDR offloads), and this process moves packets
 * between the two queues with TunQueue readBurst/writeBurst, one call per
 * burst, counting what it saw.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { nsExec } from './netns.js';
import { openTun, openTunQueue, tunQueueSpecs, burstErrorName } from '../../src/native/tun.js';
import { enterNetns } from '../../src/native/netlink.js';
import { Waiter } from '../../src/native/waiter.js';
import type { NativeTunQueue, TunOffloadStats, TunQueueSet } from '../../src/native/binding.js';

export const FRAME = 2048;
export const HEADROOM = 128;
export const BURST = 64;

/** One end: namespace, TUN name, addresses. */
export interface TunSide {
  ns: string;
  dev: string;
  v4: string;
  v6: string;
}

/** Opens side.dev in side.ns with the given offload and addresses, and brings it up. */
export function openSide(side: TunSide, offload: boolean, txqueuelen?: number): TunQueueSet {
  const leave = enterNetns(side.ns);
  let set: TunQueueSet;
  try {
    set = openTun(side.dev, 1, false, { offload });
  } finally {
    leave();
  }
  nsExec(side.ns, 'ip', ['addr', 'add', `${side.v4}/24`, 'dev', side.dev]);
  nsExec(side.ns, 'ip', ['addr', 'add', `${side.v6}/64`, 'dev', side.dev, 'nodad']);
  nsExec(side.ns, 'ip', ['link', 'set', side.dev, ...(txqueuelen ? ['txqueuelen', String(txqueuelen)] : []), 'up']);
  return set;
}

/** What the wire saw: reads and the frames they filled, writes and what they took. */
export interface WireCounts {
  reads: number;
  packetsRead: number;
  maxPerRead: number;
  writeCalls: number;
  packetsWritten: number;
  refused: number;
}

/**
 * Moves packets both ways between the first queues of two TUNs until
 * `until` settles, through a TunQueue of each (closed on return).
 * Yields to the event loop between rounds so child processes' pipes drain.
 * A burst that filled every frame is followed by another read at once:
 * segments of a super packet may be waiting in the queue's state, where
 * poll cannot see them.
 */
export async function wire(setA: TunQueueSet, setB: TunQueueSet, until: Promise<unknown>): Promise<WireCounts> {
  const a = openTunQueue(tunQueueSpecs(setA)[0]!);
  const b = openTunQueue(tunQueueSpecs(setB)[0]!);
  const buffer = new ArrayBuffer(BURST * FRAME);
  const desc = new Uint32Array(2 * BURST);
  const waiter = new Waiter([a.fd, b.fd]);
  const counts: WireCounts = { reads: 0, packetsRead: 0, maxPerRead: 0, writeCalls: 0, packetsWritten: 0, refused: 0 };
  let settled = false;
  void until.finally(() => {
    settled = true;
  });
  const move = (from: NativeTunQueue, to: NativeTunQueue): boolean => {
    for (let i = 0; i < BURST; i++) {
      desc[2 * i] = i * FRAME + HEADROOM;
      desc[2 * i + 1] = FRAME - HEADROOM;
    }
    const n = from.readBurst(buffer, desc, BURST);
    assert.ok(n >= 0, `read: ${burstErrorName(n)}`);
    if (n === 0) return false;
    counts.reads++;
    counts.packetsRead += n;
    counts.maxPerRead = Math.max(counts.maxPerRead, n);
    const w = to.writeBurst(buffer, desc, n);
    assert.ok(w >= 0, `write: ${burstErrorName(w)}`);
    counts.writeCalls++;
    for (let i = 0; i < w; i++) if (desc[2 * i + 1] === 0) counts.refused++;
    counts.packetsWritten += w;
    return n === BURST;
  };
  try {
    while (!settled) {
      const ready = waiter.wait(2);
      let more = true;
      for (let round = 0; more && round < 16; round++) {
        more = false;
        if (ready & 1 || round > 0) more = move(a, b) || more;
        if (ready & 2 || round > 0) more = move(b, a) || more;
      }
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    waiter.close();
    a.close();
    b.close();
  }
  return counts;
}

/** A child's output and exit code, once it ends (killed after timeoutMs). */
export function finished(child: ChildProcess, timeoutMs = 30_000): Promise<{ code: number | null; out: string; err: string }> {
  let out = '',
    err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    }),
  );
}

export function delta(after: TunOffloadStats, before: TunOffloadStats): TunOffloadStats {
  const d = { ...after };
  for (const k of Object.keys(d) as Array<keyof TunOffloadStats>) d[k] = after[k] - before[k];
  return d;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
