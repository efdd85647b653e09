import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadEagerly } from '../../src/datapath/eager-load.js';

test('loadEagerly turns lazy compilation off for the load only, and back on when it ends', async () => {
  const flags: string[] = [];
  const got = await loadEagerly(
    async () => {
      flags.push('load');
      return 42;
    },
    (f) => flags.push(f),
  );
  assert.equal(got, 42);
  assert.deepEqual(flags, ['--no-lazy', 'load', '--lazy']);
});

test('loadEagerly sets lazy compilation back on when the load fails, and passes the error on', async () => {
  const flags: string[] = [];
  await assert.rejects(
    loadEagerly(
      async () => {
        throw new Error('no such module');
      },
      (f) => flags.push(f),
    ),
    /no such module/,
  );
  assert.deepEqual(flags, ['--no-lazy', '--lazy']);
});
