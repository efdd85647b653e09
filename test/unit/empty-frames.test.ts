/**
 * The worker's stack of empty TUN frames (src/datapath/empty-frames.ts)
 * against a pool that keeps books as native/umem.h does: frames only ever
 * taken once, given back once, and every one back after release.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmptyFrames } from '../../src/datapath/empty-frames.js';
import { BURST_SIZE } from '../../src/native/frames.js';
import type { Port } from '../../src/native/port.js';

const FRAME_SIZE = 2048;

/** A pool of `count` frames with owner books; counts its calls. */
function fakePool(count: number): Port & { out: Set<number>; allocCalls: number; freeCalls: number; freeInvalid: number } {
  const free: number[] = [];
  for (let i = count; i-- > 0;) free.push(i * FRAME_SIZE);
  const pool = {
    out: new Set<number>(),
    allocCalls: 0,
    freeCalls: 0,
    freeInvalid: 0,
    frames: { frameSize: FRAME_SIZE },
    allocFrames(outArr: Uint32Array, n: number): number {
      pool.allocCalls++;
      let got = 0;
      while (got < n && free.length > 0) {
        const f = free.pop()!;
        pool.out.add(f);
        outArr[got++] = f;
      }
      return got;
    },
    freeFrames(offsets: Uint32Array, n: number): void {
      pool.freeCalls++;
      for (let i = 0; i < n; i++) {
        const f = offsets[i]! - (offsets[i]! % FRAME_SIZE);
        if (!pool.out.delete(f)) pool.freeInvalid++;
        else free.push(f);
      }
    },
  };
  return pool as unknown as ReturnType<typeof fakePool>;
}

test('a lone packet per burst costs one allocation per half stack, and release gives every frame back', () => {
  const pool = fakePool(256);
  const e = new EmptyFrames();
  e.prepare(pool);
  assert.equal(e.count, BURST_SIZE);
  assert.equal(pool.allocCalls, 1);
  // A TUN read fills the top frame each burst (send.ts readTun); it leaves the stack.
  const sent: number[] = [];
  for (let burst = 0; burst < BURST_SIZE; burst++) {
    e.prepare(pool);
    sent.push(e.frames[e.count - 1]!);
    e.take(1);
  }
  assert.equal(pool.allocCalls, 2, 'topped up once, when half the stack was gone');
  assert.equal(new Set(sent).size, sent.length, 'no frame handed out twice');
  for (const f of sent) assert.ok(pool.out.has(f), 'a sent frame is still out of the pool');
  pool.freeFrames(Uint32Array.from(sent), sent.length); // as the transmit path gives them back
  e.release();
  assert.equal(e.count, 0);
  assert.equal(pool.out.size, 0, 'every frame back in the pool');
  assert.equal(pool.freeInvalid, 0);
});

test('after a read of more than one packet the stack is full again before the next read (a bulk burst keeps its room)', () => {
  const pool = fakePool(512);
  const e = new EmptyFrames();
  e.prepare(pool);
  const out: number[] = [];
  for (const n of [5, 2, 40, 1]) {
    for (let i = 1; i <= n; i++) out.push(e.frames[e.count - i]!);
    e.take(n);
    e.prepare(pool);
    assert.equal(e.count, n > 1 ? BURST_SIZE : BURST_SIZE - 1, `after a read of ${n}`);
  }
  assert.equal(new Set(out).size, out.length, 'no frame handed out twice');
  pool.freeFrames(Uint32Array.from(out), out.length);
  e.release();
  assert.equal(pool.out.size, 0);
  assert.equal(pool.freeInvalid, 0);
});

test('a different port gives the kept frames back to theirs first', () => {
  const a = fakePool(128);
  const b = fakePool(128);
  const e = new EmptyFrames();
  e.prepare(a);
  e.prepare(b);
  assert.equal(a.out.size, 0, "the first port's frames went back");
  assert.equal(b.out.size, BURST_SIZE);
  assert.equal(e.pool, b);
  e.release();
  assert.equal(e.pool, null);
  assert.equal(b.out.size, 0);
});
