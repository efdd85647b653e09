/**
 * The native whole burst (native/data_transport.h) against the transport's
 * JavaScript steps (src/protocol/transport.ts), which it replaces on the
 * daemon's threads: the same random bursts, on two copies of the same
 * keypair state, must leave the same bytes in the buffer, the same results
 * and first receipts, and the same keypair state (send counters, flags,
 * replay windows). The bursts mix keypairs, lengths, MTUs, bad offsets,
 * exhausted and wiped keypairs; the opened ones add forgeries, truncations,
 * replays, reordering and counters far ahead and far behind. Then the
 * argument checks: a wrong shape throws, never a packet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataBurst, DataTransport, dropOf } from '../../src/protocol/transport.js';
import { nativeAeadBurst } from '../../src/crypto/aead-burst.js';
import { Keypair, KeypairShared } from '../../src/protocol/keypair.js';
import { REJECT_AFTER_MESSAGES } from '../../src/protocol/constants.js';
import { native } from '../../src/native/binding.js';
import { SeededPrng } from '../helpers/seeded-prng.js';

const SLOT = 1600;
const BURST = 24;

function transports(): { js: DataTransport; whole: DataTransport } {
  const backend = nativeAeadBurst();
  assert.ok(backend.wholeBurst, 'the native backend offers the whole burst (XDPWG_DATA_TRANSPORT=js set?)');
  // The JavaScript steps around the same native AEAD: only the steps differ.
  return { js: new DataTransport({ ...backend, wholeBurst: undefined }), whole: new DataTransport(backend) };
}

/** A copy of a keypair's whole shared state, in a buffer of its own. */
function cloneShared(k: KeypairShared): KeypairShared {
  const c = new KeypairShared();
  c.region.set(k.region);
  return c;
}

/** Three sender keypairs and their receivers (indices 1000+i and 2000+i), fresh. */
function keypairs(rng: SeededPrng): { send: KeypairShared[]; receive: KeypairShared[] } {
  const send: KeypairShared[] = [];
  const receive: KeypairShared[] = [];
  for (let i = 0; i < 3; i++) {
    const k = rng.fill(new Uint8Array(32));
    const other = rng.fill(new Uint8Array(32));
    send.push(
      new Keypair({ sendKey: k, receiveKey: other, localIndex: 2000 + i, remoteIndex: 1000 + i, isInitiator: true, createdAt: 0 }).shared,
    );
    receive.push(
      new Keypair({ sendKey: other, receiveKey: k, localIndex: 1000 + i, remoteIndex: 2000 + i, isInitiator: false, createdAt: 0 }).shared,
    );
  }
  return { send, receive };
}

function assertSameState(a: KeypairShared[], b: KeypairShared[], what: string): void {
  for (let i = 0; i < a.length; i++) assert.deepEqual(b[i]!.region, a[i]!.region, `${what}: keypair ${i}'s shared state`);
}

test('native whole burst: 300 random sealed and opened bursts equal the JavaScript steps byte for byte', () => {
  const rng = new SeededPrng(0x5eed_7a);
  const { js, whole } = transports();
  const seen = new Set<string>(); // what the rounds exercised: every outcome below must occur
  const tally = (results: Int32Array, n: number): void => {
    for (let i = 0; i < n; i++) seen.add(dropOf(results[i]!) ?? 'ok');
  };
  for (let round = 0; round < 300; round++) {
    const { send, receive } = keypairs(rng);
    // Some rounds start near the end of the counter space or far along it.
    for (const k of send) {
      const r = rng.below(6);
      if (r === 0) k.setSendCounter(REJECT_AFTER_MESSAGES - BigInt(rng.below(30)));
      else if (r === 1) k.setSendCounter(rng.bigBelow(1n << 40n));
    }
    if (rng.below(10) === 0) send[rng.below(3)]!.wipe();
    const sendB = send.map(cloneShared);
    const mtu = [1420, 1280, 61, 1500][rng.below(4)]!;
    const n = 1 + rng.below(BURST);
    const bufA = new Uint8Array(n * SLOT);
    rng.fill(bufA);
    const bufB = bufA.slice();
    const burstA = new DataBurst(BURST);
    const burstB = new DataBurst(BURST);
    burstA.reset(bufA);
    burstB.reset(bufB);
    const owner: number[] = [];
    for (let i = 0; i < n; i++) {
      const k = rng.below(3);
      owner.push(k);
      const r = rng.below(20);
      const offset = r === 0 ? rng.below(16) : i * SLOT + 16 + rng.below(32);
      const length = r === 1 ? SLOT + rng.below(400) : rng.below(1480);
      burstA.add(send[k]!, offset, length);
      burstB.add(sendB[k]!, offset, length);
    }
    const sealedA = js.sealBurst(burstA, mtu);
    const sealedB = whole.sealBurst(burstB, mtu);
    assert.equal(sealedB, sealedA, `round ${round}: sealed count`);
    assert.deepEqual(burstB.result.subarray(0, n), burstA.result.subarray(0, n), `round ${round}: seal results`);
    assert.deepEqual(bufB, bufA, `round ${round}: sealed bytes`);
    assertSameState(send, sendB, `round ${round} seal`);
    tally(burstA.result, n);

    // Open what was sealed, mutated, in a shuffled order with duplicates.
    const receiveB = receive.map(cloneShared);
    const inA = new Uint8Array(BURST * 2 * SLOT);
    const picks: [number, number][] = []; // per message: its keypair, its length
    for (let j = 0, count = 1 + rng.below(BURST * 2); j < count; j++) {
      const i = rng.below(n);
      const len = burstA.result[i]!;
      const from = burstA.offset[i]! - 16;
      if (len > 0) inA.set(bufA.subarray(from, from + len), j * SLOT);
      else rng.fill(inA.subarray(j * SLOT, j * SLOT + 64));
      let mlen = len > 0 ? len : 64;
      const m = rng.below(12);
      if (m === 0)
        inA[j * SLOT + rng.below(mlen)]! ^= 1 << rng.below(8); // forged, or a broken header
      else if (m === 1)
        mlen = rng.below(mlen); // truncated
      else if (m === 2) mlen = SLOT * 3; // past the buffer (for the last slots)
      picks.push([owner[i]!, mlen]);
    }
    const inB = inA.slice();
    const rxA = new DataBurst(BURST * 2);
    const rxB = new DataBurst(BURST * 2);
    rxA.reset(inA);
    rxB.reset(inB);
    picks.forEach(([k, mlen], j) => {
      rxA.add(receive[k]!, j * SLOT, mlen);
      rxB.add(receiveB[k]!, j * SLOT, mlen);
    });
    const acceptedA = js.openBurst(rxA);
    const acceptedB = whole.openBurst(rxB);
    assert.equal(acceptedB, acceptedA, `round ${round}: accepted count`);
    assert.deepEqual(rxB.result.subarray(0, picks.length), rxA.result.subarray(0, picks.length), `round ${round}: open results`);
    assert.deepEqual(
      rxB.firstReceipt.subarray(0, picks.length),
      rxA.firstReceipt.subarray(0, picks.length),
      `round ${round}: first receipts`,
    );
    assert.deepEqual(inB, inA, `round ${round}: opened bytes`);
    assertSameState(receive, receiveB, `round ${round} open`);
    tally(rxA.result, picks.length);
  }
  const expected = ['ok', 'seal-keypair-unusable', 'seal-no-headroom', 'seal-no-tailroom', 'seal-counter-exhausted'];
  expected.push('open-too-short', 'open-out-of-bounds', 'open-bad-header', 'open-wrong-receiver-index', 'open-auth-failed', 'open-replay');
  assert.deepEqual(
    expected.filter((e) => !seen.has(e)),
    [],
    `outcomes seen: ${[...seen].join(', ')}`,
  );
});

test('native whole burst: the replay window moves the same way for counters far ahead, behind, and at the edge', () => {
  const { js, whole } = transports();
  const rng = new SeededPrng(0x7e91a);
  const { send, receive } = keypairs(rng);
  const receiveB = receive.map(cloneShared);
  // Counters the window must judge: in order, duplicates, the window's edge, far jumps, 2^32 crossings.
  const counters = [
    0n,
    1n,
    1n,
    5n,
    3n,
    40000n,
    7295n,
    7296n,
    7297n,
    40000n,
    1n << 32n,
    (1n << 32n) - 1n,
    (1n << 32n) - 32705n,
    1n << 40n,
    5n,
  ];
  const buf = new Uint8Array(SLOT);
  for (const c of counters) {
    send[0]!.setSendCounter(c);
    const tx = new DataBurst(1);
    tx.reset(buf);
    tx.add(send[0]!, 16, 20);
    assert.equal(js.sealBurst(tx, 1420), 1);
    const a = buf.slice();
    const b = buf.slice();
    const rxA = new DataBurst(1);
    const rxB = new DataBurst(1);
    rxA.reset(a);
    rxB.reset(b);
    rxA.add(receive[0]!, 0, 64);
    rxB.add(receiveB[0]!, 0, 64);
    assert.equal(whole.openBurst(rxB), js.openBurst(rxA), `counter ${c}`);
    assert.equal(rxB.result[0], rxA.result[0], `counter ${c}`);
    assertSameState(receive, receiveB, `counter ${c}`);
  }
});

test('native whole burst: wrong argument shapes throw; an empty burst is fine', () => {
  const n = native();
  const kp = new KeypairShared();
  const codes = new Int32Array(15);
  const buf = new Uint8Array(256);
  const desc = new Uint32Array(2);
  const of = new Uint16Array(1);
  const results = new Int32Array(1);
  assert.equal(n.transportSealBurst(buf, desc, 0, [], 0, of, results, codes, 1420), 0);
  assert.throws(() => n.transportSealBurst(buf, desc, 1, [kp.region], 1, of, results, new Int32Array(3), 1420), /codes/);
  assert.throws(() => n.transportSealBurst(buf, desc, 2, [kp.region], 1, of, results, codes, 1420), /desc/);
  assert.throws(() => n.transportSealBurst(buf, desc, 1, [new Uint8Array(64)], 1, of, results, codes, 1420), /keypair region/);
  assert.throws(() => n.transportSealBurst(buf, desc, 1, [kp.region], 2, of, results, codes, 1420), /keypairCount/);
  assert.throws(() => n.transportSealBurst(buf, desc, 1, [kp.region], 1, new Uint16Array([1]), results, codes, 1420), /beyond/);
  assert.throws(() => n.transportOpenBurst(buf, desc, 1, [kp.region], 1, of, results, codes, new Uint8Array(0)), /firstReceipt/);
  assert.throws(
    () => n.transportOpenBurst(new Uint16Array(4) as unknown as Uint8Array, desc, 1, [kp.region], 1, of, results, codes, new Uint8Array(1)),
    /buffer/,
  );
});
