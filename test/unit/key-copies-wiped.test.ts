/**
 * Key copies made for one use are wiped once used: the PSK copy a crypto
 * thread hands the responder for one initiation (handshake-crypto-worker.ts),
 * and the main thread's copies of the private key and PSKs it sends to the
 * crypto threads (handshake-crypto-pool.ts: moved to the thread, so no copy
 * stays on the main thread).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { generateKeyPair } from '../../src/crypto/x25519.js';
import { Handshake, createInitiation, type IndexAllocator } from '../../src/protocol/noise.js';
import { respondToInitiation, type KnownInitiator } from '../../src/protocol/noise-responder.js';
import type { Clock } from '../../src/protocol/clock.js';
import { HandshakeCryptoThread } from '../../src/daemon/handshake/handshake-crypto-worker.js';
import { HandshakeCryptoPool } from '../../src/daemon/handshake/handshake-crypto-pool.js';
import type { FromCrypto } from '../../src/daemon/handshake/handshake-crypto-messages.js';

let t = 1_700_000_000_000;
const clock: Clock = { now: () => (t += 25) };
let nextIndex = 1;
const indices: IndexAllocator<Handshake<number>> = { insert: () => nextIndex++, remove: () => true };
const allZero = (b: Uint8Array): boolean => b.every((x) => x === 0);

test("a crypto thread wipes the PSK copy of each initiation once answered, and keeps the peer's own", () => {
  const responder = generateKeyPair();
  const initiator = generateKeyPair();
  const psk = new Uint8Array(32).fill(7);
  const given: Uint8Array[] = [];
  const results: FromCrypto[] = [];
  // The real responder, watched: each PSK it is given is recorded.
  const thread = new HandshakeCryptoThread(
    (m) => results.push(m),
    (msg, local, directory, eph) =>
      respondToInitiation(
        msg,
        local,
        (rs): KnownInitiator | null => {
          const known = directory(rs);
          if (known) given.push(known.presharedKey);
          return known;
        },
        eph,
      ),
  );
  thread.handle({ t: 'identity', privateKey: responder.privateKey.slice(), generation: 1 });
  thread.handle({ t: 'peer', publicKey: initiator.publicKey, presharedKey: psk.slice(), version: 1 });
  for (let seq = 1; seq <= 2; seq++) {
    const hs = new Handshake(0, initiator, responder.publicKey, psk);
    const msg = createInitiation(hs, indices, clock)!;
    thread.handle({ t: 'batch', seq, count: 1, messages: msg });
  }
  assert.equal(given.length, 2, 'the responder was asked twice');
  const answered = results.filter((r) => r.t === 'results') as Array<Extract<FromCrypto, { t: 'results' }>>;
  assert.deepEqual(
    answered.map((r) => r.reasons[0]),
    [null, null],
    "both initiations answered (the peer's PSK was intact for the second)",
  );
  for (const [i, copy] of given.entries()) assert.ok(allZero(copy), `PSK copy ${i} was wiped after use`);
  assert.notEqual(given[0], given[1], 'a fresh copy per initiation');
});

test('the main thread keeps no copy of the private key or a PSK it sent to the crypto threads', async () => {
  // The pool itself keeps one copy of each (threads start on demand and must be told); what it
  // posts is moved to the thread, so no message leaves a second copy behind on this side.
  const sent: Array<{ t: string; privateKey?: Uint8Array | null; presharedKeys?: Uint8Array }> = [];
  const original = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (this: Worker, value: unknown, transfer?: readonly unknown[]) {
    const r = original.call(this, value, transfer as never);
    sent.push(value as never); // after the post: what the main thread is left holding
    return r;
  };
  const pool = await HandshakeCryptoPool.start<number>({
    threads: 2,
    maxInFlight: 8,
    onResult: () => {},
    onFatal: (reason) => assert.fail(reason),
  });
  try {
    await pool.startThreads();
    const key = generateKeyPair().privateKey;
    const psk = new Uint8Array(32).fill(9);
    pool.setIdentity(key);
    pool.setPeer(generateKeyPair().publicKey, psk);
    // Peer changes go out batched at the end of the turn.
    await new Promise((r) => setImmediate(r));
    const ids = sent.filter((m) => m.t === 'identity' && m.privateKey);
    const peers = sent.filter((m) => m.t === 'peers');
    assert.equal(ids.length, 2, 'each thread was told the new key');
    assert.equal(peers.length, 2, 'each thread was told the peer');
    for (const m of ids) assert.ok(m.privateKey!.byteLength === 0 || allZero(m.privateKey!), 'no private key copy left on the main thread');
    for (const m of peers) assert.ok(m.presharedKeys!.byteLength === 0 || allZero(m.presharedKeys!), 'no PSK copy left on the main thread');
    assert.ok(!allZero(key) && !allZero(psk), "the caller's own keys are untouched");
  } finally {
    Worker.prototype.postMessage = original;
    await pool.close();
  }
});
