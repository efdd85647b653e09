/**
 * RoamedEndpoints (src/datapath/roamed-endpoints.ts): a published move is
 * read back whole with a new version; a slot held by one writer refuses
 * another; two threads publishing and reading at once never yield a torn
 * record.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { RoamedEndpoints } from '../../src/datapath/roamed-endpoints.js';
import { ADDR_RECORD_SIZE } from '../../src/datapath/addr-record.js';

const rec = (b: number): Uint8Array => new Uint8Array(ADDR_RECORD_SIZE).fill(b);

test('publish, version, read', () => {
  const r = new RoamedEndpoints(4);
  const out = new Uint8Array(ADDR_RECORD_SIZE);
  assert.equal(r.version(2), 0);
  assert.ok(r.publish(2, rec(7)));
  assert.equal(r.version(2), 2);
  assert.equal(r.read(2, out), 2);
  assert.deepEqual(out, rec(7));
  assert.equal(r.version(1), 0, 'other buckets untouched');
  // Slot 6 shares slot 2's bucket (4 buckets): it sees the bucket move, but not as its own.
  assert.equal(r.version(6), 2);
  assert.equal(r.read(6, out), 2);
  assert.equal(r.lastReadOwn, false);
  assert.equal(r.read(2, out), 2);
  assert.equal(r.lastReadOwn, true);
  // A writer in the middle of its copy (odd sequence) holds the slot.
  new Int32Array(r.buffer)[(2 * (8 + ADDR_RECORD_SIZE)) >> 2] = 3;
  assert.equal(r.publish(2, rec(9)), false);
  assert.equal(r.read(2, out), -1);
});

test('a writer thread and this reader: every record read is whole', async () => {
  const r = new RoamedEndpoints(1);
  const url = new URL('../../src/datapath/roamed-endpoints.js', import.meta.url).href;
  const w = new Worker(
    `
    const { workerData } = require('node:worker_threads');
    import(${JSON.stringify(url)}).then(({ RoamedEndpoints }) => {
      const r = new RoamedEndpoints(workerData);
      const rec = new Uint8Array(${ADDR_RECORD_SIZE});
      for (let i = 1; i <= 200000; i++) { rec.fill(i & 0xff); r.publish(0, rec); }
    });`,
    { eval: true, workerData: r.buffer },
  );
  const done = new Promise((res) => w.once('exit', res));
  const out = new Uint8Array(ADDR_RECORD_SIZE);
  let reads = 0,
    stable = 0;
  let finished = false;
  void done.then(() => {
    finished = true;
  });
  while (!finished) {
    reads++;
    if (r.read(0, out) >= 0) {
      stable++;
      assert.ok(
        out.every((b) => b === out[0]),
        `torn record ${out.join(',')}`,
      );
    }
    if (reads % 1000 === 0) await new Promise((res) => setImmediate(res));
  }
  assert.ok(stable > 0, `${stable} stable reads of ${reads}`);
});
