/**
 * The responder's handshake split into crypto (respondToInitiation, any
 * thread) and state (acceptInitiation, the owner): the native one-call path
 * (noiseReadA1 + noiseRespond, our own BLAKE2s) against the JavaScript
 * reference byte for byte on seeded keys; a full handshake with the
 * initiator of noise.ts ending in matching transport keys; the replay and
 * flood refusals of §5.1 and the thread's own replay pre-check; and the
 * daemon's responder against the single-threaded reference of
 * test/helpers/noise-reference-responder.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { keyPairFromPrivate, generateKeyPair, sharedSecret, type X25519KeyPair } from '../../src/crypto/x25519.js';
import { keyToHex } from '../../src/crypto/encoding.js';
import {
  Handshake,
  beginSession,
  consumeResponse,
  createInitiation,
  INITIATION_FLOOD_MS,
  type IndexAllocator,
  type TransportKeys,
} from '../../src/protocol/noise.js';
import { consumeInitiation, createResponse } from '../helpers/noise-reference-responder.js';
import {
  acceptInitiation,
  respondReference,
  respondToInitiation,
  type InitiatorDirectory,
  type RespondedInitiation,
} from '../../src/protocol/noise-responder.js';
import { Initiation, Response } from '../../src/protocol/wire.js';
import { initialState } from '../../src/protocol/noise-responder-native.js';
import { IKpsk2State } from '../../src/protocol/noise-ikpsk2.js';
import { CONSTRUCTION, IDENTIFIER } from '../../src/protocol/noise.js';
import type { Clock } from '../../src/protocol/clock.js';

function seeded(label: string, length = 32): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 32)
    out.set(
      createHash('sha256')
        .update(`${label}/${i}`)
        .digest()
        .subarray(0, Math.min(32, length - i)),
      i,
    );
  return out;
}

class FakeClock implements Clock {
  t = 1_700_000_000_000;
  now(): number {
    return this.t;
  }
}

function counterIndices<P>(): IndexAllocator<Handshake<P>> & { live: Set<number> } {
  let next = 1;
  const live = new Set<number>();
  return {
    live,
    insert: () => {
      live.add(next);
      return next++;
    },
    remove: (i) => live.delete(i),
  };
}

interface World {
  responder: X25519KeyPair;
  initiator: Handshake<string>;
  psk: Uint8Array;
  directory: InitiatorDirectory;
  clock: FakeClock;
}

function world(seed: string, withPsk: boolean): World {
  const responder = keyPairFromPrivate(seeded(`r-${seed}`));
  const initiatorStatic = keyPairFromPrivate(seeded(`i-${seed}`));
  const psk = withPsk ? seeded(`psk-${seed}`) : new Uint8Array(32);
  const initiator = new Handshake('initiator', initiatorStatic, responder.publicKey, psk);
  const staticStatic = sharedSecret(responder, initiatorStatic.publicKey);
  const directory: InitiatorDirectory = (rs) =>
    keyToHex(rs) === keyToHex(initiatorStatic.publicKey) ? { presharedKey: Uint8Array.from(psk), staticStatic } : null;
  return { responder, initiator, psk, directory, clock: new FakeClock() };
}

function expectResponded(r: RespondedInitiation | string): RespondedInitiation {
  assert.equal(typeof r, 'object', `expected a response, got ${String(r)}`);
  return r as RespondedInitiation;
}

test('native respondToInitiation equals the JavaScript reference byte for byte (response, keys, timestamp)', () => {
  for (let seed = 0; seed < 12; seed++) {
    const w = world(`eq${seed}`, seed % 2 === 0);
    const msg = createInitiation(w.initiator, counterIndices<string>(), w.clock)!;
    const ephemeral = keyPairFromPrivate(seeded(`e-${seed}`));
    const fast = expectResponded(respondToInitiation(msg, w.responder, w.directory, ephemeral));
    const ref = expectResponded(respondReference(msg, w.responder, w.directory, keyPairFromPrivate(seeded(`e-${seed}`))));
    assert.deepEqual(fast.response, ref.response, `seed ${seed}: response`);
    assert.deepEqual(fast.sendKey, ref.sendKey, `seed ${seed}: send key`);
    assert.deepEqual(fast.receiveKey, ref.receiveKey, `seed ${seed}: receive key`);
    assert.deepEqual(fast.timestamp, ref.timestamp);
    assert.deepEqual(fast.remoteStatic, w.initiator.localStatic.publicKey);
    assert.equal(fast.remoteIndex, new DataView(msg.buffer).getUint32(Initiation.sender, true));
  }
});

test("the native path's initial state (node's BLAKE2s) is the reference's Initialize() and <- s", () => {
  for (const seed of ['a', 'b', 'c']) {
    const local = keyPairFromPrivate(seeded(`init-${seed}`));
    const ref = new IKpsk2State('responder', local, null, new Uint8Array(32), CONSTRUCTION, IDENTIFIER);
    const state = initialState(local);
    assert.deepEqual(state.subarray(0, 32), Uint8Array.from(ref.symmetric.chainingKey), `${seed}: chaining key`);
    assert.deepEqual(state.subarray(32), Uint8Array.from(ref.symmetric.hash), `${seed}: hash`);
    ref.wipe();
  }
});

test('a full handshake: respond, accept, the initiator consumes the response, and both hold the same session keys', () => {
  const w = world('full', true);
  const initiatorIndices = counterIndices<string>();
  const msg = createInitiation(w.initiator, initiatorIndices, w.clock)!;
  const responderHs = new Handshake('responder-side', w.responder, w.initiator.localStatic.publicKey, w.psk);
  const responderIndices = counterIndices<string>();
  const r = expectResponded(respondToInitiation(msg, w.responder, w.directory));
  const keys = acceptInitiation(responderHs, r, responderIndices, w.clock);
  assert.equal(typeof keys, 'object');
  if (typeof keys === 'string') return;
  assert.ok(responderIndices.live.has(keys.localIndex), 'the session index is taken from the table');
  assert.equal(new DataView(r.response.buffer).getUint32(Response.sender, true), keys.localIndex);
  const hs = consumeResponse<string>(r.response, (i) => (i === w.initiator.localIndex ? w.initiator : undefined));
  assert.equal(typeof hs, 'object', `initiator refused the response: ${String(hs)}`);
  const theirs = beginSession(w.initiator, w.clock)!;
  assert.deepEqual(theirs.sendKey, keys.receiveKey);
  assert.deepEqual(theirs.receiveKey, keys.sendKey);
  assert.equal(theirs.remoteIndex, keys.localIndex);
  assert.equal(keys.remoteIndex, theirs.localIndex);
  assert.equal(keys.isInitiator, false);
});

test('acceptInitiation refuses a replayed timestamp and one within the flood interval, and changes nothing then', () => {
  const w = world('replay', false);
  const indices = counterIndices<string>();
  const responderHs = new Handshake('responder-side', w.responder, w.initiator.localStatic.publicKey);
  const first = createInitiation(w.initiator, counterIndices<string>(), w.clock)!;
  const r1 = expectResponded(respondToInitiation(first, w.responder, w.directory));
  assert.equal(typeof acceptInitiation(responderHs, r1, indices, w.clock), 'object');
  const stamp = Uint8Array.from(responderHs.lastTimestamp);
  // The same initiation again: same timestamp.
  const again = expectResponded(respondToInitiation(first, w.responder, w.directory));
  w.clock.t += 1000;
  assert.equal(acceptInitiation(responderHs, again, indices, w.clock), 'replayed-timestamp');
  assert.deepEqual(again.sendKey, new Uint8Array(32), 'refused keys are wiped');
  // A fresh initiation, but within INITIATION_FLOOD_MS of the last accepted one.
  const acceptedAt = responderHs.lastInitiationConsumedAt;
  w.clock.t = acceptedAt + INITIATION_FLOOD_MS - 1;
  const quick = expectResponded(
    respondToInitiation(createInitiation(w.initiator, counterIndices<string>(), w.clock)!, w.responder, w.directory),
  );
  assert.equal(acceptInitiation(responderHs, quick, indices, w.clock), 'initiation-flood');
  assert.deepEqual(responderHs.lastTimestamp, stamp);
  assert.equal(indices.live.size, 1, 'only the accepted session took an index');
});

test('the replay pre-check: no response is written for a timestamp not after the one answered', () => {
  const w = world('prefilter', false);
  // The greatest timestamp answered, as the handshake crew keeps it per peer (native/handshake_crew.cc).
  let seen: Uint8Array | undefined;
  const withSeen: InitiatorDirectory = (rs) => {
    const known = w.directory(rs);
    return known ? { ...known, notAfter: seen } : null;
  };
  const msg = createInitiation(w.initiator, counterIndices<string>(), w.clock)!;
  const r = expectResponded(respondToInitiation(msg, w.responder, withSeen));
  seen = r.timestamp.slice();
  assert.equal(respondToInitiation(msg, w.responder, withSeen), 'replayed-timestamp');
  assert.equal(respondReference(msg, w.responder, withSeen), 'replayed-timestamp');
  w.clock.t += 50;
  assert.equal(
    typeof respondToInitiation(createInitiation(w.initiator, counterIndices<string>(), w.clock)!, w.responder, withSeen),
    'object',
  );
});

test('refusals: unknown initiator, tampered fields, wrong type', () => {
  const w = world('refuse', true);
  const msg = createInitiation(w.initiator, counterIndices<string>(), w.clock)!;
  assert.equal(
    respondToInitiation(msg, w.responder, () => null),
    'unknown-peer',
  );
  assert.equal(respondToInitiation(msg, generateKeyPair(), w.directory), 'handshake-decrypt-failed');
  for (const at of [Initiation.ephemeral + 40, Initiation.ephemeral + 90]) {
    const bad = Uint8Array.from(msg);
    bad[at]! ^= 1;
    assert.equal(respondToInitiation(bad, w.responder, w.directory), 'handshake-decrypt-failed', `byte ${at}`);
    assert.equal(respondReference(bad, w.responder, w.directory), 'handshake-decrypt-failed', `byte ${at} (reference)`);
  }
  const wrongPsk: InitiatorDirectory = (rs) => {
    const k = w.directory(rs);
    return k ? { ...k, presharedKey: new Uint8Array(32).fill(7) } : null;
  };
  // The PSK is mixed only into message B: the response is written, but with other keys the initiator refuses it.
  const r = expectResponded(respondToInitiation(msg, w.responder, wrongPsk));
  assert.equal(typeof consumeResponse<string>(r.response, () => w.initiator), 'string');
  const response = new Uint8Array(92);
  response[0] = 2;
  assert.notEqual(typeof respondToInitiation(response, w.responder, w.directory), 'object');
});

test('the daemon responder equals the reference (consumeInitiation + createResponse) byte for byte, and refuses the same replays and floods', () => {
  for (let seed = 0; seed < 4; seed++) {
    const w = world(`ref-${seed}`, seed % 2 === 0);
    const initIdx = counterIndices<string>();
    const msg = createInitiation(w.initiator, initIdx, w.clock)!;
    const ephemeral = keyPairFromPrivate(seeded(`eph-ref-${seed}`));
    // The daemon's: crypto, then the owner's checks.
    const own = new Handshake<string>('peer', w.responder, w.initiator.localStatic.publicKey, w.psk);
    const ownIdx = counterIndices<string>();
    const r = expectResponded(respondToInitiation(msg, w.responder, w.directory, ephemeral));
    const keys = acceptInitiation(own, r, ownIdx, w.clock);
    assert.equal(typeof keys, 'object');
    // The reference: checks, then the response.
    const ref = new Handshake<string>('peer', w.responder, w.initiator.localStatic.publicKey, w.psk);
    const refIdx = counterIndices<string>();
    const consumed = consumeInitiation(msg, w.responder, () => ref, w.clock);
    assert.equal(consumed, ref);
    const response = createResponse(ref, refIdx, ephemeral)!;
    const refKeys = beginSession(ref, w.clock)!;
    assert.deepEqual(r.response, response, `seed ${seed}: response`);
    assert.deepEqual((keys as TransportKeys).sendKey, refKeys.sendKey);
    assert.deepEqual((keys as TransportKeys).receiveKey, refKeys.receiveKey);
    // The same initiation again is a replay for both; a fresh one within 20 ms a flood for both.
    const again = expectResponded(respondReference(msg, w.responder, w.directory));
    assert.equal(acceptInitiation(own, again, ownIdx, w.clock), 'replayed-timestamp');
    assert.equal(
      consumeInitiation(msg, w.responder, () => ref, w.clock),
      'replayed-timestamp',
    );
    w.clock.t += INITIATION_FLOOD_MS - 1; // a later TAI64N bucket (16.8 ms), still within the 20 ms flood window
    const soon = createInitiation(w.initiator, initIdx, w.clock)!;
    const soonR = expectResponded(respondReference(soon, w.responder, w.directory));
    assert.equal(acceptInitiation(own, soonR, ownIdx, w.clock), 'initiation-flood');
    assert.equal(
      consumeInitiation(soon, w.responder, () => ref, w.clock),
      'initiation-flood',
    );
  }
});
