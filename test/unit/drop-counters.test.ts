/**
 * The data path's counters (src/datapath/drop-counters.ts): one name per
 * reason, drops apart from events, slabs summed, and every name the user
 * sees explained in the README.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DATAPATH_COUNTERS, DROP_REASONS, DropCounters, EVENTS } from '../../src/datapath/drop-counters.js';

test('every counter name is distinct, and drops and events do not overlap', () => {
  assert.equal(new Set(DATAPATH_COUNTERS).size, DATAPATH_COUNTERS.length);
  for (const e of EVENTS) assert.ok(!(DROP_REASONS as readonly string[]).includes(e), e);
});

test('summarize sums slabs by name: drops under drops, events under events, zeros left out', () => {
  const a = new DropCounters(), b = new DropCounters();
  a.count('rx-replay', 2);
  b.count('rx-replay');
  b.count('tx-staged', 5);
  assert.deepEqual(DropCounters.summarize([a, b]), { 'rx-replay': 3 });
  assert.deepEqual(DropCounters.summarizeEvents([a, b]), { 'tx-staged': 5 });
  // A slab over another's shared buffer sees its counts (the worker/main-thread split).
  assert.equal(new DropCounters(b.buffer).get('tx-staged'), 5);
});

test('a slab with its own names (the echo example) counts and snapshots them', () => {
  const c = new DropCounters(undefined, ['runt', 'port'] as const);
  c.count('port', 3);
  assert.deepEqual(c.snapshot(), { port: 3 });
});

test('the README explains every drop reason and event', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  for (const name of DATAPATH_COUNTERS) assert.match(readme, new RegExp(`^\\| \`${name}\` \\|`, 'm'), name);
});
