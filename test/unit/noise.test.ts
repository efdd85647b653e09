/**
 * WireGuard's handshake between two in-process instances with fake clocks:
 * matching transport keys with and without PSK, the whitepaper's initial
 * chaining key and hash, TAI64N replay and 20 ms flood refusal, forged
 * responses, unknown peers, small-order keys and wiping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  generateKeyPair,
  keyPairFromPrivate,
  bytesToHex,
  hash,
  aeadSeal,
  aeadOpen,
  isAllZero,
  type X25519KeyPair,
} from '../../src/crypto/index.js';
import { FakeClock } from '../../src/protocol/clock.js';
import { IndexTable } from '../../src/protocol/index-table.js';
import {
  Handshake,
  CONSTRUCTION,
  IDENTIFIER,
  INITIAL_CHAINING_KEY,
  INITIAL_HASH,
  INITIATION_FLOOD_MS,
  createInitiation,
  consumeResponse,
  beginSession,
  type TransportKeys,
} from '../../src/protocol/noise.js';
import { consumeInitiation, createResponse } from '../helpers/noise-reference-responder.js';
import { INITIATION_SIZE, RESPONSE_SIZE, readU32, Initiation, Response } from '../../src/protocol/wire.js';

/** One WireGuard device: a static key, an index table and its peers' handshakes. */
class Device {
  readonly indices = new IndexTable<Handshake<string>>();
  readonly peers = new Map<string, Handshake<string>>();
  readonly clock: FakeClock;
  constructor(
    readonly name: string,
    readonly key: X25519KeyPair = generateKeyPair(),
    start?: number,
  ) {
    this.clock = new FakeClock(start);
  }
  addPeer(other: Device, psk?: Uint8Array): Handshake<string> {
    const hs = new Handshake(other.name, this.key, other.key.publicKey, psk);
    this.peers.set(bytesToHex(other.key.publicKey), hs);
    return hs;
  }
  lookupStatic = (rs: Uint8Array): Handshake<string> | undefined => this.peers.get(bytesToHex(rs));
  lookupIndex = (i: number): Handshake<string> | undefined => this.indices.get(i);
}

function pair(psk?: Uint8Array): { a: Device; b: Device; aToB: Handshake<string>; bToA: Handshake<string> } {
  const a = new Device('a');
  const b = new Device('b', generateKeyPair(), Date.UTC(2026, 0, 1) + 12345); // clocks need not agree
  return { a, b, aToB: a.addPeer(b, psk), bToA: b.addPeer(a, psk) };
}

/** Runs a full handshake a → b and returns both sides' keys. */
function handshake(a: Device, b: Device, aToB: Handshake<string>): { ka: TransportKeys; kb: TransportKeys } {
  const init = createInitiation(aToB, a.indices, a.clock);
  assert.ok(init);
  const bToA = consumeInitiation(init, b.key, b.lookupStatic, b.clock);
  assert.ok(bToA instanceof Handshake, `consumeInitiation: ${String(bToA)}`);
  const resp = createResponse(bToA, b.indices);
  assert.ok(resp);
  const kb = beginSession(bToA, b.clock);
  const back = consumeResponse(resp, a.lookupIndex);
  assert.equal(back, aToB, `consumeResponse: ${String(back)}`);
  const ka = beginSession(aToB, a.clock);
  assert.ok(ka && kb);
  return { ka, kb };
}

function assertMatchingKeys(ka: TransportKeys, kb: TransportKeys): void {
  assert.deepEqual(ka.sendKey, kb.receiveKey);
  assert.deepEqual(ka.receiveKey, kb.sendKey);
  assert.notDeepEqual(ka.sendKey, ka.receiveKey);
  assert.equal(ka.isInitiator, true);
  assert.equal(kb.isInitiator, false);
  assert.equal(ka.remoteIndex, kb.localIndex);
  assert.equal(kb.remoteIndex, ka.localIndex);
  // The keys work as AEAD keys both ways.
  const msg = randomBytes(100);
  assert.deepEqual(aeadOpen(kb.receiveKey, 7, aeadSeal(ka.sendKey, 7, msg, new Uint8Array(0)), new Uint8Array(0)), new Uint8Array(msg));
  assert.deepEqual(aeadOpen(ka.receiveKey, 9, aeadSeal(kb.sendKey, 9, msg, new Uint8Array(0)), new Uint8Array(0)), new Uint8Array(msg));
}

test('whitepaper initial chaining key and hash: computed, and equal to the published constants', () => {
  assert.equal(new TextDecoder().decode(CONSTRUCTION), 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s');
  assert.equal(new TextDecoder().decode(IDENTIFIER), 'WireGuard v1 zx2c4 Jason@zx2c4.com');
  assert.deepEqual(INITIAL_CHAINING_KEY, hash(CONSTRUCTION));
  assert.deepEqual(INITIAL_HASH, hash(hash(CONSTRUCTION), IDENTIFIER));
  // The constants other implementations hard-code (e.g. boringtun's INITIAL_CHAIN_KEY / INITIAL_CHAIN_HASH).
  assert.equal(bytesToHex(INITIAL_CHAINING_KEY), '60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36');
  assert.equal(bytesToHex(INITIAL_HASH), '2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3');
});

test('full handshake without PSK derives matching keys and indices', () => {
  const { a, b, aToB, bToA } = pair();
  const { ka, kb } = handshake(a, b, aToB);
  assertMatchingKeys(ka, kb);
  assert.equal(aToB.stage, 'zeroed');
  assert.equal(bToA.stage, 'zeroed');
  assert.equal(aToB.localIndex, null, 'the index passed to the keypair');
  assert.equal(a.indices.get(ka.localIndex), aToB, 'still in the table until the engine replaces it');
  assert.equal(ka.createdAt, a.clock.now());
});

test('full handshake with PSK derives matching keys, different from the no-PSK keys', () => {
  const psk = randomBytes(32);
  const { a, b, aToB } = pair(psk);
  const { ka, kb } = handshake(a, b, aToB);
  assertMatchingKeys(ka, kb);
});

test('mismatched PSK: the initiator rejects the response, its initiation stays usable', () => {
  const a = new Device('a');
  const b = new Device('b');
  const aToB = a.addPeer(b, randomBytes(32));
  b.addPeer(a, randomBytes(32));
  const init = createInitiation(aToB, a.indices, a.clock)!;
  const bToA = consumeInitiation(init, b.key, b.lookupStatic, b.clock);
  assert.ok(bToA instanceof Handshake, 'the PSK is not in the initiation');
  const resp = createResponse(bToA, b.indices)!;
  assert.equal(consumeResponse(resp, a.lookupIndex), 'handshake-decrypt-failed');
  assert.equal(aToB.stage, 'created-initiation');
});

test('repeated handshakes each give fresh keys and fresh random indices', () => {
  const { a, b, aToB } = pair();
  const seen = new Set<string>();
  const indices = new Set<number>();
  for (let i = 0; i < 5; i++) {
    a.clock.advance(1000);
    b.clock.advance(1000);
    const { ka, kb } = handshake(a, b, aToB);
    assertMatchingKeys(ka, kb);
    seen.add(bytesToHex(ka.sendKey));
    indices.add(ka.localIndex);
  }
  assert.equal(seen.size, 5);
  assert.equal(indices.size, 5);
});

test('replayed initiation (same timestamp) is refused even after the flood window', () => {
  const { a, b, aToB, bToA } = pair();
  const init = createInitiation(aToB, a.indices, a.clock)!;
  assert.equal(consumeInitiation(init, b.key, b.lookupStatic, b.clock), bToA);
  b.clock.advance(5000);
  assert.equal(consumeInitiation(init, b.key, b.lookupStatic, b.clock), 'replayed-timestamp');
  // An older initiation is refused as well.
  const older = new Device('a', a.key);
  const olderToB = older.addPeer(b);
  const stale = createInitiation(olderToB, older.indices, new FakeClock(a.clock.now() - 60_000))!;
  assert.equal(consumeInitiation(stale, b.key, b.lookupStatic, b.clock), 'replayed-timestamp');
  // A later one is accepted.
  a.clock.advance(1000);
  const fresh = createInitiation(aToB, a.indices, a.clock)!;
  assert.equal(consumeInitiation(fresh, b.key, b.lookupStatic, b.clock), bToA);
});

test('initiation flood: a newer initiation within 20 ms of the last accepted one is refused', () => {
  const { a, b, aToB, bToA } = pair();
  const first = createInitiation(aToB, a.indices, a.clock)!;
  assert.equal(consumeInitiation(first, b.key, b.lookupStatic, b.clock), bToA);
  a.clock.advance(1000); // a later timestamp, so only the flood rule can refuse it
  const second = createInitiation(aToB, a.indices, a.clock)!;
  b.clock.advance(INITIATION_FLOOD_MS - 1);
  assert.equal(consumeInitiation(second, b.key, b.lookupStatic, b.clock), 'initiation-flood');
  assert.equal(bToA.stage, 'consumed-initiation');
  b.clock.advance(1);
  assert.equal(consumeInitiation(second, b.key, b.lookupStatic, b.clock), bToA, 'accepted once 20 ms have passed');
});

test('a refused initiation changes nothing in the peer state', () => {
  const { a, b, aToB, bToA } = pair();
  const first = createInitiation(aToB, a.indices, a.clock)!;
  consumeInitiation(first, b.key, b.lookupStatic, b.clock);
  const resp = createResponse(bToA, b.indices)!;
  const snapshot = {
    stage: bToA.stage,
    localIndex: bToA.localIndex,
    remoteIndex: bToA.remoteIndex,
    ts: Uint8Array.from(bToA.lastTimestamp),
  };
  b.clock.advance(1);
  a.clock.advance(1000);
  const flood = createInitiation(aToB, a.indices, a.clock)!; // also abandons a's first initiation
  assert.equal(consumeInitiation(flood, b.key, b.lookupStatic, b.clock), 'initiation-flood');
  assert.deepEqual({ stage: bToA.stage, localIndex: bToA.localIndex, remoteIndex: bToA.remoteIndex, ts: bToA.lastTimestamp }, snapshot);
  assert.ok(beginSession(bToA, b.clock), 'the responder session still begins');
  assert.equal(consumeResponse(resp, a.lookupIndex), 'unknown-receiver-index', 'a abandoned the first initiation');
});

test('unknown initiator, wrong responder key and corrupted fields are refused', () => {
  const { a, b, aToB } = pair();
  const stranger = new Device('c');
  const cToB = stranger.addPeer(b);
  const init = createInitiation(cToB, stranger.indices, stranger.clock)!;
  assert.equal(consumeInitiation(init, b.key, b.lookupStatic, b.clock), 'unknown-peer');
  const toA = createInitiation(aToB, a.indices, a.clock)!;
  assert.equal(consumeInitiation(toA, stranger.key, stranger.lookupStatic, stranger.clock), 'handshake-decrypt-failed');
  for (const offset of [Initiation.ephemeral + 3, Initiation.encryptedStatic + 5, Initiation.encryptedTimestamp + 1, Initiation.mac1 - 1]) {
    const bad = Uint8Array.from(toA);
    bad[offset]! ^= 0x40;
    const r = consumeInitiation(bad, b.key, b.lookupStatic, b.clock);
    assert.ok(r === 'handshake-decrypt-failed' || r === 'invalid-public-key', `offset ${offset}: ${String(r)}`);
  }
  assert.equal(consumeInitiation(toA.subarray(0, INITIATION_SIZE - 1), b.key, b.lookupStatic, b.clock), 'truncated');
});

test('a forged or corrupted response leaves the initiation intact for the genuine one', () => {
  const { a, b, aToB } = pair();
  const init = createInitiation(aToB, a.indices, a.clock)!;
  const bToA = consumeInitiation(init, b.key, b.lookupStatic, b.clock) as Handshake<string>;
  const resp = createResponse(bToA, b.indices)!;
  for (let i = 12; i < 60; i += 7) {
    const bad = Uint8Array.from(resp);
    bad[i]! ^= 1;
    const r = consumeResponse(bad, a.lookupIndex);
    assert.ok(r === 'handshake-decrypt-failed' || r === 'invalid-public-key', String(r));
    assert.equal(aToB.stage, 'created-initiation');
  }
  const forged = Uint8Array.from(resp);
  forged.set(generateKeyPair().publicKey, Response.ephemeral);
  assert.equal(consumeResponse(forged, a.lookupIndex), 'handshake-decrypt-failed');
  const kb = beginSession(bToA, b.clock)!;
  assert.equal(consumeResponse(resp, a.lookupIndex), aToB);
  assertMatchingKeys(beginSession(aToB, a.clock)!, kb);
  assert.equal(consumeResponse(resp, a.lookupIndex), 'unexpected-response', 'a response is consumed once');
});

test('responses with an unknown index or at the wrong stage are refused; beginSession needs a finished handshake', () => {
  const { a, b, aToB } = pair();
  assert.equal(beginSession(aToB, a.clock), null);
  const init = createInitiation(aToB, a.indices, a.clock)!;
  assert.equal(beginSession(aToB, a.clock), null);
  const bToA = consumeInitiation(init, b.key, b.lookupStatic, b.clock) as Handshake<string>;
  assert.equal(beginSession(bToA, b.clock), null, 'the responder has not answered yet');
  const resp = createResponse(bToA, b.indices)!;
  assert.equal(createResponse(bToA, b.indices), null, 'one response per initiation');
  const wrongIndex = Uint8Array.from(resp);
  wrongIndex[Response.receiver]! ^= 0xff;
  assert.equal(consumeResponse(wrongIndex, a.lookupIndex), 'unknown-receiver-index');
  // b looks up its own response: its handshake is a responder, not waiting for a response.
  assert.equal(
    consumeResponse(resp, (i) => (i === readU32(resp, Response.receiver) ? bToA : undefined)),
    'unexpected-response',
  );
  assert.equal(consumeResponse(resp.subarray(0, RESPONSE_SIZE - 2), a.lookupIndex), 'truncated');
});

test('a peer whose static key is of small order cannot handshake', () => {
  const a = new Device('a');
  const hs = new Handshake('bad', a.key, new Uint8Array(32));
  assert.equal(hs.hasValidStaticStatic, false);
  assert.equal(createInitiation(hs, a.indices, a.clock), null);
  assert.equal(a.indices.size, 0);
});

test('an accepted initiation from the peer wipes our own pending initiation', () => {
  const { a, b, aToB, bToA } = pair();
  createInitiation(bToA, b.indices, b.clock);
  const pending = bToA.inFlight!;
  const eph = pending.localEphemeral!;
  const init = createInitiation(aToB, a.indices, a.clock)!;
  assert.equal(consumeInitiation(init, b.key, b.lookupStatic, b.clock), bToA);
  assert.ok(isAllZero(pending.symmetric.chainingKey) && isAllZero(eph.privateKey));
  assert.equal(bToA.stage, 'consumed-initiation');
});

test('key material is wiped when a handshake ends or is abandoned', () => {
  const { a, b, aToB } = pair(randomBytes(32));
  createInitiation(aToB, a.indices, a.clock);
  const abandoned = aToB.inFlight!;
  const eph = abandoned.localEphemeral!;
  aToB.clear(a.indices);
  assert.ok(isAllZero(abandoned.symmetric.chainingKey) && isAllZero(abandoned.symmetric.hash));
  assert.ok(isAllZero(eph.privateKey));
  assert.ok(isAllZero(abandoned.presharedKey));
  assert.equal(a.indices.size, 0, 'the index is freed');
  assert.ok(!isAllZero(aToB.presharedKey), 'the configured PSK itself stays');

  a.clock.advance(1000);
  const init = createInitiation(aToB, a.indices, a.clock)!;
  const inFlight = aToB.inFlight!;
  const initiatorEphemeral = inFlight.localEphemeral!;
  const bToA = consumeInitiation(init, b.key, b.lookupStatic, b.clock) as Handshake<string>;
  const respState = bToA.inFlight!;
  const resp = createResponse(bToA, b.indices)!;
  const responderEphemeral = respState.localEphemeral!;
  assert.ok(!isAllZero(initiatorEphemeral.privateKey) && !isAllZero(responderEphemeral.privateKey));
  beginSession(bToA, b.clock);
  assert.ok(isAllZero(responderEphemeral.privateKey), 'responder ephemeral wiped by beginSession');
  consumeResponse(resp, a.lookupIndex);
  const consumed = aToB.inFlight!;
  beginSession(aToB, a.clock);
  for (const s of [inFlight, respState, consumed]) {
    assert.ok(isAllZero(s.symmetric.chainingKey), 'chaining key wiped');
    assert.ok(isAllZero(s.symmetric.hash), 'hash wiped');
  }
  assert.ok(isAllZero(initiatorEphemeral.privateKey), 'initiator ephemeral wiped by beginSession');
  assert.ok(isAllZero(consumed.presharedKey) && isAllZero(respState.presharedKey), 'PSK copies wiped');
});

test('fixed ephemeral keys make the initiation deterministic except for the timestamp field', () => {
  const aKey = keyPairFromPrivate(randomBytes(32));
  const eph = randomBytes(32);
  const make = (): Uint8Array => {
    const a = new Device('a', aKey);
    const b = new Device('b', keyPairFromPrivate(Uint8Array.from(eph).reverse()));
    return createInitiation(a.addPeer(b), new IndexTable(() => 7), a.clock, keyPairFromPrivate(eph))!;
  };
  const m1 = make();
  const m2 = make();
  assert.deepEqual(m1, m2);
  assert.equal(readU32(m1, Initiation.sender), 7);
});
