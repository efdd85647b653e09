/**
 * Peer timers (whitepaper §6) driven by a fake clock: rekey after 120 s by
 * the initiator, reject after 180 s, keepalive after 10 s of one-way
 * traffic, persistent keepalive, retries every ~5 s for 90 s then give-up,
 * keys zeroed after 540 s, and the smaller rules around them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TimerHarness } from '../helpers/timer-harness.js';
import { SeededPrng } from '../helpers/seeded-prng.js';

test('timers: the initiator rekeys when sending after REKEY_AFTER_TIME (120 s); the responder does not', () => {
  const h = new TimerHarness();
  h.session(true);
  h.runUntil(119_999);
  h.sendData();
  h.receiveData(true);
  assert.deepEqual(h.of('initiation'), []);
  h.runUntil(120_000);
  h.sendData();
  assert.deepEqual(h.of('initiation'), [{ at: 120_000, what: 'initiation', reason: 'rekey' }]);

  const r = new TimerHarness();
  r.session(false);
  r.runUntil(150_000);
  r.sendData();
  r.receiveData(true);
  assert.deepEqual(r.of('initiation'), [], 'a responder never rekeys by time');
});

test('timers: keypairs are rejected after REJECT_AFTER_TIME (180 s); the next send asks for a handshake', () => {
  const h = new TimerHarness();
  h.session(false);
  h.runUntil(179_999);
  assert.ok(h.keypairs.sendable(h.clock.now()), 'still usable at 179.999 s');
  assert.deepEqual(h.of('keypairsExpired'), []);
  h.runUntil(180_000);
  assert.deepEqual(h.of('keypairsExpired'), [{ at: 180_000, what: 'keypairsExpired', reason: undefined }]);
  assert.equal(h.keypairs.current, undefined);
  h.sendData();
  assert.deepEqual(
    h.of('initiation').map((e) => [e.at, e.reason]),
    [[180_000, 'requested']],
  );
});

test('timers: an initiator receiving on a 165 s old keypair rekeys once', () => {
  const h = new TimerHarness();
  h.session(true);
  h.runUntil(164_999);
  h.receiveData();
  assert.deepEqual(h.of('initiation'), []);
  h.runUntil(165_000);
  h.receiveData();
  h.runUntil(171_000);
  h.receiveData();
  // Further receives ask for nothing more; the unanswered rekey is retried by the retransmission timer.
  assert.deepEqual(
    h.of('initiation').map((e) => [e.at, e.reason]),
    [
      [165_000, 'rekey'],
      [170_167, 'retry'],
    ],
  );
});

test('timers: a keepalive follows 10 s of one-way traffic, and none when we answer', () => {
  const h = new TimerHarness();
  h.session(false);
  // One-way: data arrives every second for 35 s, we send nothing.
  for (let s = 0; s < 35; s++) {
    h.runUntil(s * 1000);
    h.receiveData();
  }
  h.runUntil(60_000);
  // Data arriving while a keepalive is pending asks for one more after it (as the kernel does), so the
  // last one, at 50 s, answers data received between the keepalives of 30 s and 40 s.
  assert.deepEqual(
    h.of('keepalive').map((e) => e.at),
    [10_000, 20_000, 30_000, 40_000, 50_000],
  );

  const answered = new TimerHarness();
  answered.session(false);
  answered.receiveData();
  answered.runUntil(9_999);
  answered.sendData();
  answered.runUntil(30_000);
  assert.deepEqual(answered.of('keepalive'), [], 'our own packet made the keepalive unnecessary');
});

test('timers: persistent keepalive every interval of silence; traffic postpones it; 0 turns it off', () => {
  const h = new TimerHarness({ persistentKeepaliveSeconds: 25 });
  h.session(true);
  h.runUntil(60_000);
  assert.deepEqual(
    h.of('keepalive').map((e) => e.at),
    [25_000, 50_000],
  );
  h.runUntil(70_000);
  h.receiveData(true); // traffic at 70 s postpones the next one from 75 s to 95 s
  h.runUntil(100_000);
  assert.deepEqual(
    h.of('keepalive').map((e) => e.at),
    [25_000, 50_000, 95_000],
  );
  h.timers.persistentKeepaliveIntervalChanged(0);
  h.runUntil(119_000);
  assert.equal(h.of('keepalive').length, 3, 'off');
  h.timers.persistentKeepaliveIntervalChanged(10);
  assert.deepEqual(
    h
      .of('keepalive')
      .map((e) => e.at)
      .slice(3),
    [119_000],
    'a new interval sends one at once',
  );
  h.runUntil(119_999);
  h.runUntil(129_000);
  assert.deepEqual(
    h
      .of('keepalive')
      .map((e) => e.at)
      .slice(3),
    [119_000, 129_000],
  );
  assert.throws(() => h.timers.persistentKeepaliveIntervalChanged(65_536), RangeError);
});

test('timers: an unanswered handshake is retried every REKEY_TIMEOUT + jitter for 90 s: 20 initiations, as wireguard-go, then given up', () => {
  const rng = new SeededPrng(90);
  const h = new TimerHarness({ random: () => rng.next() });
  h.sendData(); // no keypair: the daemon asks for a handshake
  h.runUntil(200_000);
  const sends = h.of('initiation');
  assert.equal(sends[0]!.reason, 'requested');
  assert.equal(sends.length, 1 + 19, 'the first initiation and 19 retries (wireguard-go: "after 20 attempts, giving up")');
  for (let i = 1; i < sends.length; i++) {
    const gap = sends[i]!.at - sends[i - 1]!.at;
    assert.equal(sends[i]!.reason, 'retry');
    assert.ok(gap >= 5_000 && gap < 5_334, `retry ${i} after ${gap} ms`);
  }
  assert.ok(sends.at(-1)!.at >= 90_000, 'retries span REKEY_ATTEMPT_TIME');
  const gaveUp = h.of('giveUp');
  assert.equal(gaveUp.length, 1);
  assert.ok(gaveUp[0]!.at - sends.at(-1)!.at >= 5_000 && gaveUp[0]!.at < 100_000 + 20 * 334);
});

test('timers: a completed handshake stops the retries', () => {
  const h = new TimerHarness();
  h.sendData();
  h.runUntil(12_000);
  assert.equal(h.of('initiation').length, 3);
  h.session(true);
  h.runUntil(100_000);
  assert.equal(h.of('initiation').length, 3);
  assert.deepEqual(h.of('giveUp'), []);
});

test('timers: non-retry initiations go out at most once per REKEY_TIMEOUT', () => {
  const h = new TimerHarness();
  h.timers.requestHandshake();
  h.runUntil(1_000);
  h.timers.requestHandshake();
  h.runUntil(4_999);
  h.timers.requestHandshake();
  assert.equal(h.of('initiation').length, 1);
});

test('timers: data sent without any answer for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT starts a new handshake', () => {
  const h = new TimerHarness();
  h.session(false);
  h.runUntil(1_000);
  h.sendData();
  h.runUntil(16_166);
  assert.deepEqual(h.of('initiation'), []);
  h.runUntil(16_167); // 15 s + jitter (0.5 × 334 → 167 ms)
  assert.deepEqual(
    h.of('initiation').map((e) => [e.at, e.reason]),
    [[16_167, 'silence']],
  );

  const heard = new TimerHarness();
  heard.session(false);
  heard.sendData();
  heard.runUntil(14_000);
  heard.receiveData(true); // any authenticated packet cancels it
  heard.runUntil(40_000);
  assert.deepEqual(heard.of('initiation'), []);
});

test('timers: keys are zeroed 540 s after the last session; a new session postpones it', () => {
  const h = new TimerHarness();
  h.session(false);
  h.runUntil(539_999);
  assert.deepEqual(h.of('zeroKeys'), []);
  h.runUntil(540_000);
  assert.deepEqual(
    h.of('zeroKeys').map((e) => e.at),
    [540_000],
  );
  assert.equal(h.keypairs.current, undefined);

  const later = new TimerHarness();
  later.session(false);
  later.runUntil(100_000);
  later.session(false);
  later.runUntil(639_999);
  assert.deepEqual(later.of('zeroKeys'), []);
  later.runUntil(640_000);
  assert.deepEqual(
    later.of('zeroKeys').map((e) => e.at),
    [640_000],
  );
});

test('timers: giving up arms key zeroing; stop() silences everything', () => {
  const h = new TimerHarness();
  h.sendData();
  h.runUntil(110_000); // 20 initiations 5 s + jitter apart, then the give-up
  const gaveUpAt = h.of('giveUp')[0]!.at;
  h.runUntil(gaveUpAt + 540_000);
  assert.deepEqual(
    h.of('zeroKeys').map((e) => e.at),
    [gaveUpAt + 540_000],
  );

  const s = new TimerHarness({ persistentKeepaliveSeconds: 1 });
  s.session(true);
  s.timers.stop();
  assert.equal(s.timers.nextDeadline(), undefined);
  s.runUntil(1_000_000);
  s.sendData();
  s.runUntil(2_000_000);
  assert.deepEqual(s.events, []);
});
