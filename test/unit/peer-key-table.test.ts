/**
 * The shared peer table (src/daemon/handshake/peer-key-table.ts): lookups by
 * key bytes after inserts, changes, removals and rebuilds into a new buffer;
 * and a reader on another thread, racing the writer, sees a whole entry
 * (a version with the PSK written with it) or none, never a torn mix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { PeerKeyTable } from '../../src/daemon/handshake/peer-key-table.js';

const key = (): Uint8Array => new Uint8Array(randomBytes(32));
/** The PSK the race tests write with version v: every byte depends on v and its place, so a mix of two is seen. */
function pskOf(v: number): Uint8Array {
  const p = new Uint8Array(32);
  for (let i = 0; i < 32; i++) p[i] = (v * 31 + i * 7 + (v >>> 8)) & 0xff;
  return p;
}

test('insert, change, remove and lookup by key bytes; the PSK comes with its version', () => {
  const t = PeerKeyTable.create();
  const a = key(),
    b = key();
  assert.equal(t.lookup(a), 0, 'an empty table knows no key');
  assert.equal(t.set(a, pskOf(1), 1), null);
  assert.equal(t.set(b, null, 2), null);
  const psk = new Uint8Array(32);
  assert.equal(t.lookup(a, psk), 1);
  assert.deepEqual(psk, pskOf(1));
  assert.equal(t.lookup(b, psk), 2);
  assert.deepEqual(psk, new Uint8Array(32), 'no PSK: zeros');
  // A key at another offset of a bigger buffer is found by its bytes.
  const framed = new Uint8Array(40);
  framed.set(a, 3);
  assert.equal(t.lookup(framed.subarray(3, 35)), 1);
  t.set(a, pskOf(3), 3);
  assert.equal(t.lookup(a, psk), 3);
  assert.deepEqual(psk, pskOf(3));
  assert.equal(t.size, 2);
  assert.equal(t.remove(a), true);
  assert.equal(t.remove(a), false);
  assert.equal(t.lookup(a), 0);
  assert.equal(t.lookup(b), 2, 'the other entry is still found past the tombstone');
  assert.equal(t.size, 1);
  t.set(a, null, 4);
  assert.equal(t.lookup(a), 4, 'a removed key comes back');
  assert.throws(() => t.set(a, null, 0), /out of range/);
  assert.throws(() => t.set(a, null, 0xffffffff), /out of range/);
});

test('the table grows into new buffers (and rebuilds away tombstones) with every entry kept', () => {
  const t = PeerKeyTable.create();
  const keys: Uint8Array[] = [];
  const replaced: SharedArrayBuffer[] = [];
  for (let i = 1; i <= 5000; i++) {
    const k = key();
    keys.push(k);
    const old = t.set(k, i % 3 === 0 ? pskOf(i) : null, i);
    if (old) replaced.push(old);
  }
  assert.ok(replaced.length >= 6, `grew ${replaced.length} times`);
  assert.ok(!replaced.includes(t.buffer));
  const psk = new Uint8Array(32);
  for (let i = 1; i <= 5000; i++) {
    assert.equal(t.lookup(keys[i - 1]!, psk), i);
    assert.deepEqual(psk, i % 3 === 0 ? pskOf(i) : new Uint8Array(32));
  }
  // A reader that still has the buffer from before a rebuild sees it as it was; the writer no longer writes it.
  const before = new PeerKeyTable(t.buffer);
  // Churn: remove and add many, so tombstones pile up and a rebuild at the same size clears them.
  const capacity = new Int32Array(t.buffer)[0]!;
  let rebuilds = 0;
  for (let round = 0; round < 40; round++) {
    for (let i = 0; i < 500; i++) t.remove(keys[i]!);
    for (let i = 0; i < 500; i++) {
      keys[i] = key();
      if (t.set(keys[i]!, null, 10_000 + round * 500 + i)) rebuilds++;
    }
  }
  assert.ok(rebuilds > 0, 'tombstones led to a rebuild');
  assert.ok(new Int32Array(t.buffer)[0]! <= 2 * capacity, 'churn at a steady peer count does not grow the table past one doubling');
  assert.equal(t.size, 5000);
  for (let i = 500; i < 5000; i++) assert.equal(t.lookup(keys[i]!), i + 1);
  for (let i = 0; i < 500; i++) assert.equal(t.lookup(keys[i]!), 10_000 + 39 * 500 + i);
  assert.equal(before.lookup(keys[4999]!), 5000, 'the old buffer still answered as it was');
  PeerKeyTable.wipeBuffer(replaced[0]!);
  assert.ok(
    new Uint8Array(replaced[0]!).subarray(16).every((x) => x === 0),
    'a retired buffer is wiped whole',
  );
});

/**
 * A reader thread looks up two keys in a loop while this thread rewrites
 * them as fast as it can: `steady` changes version and PSK in place on
 * every write (never absent), `flapping` is removed and added back. Every
 * answer must be a version with its own PSK; `steady` is never missing.
 */
test('a reader racing the writer sees the old or the new entry, never a torn one', async () => {
  const t = PeerKeyTable.create(1024);
  const steady = key(),
    flapping = key();
  t.set(steady, pskOf(1), 1);
  t.set(flapping, pskOf(2), 2);
  const control = new Int32Array(new SharedArrayBuffer(12)); // [0]: stop, [1]: reader started, [2]: distinct versions seen
  const moduleUrl = new URL('../../src/daemon/handshake/peer-key-table.js', import.meta.url).href;
  const worker = new Worker(
    `
    const { workerData, parentPort } = require('node:worker_threads');
    import(workerData.moduleUrl).then(({ PeerKeyTable }) => {
      const t = new PeerKeyTable(workerData.buffer);
      const control = new Int32Array(workerData.control);
      const pskOf = (v) => { const p = new Uint8Array(32); for (let i = 0; i < 32; i++) p[i] = (v * 31 + i * 7 + (v >>> 8)) & 0xff; return p; };
      const psk = new Uint8Array(32);
      let reads = 0, torn = 0, steadyMissing = 0, flapMissing = 0, versions = new Set();
      Atomics.store(control, 1, 1);
      while (Atomics.load(control, 0) === 0) {
        for (const [k, which] of [[workerData.steady, 's'], [workerData.flapping, 'f']]) {
          const v = t.lookup(k, psk);
          reads++;
          if (v === 0) { if (which === 's') steadyMissing++; else flapMissing++; continue; }
          versions.add(v);
          Atomics.store(control, 2, versions.size);
          const want = pskOf(v);
          for (let i = 0; i < 32; i++) if (psk[i] !== want[i]) { torn++; break; }
        }
      }
      parentPort.postMessage({ reads, torn, steadyMissing, flapMissing, distinct: versions.size });
    });
    `,
    { eval: true, workerData: { moduleUrl, buffer: t.buffer, control: control.buffer, steady, flapping } },
  );
  try {
    const done = new Promise<{ reads: number; torn: number; steadyMissing: number; flapMissing: number; distinct: number }>(
      (resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      },
    );
    const deadline = Date.now() + 10_000;
    while (Atomics.load(control, 1) === 0) {
      if (Date.now() > deadline) assert.fail('the reader thread did not start');
      await new Promise((r) => setTimeout(r, 5));
    }
    let v = 3;
    // At least 700 ms, and on until the reader has seen 100 versions go by (a busy machine gives it fewer turns).
    const until = Date.now() + 700;
    const giveUp = Date.now() + 30_000;
    while ((Date.now() < until || Atomics.load(control, 2) <= 100) && Date.now() < giveUp) {
      for (let i = 0; i < 1000; i++) {
        assert.equal(t.set(steady, pskOf(v), v), null);
        v++;
        if (i % 2 === 0) t.remove(flapping);
        else assert.equal(t.set(flapping, pskOf(v), v), null);
        v++;
      }
    }
    Atomics.store(control, 0, 1);
    const r = await done;
    assert.ok(r.reads > 10_000, `the reader read ${r.reads} times`);
    assert.ok(r.distinct > 100, `the reader saw ${r.distinct} versions: it raced the writer`);
    assert.equal(r.torn, 0, "no PSK was read torn or with another entry's version");
    assert.equal(r.steadyMissing, 0, 'a key rewritten in place is never missing');
    assert.ok(r.flapMissing > 0, 'the removals were seen');
  } finally {
    Atomics.store(control, 0, 1);
    await worker.terminate();
  }
});
