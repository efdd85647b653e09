/**
 * The per-thread pool of ready ephemeral key pairs (native/noise_ikpsk2.cc;
 * the handshake crew's threads fill theirs while idle,
 * native/handshake_crew.cc): a handshake takes the newest pair, each pair is
 * handed out once and its slot zeroed at once, handshakes made with pooled
 * pairs complete with the initiator, and an empty pool falls back to a fresh
 * pair. The pool is per thread; this test runs on one thread, fills it with
 * noiseEphemeralRefill and empties it first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyPairFromPrivate, generatePrivateKey, sharedSecret } from '../../src/crypto/x25519.js';
import { keyToHex } from '../../src/crypto/encoding.js';
import { Handshake, beginSession, consumeResponse, createInitiation, type IndexAllocator } from '../../src/protocol/noise.js';
import { respondToInitiation, acceptInitiation, type RespondedInitiation } from '../../src/protocol/noise-responder.js';
import { Response } from '../../src/protocol/wire.js';
import type { Clock } from '../../src/protocol/clock.js';
import { native } from '../../src/native/binding.js';

const clock: Clock = { now: () => 1_700_000_000_000 };

function indices<P>(): IndexAllocator<Handshake<P>> {
  let next = 1;
  return { insert: () => next++, remove: () => true };
}

/** One initiator's handshake against the responder, answered without a given ephemeral; the initiator completes it. */
function handshake(responderPrivate: Uint8Array): { ephemeral: string } {
  const responder = keyPairFromPrivate(responderPrivate);
  const initiatorStatic = keyPairFromPrivate(generatePrivateKey());
  const initiator = new Handshake('initiator', initiatorStatic, responder.publicKey);
  const staticStatic = sharedSecret(responder, initiatorStatic.publicKey);
  const msg = createInitiation(initiator, indices<string>(), clock)!;
  const r = respondToInitiation(msg, responder, (rs) =>
    keyToHex(rs) === keyToHex(initiatorStatic.publicKey) ? { presharedKey: new Uint8Array(32), staticStatic } : null,
  );
  assert.equal(typeof r, 'object', `refused: ${String(r)}`);
  const responded = r as RespondedInitiation;
  const responderHs = new Handshake('responder-side', responder, initiatorStatic.publicKey);
  const keys = acceptInitiation(responderHs, responded, indices<string>(), clock);
  assert.equal(typeof keys, 'object');
  assert.equal(typeof consumeResponse<string>(responded.response, () => initiator), 'object', 'the initiator accepts the response');
  const theirs = beginSession(initiator, clock)!;
  if (typeof keys === 'string') throw new Error(keys);
  assert.deepEqual(theirs.sendKey, keys.receiveKey, 'the pooled ephemeral private key matches its public key');
  return { ephemeral: keyToHex(responded.response.subarray(Response.ephemeral, Response.ephemeral + 32)) };
}

const publicsOf = (s: { count: number; publics: Uint8Array }): string[] =>
  Array.from({ length: s.count }, (_, i) => keyToHex(s.publics.subarray(32 * i, 32 * (i + 1))));

test('the ephemeral pool hands out each pair once, newest first, zeroes its slot, then falls back to fresh pairs', () => {
  const addon = native();
  const empty = addon.noiseEphemeralPoolState(true);
  assert.equal(empty.count, 0);
  assert.ok(empty.unusedSlotsZero);
  const capacity = empty.capacity;
  assert.equal(addon.noiseEphemeralRefill(1000), 0, 'filled to capacity, no room left');
  const full = addon.noiseEphemeralPoolState();
  assert.equal(full.count, capacity);
  const pooled = publicsOf(full);
  assert.equal(new Set(pooled).size, capacity, 'every pooled pair is distinct');
  assert.ok(full.unusedSlotsZero);

  const priv = generatePrivateKey();
  const used: string[] = [];
  for (let i = capacity - 1; i >= 0; i--) {
    const { ephemeral } = handshake(priv);
    assert.equal(ephemeral, pooled[i], `handshake ${capacity - i} took the newest pair`);
    used.push(ephemeral);
    const after = addon.noiseEphemeralPoolState();
    assert.equal(after.count, i, 'the pair left the pool');
    assert.deepEqual(publicsOf(after), pooled.slice(0, i), 'the others stay untouched');
    assert.ok(after.unusedSlotsZero, 'the used slot is zeroed at once');
  }
  // Empty: fresh pairs, never a pooled one again, the pool stays empty.
  for (let i = 0; i < 3; i++) {
    const { ephemeral } = handshake(priv);
    assert.ok(!pooled.includes(ephemeral), 'a used pair is never handed out again');
    used.push(ephemeral);
    assert.equal(addon.noiseEphemeralPoolState().count, 0);
  }
  assert.equal(new Set(used).size, used.length, 'every handshake had its own ephemeral');
});
