/**
 * Key copies made for one use are wiped once used: the PSK copy a crypto
 * thread hands the responder for one initiation (handshake-crypto-worker.ts),
 * and the main thread's copies of the private key and PSKs it sends to the
 * crypto threads (handshake-crypto-pool.ts: the private key moved to the
 * thread, so no copy stays on the main thread; PSKs never posted: they live
 * once, in the shared peer table, wiped in place when a peer changes or goes,
 * and a buffer replaced by a rebuild is wiped once the threads switched).
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
import { PeerKeyTable } from '../../src/daemon/handshake/peer-key-table.js';
import type { FromCrypto } from '../../src/daemon/handshake/handshake-crypto-messages.js';

let t = 1_700_000_000_000;
const clock: Clock = { now: () => (t += 25) };
let nextIndex = 1;
const indices: IndexAllocator<Handshake<number>> = { insert: () => nextIndex++, remove: () => true };
const allZero = (b: Uint8Array): boolean => b.every((x) => x === 0);

test("a crypto thread wipes its PSK copy once each initiation is answered, and keeps the peer's own", () => {
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
  const table = PeerKeyTable.create();
  table.set(initiator.publicKey, psk, 1);
  thread.handle({ t: 'table', buffer: table.buffer, id: 1 });
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
  // One scratch copy per thread (not an allocation per handshake), never a view of the shared table
  // (wiping that would wipe the peer's PSK; the second answer above shows it stayed intact).
  assert.equal(given[0], given[1], "the thread's one scratch copy, reused");
  assert.notEqual(given[0]!.buffer, table.buffer, 'a copy, not a view of the shared table');
});

/** True when the 32 bytes of `key` occur anywhere in `buffer`. */
function holds(buffer: ArrayBufferLike, key: Uint8Array): boolean {
  if (buffer.byteLength === 0) return false; // moved to a thread (detached)
  const bytes = new Uint8Array(buffer);
  outer: for (let i = 0; i + key.length <= bytes.length; i++) {
    for (let j = 0; j < key.length; j++) if (bytes[i + j] !== key[j]) continue outer;
    return true;
  }
  return false;
}

test('the main thread keeps no copy of the private key it sent; no PSK is posted, and the shared table wipes a PSK that changes or goes', async () => {
  // The pool itself keeps one copy of the private key (threads start on demand and must be told);
  // what it posts is moved to the thread. PSKs live once, in the shared table (peer-key-table.ts).
  const sent: Array<Record<string, unknown>> = [];
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
    const psk2 = new Uint8Array(32).fill(11);
    const peer = generateKeyPair().publicKey;
    pool.setIdentity(key);
    pool.setPeer(peer, psk);
    const tables = sent.filter((m) => m.t === 'table').map((m) => m.buffer as SharedArrayBuffer);
    assert.equal(tables.length, 2, 'each thread was given the table');
    const shared = tables[0]!;
    assert.ok(holds(shared, psk), 'the PSK is in the shared table');
    pool.setPeer(peer, psk2);
    assert.ok(!holds(shared, psk) && holds(shared, psk2), 'a changed PSK overwrote the old one in place');
    pool.removePeer(peer);
    assert.ok(!holds(shared, psk2), "a removed peer's PSK is wiped");
    // A rebuild into a new buffer: the old one keeps PSKs until both threads switched, then it is wiped.
    pool.setPeer(peer, psk);
    for (let i = 0; i < 100; i++) pool.setPeer(generateKeyPair().publicKey, new Uint8Array(32));
    const posted = sent.filter((m) => m.t === 'table').map((m) => m.buffer as SharedArrayBuffer);
    assert.ok(posted.length > 2, 'the table grew into a new buffer, posted to the threads');
    const deadline = Date.now() + 10_000;
    while (holds(shared, psk)) {
      if (Date.now() > deadline) assert.fail('the replaced table buffer was not wiped after the threads switched');
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(holds(posted.at(-1)!, psk), 'the new buffer holds the PSK');
    await new Promise((r) => setImmediate(r));
    const ids = sent.filter((m) => m.t === 'identity' && m.privateKey);
    assert.equal(ids.length, 2, 'each thread was told the new key');
    for (const m of ids) {
      const k = m.privateKey as Uint8Array;
      assert.ok(k.byteLength === 0 || allZero(k), 'no private key copy left on the main thread');
    }
    for (const m of sent)
      for (const v of Object.values(m))
        if (v instanceof Uint8Array) assert.ok(!holds(v.buffer, psk), `no PSK in a '${String(m.t)}' message`);
    assert.ok(!allZero(key) && !allZero(psk), "the caller's own keys are untouched");
  } finally {
    Worker.prototype.postMessage = original;
    await pool.close();
  }
});
