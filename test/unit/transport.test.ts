/**
 * Transport data messages (whitepaper §5.4.6): exact wire bytes, padding,
 * keepalives, each drop reason, replay only after authentication, counter
 * exhaustion, bursts, and nonce uniqueness across worker threads sharing one
 * keypair. The AEAD output is checked against @noble/ciphers, an independent
 * implementation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { DataBurst, DataTransport, dropOf } from '../../src/protocol/transport.js';
import { DROP_CODE, type DropReason } from '../../src/packet/drop-reasons.js';
import { paddedLength } from '../../src/protocol/wire.js';
import { AeadBurst, AeadStatus, nodeCryptoAeadBurst } from '../../src/crypto/aead-burst.js';
import { Keypair, KeypairShared } from '../../src/protocol/keypair.js';
import { REJECT_AFTER_MESSAGES } from '../../src/protocol/constants.js';
import { SeededPrng } from '../helpers/seeded-prng.js';
import { nativeAeadBurst } from '../../src/crypto/aead-burst.js';

/**
 * The transport's steps exist twice: in JavaScript around a burst AEAD (here node:crypto's), and
 * as the native whole burst (native/data_transport.h) the daemon's threads use. The tests that
 * seal or open run on both.
 */
const IMPLEMENTATIONS: [string, () => DataTransport][] = [
  ['js', () => new DataTransport()],
  [
    'native',
    () => {
      const backend = nativeAeadBurst();
      assert.ok(backend.wholeBurst, 'the native backend offers the whole burst (XDPWG_DATA_TRANSPORT=js set?)');
      return new DataTransport(backend);
    },
  ],
];

const rng = new SeededPrng(0x7a_2a_5e);
const K1 = rng.fill(new Uint8Array(32));
const K2 = rng.fill(new Uint8Array(32));

/** Alice sends with K1 to index 222; Bob receives with K1 at index 222. */
function pair(): { alice: Keypair; bob: Keypair } {
  const alice = new Keypair({ sendKey: K1, receiveKey: K2, localIndex: 111, remoteIndex: 222, isInitiator: true, createdAt: 0 });
  const bob = new Keypair({ sendKey: K2, receiveKey: K1, localIndex: 222, remoteIndex: 111, isInitiator: false, createdAt: 0 });
  return { alice, bob };
}

function nonceFor(counter: bigint): Uint8Array {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setBigUint64(4, counter, true);
  return n;
}

test('transport: padding is to 16 bytes and never past the MTU', () => {
  const cases: [number, number, number][] = [
    [0, 1420, 0],
    [1, 1420, 16],
    [16, 1420, 16],
    [17, 1420, 32],
    [1404, 1420, 1408],
    [1415, 1420, 1420],
    [1420, 1420, 1420],
    [1500, 1420, 1500],
    [60, 61, 61],
  ];
  for (const [length, mtu, expected] of cases) assert.equal(paddedLength(length, mtu), expected, `${length} @ mtu ${mtu}`);
});

for (const [impl, makeTransport] of IMPLEMENTATIONS)
  test(`transport (${impl}): seal writes the exact message and AEAD of the whitepaper; open returns the padded plaintext`, () => {
    const { alice, bob } = pair();
    const t = makeTransport();
    const buffer = new Uint8Array(2048);
    const plain = rng.fill(new Uint8Array(100));
    buffer.set(plain, 64);
    buffer.fill(0xee, 164, 300); // garbage where padding goes: must become zeros
    const n = t.seal(alice.shared, buffer, 64, 100, 1420);
    assert.equal(n, 16 + 112 + 16);
    const msg = buffer.slice(48, 48 + n);
    assert.deepEqual(Array.from(msg.subarray(0, 16)), [4, 0, 0, 0, 222, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const padded = new Uint8Array(112);
    padded.set(plain);
    const expected = chacha20poly1305(K1, nonceFor(0n)).encrypt(padded);
    assert.deepEqual(msg.subarray(16), expected, 'ciphertext ‖ tag must equal an independent ChaCha20-Poly1305');
    // Second message: counter 1 in the header.
    buffer.set(plain, 512);
    assert.equal(t.seal(alice.shared, buffer, 512, 100, 1420), 144);
    assert.equal(buffer[496 + 8], 1);
    // Bob opens the first, in place.
    const rx = new Uint8Array(4096);
    rx.set(msg, 1000);
    assert.equal(t.open(bob.shared, rx, 1000, msg.length), 112);
    assert.deepEqual(rx.subarray(1016, 1016 + 112), padded);
    assert.equal(t.lastFirstReceipt, true);
    assert.equal(alice.shared.sendCounter(), 2n);
  });

for (const [impl, makeTransport] of IMPLEMENTATIONS)
  test(`transport (${impl}): a keepalive is an empty plaintext: 32 bytes on the wire, 0 bytes opened`, () => {
    const { alice, bob } = pair();
    const t = makeTransport();
    const buffer = new Uint8Array(64);
    assert.equal(t.seal(alice.shared, buffer, 16, 0, 1420), 32);
    assert.equal(t.open(bob.shared, buffer, 0, 32), 0);
  });

for (const [impl, makeTransport] of IMPLEMENTATIONS)
  test(`transport (${impl}): the counter crosses 2^32 as little-endian 64-bit, and the nonce follows it`, () => {
    const { alice, bob } = pair();
    alice.shared.setSendCounter((1n << 32n) - 1n);
    const t = makeTransport();
    const burst = new DataBurst(4);
    const buffer = new Uint8Array(4 * 256);
    burst.reset(buffer);
    for (let i = 0; i < 3; i++) burst.add(alice.shared, i * 256 + 16, 20);
    assert.equal(t.sealBurst(burst, 1420), 3);
    const counters = [0, 1, 2].map((i) => new DataView(buffer.buffer, i * 256 + 8, 8).getBigUint64(0, true));
    assert.deepEqual(counters, [(1n << 32n) - 1n, 1n << 32n, (1n << 32n) + 1n]);
    const rx = new DataBurst(4);
    rx.reset(buffer);
    for (let i = 0; i < 3; i++) rx.add(bob.shared, i * 256, burst.result[i]!);
    assert.equal(t.openBurst(rx), 3);
    assert.deepEqual(Array.from(rx.result.subarray(0, 3)), [32, 32, 32]);
    assert.deepEqual(Array.from(rx.firstReceipt.subarray(0, 3)), [1, 0, 0]);
  });

for (const [impl, makeTransport] of IMPLEMENTATIONS)
  test(`transport (${impl}): every drop reason is returned (never thrown) and counted`, () => {
    const { alice, bob } = pair();
    const t = makeTransport();
    const make = (): Uint8Array => {
      const b = new Uint8Array(256);
      b.set(rng.fill(new Uint8Array(40)), 16);
      assert.ok(t.seal(alice.shared, b, 16, 40, 1420) > 0);
      return b;
    };
    const cases: [string, (b: Uint8Array) => number, DropReason][] = [
      ['31 bytes', (b) => t.open(bob.shared, b, 0, 31), 'open-too-short'],
      ['past the buffer', (b) => t.open(bob.shared, b, 200, 80), 'open-out-of-bounds'],
      ['type 1', (b) => ((b[0] = 1), t.open(bob.shared, b, 0, 80)), 'open-bad-header'],
      ['reserved byte set', (b) => ((b[2] = 1), t.open(bob.shared, b, 0, 80)), 'open-bad-header'],
      ['other receiver index', (b) => ((b[4] = 7), t.open(bob.shared, b, 0, 80)), 'open-wrong-receiver-index'],
      ['flipped ciphertext bit', (b) => ((b[20]! ^= 1), t.open(bob.shared, b, 0, 80)), 'open-auth-failed'],
      ['flipped tag bit', (b) => ((b[79]! ^= 0x80), t.open(bob.shared, b, 0, 80)), 'open-auth-failed'],
      ['counter changed (nonce mismatch)', (b) => ((b[9]! ^= 1), t.open(bob.shared, b, 0, 80)), 'open-auth-failed'],
      [
        'counter at REJECT_AFTER_MESSAGES',
        (b) => (new DataView(b.buffer).setBigUint64(8, REJECT_AFTER_MESSAGES, true), t.open(bob.shared, b, 0, 80)),
        'open-counter-exhausted',
      ],
      ['replayed', (b) => (t.open(bob.shared, b.slice(), 0, 80), t.open(bob.shared, b, 0, 80)), 'open-replay'],
    ];
    for (const [what, run, reason] of cases) assert.equal(dropOf(run(make())), reason, what);
    // A failed open leaves no unauthenticated plaintext behind.
    const forged = make();
    forged[30]! ^= 1;
    t.open(bob.shared, forged, 0, 80);
    assert.ok(forged.subarray(16, 64).every((x) => x === 0));
    // Headroom and tailroom when sealing.
    assert.equal(t.seal(alice.shared, new Uint8Array(256), 15, 10, 1420), -DROP_CODE['seal-no-headroom']);
    assert.equal(t.seal(alice.shared, new Uint8Array(63), 16, 17, 1420), -DROP_CODE['seal-no-tailroom']);
  });

for (const [impl, makeTransport] of IMPLEMENTATIONS)
  test(`transport (${impl}): replay is checked only after authentication, so a forgery cannot move the window`, () => {
    const { alice, bob } = pair();
    const t = makeTransport();
    const legit = new Uint8Array(128);
    assert.equal(t.seal(alice.shared, legit, 16, 20, 1420), 64); // counter 0
    const forged = legit.slice();
    new DataView(forged.buffer).setBigUint64(8, 1_000_000n, true);
    assert.equal(t.open(bob.shared, forged, 0, 64), -DROP_CODE['open-auth-failed']);
    assert.equal(bob.shared.replay.greatest(), 0n);
    assert.equal(t.open(bob.shared, legit, 0, 64), 32, 'counter 0 is still fresh');
  });

for (const [impl, makeTransport] of IMPLEMENTATIONS)
  test(`transport (${impl}): REJECT_AFTER_MESSAGES is enforced when sending; the keypair then refuses to send`, () => {
    const { alice, bob } = pair();
    const t = makeTransport();
    alice.shared.setSendCounter(REJECT_AFTER_MESSAGES - 2n);
    const burst = new DataBurst(4);
    const buffer = new Uint8Array(4 * 128);
    burst.reset(buffer);
    for (let i = 0; i < 4; i++) burst.add(alice.shared, i * 128 + 16, 8);
    assert.equal(t.sealBurst(burst, 1420), 2);
    assert.deepEqual(Array.from(burst.result.subarray(0, 4)), [
      48,
      48,
      -DROP_CODE['seal-counter-exhausted'],
      -DROP_CODE['seal-counter-exhausted'],
    ]);
    assert.equal(alice.shared.canSend(), false);
    assert.equal(t.seal(alice.shared, buffer, 16, 8, 1420), -DROP_CODE['seal-keypair-unusable']);
    // The last valid counter, REJECT_AFTER_MESSAGES − 1, is accepted by the receiver.
    assert.equal(t.open(bob.shared, buffer, 128, 48), 16);
  });

for (const [impl, makeTransport] of IMPLEMENTATIONS)
  test(`transport (${impl}): a wiped keypair neither sends nor receives, and its keys are zero`, () => {
    const { alice, bob } = pair();
    const t = makeTransport();
    const buffer = new Uint8Array(128);
    assert.ok(t.seal(alice.shared, buffer, 16, 8, 1420) > 0);
    bob.wipe();
    assert.ok(bob.shared.receiveKey.every((x) => x === 0) && bob.shared.sendKey.every((x) => x === 0));
    assert.equal(t.open(bob.shared, buffer, 0, 48), -DROP_CODE['open-keypair-unusable']);
    alice.wipe();
    assert.equal(t.seal(alice.shared, buffer, 16, 8, 1420), -DROP_CODE['seal-keypair-unusable']);
  });

for (const [impl, makeTransport] of IMPLEMENTATIONS)
  test(`transport (${impl}): a burst mixing keypairs reserves one run of counters per keypair and drops only the bad packet`, () => {
    const a = pair();
    const b = pair();
    const t = makeTransport();
    const burst = new DataBurst(8);
    const buffer = new Uint8Array(8 * 128);
    burst.reset(buffer);
    const owners = [a, a, b, a, a, b, b, a];
    owners.forEach((p, i) => burst.add(p.alice.shared, i * 128 + 16, i === 4 ? 2000 : 30)); // packet 4 has no tailroom
    assert.equal(t.sealBurst(burst, 1420), 7);
    assert.equal(burst.result[4], -DROP_CODE['seal-no-tailroom']);
    const counterOf = (i: number): bigint => new DataView(buffer.buffer, i * 128 + 8, 8).getBigUint64(0, true);
    assert.deepEqual([0, 1, 3, 7].map(counterOf), [0n, 1n, 2n, 3n]);
    assert.deepEqual([2, 5, 6].map(counterOf), [0n, 1n, 2n]);
    const rx = new DataBurst(8);
    rx.reset(buffer);
    owners.forEach((p, i) => i !== 4 && rx.add(p.bob.shared, i * 128, burst.result[i]!));
    assert.equal(t.openBurst(rx), 7);
  });

test('aead backend: node:crypto bursts equal @noble/ciphers, and a failed open zeroes the region', () => {
  const backend = nodeCryptoAeadBurst;
  const burst = new AeadBurst(16);
  const buffer = new Uint8Array(16 * 1600);
  const originals: Uint8Array[] = [];
  burst.reset(buffer);
  burst.keyCount = 3;
  rng.fill(burst.keys.subarray(0, 96));
  for (let i = 0; i < 16; i++) {
    const length = [0, 1, 15, 16, 64, 1420][i % 6]!;
    const plain = rng.fill(new Uint8Array(length));
    originals.push(plain);
    buffer.set(plain, i * 1600);
    burst.desc[2 * i] = i * 1600;
    burst.desc[2 * i + 1] = length;
    burst.keyIndex[i] = i % 3;
    burst.counters[2 * i] = rng.nextU32();
    burst.counters[2 * i + 1] = rng.nextU32();
  }
  burst.count = 16;
  assert.equal(burst.sealWith(backend), 16);
  for (let i = 0; i < 16; i++) {
    const key = burst.keys.subarray((i % 3) * 32, (i % 3) * 32 + 32);
    const counter = (BigInt(burst.counters[2 * i + 1]!) << 32n) | BigInt(burst.counters[2 * i]!);
    const expected = chacha20poly1305(key, nonceFor(counter)).encrypt(originals[i]!);
    assert.deepEqual(buffer.subarray(i * 1600, i * 1600 + expected.length), expected, `packet ${i}`);
  }
  buffer[5 * 1600]! ^= 1; // packet 5 (64 bytes) is now forged
  assert.equal(burst.openWith(backend), 15);
  assert.equal(burst.status[5], AeadStatus.authFailed);
  assert.ok(buffer.subarray(5 * 1600, 5 * 1600 + 64).every((x) => x === 0));
  for (let i = 0; i < 16; i++) if (i !== 5) assert.deepEqual(buffer.subarray(i * 1600, i * 1600 + originals[i]!.length), originals[i]);
  burst.keyIndex[0] = 9;
  burst.desc[2] = buffer.length - 8;
  burst.count = 2;
  burst.openWith(backend);
  assert.deepEqual(Array.from(burst.status.subarray(0, 2)), [AeadStatus.badKeyIndex, AeadStatus.badDescriptor]);
});

for (const [impl, makeTransport] of IMPLEMENTATIONS)
  test(`transport (${impl}): two worker threads sealing with one shared keypair never reuse a counter`, async () => {
    const { alice, bob } = pair();
    const transportUrl = new URL('../../src/protocol/transport.js', import.meta.url).href;
    const keypairUrl = new URL('../../src/protocol/keypair.js', import.meta.url).href;
    const aeadUrl = new URL('../../src/crypto/aead-burst.js', import.meta.url).href;
    const PER_WORKER = 3000;
    const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    Promise.all([import(workerData.transportUrl), import(workerData.keypairUrl), import(workerData.aeadUrl)]).then(([{ DataTransport, DataBurst }, { KeypairShared }, { nativeAeadBurst }]) => {
      const keypair = new KeypairShared(workerData.sab);
      const t = workerData.impl === 'native' ? new DataTransport(nativeAeadBurst()) : new DataTransport();
      const burst = new DataBurst(32);
      const out = new Uint8Array(workerData.count * 64);
      for (let done = 0; done < workerData.count; ) {
        burst.reset(out);
        for (let i = 0; i < 32 && done + i < workerData.count; i++) burst.add(keypair, (done + i) * 64 + 16, 8);
        t.sealBurst(burst, 1420);
        done += burst.count;
      }
      parentPort.postMessage(out, [out.buffer]);
    });`;
    const run = () =>
      new Promise<Uint8Array>((resolve, reject) => {
        const w = new Worker(code, {
          eval: true,
          workerData: { sab: alice.shared.buffer, transportUrl, keypairUrl, aeadUrl, impl, count: PER_WORKER },
        });
        w.once('message', resolve);
        w.once('error', reject);
      });
    const outputs = await Promise.all([run(), run()]);
    const seen = new Set<bigint>();
    const t = makeTransport();
    for (const out of outputs) {
      for (let i = 0; i < PER_WORKER; i++) {
        seen.add(new DataView(out.buffer, i * 64 + 8, 8).getBigUint64(0, true));
        assert.equal(t.open(bob.shared, out, i * 64, 48), 16, `message ${i} must open`);
      }
    }
    assert.equal(seen.size, 2 * PER_WORKER, 'every counter is unique');
    assert.equal(alice.shared.sendCounter(), BigInt(2 * PER_WORKER));
  });

test('keypair shared buffer: re-wrapping sees the same state; wrong sizes are refused', () => {
  const { alice } = pair();
  const again = new KeypairShared(alice.shared.buffer);
  assert.equal(again.localIndex, 111);
  assert.equal(again.remoteIndex, 222);
  assert.deepEqual(again.sendKey, K1);
  assert.throws(() => new KeypairShared(new SharedArrayBuffer(64)), /shared buffer has/);
  assert.throws(
    () => new Keypair({ sendKey: K1, receiveKey: new Uint8Array(31), localIndex: 1, remoteIndex: 2, isInitiator: true, createdAt: 0 }),
    /32 bytes/,
  );
});

test('transport: every AEAD backend (node:crypto, @noble/ciphers, native burst) seals the same bytes and opens the others', async () => {
  const { nobleAeadBurst, nativeAeadBurst } = await import('../../src/crypto/aead-burst.js');
  const backends = [nodeCryptoAeadBurst, nobleAeadBurst, nativeAeadBurst()];
  const sizes = [0, 1, 15, 16, 17, 64, 1000, 1404, 1420];
  const sealed: Uint8Array[] = [];
  for (const backend of backends) {
    const { alice } = pair();
    const t = new DataTransport(backend);
    const burst = new DataBurst(sizes.length);
    const buffer = new Uint8Array(sizes.length * 1600);
    const prng = new SeededPrng(77);
    burst.reset(buffer);
    sizes.forEach((size, i) => {
      buffer.set(prng.fill(new Uint8Array(size)), i * 1600 + 16);
      burst.add(alice.shared, i * 1600 + 16, size);
    });
    assert.equal(t.sealBurst(burst, 1420), sizes.length, backend.name);
    sealed.push(buffer);
  }
  for (let b = 1; b < backends.length; b++)
    assert.deepEqual(sealed[b], sealed[0], `${backends[b]!.name} differs from ${backends[0]!.name}`);
  for (const backend of backends) {
    const { bob } = pair();
    const t = new DataTransport(backend);
    const buffer = sealed[0]!.slice();
    const burst = new DataBurst(sizes.length);
    burst.reset(buffer);
    sizes.forEach((size, i) => burst.add(bob.shared, i * 1600, 32 + paddedLength(size, 1420)));
    buffer[3 * 1600 + 20]! ^= 4; // one forgery in the burst
    assert.equal(t.openBurst(burst), sizes.length - 1, backend.name);
    assert.equal(burst.result[3], -DROP_CODE['open-auth-failed'], backend.name);
  }
});

for (const [impl, makeTransport] of IMPLEMENTATIONS)
  test(`transport (${impl}): 20,000 truncated, oversized and mutated messages: nothing throws, nothing forged is accepted, every drop is counted`, () => {
    const { alice, bob } = pair();
    const t = makeTransport();
    const prng = new SeededPrng(0xf022);
    const burst = new DataBurst(32);
    const buffer = new Uint8Array(32 * 2048); // slots far enough apart that no damaged descriptor overlaps a neighbour
    let accepted = 0;
    let submitted = 0;
    for (let round = 0; round < 625; round++) {
      // Seal 32 fresh messages of random sizes, then damage most of them.
      const tx = new DataBurst(32);
      tx.reset(buffer);
      for (let i = 0; i < 32; i++) tx.add(alice.shared, i * 2048 + 16, prng.below(1421));
      t.sealBurst(tx, 1420);
      burst.reset(buffer);
      const intact: boolean[] = [];
      for (let i = 0; i < 32; i++) {
        let length = tx.result[i]!;
        let offset = i * 2048;
        let ok = true;
        switch (prng.below(6)) {
          case 0:
            break; // untouched
          case 1:
            length = prng.below(length);
            ok = false;
            break; // truncated
          case 2:
            length += 1 + prng.below(200);
            ok = false;
            break; // oversized (trailing garbage)
          case 3: {
            const at = offset + prng.below(length);
            buffer[at]! ^= 1 + prng.below(255);
            ok = false;
            break;
          } // one byte mutated
          case 4:
            for (let k = 0; k < 8; k++) buffer[offset + prng.below(length)] = prng.nextU32() & 0xff;
            ok = false;
            break;
          case 5:
            offset = buffer.length - prng.below(64);
            length = prng.below(4000);
            ok = false;
            break; // descriptor past the end
        }
        // Random byte writes can happen to write the same value: then it is still intact.
        intact.push(ok);
        burst.add(bob.shared, offset, length);
        submitted++;
      }
      const n = t.openBurst(burst);
      accepted += n;
      for (let i = 0; i < 32; i++) {
        const r = burst.result[i]!;
        if (intact[i]) assert.ok(r >= 0, `round ${round} packet ${i}: an untouched message was dropped (${r})`);
        else if (r >= 0) assert.fail(`round ${round} packet ${i}: a damaged message was accepted`);
      }
      assert.equal(burst.result.subarray(0, 32).filter((r) => r < 0).length, 32 - n, 'every refused message has a drop reason');
    }
    assert.equal(submitted, 20_000);
    assert.ok(accepted > 2000 && accepted < 5000, `accepted ${accepted}`);
  });
