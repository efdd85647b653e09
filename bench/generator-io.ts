/**
 * What the benches' own traffic generators share: the inner packet they
 * seal (crew-gen.ts, peers-gen.ts), and the line protocol a bench reads a
 * generator's JSON replies with (crypto-crew.ts, active-peers.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** An IPv4 header + UDP header + zero payload, `size` bytes in all (IPv4 header checksummed; UDP checksum 0 is allowed). */
export function innerPacket(size: number, src: string, dst: string): Uint8Array {
  const p = new Uint8Array(size);
  const v = new DataView(p.buffer);
  p[0] = 0x45;
  v.setUint16(2, size);
  p[8] = 64;
  p[9] = 17;
  p.set(src.split('.').map(Number), 12);
  p.set(dst.split('.').map(Number), 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += v.getUint16(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  v.setUint16(10, ~sum & 0xffff);
  v.setUint16(20, 40000);
  v.setUint16(22, 9); // discard
  v.setUint16(24, size - 20);
  return p;
}

/** A child's stdout as lines, one per call (in order; waits for the next when none is queued). */
export function childLines(child: ChildProcess): () => Promise<string> {
  const rl = createInterface({ input: child.stdout! });
  const queue: string[] = [];
  const waiters: Array<(l: string) => void> = [];
  rl.on('line', (l) => (waiters.length ? waiters.shift()!(l) : queue.push(l)));
  return () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r)));
}
