/**
 * Retiring keypairs that workers share (src/protocol/key-retirement.ts): a
 * keypair retired in the middle of a burst is never sealed under a zero or
 * torn key, its keys are zeroed only once every worker has moved past the
 * retirement, and a burst sealed while it was retired is dropped, not sent.
 * The interleavings are forced deterministically by retiring from inside the
 * counter reservation (between the flag check and the key copy) and from
 * inside the AEAD call (between the key copy and its use).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { DataBurst, DataTransport } from '../../src/protocol/transport.js';
import { DROP_CODE } from '../../src/packet/drop-reasons.js';
import { nodeCryptoAeadBurst, type AeadBurstBackend } from '../../src/crypto/aead-burst.js';
import { Keypair, type KeypairShared } from '../../src/protocol/keypair.js';
import { KeyRetirement, WorkerEpoch } from '../../src/protocol/key-retirement.js';
import { SeededPrng } from '../helpers/seeded-prng.js';

const rng = new SeededPrng(0x6e_70_63);
const K1 = rng.fill(new Uint8Array(32));
const K2 = rng.fill(new Uint8Array(32));
const ZERO = new Uint8Array(32);

function keypair(retirement?: KeyRetirement): Keypair {
  return new Keypair({ sendKey: K1, receiveKey: K2, localIndex: 111, remoteIndex: 222, isInitiator: true, createdAt: 0 }, retirement);
}

/** Whether message bytes (header ‖ ciphertext ‖ tag) open under `key`. */
function opensUnder(key: Uint8Array, msg: Uint8Array): boolean {
  const nonce = new Uint8Array(12);
  nonce.set(msg.subarray(8, 16), 4);
  try {
    chacha20poly1305(key, nonce).decrypt(msg.subarray(16));
    return true;
  } catch {
    return false;
  }
}

/** Runs `during` once, the first time the shared state's counters are reserved (after the flag check, before the key copy). */
function onReserve(shared: KeypairShared, during: () => void): void {
  const reserve = shared.reserveSendCounters.bind(shared);
  let fired = false;
  shared.reserveSendCounters = (n: number): bigint => {
    const base = reserve(n);
    if (!fired) {
      fired = true;
      during();
    }
    return base;
  };
}

test('a keypair wiped between the flag check and the key copy is not sent', () => {
  // Single thread, immediate zeroing (no KeyRetirement): the worst case the re-check must catch.
  const kp = keypair();
  onReserve(kp.shared, () => kp.wipe());
  const t = new DataTransport();
  const buffer = new Uint8Array(256);
  buffer.fill(0x5a, 16, 16 + 48);
  const n = t.seal(kp.shared, buffer, 16, 48, 1420);
  assert.equal(n, -DROP_CODE['seal-keypair-retired'], 'the burst is dropped as retired');
  // (The frame did get sealed under the zeroed key here; dropped, it never leaves. With a
  // KeyRetirement, as the daemon runs, the key stays intact too: the next test.)
});

test('a keypair retired while a worker is sealing keeps its keys until that worker is idle, and the burst is dropped', () => {
  const retirement = new KeyRetirement(1);
  const worker = new WorkerEpoch(retirement.buffer, 0);
  const kp = keypair(retirement);
  const t = new DataTransport();
  const buffer = new Uint8Array(256);
  buffer.fill(0x33, 16, 16 + 64);
  worker.enter();
  onReserve(kp.shared, () => {
    kp.wipe();
    assert.equal(kp.shared.canSend(), false, 'retired for every thread at once');
    assert.deepEqual(kp.shared.sendKey, K1, 'but the key a busy worker may copy is intact');
  });
  const n = t.seal(kp.shared, buffer, 16, 64, 1420);
  assert.equal(n, -DROP_CODE['seal-keypair-retired']);
  // The AEAD ran with the intact key, never a zero one.
  const msg = buffer.subarray(0, 16 + 64 + 16);
  assert.equal(opensUnder(K1, msg), true, 'sealed under the real key');
  assert.equal(opensUnder(ZERO, msg), false, 'not under a zero key');
  assert.equal(retirement.reap(), 1, 'still pending while the worker has not moved on');
  assert.deepEqual(kp.shared.sendKey, K1);
  worker.idle();
  assert.equal(retirement.reap(), 0);
  assert.deepEqual(kp.shared.sendKey, ZERO, 'zeroed once the worker is idle');
  assert.deepEqual(kp.shared.receiveKey, ZERO);
});

test('a keypair retired while a worker opens with it keeps its receive key until the burst is done', () => {
  const retirement = new KeyRetirement(1);
  const worker = new WorkerEpoch(retirement.buffer, 0);
  const sender = new Keypair({ sendKey: K2, receiveKey: K1, localIndex: 222, remoteIndex: 111, isInitiator: false, createdAt: 0 });
  const kp = keypair(retirement);
  // Retire from inside the AEAD call: after the key copy, before the tag check.
  const backend: AeadBurstBackend = {
    ...nodeCryptoAeadBurst,
    openBurst: (...args) => {
      kp.wipe();
      retirement.reap();
      return nodeCryptoAeadBurst.openBurst(...args);
    },
  };
  const t = new DataTransport(backend);
  const buffer = new Uint8Array(256);
  const len = new DataTransport().seal(sender.shared, buffer, 16, 32, 1420);
  worker.enter();
  assert.equal(t.open(kp.shared, buffer, 0, len), 32, 'the message in flight authenticates with the intact key');
  assert.deepEqual(kp.shared.receiveKey, K2);
  worker.idle();
  retirement.reap();
  assert.deepEqual(kp.shared.receiveKey, ZERO);
});

test('keys are zeroed only once every worker announced idle or an epoch at or past the retirement', () => {
  const retirement = new KeyRetirement(2);
  const w0 = new WorkerEpoch(retirement.buffer, 0);
  const w1 = new WorkerEpoch(retirement.buffer, 1);
  const a = keypair(retirement);
  const b = keypair(retirement);
  w0.enter(); // busy since before both retirements
  a.wipe();
  w1.enter(); // entered after a's retirement: cannot hold a's key, may hold b's
  b.wipe();
  assert.equal(retirement.pendingCount, 2);
  assert.deepEqual(a.shared.sendKey, K1);
  w0.idle();
  retirement.reap();
  assert.deepEqual(a.shared.sendKey, ZERO, 'a: w0 idle, w1 entered after it');
  assert.deepEqual(b.shared.sendKey, K1, 'b: w1 was busy before it');
  assert.equal(retirement.pendingCount, 1);
  w1.enter(); // a new piece of work: past b's retirement
  retirement.reap();
  assert.deepEqual(b.shared.sendKey, ZERO);
  assert.equal(retirement.pendingCount, 0);
});

test('with no workers, or once they stopped, retired keys are zeroed at once', () => {
  const none = new KeyRetirement(0);
  const a = keypair(none);
  a.wipe();
  assert.deepEqual(a.shared.sendKey, ZERO);
  const one = new KeyRetirement(1);
  new WorkerEpoch(one.buffer, 0).enter();
  const b = keypair(one);
  b.wipe();
  assert.deepEqual(b.shared.sendKey, K1);
  one.zeroAllAfterWorkersStopped();
  assert.deepEqual(b.shared.sendKey, ZERO);
  assert.throws(() => new WorkerEpoch(one.buffer, 1), RangeError);
});

test('a burst of two keypairs: only the packets of the retired one are dropped', () => {
  const retirement = new KeyRetirement(1);
  const worker = new WorkerEpoch(retirement.buffer, 0);
  const live = keypair(retirement);
  const dying = keypair(retirement);
  onReserve(live.shared, () => dying.wipe());
  const t = new DataTransport();
  const burst = new DataBurst(4);
  const buffer = new Uint8Array(1024);
  burst.reset(buffer);
  burst.add(live.shared, 16, 32);
  burst.add(dying.shared, 272, 32);
  worker.enter();
  assert.equal(t.sealBurst(burst, 1420), 1);
  assert.equal(burst.result[0], 64);
  assert.equal(
    burst.result[1],
    -DROP_CODE['seal-keypair-retired'],
    'retired after its flag check: sealed under its intact key, then dropped',
  );
  assert.equal(opensUnder(ZERO, buffer.subarray(256, 256 + 64)), false);
  worker.idle();
});
