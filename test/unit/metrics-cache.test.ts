/**
 * MetricsCache (src/daemon/observe/metrics-cache.ts) on a hand-driven clock: any
 * number of scrapes within one window cost one render and get its body; the
 * next window renders again; scrapes during a render share it; a failed
 * render is not kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsCache } from '../../src/daemon/observe/metrics-cache.js';

function counting(): { render: () => Promise<string>; calls: () => number } {
  let n = 0;
  return { render: async () => `body ${++n}\n`, calls: () => n };
}

test('N rapid scrapes within the window: one render, one body', async () => {
  let now = 5_000;
  const r = counting();
  const cache = new MetricsCache(r.render, 1_000, () => now);
  const bodies: string[] = [];
  for (let i = 0; i < 50; i++) {
    bodies.push(await cache.get());
    now += 19;
  } // 50 scrapes over 950 ms
  assert.equal(r.calls(), 1);
  assert.equal(cache.renders, 1);
  assert.deepEqual(new Set(bodies), new Set(['body 1\n']));
  now = 6_000; // the window (from the render's start) is over
  assert.equal(await cache.get(), 'body 2\n');
  assert.equal(await cache.get(), 'body 2\n');
  assert.equal(r.calls(), 2);
});

test('scrapes while a render runs share it', async () => {
  let release!: (s: string) => void;
  let calls = 0;
  const cache = new MetricsCache(
    () => {
      calls++;
      return new Promise<string>((res) => {
        release = res;
      });
    },
    1_000,
    () => 0,
  );
  const pending = Array.from({ length: 10 }, () => cache.get());
  release('once\n');
  assert.deepEqual(await Promise.all(pending), Array(10).fill('once\n'));
  assert.equal(calls, 1);
});

test('a failed render is not kept: the next scrape renders again', async () => {
  let calls = 0;
  const cache = new MetricsCache(
    async () => {
      if (++calls === 1) throw new Error('boom');
      return 'ok\n';
    },
    1_000,
    () => 0,
  );
  await assert.rejects(cache.get(), /boom/);
  assert.equal(await cache.get(), 'ok\n');
  assert.equal(calls, 2);
});
