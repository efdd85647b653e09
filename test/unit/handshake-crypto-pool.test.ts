/**
 * The responder's handshake crew (src/daemon/handshake/handshake-crypto-pool.ts
 * over native/handshake_crew.cc): real initiations answered by the native
 * threads and accepted on this one, a bounded number in flight counted in the
 * shared backlog word, answers computed with a PSK or identity that changed
 * meanwhile refused, bad input answered with its drop reason, replays caught
 * by the crew's pre-check, thousands of initiations across a growing peer
 * table (its buffer replaced under the threads), removed peers' cached keys
 * dropped, and the PSK copies in shared memory wiped in place.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, keyPairFromPrivate } from '../../src/crypto/x25519.js';
import { keyToHex } from '../../src/crypto/encoding.js';
import { Handshake, beginSession, consumeResponse, createInitiation, type IndexAllocator } from '../../src/protocol/noise.js';
import { acceptInitiation } from '../../src/protocol/noise-responder.js';
import type { Clock } from '../../src/protocol/clock.js';
import type { DropReason } from '../../src/packet/drop-reasons.js';
import { HandshakeCryptoPool } from '../../src/daemon/handshake/handshake-crypto-pool.js';
import type { CryptoAnswer } from '../../src/daemon/handshake/handshake-crypto-messages.js';
import type { PeerKeyTable } from '../../src/daemon/handshake/peer-key-table.js';
import { INITIATION_SIZE } from '../../src/protocol/wire.js';

let t = 1_700_000_000_000;
const clock: Clock = { now: () => (t += 25) };
let nextIndex = 1;
const indices: IndexAllocator<Handshake<number>> = { insert: () => nextIndex++, remove: () => true };

interface Harness {
  pool: HandshakeCryptoPool<number>;
  backlog: Int32Array;
  results: Map<number, CryptoAnswer | DropReason>;
  /** Resolves when the result for context `id` has come. */
  resultFor(id: number): Promise<CryptoAnswer | DropReason>;
  /** Runs once, before the next turn's answers are handled (they were computed before it ran). */
  beforeNextAnswers(f: () => void): void;
}

function copyAnswer(r: CryptoAnswer): CryptoAnswer {
  return {
    ...r,
    remoteStatic: r.remoteStatic.slice(),
    timestamp: r.timestamp.slice(),
    response: r.response.slice(),
    sendKey: r.sendKey.slice(),
    receiveKey: r.receiveKey.slice(),
  };
}

async function harness(maxInFlight: number): Promise<Harness> {
  const backlog = new Int32Array(new SharedArrayBuffer(4));
  const results = new Map<number, CryptoAnswer | DropReason>();
  const waiting = new Map<number, (r: CryptoAnswer | DropReason) => void>();
  let before: (() => void) | undefined;
  const pool = await HandshakeCryptoPool.start<number>({
    threads: 2,
    maxInFlight,
    backlog,
    // An answer's arrays are zeroed when onResult returns: keep copies.
    onResult: (r, id) => {
      const kept = typeof r === 'string' ? r : copyAnswer(r);
      results.set(id, kept);
      waiting.get(id)?.(kept);
    },
    handleAnswers: (handle) => {
      const f = before;
      before = undefined;
      f?.();
      handle();
    },
  });
  const resultFor = (id: number): Promise<CryptoAnswer | DropReason> =>
    results.has(id) ? Promise.resolve(results.get(id)!) : new Promise((resolve) => waiting.set(id, resolve));
  return { pool, backlog, results, resultFor, beforeNextAnswers: (f) => (before = f) };
}

/** Polls cond every 10 ms until it holds; fails after timeoutMs. */
async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Accepts an answer as the responder would and checks the initiator derives the same keys. */
function completes(responder: ReturnType<typeof generateKeyPair>, hs: Handshake<number>, r: CryptoAnswer | DropReason): void {
  assert.equal(typeof r, 'object', String(r));
  const answer = r as CryptoAnswer;
  assert.equal(answer.initiatorHex, keyToHex(hs.localStatic.publicKey));
  const ours = new Handshake(-1, responder, hs.localStatic.publicKey, hs.presharedKey);
  const keys = acceptInitiation(ours, answer, indices, clock);
  assert.equal(typeof keys, 'object');
  assert.equal(typeof consumeResponse<number>(answer.response, () => hs), 'object');
  assert.deepEqual(beginSession(hs, clock)!.sendKey, (keys as { receiveKey: Uint8Array }).receiveKey);
}

/** The pool's shared table (private: the test reads its buffer). */
const tableOf = (pool: HandshakeCryptoPool<number>): PeerKeyTable => (pool as unknown as { table: PeerKeyTable }).table;

/** True when the 32 bytes of `key` occur anywhere in `buffer`. */
function holds(buffer: ArrayBufferLike, key: Uint8Array): boolean {
  const bytes = new Uint8Array(buffer);
  outer: for (let i = 0; i + key.length <= bytes.length; i++) {
    for (let j = 0; j < key.length; j++) if (bytes[i + j] !== key[j]) continue outer;
    return true;
  }
  return false;
}

test('initiations answered by the crew complete handshakes with their initiators; the backlog counts them until handled', async () => {
  const h = await harness(64);
  try {
    assert.equal(h.pool.threads, 2, 'the crew runs from the start');
    const responder = generateKeyPair();
    h.pool.setIdentity(responder.privateKey);
    const initiators = Array.from(
      { length: 6 },
      (_, i) => new Handshake(i, generateKeyPair(), responder.publicKey, i % 2 ? new Uint8Array(32).fill(i) : null),
    );
    for (const hs of initiators) h.pool.setPeer(hs.localStatic.publicKey, hs.presharedKey);
    initiators.forEach((hs, i) => assert.ok(h.pool.submit(createInitiation(hs, indices, clock)!, i)));
    assert.equal(Atomics.load(h.backlog, 0), initiators.length, 'in-flight initiations count in the backlog');
    assert.ok(h.pool.busy);
    for (const [i, hs] of initiators.entries()) completes(responder, hs, await h.resultFor(i));
    assert.equal(Atomics.load(h.backlog, 0), 0, 'answered initiations leave the backlog');
    assert.equal(h.pool.busy, false);
    assert.equal(h.pool.crewState().cachedPeers, initiators.length, 'one DH(static, static) cached per initiator');
  } finally {
    await h.pool.close();
  }
  assert.equal(h.pool.threads, 0, 'closed');
});

test('at most maxInFlight initiations wait; an unknown initiator and a changed PSK are refused', async () => {
  const h = await harness(3);
  try {
    const responder = keyPairFromPrivate(new Uint8Array(32).fill(9));
    h.pool.setIdentity(responder.privateKey);
    const known = new Handshake(0, generateKeyPair(), responder.publicKey);
    // Initiators that hold the new PSK already (an initiation does not depend on the PSK; the response
    // does): an answer computed with the old PSK cannot complete with them, one with the new PSK does.
    const newPsk = new Uint8Array(32).fill(1);
    const known2 = new Handshake(0, known.localStatic, responder.publicKey, newPsk);
    const known3 = new Handshake(0, known.localStatic, responder.publicKey, newPsk);
    const stranger = new Handshake(1, generateKeyPair(), responder.publicKey);
    h.pool.setPeer(known.localStatic.publicKey, known.presharedKey);
    assert.ok(h.pool.submit(createInitiation(stranger, indices, clock)!, 1));
    assert.ok(h.pool.submit(createInitiation(known2, indices, clock)!, 2));
    assert.ok(h.pool.submit(createInitiation(known3, indices, clock)!, 3));
    assert.equal(h.pool.submit(createInitiation(known, indices, clock)!, 4), false, 'the fourth is refused');
    assert.equal(h.pool.submit(new Uint8Array(100), 5), false, 'not an initiation');
    // The PSK changes after the job left: a thread that read the entry before the change answers with
    // the old PSK under the old version (refused); one that read it after answers with the new PSK,
    // which the initiator completes. Never the old PSK accepted.
    setImmediate(() => h.pool.setPeer(known.localStatic.publicKey, newPsk));
    assert.equal(await h.resultFor(1), 'unknown-peer');
    for (const [id, hs] of [
      [2, known2],
      [3, known3],
    ] as const) {
      const r = await h.resultFor(id);
      if (r === 'unknown-peer') continue;
      completes(responder, hs, r);
    }
    assert.equal(h.results.has(4), false);
    assert.equal(Atomics.load(h.backlog, 0), 0);
    known.setPresharedKey(newPsk);
    // Past the timestamps of 2 and 3, which the crew may have answered (its replay pre-check keeps the latest).
    t += 1000;
    assert.ok(h.pool.submit(createInitiation(known, indices, clock)!, 6));
    completes(responder, known, await h.resultFor(6));
  } finally {
    await h.pool.close();
  }
});

test('answers computed with a PSK or a private key that changed before they were handled are refused', async () => {
  const h = await harness(8);
  try {
    const responder = generateKeyPair();
    h.pool.setIdentity(responder.privateKey);
    const known = new Handshake(0, generateKeyPair(), responder.publicKey, new Uint8Array(32).fill(3));
    h.pool.setPeer(known.localStatic.publicKey, known.presharedKey);
    assert.ok(h.pool.submit(createInitiation(known, indices, clock)!, 1));
    h.beforeNextAnswers(() => h.pool.setPeer(known.localStatic.publicKey, new Uint8Array(32).fill(4)));
    assert.equal(await h.resultFor(1), 'unknown-peer', 'computed with the old PSK: refused');

    known.setPresharedKey(new Uint8Array(32).fill(4));
    assert.ok(h.pool.submit(createInitiation(known, indices, clock)!, 2));
    // The same key set again is a new generation: what was computed before it is not trusted.
    h.beforeNextAnswers(() => h.pool.setIdentity(responder.privateKey));
    assert.equal(await h.resultFor(2), 'unknown-peer', 'computed before the identity changed: refused');

    assert.ok(h.pool.submit(createInitiation(known, indices, clock)!, 3));
    completes(responder, known, await h.resultFor(3));
  } finally {
    await h.pool.close();
  }
});

test('bad input gets its drop reason; no identity knows nobody; a replayed initiation is caught by the pre-check', async () => {
  const h = await harness(16);
  try {
    const responder = generateKeyPair();
    const known = new Handshake(0, generateKeyPair(), responder.publicKey);
    h.pool.setPeer(known.localStatic.publicKey, known.presharedKey);
    const first = createInitiation(known, indices, clock)!;
    assert.ok(h.pool.submit(first.slice(), 1));
    assert.equal(await h.resultFor(1), 'unknown-peer', 'no private key set yet');

    h.pool.setIdentity(responder.privateKey);
    const wrongType = first.slice();
    wrongType[0] = 3;
    const garbage = first.slice();
    garbage.fill(0xa5, 40, 116); // the encrypted static and timestamp
    const small = first.slice();
    small.fill(0, 8, 40); // an all-zero ephemeral: a small-order point, DH is zero
    assert.ok(h.pool.submit(wrongType, 2));
    assert.ok(h.pool.submit(garbage, 3));
    assert.ok(h.pool.submit(small, 4));
    assert.equal(await h.resultFor(2), 'unknown-type');
    assert.equal(await h.resultFor(3), 'handshake-decrypt-failed');
    assert.equal(await h.resultFor(4), 'invalid-public-key');

    assert.ok(h.pool.submit(first.slice(), 5));
    completes(responder, known, await h.resultFor(5));
    assert.ok(h.pool.submit(first.slice(), 6));
    assert.equal(await h.resultFor(6), 'replayed-timestamp', 'the same timestamp again: no response written');
    assert.equal(Atomics.load(h.backlog, 0), 0);
  } finally {
    await h.pool.close();
  }
});

test('thousands of initiations while the peer table grows into new buffers; removed peers leave the cache', async () => {
  const h = await harness(4096);
  try {
    const responder = generateKeyPair();
    h.pool.setIdentity(responder.privateKey);
    const peers = Array.from({ length: 64 }, () => generateKeyPair());
    for (const p of peers) h.pool.setPeer(p.publicKey, new Uint8Array(32));
    const firstBuffer = tableOf(h.pool).buffer;
    const total = 3000;
    let sent = 0;
    let extra = 0;
    // Batches of 200 per turn (the way a flood arrives); between them 1,000 more peers each time, so the
    // table is rebuilt into bigger buffers while answers are being computed from it.
    while (sent < total) {
      for (let i = 0; i < 200 && sent < total; i++, sent++) {
        const hs = new Handshake(-1, peers[sent % peers.length]!, responder.publicKey);
        assert.ok(h.pool.submit(createInitiation(hs, indices, clock)!, sent));
      }
      for (let i = 0; i < 1000; i++, extra++) h.pool.setPeer(generateKeyPair().publicKey, new Uint8Array(32).fill(1));
      await until('the batch answered', () => h.results.size >= sent - 400, 30_000);
    }
    await until('every answer', () => h.results.size === total, 30_000);
    assert.notEqual(tableOf(h.pool).buffer, firstBuffer, 'the table was rebuilt into a new buffer meanwhile');
    const answered = [...h.results.values()].filter((r) => typeof r === 'object').length;
    // Each peer's initiations carry increasing timestamps; one answered out of order may meet the pre-check.
    assert.ok(answered >= total - 64, `answered ${answered} of ${total}`);
    assert.equal(h.pool.crewState().cachedPeers, peers.length);
    for (const p of peers.slice(0, 16)) h.pool.removePeer(p.publicKey);
    await until('the removals told to the crew', () => h.pool.crewState().cachedPeers === peers.length - 16);
    assert.equal(h.pool.threads, 2, 'the threads are still there');
    assert.ok(extra > 0);
  } finally {
    await h.pool.close();
  }
});

test('PSKs live once, in the shared table: a changed one is overwritten in place, a removed one wiped, a replaced buffer wiped at once', async () => {
  const h = await harness(8);
  try {
    const key = generateKeyPair().privateKey;
    const keyBefore = key.slice();
    const psk = new Uint8Array(32).fill(9);
    const psk2 = new Uint8Array(32).fill(11);
    const peer = generateKeyPair().publicKey;
    h.pool.setIdentity(key);
    assert.deepEqual(key, keyBefore, "the caller's private key is untouched");
    h.pool.setPeer(peer, psk);
    const shared = tableOf(h.pool).buffer;
    assert.ok(holds(shared, psk), 'the PSK is in the shared table');
    h.pool.setPeer(peer, psk2);
    assert.ok(!holds(shared, psk) && holds(shared, psk2), 'a changed PSK overwrote the old one in place');
    h.pool.removePeer(peer);
    assert.ok(!holds(shared, psk2), "a removed peer's PSK is wiped");
    h.pool.setPeer(peer, psk);
    for (let i = 0; i < 100; i++) h.pool.setPeer(generateKeyPair().publicKey, new Uint8Array(32));
    const now = tableOf(h.pool).buffer;
    assert.notEqual(now, shared, 'the table grew into a new buffer');
    assert.ok(!holds(shared, psk), 'the replaced buffer is wiped as soon as the crew reads the new one');
    assert.ok(holds(now, psk), 'the new buffer holds the PSK');
    assert.ok(
      psk.every((x) => x === 9),
      "the caller's PSK is untouched",
    );
  } finally {
    await h.pool.close();
  }
  assert.ok(
    new Uint8Array(tableOf(h.pool).buffer).subarray(16).every((x) => x === 0),
    'closing wipes the table',
  );
});

test('closing with initiations in flight drops them and settles the backlog; a closed pool refuses submissions', async () => {
  const h = await harness(1024);
  const responder = generateKeyPair();
  h.pool.setIdentity(responder.privateKey);
  const peer = generateKeyPair();
  h.pool.setPeer(peer.publicKey, new Uint8Array(32));
  for (let i = 0; i < 500; i++) assert.ok(h.pool.submit(createInitiation(new Handshake(0, peer, responder.publicKey), indices, clock)!, i));
  // Let the job reach the crew, then close while it works through it.
  await new Promise((r) => setImmediate(r));
  await h.pool.close();
  assert.equal(Atomics.load(h.backlog, 0), 0);
  assert.equal(h.pool.submit(new Uint8Array(INITIATION_SIZE), 1), false);
  // Answers the crew had already handed over arrive and are dropped, not delivered.
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(h.results.size, 0);
});
