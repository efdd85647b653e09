/**
 * native/thread_roles.cc: our threads name themselves "xdpwg-*"; every other
 * thread but the main one (the runtime's helpers) moves to SCHED_IDLE, ours
 * and the main thread stay as they were.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { native } from '../../src/native/binding.js';
import { lowerHelperThreads, lowerHelpersWanted, workerThreadName } from '../../src/native/thread-roles.js';
import { SCHED_IDLE, SCHED_OTHER, threadPolicies } from '../helpers/thread-policies.js';

test('the runtime helpers go to SCHED_IDLE; the main thread and threads named xdpwg-* do not', async () => {
  // A thread of ours, named as a worker names itself, alive while the helpers are lowered.
  const binding = new URL('../../src/native/binding.js', import.meta.url).href;
  const ours = new Worker(
    `import(${JSON.stringify(binding)}).then(({ native }) => {
       native().nameThread(${JSON.stringify(workerThreadName(7))});
       require('node:worker_threads').parentPort.postMessage('named');
       setInterval(() => {}, 1000);
     });`,
    { eval: true },
  );
  try {
    await new Promise((resolve) => ours.once('message', resolve));
    const lowered = lowerHelperThreads();
    const threads = threadPolicies('self');
    const main = threads.find((t) => t.tid === process.pid)!;
    const named = threads.filter((t) => t.name.startsWith('xdpwg-'));
    const helpers = threads.filter((t) => t.tid !== process.pid && !t.name.startsWith('xdpwg-'));
    assert.equal(main.policy, SCHED_OTHER, 'the main thread keeps its policy');
    assert.deepEqual(
      named.map((t) => [t.name, t.policy]),
      [['xdpwg-w7', SCHED_OTHER]],
      'our thread is spared',
    );
    // V8's platform threads at least (four), all lowered; the count returned is theirs.
    assert.ok(helpers.length >= 4, `helpers: ${JSON.stringify(threads)}`);
    assert.deepEqual(
      helpers.filter((t) => t.policy !== SCHED_IDLE),
      [],
      'every helper is SCHED_IDLE',
    );
    assert.equal(lowered, helpers.length);
  } finally {
    await ours.terminate();
  }
});

test('nameThread refuses names the kernel cannot hold; XDPWG_HELPERS takes idle or normal only', () => {
  assert.throws(() => native().nameThread(''), RangeError);
  assert.throws(() => native().nameThread('xdpwg-much-too-long'), RangeError);
  // Unset: only when V8 collects without helpers (thread-roles.ts: parallel GC jobs wait on them).
  assert.equal(lowerHelpersWanted({}, []), false);
  assert.equal(lowerHelpersWanted({}, ['--no-flush-bytecode']), false);
  assert.equal(lowerHelpersWanted({}, ['--single-threaded-gc', '--no-flush-bytecode']), true);
  assert.equal(lowerHelpersWanted({ XDPWG_HELPERS: '' }, ['--single-threaded-gc']), true);
  assert.equal(lowerHelpersWanted({ XDPWG_HELPERS: 'idle' }, []), true);
  assert.equal(lowerHelpersWanted({ XDPWG_HELPERS: 'normal' }, ['--single-threaded-gc']), false);
  assert.throws(() => lowerHelpersWanted({ XDPWG_HELPERS: 'low' }), /XDPWG_HELPERS=low: expected idle or normal/);
});
