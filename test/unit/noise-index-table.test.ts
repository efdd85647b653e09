/**
 * The device index table: random, unique 32-bit indices; a handshake's index
 * passes to its keypair by replace(); collisions in the random source are
 * skipped, never returned twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IndexTable, cryptoRandomU32 } from '../../src/protocol/index-table.js';

test('indices are unique, 32-bit, and map to their values', () => {
  const table = new IndexTable<number>();
  const seen = new Map<number, number>();
  for (let i = 0; i < 10_000; i++) {
    const idx = table.insert(i);
    assert.ok(Number.isInteger(idx) && idx >= 0 && idx <= 0xffff_ffff);
    assert.ok(!seen.has(idx), 'unique');
    seen.set(idx, i);
  }
  assert.equal(table.size, 10_000);
  for (const [idx, v] of seen) assert.equal(table.get(idx), v);
  // Not sequential: the spread of 10,000 random u32s covers most of the range.
  const sorted = [...seen.keys()].sort((x, y) => x - y);
  assert.ok(sorted[0]! < 0x0100_0000 && sorted[sorted.length - 1]! > 0xff00_0000);
});

test('a colliding random source never yields an index in use', () => {
  const script = [5, 5, 5, 9, 5, 9, 11];
  let i = 0;
  const table = new IndexTable<string>(() => script[i++]!);
  assert.equal(table.insert('a'), 5);
  assert.equal(table.insert('b'), 9);
  assert.equal(table.insert('c'), 11);
  assert.equal(i, script.length);
});

test('replace keeps the index; remove frees it', () => {
  const table = new IndexTable<string>(() => 42);
  const idx = table.insert('handshake');
  assert.equal(table.replace(idx, 'keypair'), true);
  assert.equal(table.get(idx), 'keypair');
  assert.equal(table.replace(7, 'x'), false, 'replace does not create');
  assert.equal(table.remove(idx), true);
  assert.equal(table.remove(idx), false);
  assert.equal(table.get(idx), undefined);
  assert.equal(table.insert('again'), 42, 'a freed index may be reused');
});

test('the crypto source draws distinct values across pool refills', () => {
  const next = cryptoRandomU32();
  const values = new Set<number>();
  for (let i = 0; i < 1000; i++) values.add(next());
  assert.ok(values.size > 990);
});
