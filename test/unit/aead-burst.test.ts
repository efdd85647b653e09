/**
 * The burst AEAD (src/crypto/aead-burst.ts, native/aead_burst.cc): the
 * RFC 8439 §2.8.2 vector through each backend, and seeded random bursts on
 * which the native, node:crypto and @noble/ciphers backends must leave
 * byte-identical buffers and identical statuses — sealing, opening, tampered
 * packets, and descriptors that point outside the buffer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import {
  AEAD_BURST_TAG_LENGTH,
  AeadBurst,
  AeadStatus,
  dataAeadBackend,
  nativeAeadBurst,
  nobleAeadBurst,
  nodeCryptoAeadBurst,
  type AeadBurstBackend,
  type CounterArray,
  type KeyIndexArray,
} from '../../src/crypto/aead-burst.js';
import { DataTransport } from '../../src/protocol/transport.js';
import { Keypair } from '../../src/protocol/keypair.js';
import { SeededPrng } from '../helpers/seeded-prng.js';

const TAG = AEAD_BURST_TAG_LENGTH;
const native = nativeAeadBurst();
const backends: AeadBurstBackend[] = [native, nodeCryptoAeadBurst, nobleAeadBurst];

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// RFC 8439 §2.8.2: key 80..9f, nonce 07000000 ‖ 4041424344454647, AAD 50515253c0c1c2c3c4c5c6c7.
const rfcKey = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
const rfcAad = hex('50515253c0c1c2c3c4c5c6c7');
const rfcPlain = new TextEncoder().encode(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);
const rfcSealed = hex(`
  d31a8d34648e60db7b86afbc53ef7ec2 a4aded51296e08fea9e2b5a736ee62d6
  3dbea45e8ca9671282fafb69da92728b 1a71de0a9e060b2905d6a5b67ecd3b36
  92ddbd7f2d778b8c9803aee328091b58 fab324e4fad675945585808b4831d7bc
  3ff4def08e4b7a9de576d26586cec64b 6116
  1ae10b594f09e26a7e902ecbd0600691`);
const rfcNoncePrefix = 0x00000007; // bytes 07 00 00 00, little-endian
const rfcCounter = 0x4746454443424140n; // bytes 40 41 .. 47, little-endian

for (const backend of backends) {
  test(`RFC 8439 §2.8.2 vector seals and opens in place (${backend.name})`, () => {
    const at = 40; // not at offset 0: offsets must be honoured
    const buf = new Uint8Array(at + rfcPlain.length + TAG + 8);
    buf.set(rfcPlain, at);
    const desc = Uint32Array.of(at, rfcPlain.length);
    const results = new Uint8Array(1).fill(0xee);
    const counters = BigUint64Array.of(rfcCounter);
    assert.equal(backend.sealBurst(buf.buffer, desc, 1, rfcKey, Uint16Array.of(0), counters, results, rfcAad, rfcNoncePrefix), 1);
    assert.equal(results[0], AeadStatus.ok);
    assert.deepEqual(buf.subarray(at, at + rfcPlain.length + TAG), rfcSealed);
    assert.ok(
      buf.subarray(0, at).every((b) => b === 0) && buf.subarray(at + rfcSealed.length).every((b) => b === 0),
      'bytes outside the packet untouched',
    );

    assert.equal(backend.openBurst(buf.buffer, desc, 1, rfcKey, Uint32Array.of(0), counters, results, rfcAad, rfcNoncePrefix), 1);
    assert.equal(results[0], AeadStatus.ok);
    assert.deepEqual(buf.subarray(at, at + rfcPlain.length), rfcPlain);
  });
}

/** A seeded random burst laid out in one buffer, with gaps between packets. */
interface RandomBurst {
  bytes: Uint8Array;
  desc: Uint32Array;
  n: number;
  keys: Uint8Array;
  keyIndex: KeyIndexArray;
  counters: CounterArray;
}

// Sizes that matter to ChaCha20 (64-byte blocks) and Poly1305 (16-byte blocks), plus MTU-ish ones.
const EDGE_SIZES = [0, 1, 15, 16, 17, 63, 64, 65, 127, 128, 1420, 1440, 1500, 1600, 9000];

function randomBurst(seed: number, n: number, wideTypes: boolean): RandomBurst {
  const rng = new SeededPrng(seed);
  const keyCount = 1 + rng.below(6);
  const keys = rng.fill(new Uint8Array(32 * keyCount));
  const desc = new Uint32Array(2 * n);
  const keyIndex = wideTypes ? new Uint32Array(n) : new Uint16Array(n);
  const counters = wideTypes ? new BigUint64Array(n) : new Uint32Array(2 * n);
  const lengths: number[] = [];
  const gaps: number[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    const len = rng.below(4) === 0 ? EDGE_SIZES[rng.below(EDGE_SIZES.length)]! : rng.below(1601);
    lengths.push(len);
    gaps.push(rng.below(70));
    total += gaps[i]! + len + TAG;
  }
  const bytes = rng.fill(new Uint8Array(total + rng.below(64)));
  let at = 0;
  let key = rng.below(keyCount);
  for (let i = 0; i < n; i++) {
    at += gaps[i]!;
    desc[2 * i] = at;
    desc[2 * i + 1] = lengths[i]!;
    at += lengths[i]! + TAG;
    if (rng.below(3) === 0) key = rng.below(keyCount); // runs of one key, as a burst of one peer's packets
    keyIndex[i] = key;
    // Counters across the whole 64-bit range, including the high word.
    const counter = rng.below(2) === 0 ? BigInt(rng.below(1_000_000)) : rng.bigBelow(1n << 64n);
    if (counters instanceof BigUint64Array) counters[i] = counter;
    else {
      counters[2 * i] = Number(counter & 0xffff_ffffn);
      counters[2 * i + 1] = Number(counter >> 32n);
    }
  }
  return { bytes, desc, n, keys, keyIndex, counters };
}

/** Runs op on a private copy of the burst's bytes with each backend; asserts identical outcomes; returns the native copy and results. */
function runAll(b: RandomBurst, op: 'seal' | 'open', bytes: Uint8Array = b.bytes): { bytes: Uint8Array; results: Uint8Array; ok: number } {
  let first: { bytes: Uint8Array; results: Uint8Array; ok: number } | undefined;
  for (const backend of backends) {
    const copy = bytes.slice();
    const results = new Uint8Array(b.n).fill(0xee);
    const fn = op === 'seal' ? backend.sealBurst : backend.openBurst;
    const ok = fn(copy, b.desc, b.n, b.keys, b.keyIndex, b.counters, results);
    if (!first) {
      first = { bytes: copy, results, ok };
    } else {
      assert.deepEqual(results, first.results, `${backend.name} ${op} statuses differ from native`);
      assert.equal(ok, first.ok, `${backend.name} ${op} count differs from native`);
      assert.ok(Buffer.from(copy).equals(Buffer.from(first.bytes)), `${backend.name} ${op} bytes differ from native`);
    }
  }
  return first!;
}

test('random bursts: native, node:crypto and noble seal byte for byte alike, and open back to the plaintext', () => {
  for (let seed = 1; seed <= 24; seed++) {
    const n = [1, 2, 7, 32, 64, 100][seed % 6]!;
    const burst = randomBurst(seed, n, seed % 2 === 0);
    const sealed = runAll(burst, 'seal');
    assert.equal(sealed.ok, n, `seed ${seed}: every packet seals`);
    assert.ok(sealed.results.every((s) => s === AeadStatus.ok));
    // Sealing changed every non-empty region and wrote tags; gaps between packets untouched.
    const inPacket = new Uint8Array(burst.bytes.length);
    for (let i = 0; i < n; i++) inPacket.fill(1, burst.desc[2 * i]!, burst.desc[2 * i]! + burst.desc[2 * i + 1]! + TAG);
    for (let j = 0; j < inPacket.length; j++) {
      if (!inPacket[j]) assert.equal(sealed.bytes[j], burst.bytes[j], `seed ${seed}: gap byte ${j} changed`);
    }
    const opened = runAll(burst, 'open', sealed.bytes);
    assert.equal(opened.ok, n, `seed ${seed}: every packet opens`);
    for (let i = 0; i < n; i++) {
      const off = burst.desc[2 * i]!;
      const len = burst.desc[2 * i + 1]!;
      assert.deepEqual(opened.bytes.subarray(off, off + len), burst.bytes.subarray(off, off + len), `seed ${seed} packet ${i} round trip`);
    }
  }
});

test('counters as BigUint64Array and as (low, high) Uint32 pairs give the same nonce', () => {
  const rng = new SeededPrng(99);
  const keys = rng.fill(new Uint8Array(32));
  const plain = rng.fill(new Uint8Array(200 + TAG));
  const desc = Uint32Array.of(0, 100, 100 + TAG, 60);
  const big = BigUint64Array.of(0x0123456789abcdefn, 0xfffffffffffffffen);
  const pairs = Uint32Array.of(0x89abcdef, 0x01234567, 0xfffffffe, 0xffffffff);
  const a = plain.slice();
  const b = plain.slice();
  const results = new Uint8Array(2);
  native.sealBurst(a, desc, 2, keys, Uint16Array.of(0, 0), big, results);
  native.sealBurst(b, desc, 2, keys, Uint16Array.of(0, 0), pairs, results);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, plain);
});

test('tampered packets fail exactly, are zeroed, and the rest of the burst opens', () => {
  for (let seed = 100; seed < 112; seed++) {
    const burst = randomBurst(seed, 48, seed % 2 === 0);
    const sealed = runAll(burst, 'seal');
    const rng = new SeededPrng(seed * 7);
    const tampered = sealed.bytes.slice();
    const expectBad = new Set<number>();
    for (let i = 0; i < burst.n; i++) {
      if (rng.below(4) !== 0) continue;
      const off = burst.desc[2 * i]!;
      const len = burst.desc[2 * i + 1]!;
      // Flip one bit anywhere in ciphertext ‖ tag (a zero-length packet has only its tag).
      const at = off + rng.below(len + TAG);
      tampered[at] = tampered[at]! ^ (1 << rng.below(8));
      expectBad.add(i);
    }
    // A wrong counter (a replayed nonce under another counter) must fail too.
    const wrongCounter = burst.n - 1;
    if (burst.counters instanceof BigUint64Array) burst.counters[wrongCounter] = burst.counters[wrongCounter]! ^ 1n;
    else burst.counters[2 * wrongCounter] = burst.counters[2 * wrongCounter]! ^ 1;
    expectBad.add(wrongCounter);

    const opened = runAll(burst, 'open', tampered);
    assert.equal(opened.ok, burst.n - expectBad.size, `seed ${seed}`);
    for (let i = 0; i < burst.n; i++) {
      const off = burst.desc[2 * i]!;
      const len = burst.desc[2 * i + 1]!;
      const region = opened.bytes.subarray(off, off + len);
      if (expectBad.has(i)) {
        assert.equal(opened.results[i], AeadStatus.authFailed, `seed ${seed} packet ${i} must fail`);
        assert.ok(
          region.every((x) => x === 0),
          `seed ${seed} packet ${i}: failed region zeroed`,
        );
      } else {
        assert.equal(opened.results[i], AeadStatus.ok, `seed ${seed} packet ${i} must open`);
        assert.deepEqual(region, burst.bytes.subarray(off, off + len));
      }
    }
  }
});

test('out-of-range descriptors and key indices fail their packet only, without touching memory', () => {
  const rng = new SeededPrng(7);
  const size = 4096;
  const keys = rng.fill(new Uint8Array(64)); // two keys
  // Packets: good, past the end, tag crossing the end, offset+len wrapping 2^32,
  // length above INT_MAX, exact fit at the end, key index out of the table, good.
  const desc = Uint32Array.of(
    0,
    100,
    size,
    0,
    size - 50,
    40,
    0xffff_fff0,
    0x20,
    16,
    0x8000_0000,
    size - 16 - 200,
    200,
    300,
    100,
    600,
    1420,
  );
  const keyIndex = Uint16Array.of(0, 0, 1, 0, 1, 1, 2, 1);
  const counters = new Uint32Array(16).map((_, i) => i);
  const expected = [
    AeadStatus.ok,
    AeadStatus.badDescriptor,
    AeadStatus.badDescriptor,
    AeadStatus.badDescriptor,
    AeadStatus.badDescriptor,
    AeadStatus.ok,
    AeadStatus.badKeyIndex,
    AeadStatus.ok,
  ];
  const plain = rng.fill(new Uint8Array(size));
  const burst: RandomBurst = { bytes: plain, desc, n: 8, keys, keyIndex, counters };
  const sealed = runAll(burst, 'seal');
  assert.deepEqual([...sealed.results], expected);
  assert.equal(sealed.ok, 3);
  // Key-index failure left its region as it was.
  assert.deepEqual(sealed.bytes.subarray(300, 400 + TAG), plain.subarray(300, 400 + TAG));
  const opened = runAll(burst, 'open', sealed.bytes);
  assert.deepEqual([...opened.results], expected);
  // Every good packet is back to its plaintext; only the good packets' tag
  // slots differ from the original, so the bad ones were never touched.
  const expectedBytes = plain.slice();
  for (const i of [0, 5, 7])
    expectedBytes.set(
      sealed.bytes.subarray(desc[2 * i]! + desc[2 * i + 1]!, desc[2 * i]! + desc[2 * i + 1]! + TAG),
      desc[2 * i]! + desc[2 * i + 1]!,
    );
  assert.deepEqual(opened.bytes, expectedBytes, 'every good packet back, every bad one never touched');
});

test('a Uint8Array view bounds the burst: offsets are relative to it and cannot reach past it', () => {
  const backing = new Uint8Array(1000).fill(0x5a);
  const view = backing.subarray(100, 600);
  const keys = new Uint8Array(32).fill(3);
  const desc = Uint32Array.of(0, 50, 480, 10, 450, 34);
  for (const backend of backends) {
    const results = new Uint8Array(3);
    const copy = backing.slice();
    assert.equal(backend.sealBurst(copy.subarray(100, 600), desc, 3, keys, Uint16Array.of(0, 0, 0), new Uint32Array(6), results), 2);
    assert.deepEqual([...results], [AeadStatus.ok, AeadStatus.badDescriptor, AeadStatus.ok], backend.name);
    assert.ok(
      copy.subarray(0, 100).every((b) => b === 0x5a) && copy.subarray(600).every((b) => b === 0x5a),
      `${backend.name}: outside the view untouched`,
    );
    assert.notDeepEqual(copy.subarray(100, 150), view.subarray(0, 50));
  }
});

test('views of a SharedArrayBuffer work as packet buffer and key table', () => {
  const shared = new Uint8Array(new SharedArrayBuffer(512));
  const sharedKeys = new Uint8Array(new SharedArrayBuffer(64));
  sharedKeys.fill(0x61, 32);
  shared.fill(0x11);
  const plain = new Uint8Array(512).fill(0x11);
  const desc = Uint32Array.of(8, 300);
  const results = new Uint8Array(1);
  assert.equal(native.sealBurst(shared, desc, 1, sharedKeys, Uint16Array.of(1), Uint32Array.of(3, 0), results), 1);
  assert.equal(nobleAeadBurst.sealBurst(plain, desc, 1, sharedKeys.slice(), Uint16Array.of(1), Uint32Array.of(3, 0), results), 1);
  assert.deepEqual(Uint8Array.from(shared), plain);
});

test('wrong argument shapes throw the same typed errors in every backend; n = 0 is a no-op', () => {
  const buf = new ArrayBuffer(64);
  const keys = new Uint8Array(32);
  const desc = new Uint32Array(4);
  const ki = new Uint16Array(2);
  const ctr = new Uint32Array(4);
  const res = new Uint8Array(2);
  for (const b of backends) {
    assert.equal(b.sealBurst(buf, desc, 0, keys, ki, ctr, res), 0);
    assert.throws(() => b.sealBurst(buf, desc, 3, keys, ki, ctr, res), RangeError, b.name);
    assert.throws(() => b.sealBurst(buf, desc, -1, keys, ki, ctr, res), RangeError, b.name);
    assert.throws(() => b.sealBurst(buf, desc, 1.5, keys, ki, ctr, res), RangeError, b.name);
    assert.throws(() => b.sealBurst(buf, desc, 2, new Uint8Array(31), ki, ctr, res), RangeError, b.name);
    assert.throws(() => b.sealBurst(buf, desc, 2, keys, ki, new Uint32Array(3), res), RangeError, b.name);
    assert.throws(() => b.openBurst(buf, desc, 2, keys, ki, ctr, new Uint8Array(1)), RangeError, b.name);
    assert.throws(() => b.openBurst(buf, new Int32Array(4) as unknown as Uint32Array, 2, keys, ki, ctr, res), TypeError, b.name);
    assert.throws(() => b.openBurst(buf, desc, 2, keys, new Int16Array(2) as unknown as Uint16Array, ctr, res), TypeError, b.name);
    assert.throws(() => b.openBurst(buf, desc, 2, keys, ki, new Float64Array(2) as unknown as Uint32Array, res), TypeError, b.name);
    assert.throws(() => b.openBurst('x' as unknown as ArrayBuffer, desc, 2, keys, ki, ctr, res), TypeError, b.name);
  }
});

test('through an AeadBurst, as the transport calls it, native equals node:crypto', () => {
  const { backend, reason } = dataAeadBackend('auto');
  assert.equal(backend.name, 'native', reason);
  const original = new SeededPrng(4242).fill(new Uint8Array(64 * 1600));
  const burst = new AeadBurst(64);
  const reference = nodeCryptoAeadBurst;
  const nat = nativeAeadBurst();
  /** Fills the burst the way the transport does (60 packets, 3 keys, one index past keyCount) and runs op. */
  const run = (be: AeadBurstBackend, buffer: Uint8Array, op: 'seal' | 'open') => {
    burst.reset(buffer);
    burst.keyCount = 3;
    burst.keys.set(new SeededPrng(77).fill(new Uint8Array(96)));
    for (let i = 0; i < 60; i++) {
      const j = burst.count++;
      burst.desc[2 * j] = i * 1600 + (i % 7);
      burst.desc[2 * j + 1] = (i * 97) % 1500;
      burst.keyIndex[j] = i === 59 ? 3 : i % 3;
      burst.counters[2 * j] = i * 1000;
      burst.counters[2 * j + 1] = i & 1;
    }
    const ok = op === 'seal' ? burst.sealWith(be) : burst.openWith(be);
    return { ok, status: burst.status.slice(0, burst.count) };
  };
  const viaNode = original.slice();
  const viaNative = original.slice();
  const a = run(reference, viaNode, 'seal');
  const b = run(nat, viaNative, 'seal');
  assert.equal(a.ok, 59);
  assert.deepEqual(b, a);
  assert.equal(a.status[59], AeadStatus.badKeyIndex);
  assert.ok(Buffer.from(viaNative).equals(Buffer.from(viaNode)), 'sealed bytes identical');
  viaNative[5] = viaNative[5]! ^ 0x80; // packet 0's ciphertext
  viaNode[5] = viaNode[5]! ^ 0x80;
  const c = run(reference, viaNode, 'open');
  const d = run(nat, viaNative, 'open');
  assert.deepEqual(d, c);
  assert.equal(c.ok, 58);
  assert.equal(c.status[0], AeadStatus.authFailed);
  assert.ok(Buffer.from(viaNative).equals(Buffer.from(viaNode)), 'opened bytes identical, failed region zeroed alike');
  assert.equal(dataAeadBackend('noble').backend.name, '@noble/ciphers');
});

test('DataTransport over the native backend interoperates with DataTransport over node:crypto', () => {
  const rng = new SeededPrng(5150);
  const k1 = rng.fill(new Uint8Array(32));
  const k2 = rng.fill(new Uint8Array(32));
  const sender = () => new Keypair({ sendKey: k1, receiveKey: k2, localIndex: 1, remoteIndex: 2, isInitiator: true, createdAt: 0 });
  const receiver = () => new Keypair({ sendKey: k2, receiveKey: k1, localIndex: 2, remoteIndex: 1, isInitiator: false, createdAt: 0 });
  const native = new DataTransport(nativeAeadBurst());
  const node = new DataTransport(nodeCryptoAeadBurst);
  const [sNative, sNode, rNative, rNode] = [sender(), sender(), receiver(), receiver()];
  for (const len of [0, 1, 100, 1420]) {
    const plain = rng.fill(new Uint8Array(len));
    const bufA = new Uint8Array(2048);
    const bufB = new Uint8Array(2048);
    bufA.set(plain, 64);
    bufB.set(plain, 64);
    const nA = native.seal(sNative.shared, bufA, 64, len, 1420);
    const nB = node.seal(sNode.shared, bufB, 64, len, 1420);
    assert.equal(nA, nB);
    assert.deepEqual(bufA, bufB, `message of ${len} bytes sealed identically`);
    // Cross-open: native opens node's message and node opens native's.
    const padded = node.open(rNode.shared, bufA, 48, nA);
    assert.equal(native.open(rNative.shared, bufB, 48, nB), padded);
    assert.deepEqual(bufA.subarray(64, 64 + len), plain);
    assert.deepEqual(bufB.subarray(64, 64 + len), plain);
  }
});

test('each worker thread has its own native context, freed when the worker exits', async () => {
  const moduleUrl = new URL('../../src/crypto/aead-burst.js', import.meta.url).href;
  const code = `
    import { parentPort } from 'node:worker_threads';
    const { nativeAeadBurst, nobleAeadBurst } = await import(${JSON.stringify(moduleUrl)});
    const a = new Uint8Array(2000).map((_, i) => i * 7);
    const b = a.slice();
    const args = [Uint32Array.of(10, 1420, 1500, 64), 2, new Uint8Array(32).fill(5), Uint16Array.of(0, 0), Uint32Array.of(1, 0, 2, 0), new Uint8Array(2)];
    const n = nativeAeadBurst().sealBurst(a, ...args);
    nobleAeadBurst.sealBurst(b, ...args);
    parentPort.postMessage({ n, same: Buffer.from(a).equals(Buffer.from(b)) });`;
  const runs = await Promise.all(
    [0, 1, 2].map(
      () =>
        new Promise<{ n: number; same: boolean }>((resolve, reject) => {
          const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`));
          let message: { n: number; same: boolean } | undefined;
          worker.on('message', (m) => {
            message = m;
          });
          worker.on('error', reject);
          worker.on('exit', (exitCode) => (exitCode === 0 && message ? resolve(message) : reject(new Error(`worker exit ${exitCode}`))));
        }),
    ),
  );
  for (const r of runs) assert.deepEqual(r, { n: 2, same: true });
});
