/**
 * Admission of handshake messages to the main thread's bounded queue
 * (src/datapath/handshake-admission.ts): under load, only sources MAC2
 * proves are rate-limited per source, so neither a spoofed flood from
 * countless sources nor spoofing a peer's own address can shut it out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mac } from '../../src/crypto/blake2s.js';
import { FakeClock } from '../../src/protocol/clock.js';
import {
  HANDSHAKE_QUEUE_CAPACITY,
  RATELIMIT_BURST,
  UNDER_LOAD_AFTER_MS,
  UNDER_LOAD_QUEUE_FRACTION_DIVISOR,
} from '../../src/protocol/constants.js';
import { Initiation, INITIATION_SIZE } from '../../src/protocol/wire.js';
import { addrFromEndpoint } from '../../src/datapath/addr-record.js';
import { CookieSecretShare, HandshakeAdmission } from '../../src/datapath/handshake-admission.js';
import { SeededPrng } from '../helpers/seeded-prng.js';

const CAPACITY = HANDSHAKE_QUEUE_CAPACITY;
const UNDER_LOAD = CAPACITY / UNDER_LOAD_QUEUE_FRACTION_DIVISOR;
const rng = new SeededPrng(0xad_31);
const SECRET = rng.fill(new Uint8Array(32));

function setup(): { admission: HandshakeAdmission; backlog: Int32Array; clock: FakeClock } {
  const backlog = new Int32Array(new SharedArrayBuffer(4));
  const share = new CookieSecretShare();
  share.publish(SECRET);
  const clock = new FakeClock(1_000);
  return { admission: new HandshakeAdmission(backlog, CAPACITY, share, clock), backlog, clock };
}

function source(a: number, b: number, c: number, d: number, port = 51820): Uint8Array {
  return addrFromEndpoint({ family: 4, address: new Uint8Array([a, b, c, d]), port });
}

/** An initiation (contents random), with a MAC2 made from our secret for `addr` when proven. */
function initiation(addr: Uint8Array, proven: boolean): Uint8Array {
  const msg = rng.fill(new Uint8Array(INITIATION_SIZE));
  msg.set([1, 0, 0, 0]);
  if (proven) msg.set(mac(mac(SECRET, addr.subarray(0, 18)), msg.subarray(0, Initiation.mac2)), Initiation.mac2);
  else msg.fill(0, Initiation.mac2);
  return msg;
}

function admit(admission: HandshakeAdmission, msg: Uint8Array, addr: Uint8Array): string | null {
  return admission.admit(msg, 0, msg.length, addr, 0);
}

test('a spoofed flood from more sources than any table holds does not lock a newcomer out', () => {
  const { admission, backlog } = setup();
  // Under load, queue below half: 70,000 distinct spoofed sources within one second.
  for (let i = 0; i < 70_000; i++) {
    Atomics.store(backlog, 0, UNDER_LOAD);
    const addr = source(10, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
    assert.equal(admit(admission, initiation(addr, false), addr), null);
  }
  Atomics.store(backlog, 0, UNDER_LOAD);
  const legit = source(192, 0, 2, 7);
  assert.equal(admit(admission, initiation(legit, false), legit), null, 'first try (earns a cookie)');
  assert.equal(admit(admission, initiation(legit, true), legit), null, 'MAC2 retry');
});

test("spoofing a peer's own address does not use up that peer's share", () => {
  const { admission, backlog } = setup();
  const victim = source(192, 0, 2, 9);
  Atomics.store(backlog, 0, UNDER_LOAD);
  for (let i = 0; i < 1_000; i++) admit(admission, initiation(victim, false), victim); // the attacker cannot make MAC2
  for (let i = 0; i < 1_000; i++) {
    const forged = initiation(victim, false);
    forged.set(rng.fill(new Uint8Array(16)), Initiation.mac2); // a made-up MAC2
    admit(admission, forged, victim);
  }
  Atomics.store(backlog, 0, UNDER_LOAD);
  assert.equal(admit(admission, initiation(victim, true), victim), null, 'the real peer, with its cookie, gets in');
});

test('MAC2-proven sources are rate-limited per source under load; others are not', () => {
  const { admission, backlog, clock } = setup();
  const heavy = source(198, 51, 100, 1);
  const other = source(198, 51, 100, 2);
  Atomics.store(backlog, 0, UNDER_LOAD);
  const verdicts = Array.from({ length: 10 }, () => admit(admission, initiation(heavy, true), heavy));
  assert.equal(verdicts.filter((v) => v === null).length, RATELIMIT_BURST);
  assert.equal(verdicts.filter((v) => v === 'rx-ratelimited').length, 10 - RATELIMIT_BURST);
  assert.equal(admit(admission, initiation(other, true), other), null, 'another source has its own bucket');
  clock.advance(1_000);
  assert.equal(admit(admission, initiation(heavy, true), heavy), null, 'the bucket refills');
});

test('once the queue is a quarter full, a proven source gets one message a second', () => {
  const { admission, backlog, clock } = setup();
  const a = source(198, 51, 100, 9);
  Atomics.store(backlog, 0, CAPACITY / 4);
  assert.equal(admit(admission, initiation(a, true), a), null);
  assert.equal(admit(admission, initiation(a, true), a), 'rx-ratelimited');
  clock.advance(999);
  assert.equal(admit(admission, initiation(a, true), a), 'rx-ratelimited');
  clock.advance(1);
  assert.equal(admit(admission, initiation(a, true), a), null);
});

test('unproven messages fill at most half the queue under load; proven ones the rest; nothing past capacity', () => {
  const { admission, backlog } = setup();
  const a = source(203, 0, 113, 1);
  Atomics.store(backlog, 0, CAPACITY / 2);
  assert.equal(admit(admission, initiation(a, false), a), 'rx-handshake-queue-full');
  assert.equal(Atomics.load(backlog, 0), CAPACITY / 2, 'a refusal leaves the backlog as it was');
  assert.equal(admit(admission, initiation(a, true), a), null);
  assert.equal(Atomics.load(backlog, 0), CAPACITY / 2 + 1, 'an admission counts in the backlog');
  Atomics.store(backlog, 0, CAPACITY);
  const b = source(203, 0, 113, 2);
  assert.equal(admit(admission, initiation(b, true), b), 'rx-handshake-queue-full');
  // Not under load: anything is admitted while there is room, without looking at MACs.
  Atomics.store(backlog, 0, 0);
  for (let i = 0; i < 20; i++) assert.equal(admit(admission, initiation(a, false), a), null);
});

test('the cookie secret crosses threads whole: a torn or unpublished secret proves nothing', () => {
  const share = new CookieSecretShare();
  const into = new Uint8Array(32);
  assert.equal(share.readInto(into, -1), -1, 'nothing published yet');
  share.publish(SECRET);
  const seq = share.readInto(into, -1);
  assert.ok(seq > 0 && seq % 2 === 0);
  assert.deepEqual(into, SECRET);
  assert.equal(share.readInto(into, seq), seq, 'unchanged: no copy needed');
  // A writer in the middle of publishing (odd sequence): readers take nothing.
  const words = new Int32Array(share.buffer, 0, 1);
  Atomics.add(words, 0, 1);
  assert.equal(share.readInto(new Uint8Array(32), seq), -1);
});

test('"under load" is the main thread\'s definition: held for UNDER_LOAD_AFTER_MS after the backlog passed the threshold', () => {
  // Before, admission switched under load off the instant the backlog dipped,
  // while the main thread (load-detector.ts) kept it on for a second: a
  // source over its rate got in on every dip between two bursts.
  const { admission, backlog, clock } = setup();
  const a = source(198, 51, 100, 10);
  Atomics.store(backlog, 0, UNDER_LOAD);
  let verdict: string | null = null;
  for (let i = 0; i <= RATELIMIT_BURST && verdict === null; i++) verdict = admit(admission, initiation(a, true), a);
  assert.equal(verdict, 'rx-ratelimited', 'the proven source used up its burst');
  Atomics.store(backlog, 0, 0);
  clock.advance(1);
  assert.equal(
    admit(admission, initiation(a, true), a),
    'rx-ratelimited',
    'still under load: the backlog stood at the threshold a moment ago',
  );
  clock.advance(UNDER_LOAD_AFTER_MS);
  assert.equal(admit(admission, initiation(a, true), a), null, 'a second later the device is no longer under load');
});
