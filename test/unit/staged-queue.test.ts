/**
 * Staged packets (whitepaper §6.4): 128 per peer, the oldest dropped and
 * counted when full, drained in order when a session starts, purged on
 * give-up. Compared with a plain array model on seeded random operations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StagedQueue } from '../../src/protocol/staged-queue.js';
import { STAGED_QUEUE_CAPACITY } from '../../src/protocol/constants.js';
import { SeededPrng } from '../helpers/seeded-prng.js';

test('staged queue: holds 128, drops the oldest beyond that and counts it', () => {
  const q = new StagedQueue<number>();
  assert.equal(q.capacity, STAGED_QUEUE_CAPACITY);
  assert.equal(STAGED_QUEUE_CAPACITY, 128);
  for (let i = 0; i < 128; i++) assert.equal(q.push(i), undefined);
  assert.equal(q.push(128), 0, 'the oldest is evicted and handed back');
  assert.equal(q.push(129), 1);
  assert.equal(q.length, 128);
  assert.equal(q.droppedOverflow, 2);
  const sent = q.drain();
  assert.deepEqual(
    sent,
    Array.from({ length: 128 }, (_, i) => i + 2),
    'drained oldest first',
  );
  assert.equal(q.length, 0);
  assert.deepEqual(q.drain(), []);
});

test('staged queue: purge drops everything and counts it separately', () => {
  const q = new StagedQueue<string>(4);
  q.push('a');
  q.push('b');
  assert.deepEqual(q.purge(), ['a', 'b']);
  assert.equal(q.droppedPurged, 2);
  assert.equal(q.dropped, 2);
  q.push('c');
  assert.deepEqual(q.drain(), ['c']);
  assert.throws(() => new StagedQueue(0), RangeError);
});

test('staged queue: matches an array model on 50,000 seeded operations', () => {
  const rng = new SeededPrng(128);
  const q = new StagedQueue<number>(16);
  const model: number[] = [];
  let dropped = 0;
  for (let i = 0; i < 50_000; i++) {
    const r = rng.below(100);
    if (r < 90) {
      const evicted = q.push(i);
      model.push(i);
      const expected = model.length > 16 ? model.shift() : undefined;
      if (expected !== undefined) dropped++;
      assert.equal(evicted, expected);
    } else {
      assert.deepEqual(q.drain(), model.splice(0));
    }
    assert.equal(q.length, model.length);
  }
  assert.equal(q.droppedOverflow, dropped);
  assert.ok(dropped > 1000);
});
