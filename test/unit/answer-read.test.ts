/**
 * AnswerRead (src/datapath/answer-read.ts): a worker reads the TUN right
 * after writing into it while those reads find packets, backs off
 * exponentially (to at most 64 writing wakes) after empty ones, and never
 * tries when turned off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnswerRead } from '../../src/datapath/answer-read.js';

/** Which of the next `wakes` writing wakes try, each try finding `found` packets. */
function tries(a: AnswerRead, wakes: number, found: number): boolean[] {
  const out: boolean[] = [];
  for (let i = 0; i < wakes; i++) {
    const t = a.shouldTry();
    out.push(t);
    if (t) a.found(found);
  }
  return out;
}

test('answer read: every writing wake tries while the reads find answers', () => {
  assert.deepEqual(tries(new AnswerRead(), 5, 1), [true, true, true, true, true]);
});

test('answer read: empty reads back off 1, 2, 4, … writing wakes, up to 64', () => {
  const a = new AnswerRead();
  const pattern = tries(a, 1 + 2 + 3 + 5 + 9, 0);
  // try, skip 1, try, skip 2, try, skip 4, try, skip 8, try
  const expected = [true, false, true, false, false, true, false, false, false, false, true];
  expected.push(false, false, false, false, false, false, false, false, true);
  assert.deepEqual(pattern, expected);
  // Far on, the gap between tries stays at 64.
  tries(a, 1000, 0);
  const gaps: number[] = [];
  let last = -1;
  tries(a, 400, 0).forEach((t, i) => {
    if (t && last >= 0) gaps.push(i - last);
    if (t) last = i;
  });
  assert.ok(gaps.length >= 5 && gaps.every((g) => g === 65), `gaps ${gaps.join(',')}`);
});

test('answer read: one read that finds a packet makes every writing wake try again', () => {
  const a = new AnswerRead();
  tries(a, 200, 0);
  while (!a.shouldTry()) {
    /* let the skipped wakes pass */
  }
  a.found(1);
  assert.deepEqual(tries(a, 4, 1), [true, true, true, true]);
});

test('answer read: off, it never tries', () => {
  assert.deepEqual(tries(new AnswerRead(false), 3, 1), [false, false, false]);
});
