/**
 * Replay window (whitepaper §5.4.6, RFC 6479): a numbered table of edge
 * cases, a comparison against the naive Set-based reference on 200,000 seeded
 * operations, and two worker threads racing on one shared window.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { ReplayWindow, REPLAY_WINDOW_BYTES } from '../../src/protocol/replay-window.js';
import { REJECT_AFTER_MESSAGES, REPLAY_BITMAP_BITS, REPLAY_WINDOW_SIZE } from '../../src/protocol/constants.js';
import { NaiveReplayWindow } from '../helpers/naive-replay-window.js';
import { SeededPrng } from '../helpers/seeded-prng.js';

const W = BigInt(REPLAY_WINDOW_SIZE);
const BITS = BigInt(REPLAY_BITMAP_BITS);
const TWO32 = 1n << 32n;

function freshWindow(): ReplayWindow {
  return new ReplayWindow(new SharedArrayBuffer(REPLAY_WINDOW_BYTES));
}

/** Each step: [counter, accepted?]. Steps run in order on one fresh window. */
const EDGE_CASES: { n: number; what: string; steps: [bigint, boolean][] }[] = [
  { n: 1, what: 'a fresh window accepts counter 0', steps: [[0n, true]] },
  {
    n: 2,
    what: 'counter 0 twice: the duplicate is refused',
    steps: [
      [0n, true],
      [0n, false],
    ],
  },
  {
    n: 3,
    what: 'out of order inside the window: 1 then 0',
    steps: [
      [1n, true],
      [0n, true],
      [1n, false],
      [0n, false],
    ],
  },
  {
    n: 4,
    what: 'exactly at the window edge (greatest − REPLAY_WINDOW_SIZE) is accepted',
    steps: [
      [W, true],
      [0n, true],
    ],
  },
  {
    n: 5,
    what: 'just past the window edge (greatest − REPLAY_WINDOW_SIZE − 1) is refused',
    steps: [
      [W + 1n, true],
      [0n, false],
    ],
  },
  {
    n: 6,
    what: 'edge counter accepted once, then refused as duplicate',
    steps: [
      [W, true],
      [0n, true],
      [0n, false],
    ],
  },
  {
    n: 7,
    what: 'far future jump: everything old is refused, the new window edge holds',
    steps: [
      [5n, true],
      [1n << 40n, true],
      [6n, false],
      [(1n << 40n) - W, true],
      [(1n << 40n) - W - 1n, false],
      [1n << 40n, false],
    ],
  },
  {
    n: 8,
    what: 'jump by exactly the bitmap size reuses the same bit slot',
    steps: [
      [100n, true],
      [100n + BITS, true],
      [100n, false],
      [100n + BITS - 1n, true],
      [100n + BITS, false],
    ],
  },
  {
    n: 9,
    what: 'REJECT_AFTER_MESSAGES − 1 is the last valid counter',
    steps: [
      [REJECT_AFTER_MESSAGES - 1n, true],
      [REJECT_AFTER_MESSAGES, false],
      [(1n << 64n) - 1n, false],
      [REJECT_AFTER_MESSAGES - 2n, true],
    ],
  },
  {
    n: 10,
    what: 'counter at REJECT_AFTER_MESSAGES on a fresh window is refused',
    steps: [
      [REJECT_AFTER_MESSAGES, false],
      [0n, true],
    ],
  },
  {
    n: 11,
    what: 'across the 32-bit boundary',
    steps: [
      [TWO32 - 1n, true],
      [TWO32, true],
      [TWO32 - 1n, false],
      [TWO32 - 2n, true],
      [TWO32 + 1n, true],
    ],
  },
  {
    n: 12,
    what: 'window spanning the 32-bit boundary: edge on both sides',
    steps: [
      [TWO32 + 10n, true],
      [TWO32 + 10n - W, true],
      [TWO32 + 9n - W, false],
      [TWO32 - 8000n, true],
    ],
  },
  {
    n: 13,
    what: 'duplicate inside the window after moving forward',
    steps: [
      [10n, true],
      [20n, true],
      [15n, true],
      [15n, false],
      [20n, false],
    ],
  },
  {
    n: 14,
    what: 'stale bits from an earlier lap of the ring are cleared',
    steps: [
      [0n, true],
      [1n, true],
      [63n, true],
      [3n * BITS + 64n, true],
      [3n * BITS + 1n, true],
      [3n * BITS + 63n, true],
      [3n * BITS, true],
    ],
  },
  {
    n: 15,
    what: 'an older accepted counter does not move the greatest',
    steps: [
      [100_000n, true],
      [99_000n, true],
      [100_000n - W, true],
      [100_000n - W - 1n, false],
    ],
  },
  {
    n: 16,
    what: 'a 2^32 jump (high half +1, low half equal)',
    steps: [
      [7n, true],
      [TWO32 + 7n, true],
      [7n, false],
      [TWO32 + 6n, true],
    ],
  },
  {
    n: 17,
    what: 'a jump of 2^33 or more clears the whole ring',
    steps: [
      [1n, true],
      [2n * TWO32 + 1n, true],
      [2n * TWO32 + 1n - BITS, false],
      [2n * TWO32, true],
    ],
  },
  {
    n: 18,
    what: 'increasing by one for a whole lap and more',
    steps: Array.from({ length: Number(BITS) + 1000 }, (_, i): [bigint, boolean] => [BigInt(i), true]),
  },
];

for (const c of EDGE_CASES) {
  test(`replay edge case ${c.n}: ${c.what}`, () => {
    const fast = freshWindow();
    const naive = new NaiveReplayWindow();
    c.steps.forEach(([counter, expected], step) => {
      assert.equal(naive.checkAndUpdate(counter), expected, `reference disagrees with the table at step ${step} (counter ${counter})`);
      assert.equal(fast.checkAndUpdateBig(counter), expected, `step ${step}: counter ${counter}`);
    });
  });
}

test('replay: reset forgets everything', () => {
  const w = freshWindow();
  assert.equal(w.checkAndUpdateBig(5000n), true);
  assert.equal(w.greatest(), 5000n);
  w.reset();
  assert.equal(w.greatest(), 0n);
  assert.equal(w.checkAndUpdateBig(5000n), true);
  assert.equal(w.checkAndUpdateBig(0n), true);
});

test('replay: matches the naive reference on 200,000 seeded operations', () => {
  const rng = new SeededPrng(0x5eed_0001);
  let fast = freshWindow();
  let naive = new NaiveReplayWindow();
  let greatest = 0n;
  let accepted = 0;
  let restarts = 0;
  for (let i = 0; i < 200_000; i++) {
    const r = rng.below(100);
    let counter: bigint;
    if (r < 50)
      counter = greatest + BigInt(rng.below(40)); // mostly in order, small gaps
    else if (r < 75)
      counter = greatest - BigInt(rng.below(REPLAY_WINDOW_SIZE + 200)); // reordered, around the edge
    else if (r < 85)
      counter = greatest - W + BigInt(rng.below(5)) - 2n; // right at the edge
    else if (r < 93)
      counter = greatest; // duplicate of the newest
    else if (r < 97)
      counter = greatest + BigInt(rng.below(20_000)); // jump of up to ~2.5 laps
    else if (r < 99)
      counter = greatest + rng.bigBelow(1n << 40n); // far future
    else if (rng.below(20) === 0)
      counter = REJECT_AFTER_MESSAGES - BigInt(rng.below(3)) + 1n - (rng.below(2) ? 0n : 10_000n); // near the limit
    else counter = greatest + 1n;
    if (counter < 0n) counter = 0n;
    const expected = naive.checkAndUpdate(counter);
    const got = fast.checkAndUpdateBig(counter);
    if (got !== expected) assert.fail(`operation ${i}: counter ${counter} (greatest ${greatest}): fast ${got}, naive ${expected}`);
    if (got) {
      accepted++;
      if (counter > greatest) greatest = counter;
    }
    // Once a run has reached the 64-bit limit, start a fresh pair of windows after a while.
    if (greatest > REJECT_AFTER_MESSAGES - 20_000n && rng.below(200) === 0) {
      fast = freshWindow();
      naive = new NaiveReplayWindow();
      greatest = 0n;
      restarts++;
    }
  }
  assert.ok(accepted > 50_000, `only ${accepted} accepted`);
  assert.ok(restarts > 0, 'the run never reached the 64-bit limit');
});

test('replay: matches the reference with fresh windows near the 64-bit limit and the 32-bit boundary', () => {
  const rng = new SeededPrng(0x5eed_0002);
  let ops = 0;
  for (const base of [TWO32 - 10_000n, REJECT_AFTER_MESSAGES - 30_000n, (1n << 53n) - 5000n]) {
    const fast = freshWindow();
    const naive = new NaiveReplayWindow();
    let cursor = base;
    for (let i = 0; i < 40_000; i++, ops++) {
      const counter = cursor - BigInt(rng.below(REPLAY_WINDOW_SIZE + 100)) + BigInt(rng.below(300));
      const expected = naive.checkAndUpdate(counter);
      assert.equal(fast.checkAndUpdateBig(counter), expected, `base ${base} op ${i} counter ${counter}`);
      cursor += BigInt(rng.below(3));
    }
  }
  assert.equal(ops, 120_000);
});

test('replay: two worker threads racing on one shared window accept every counter exactly once', async () => {
  const sab = new SharedArrayBuffer(REPLAY_WINDOW_BYTES);
  const moduleUrl = new URL('../../src/protocol/replay-window.js', import.meta.url).href;
  const COUNT = 60_000;
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(workerData.moduleUrl).then(({ ReplayWindow }) => {
      const w = new ReplayWindow(workerData.sab);
      let accepted = 0;
      // Both workers walk the same counters; one forwards, one with a small shuffle.
      for (let i = 0; i < workerData.count; i++) {
        const c = workerData.shuffle ? (i ^ 3) : i;
        if (w.checkAndUpdate(c, 0)) accepted++;
      }
      parentPort.postMessage(accepted);
    });`;
  const run = (shuffle: boolean) =>
    new Promise<number>((resolve, reject) => {
      const worker = new Worker(code, { eval: true, workerData: { sab, moduleUrl, count: COUNT, shuffle } });
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  const [a, b] = await Promise.all([run(false), run(true)]);
  // Each counter is accepted by exactly one of the two workers, unless it fell
  // out of the window while the other worker ran ahead: then by none.
  assert.ok(a + b <= COUNT, `${a} + ${b} accepted: some counter was accepted twice`);
  assert.ok(a + b >= COUNT - 4 * REPLAY_WINDOW_SIZE, `${a} + ${b} accepted: too many lost`);
  const w = new ReplayWindow(sab);
  assert.equal(w.greatest(), BigInt(COUNT - 1));
});
