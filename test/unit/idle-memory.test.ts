/**
 * When a thread gives its spare memory back (src/native/idle-memory.ts):
 * once per quiet spell, only after QUIET_MS without activity, re-armed by
 * activity; and the native call itself (a full V8 collection and
 * malloc_trim) runs on this thread and gives back garbage it left.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DaemonActivity, IdleMemoryRelease, QUIET_MS } from '../../src/native/idle-memory.js';
import { native } from '../../src/native/binding.js';

test('releases once after a quiet spell that follows start-up; activity re-arms it', () => {
  let releases = 0;
  const r = new IdleMemoryRelease(() => releases++, 1_000);
  assert.deepEqual(r.report(), { releases: 0, pending: true }, 'a fresh thread has its first release due');
  assert.equal(r.poll(1_000 + QUIET_MS - 1), false, 'not quiet long enough since start');
  assert.equal(r.poll(1_000 + QUIET_MS), true, 'quiet since start: released');
  assert.equal(r.poll(1_000 + 10 * QUIET_MS), false, 'once per quiet spell');
  assert.equal(releases, 1);
  assert.deepEqual(r.report(), { releases: 1, pending: false }, 'what xdpwg stats shows');
  r.active(50_000);
  assert.deepEqual(r.report(), { releases: 1, pending: true });
  assert.equal(r.poll(50_000 + QUIET_MS / 2), false, 'activity: quiet again only after QUIET_MS');
  r.active(50_000 + QUIET_MS / 2);
  assert.equal(r.poll(50_000 + QUIET_MS), false, 'steady activity (a ping every few ms) never releases');
  assert.equal(r.poll(50_000 + QUIET_MS / 2 + QUIET_MS), true);
  assert.equal(releases, 2);
  assert.deepEqual(r.report(), { releases: 2, pending: false });
});

test('the native release returns garbage this thread left to the system', () => {
  // Garbage the young and old generations hold: many short-lived objects and big arrays.
  let keep: unknown[] = [];
  for (let i = 0; i < 200; i++) keep.push(new Array(50_000).fill(i));
  keep = [];
  const before = process.memoryUsage().heapTotal;
  native().releaseIdleMemory();
  const after = process.memoryUsage().heapTotal;
  assert.equal(keep.length, 0);
  assert.ok(after < before, `V8 heap ${before} → ${after} bytes: the full collection gave pages back`);
});

test('a quiet thread waits for the whole daemon: another thread carrying traffic holds its release off', () => {
  let wall = 1_000_000;
  const clock = (): number => wall;
  const main = DaemonActivity.create(3, clock);
  const worker = (w: number): DaemonActivity => new DaemonActivity(main.buffer, main.baseMs, 1 + w, clock);
  let released = 0;
  // Worker 1 carried traffic once and then nothing; worker 0 carries a ping every 10 ms.
  const quiet = new IdleMemoryRelease(() => released++, wall, worker(1));
  const busy = new IdleMemoryRelease(() => assert.fail('a busy thread never releases'), wall, worker(0));
  quiet.active(wall);
  for (let t = 0; t < 2 * QUIET_MS; t += 10) {
    wall += 10;
    busy.active(wall);
    assert.equal(quiet.poll(wall), false, `${t} ms into the ping: the daemon is not quiet`);
  }
  assert.equal(released, 0);
  // The ping stops: QUIET_MS after its last stamp's step, both may release, the quiet one once.
  const stopped = wall;
  while (wall < stopped + QUIET_MS) {
    wall += 50;
    if (wall < stopped + QUIET_MS - 100) assert.equal(quiet.poll(wall), false, 'the daemon quiet for less than QUIET_MS');
  }
  wall += 200;
  assert.equal(quiet.poll(wall), true);
  assert.equal(quiet.poll(wall + QUIET_MS), false, 'once per quiet spell');
  assert.equal(released, 1);
});

test("without other threads the rule is the thread's own (tests that drive one worker by hand)", () => {
  let released = 0;
  const alone = new IdleMemoryRelease(() => released++, 0);
  assert.equal(alone.poll(QUIET_MS), true);
  assert.equal(released, 1);
});
