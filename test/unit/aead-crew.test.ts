/**
 * The crypto crew (native/aead_crew.h, src/crypto/crypto-crew.ts): native
 * threads that share one burst's AEAD with the thread that owns it.
 *
 * - a shared burst gives byte for byte the ciphertexts, plaintexts and
 *   statuses of the same burst run by one thread, each at its own index (the
 *   owner sees the burst in its order, whoever did each packet);
 * - the crew never outlives the owner's call: the transport wipes its key
 *   table right after the call, so a crew thread still sealing then would
 *   seal under a zero key, and the message would not open;
 * - a keypair retired (peer removed) while bursts are in flight on the crew
 *   is never sealed for by a burst that starts after the retirement, and no
 *   message is ever sealed under its zeroed keys.
 * Each test checks that the crew really did part of the work (its counters).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { AeadBurst, AeadStatus, nativeAeadBurst, nodeCryptoAeadBurst } from '../../src/crypto/aead-burst.js';
import { cryptoCrewStats, stopCryptoCrew } from '../../src/crypto/crypto-crew.js';
import { native } from '../../src/native/binding.js';
import { DataBurst, DataTransport } from '../../src/protocol/transport.js';
import { Keypair } from '../../src/protocol/keypair.js';
import { KeyRetirement } from '../../src/protocol/key-retirement.js';
import { SeededPrng } from '../helpers/seeded-prng.js';

const rng = new SeededPrng(0xc2e3);
const K1 = rng.fill(new Uint8Array(32));
const K2 = rng.fill(new Uint8Array(32));
const K3 = rng.fill(new Uint8Array(32));

/** Every burst of 2+ packets is shared; the crew spins long enough to join bursts issued back to back. */
function crewOn(): void {
  assert.equal(native().aeadCrewConfigure({ threads: 1, minBurst: 2, spinUs: 20000 }), true);
}

after(() => stopCryptoCrew());

/** Repeats `round` until the crew has done some packets (it may sleep through the first bursts), or fails at the deadline. */
function untilCrewJoins(round: () => void, what: string): void {
  const before = cryptoCrewStats().crewPackets;
  const deadline = Date.now() + 20_000;
  do {
    round();
    if (cryptoCrewStats().crewPackets > before) return;
  } while (Date.now() < deadline);
  assert.fail(`the crew never took part in ${what}`);
}

test('crypto crew: a shared burst seals and opens exactly as one thread does, each packet at its own index', () => {
  const backend = nativeAeadBurst();
  const N = 64,
    SLOT = 1536;
  const plain = rng.fill(new Uint8Array(N * SLOT));
  const make = (buffer = plain): AeadBurst => {
    const b = new AeadBurst(N);
    b.reset(buffer.slice());
    b.keys.set(K1, 0);
    b.keys.set(K2, 32);
    b.keyCount = 2;
    for (let i = 0; i < N; i++) {
      b.desc[2 * i] = i * SLOT;
      b.desc[2 * i + 1] = 16 + ((i * 97) % 1400); // lengths vary, so chunks take unequal time
      b.keyIndex[i] = i % 3 === 0 ? 1 : 0;
      b.counters[2 * i] = 1000 + i;
    }
    b.keyIndex[7] = 5; // bad key index
    b.desc[2 * 9] = N * SLOT; // bad descriptor
    b.count = N;
    return b;
  };
  native().aeadCrewConfigure({ threads: 0 });
  const alone = make();
  assert.equal(alone.sealWith(backend), N - 2);
  const aloneStatus = alone.status.slice();
  // Corrupt two sealed packets, then open alone.
  const sealedAlone = alone.buffer.slice();
  sealedAlone[3 * SLOT + 5]! ^= 1;
  sealedAlone[40 * SLOT]! ^= 0x80;
  const openAlone = make(sealedAlone);
  assert.equal(openAlone.openWith(backend), N - 4);
  crewOn();
  untilCrewJoins(() => {
    const shared = make();
    assert.equal(shared.sealWith(backend), N - 2);
    assert.deepEqual(shared.status, aloneStatus, 'statuses at the same indices');
    assert.ok(Buffer.from(shared.buffer).equals(Buffer.from(alone.buffer)), 'the same ciphertexts and tags, in place');
    const open = make(sealedAlone);
    assert.equal(open.openWith(backend), N - 4);
    assert.equal(open.status[3], AeadStatus.authFailed);
    assert.equal(open.status[40], AeadStatus.authFailed);
    assert.deepEqual(open.status, openAlone.status);
    assert.ok(Buffer.from(open.buffer).equals(Buffer.from(openAlone.buffer)), 'the same plaintexts (and failures zeroed)');
  }, 'a 64-packet burst');
});

test('crypto crew: no crew thread works after the burst call returned (the wiped key table is never used)', () => {
  crewOn();
  const alice = new Keypair({ sendKey: K1, receiveKey: K2, localIndex: 1, remoteIndex: 2, isInitiator: true, createdAt: 0 });
  const bob = new Keypair({ sendKey: K2, receiveKey: K1, localIndex: 2, remoteIndex: 1, isInitiator: false, createdAt: 0 });
  const tx = new DataTransport(nativeAeadBurst());
  const rx = new DataTransport(nodeCryptoAeadBurst); // one thread, no crew: the independent check
  const N = 64,
    SLOT = 256;
  const buf = new Uint8Array(N * SLOT);
  const burst = new DataBurst(N);
  const open = new DataBurst(N);
  let bursts = 0;
  const before = cryptoCrewStats();
  const deadline = Date.now() + 20_000;
  // Enough bursts that a crew thread lagging behind its owner's return would be caught at least once.
  while (bursts < 300 || (cryptoCrewStats().crewPackets === before.crewPackets && Date.now() < deadline)) {
    burst.reset(buf);
    for (let i = 0; i < N; i++) {
      new DataView(buf.buffer, i * SLOT + 16, 8).setFloat64(0, bursts * N + i);
      burst.add(alice.shared, i * SLOT + 16, 180);
    }
    assert.equal(tx.sealBurst(burst, 1420), N);
    open.reset(buf);
    for (let i = 0; i < N; i++) open.add(bob.shared, i * SLOT, burst.result[i]!);
    assert.equal(rx.openBurst(open), N, `burst ${bursts}: every message opens with the real key`);
    for (let i = 0; i < N; i++) assert.equal(new DataView(buf.buffer, i * SLOT + 16, 8).getFloat64(0), bursts * N + i);
    bursts++;
  }
  const s = cryptoCrewStats();
  assert.ok(s.crewPackets > before.crewPackets, 'the crew took part');
  assert.ok(s.bursts > before.bursts);
});

test('crypto crew: a keypair retired while bursts are in flight is never sealed for again, never under zeroed keys', async () => {
  crewOn();
  const alice = new Keypair({ sendKey: K3, receiveKey: K2, localIndex: 5, remoteIndex: 6, isInitiator: true, createdAt: 0 });
  const bob = new Keypair({ sendKey: K2, receiveKey: K3, localIndex: 6, remoteIndex: 5, isInitiator: false, createdAt: 0 });
  const retirement = new KeyRetirement(1);
  // [0] bursts the worker has started, [1] 1 once retire() returned (the peer is removed), [2] 1 once keys are zeroed.
  const signal = new Int32Array(new SharedArrayBuffer(12));
  const url = (p: string): string => new URL(p, import.meta.url).href;
  // The worker is the burst owner, as a datapath worker: W1 enter, seal with the native backend (crew on), W3 idle.
  const code = `
    const { workerData: d, parentPort } = require('node:worker_threads');
    Promise.all([import(d.transport), import(d.keypair), import(d.retire), import(d.aead)]).then(
      ([{ DataTransport, DataBurst }, { KeypairShared }, { WorkerEpoch }, { nativeAeadBurst, nodeCryptoAeadBurst }]) => {
      const alice = new KeypairShared(d.alice), bob = new KeypairShared(d.bob);
      const epoch = new WorkerEpoch(d.epochs, 0);
      const signal = new Int32Array(d.signal);
      const tx = new DataTransport(nativeAeadBurst()), rx = new DataTransport(nodeCryptoAeadBurst);
      const N = 64, SLOT = 256, buf = new Uint8Array(N * SLOT);
      const burst = new DataBurst(N), open = new DataBurst(N);
      let violations = 0, sealedTotal = 0, badOpens = 0, afterRetire = 0, afterZero = 0;
      while (afterZero < 200) {
        const retiredBefore = Atomics.load(signal, 1) === 1;
        if (retiredBefore) afterRetire++;
        if (Atomics.load(signal, 2) === 1) afterZero++;
        epoch.enter();
        burst.reset(buf);
        for (let i = 0; i < N; i++) burst.add(alice, i * SLOT + 16, 180);
        const sealed = tx.sealBurst(burst, 1420);
        epoch.idle();
        Atomics.add(signal, 0, 1);
        sealedTotal += sealed;
        if (retiredBefore && sealed > 0) violations++;
        if (sealed > 0) {
          open.reset(buf);
          for (let i = 0; i < N; i++) if (burst.result[i] > 0) open.add(bob, i * SLOT, burst.result[i]);
          if (rx.openBurst(open) !== open.count) badOpens++;
        }
      }
      parentPort.postMessage({ violations, sealedTotal, badOpens, afterRetire });
    });`;
  const w = new Worker(code, {
    eval: true,
    workerData: {
      transport: url('../../src/protocol/transport.js'),
      keypair: url('../../src/protocol/keypair.js'),
      retire: url('../../src/protocol/key-retirement.js'),
      aead: url('../../src/crypto/aead-burst.js'),
      alice: alice.shared.buffer,
      bob: bob.shared.buffer,
      epochs: retirement.buffer,
      signal: signal.buffer,
    },
  });
  const result = new Promise<{ violations: number; sealedTotal: number; badOpens: number; afterRetire: number }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  try {
    const crewBefore = cryptoCrewStats().crewPackets;
    const deadline = Date.now() + 20_000;
    // Let the worker run long enough that the crew is in its bursts.
    while ((Atomics.load(signal, 0) < 200 || cryptoCrewStats().crewPackets === crewBefore) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(cryptoCrewStats().crewPackets > crewBefore, 'the crew took part before the removal');
    retirement.retire(alice.shared); // the peer's removal: M1, M2
    Atomics.store(signal, 1, 1);
    while (retirement.reap() > 0) {
      assert.ok(Date.now() < deadline + 20_000, 'the worker moved past the retirement epoch');
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(
      alice.shared.sendKey.every((b) => b === 0),
      'keys zeroed',
    );
    Atomics.store(signal, 2, 1);
    const r = await result;
    assert.equal(r.violations, 0, 'no burst started after the removal sealed anything');
    assert.equal(r.badOpens, 0, 'every sealed message opens with the real key (none under zeroed keys)');
    assert.ok(r.sealedTotal > 0 && r.afterRetire > 0);
  } finally {
    await w.terminate();
  }
});
