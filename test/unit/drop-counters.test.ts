/**
 * The drop registry (src/packet/drop-reasons.ts) and the counters over it
 * (src/datapath/drop-counters.ts): every reason feeds a counter, every
 * counter is fed and explained in the README, drops apart from events, slabs
 * summed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DATAPATH_COUNTERS, DROP_COUNTER_NAMES, DropCounters, EVENTS } from '../../src/datapath/drop-counters.js';
import { DROP_CODE, DROP_COUNTERS, DROP_REASONS, DROP_REASON_LIST, counterOf, reasonOfCode } from '../../src/packet/drop-reasons.js';

test('every counter name is distinct, and drops and events do not overlap', () => {
  assert.equal(new Set(DATAPATH_COUNTERS).size, DATAPATH_COUNTERS.length);
  for (const e of EVENTS) assert.ok(!(DROP_COUNTER_NAMES as readonly string[]).includes(e), e);
});

test('every counter is fed by some reason, and every reason by its own code', () => {
  const fed = new Set(DROP_REASON_LIST.map(counterOf));
  for (const c of DROP_COUNTER_NAMES) assert.ok(fed.has(c), `no reason counts under ${c}`);
  for (const r of DROP_REASON_LIST) {
    assert.ok(DROP_REASONS[r].why.length > 0, r);
    assert.equal(reasonOfCode(DROP_CODE[r]), r);
  }
  assert.throws(() => reasonOfCode(0), RangeError);
  assert.throws(() => reasonOfCode(DROP_REASON_LIST.length + 1), RangeError);
});

test('summarize sums slabs by counter: reasons under their counter, events under events, zeros left out', () => {
  const a = new DropCounters(),
    b = new DropCounters();
  a.count('open-replay', 2);
  b.count('open-replay');
  b.count('tx-staged', 5);
  // Several reasons, one counter.
  a.count('handshake-decrypt-failed');
  b.count('unknown-peer', 2);
  assert.deepEqual(DropCounters.summarize([a, b]), { 'rx-replay': 3, 'rx-handshake-invalid': 3 });
  assert.deepEqual(DropCounters.summarizeEvents([a, b]), { 'tx-staged': 5 });
  assert.equal(a.get('rx-handshake-invalid'), 1);
  // A slab over another's shared buffer sees its counts (the worker/main-thread split).
  assert.equal(new DropCounters(b.buffer).get('tx-staged'), 5);
});

test('the README explains every drop counter and event', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  for (const name of DATAPATH_COUNTERS) assert.match(readme, new RegExp(`^\\| \`${name}\` \\|`, 'm'), name);
  // And names no counter that no longer exists.
  const table = readme.slice(readme.indexOf('| drop | what was dropped |'));
  const listed = [...table.slice(0, table.indexOf('\n\n')).matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(
    listed.filter((n) => !(n! in DROP_COUNTERS)),
    [],
  );
});
