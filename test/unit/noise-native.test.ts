/**
 * The native responder half of Noise_IKpsk2 (native/noise_ikpsk2.cc via
 * src/protocol/noise-ikpsk2-native.ts) against the JavaScript reference
 * (readMessageAReference / writeMessageBReference) on seeded random keys,
 * PSKs and payload sizes: same payloads, same ck and h after every message,
 * same message B bytes; and the same refusals (tampered fields, unknown
 * initiator, a small-order ephemeral key, truncation).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { keyPairFromPrivate, type X25519KeyPair } from '../../src/crypto/index.js';
import {
  IKpsk2State,
  readMessageAReference,
  writeMessageA,
  writeMessageBReference,
  MESSAGE_A_OVERHEAD,
  MESSAGE_B_OVERHEAD,
} from '../../src/protocol/noise-ikpsk2.js';
import { readMessageANative, writeMessageBNative } from '../../src/protocol/noise-ikpsk2-native.js';
import { CONSTRUCTION, IDENTIFIER } from '../../src/protocol/noise.js';

/** Deterministic bytes: SHA-256 of a label, repeated as needed. */
function seeded(label: string, length: number): Uint8Array {
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

interface Setup {
  responderStatic: X25519KeyPair;
  initiatorStatic: X25519KeyPair;
  psk: Uint8Array;
  messageA: Uint8Array;
  payload: Uint8Array;
}

function setup(seed: number, payloadLength: number): Setup {
  const responderStatic = keyPairFromPrivate(seeded(`r${seed}`, 32));
  const initiatorStatic = keyPairFromPrivate(seeded(`i${seed}`, 32));
  const psk = seed % 3 === 0 ? new Uint8Array(32) : seeded(`psk${seed}`, 32);
  const payload = seeded(`p${seed}`, payloadLength);
  const initiator = new IKpsk2State('initiator', initiatorStatic, responderStatic.publicKey, psk, CONSTRUCTION, IDENTIFIER);
  const messageA = new Uint8Array(MESSAGE_A_OVERHEAD + payloadLength);
  assert.ok(writeMessageA(initiator, keyPairFromPrivate(seeded(`ie${seed}`, 32)), payload, messageA, 0));
  return { responderStatic, initiatorStatic, psk, messageA, payload };
}

const responderState = (s: Setup): IKpsk2State =>
  new IKpsk2State('responder', s.responderStatic, null, new Uint8Array(32), CONSTRUCTION, IDENTIFIER);

test('native readMessageA and writeMessageB agree with the JavaScript reference byte for byte (60 seeded handshakes)', () => {
  for (let seed = 0; seed < 60; seed++) {
    const s = setup(seed, seed % 2 ? 12 : seed % 17);
    const resolve = (rs: Uint8Array) => {
      assert.deepEqual(rs, s.initiatorStatic.publicKey);
      // Half the time the static-static DH comes cached, half the time it is computed.
      return {
        presharedKey: s.psk,
        ...(seed % 2
          ? { staticStatic: keyPairFromPrivate(s.responderStatic.privateKey).backend.derive(s.responderStatic.handle, rs) }
          : {}),
      };
    };
    const ref = responderState(s);
    const nat = responderState(s);
    assert.deepEqual(readMessageANative(nat, s.messageA, resolve), s.payload);
    assert.deepEqual(readMessageAReference(ref, s.messageA, resolve), s.payload);
    assert.deepEqual(nat.symmetric.chainingKey, ref.symmetric.chainingKey, `ck after A, seed ${seed}`);
    assert.deepEqual(nat.symmetric.hash, ref.symmetric.hash, `h after A, seed ${seed}`);
    assert.deepEqual(nat.remoteStatic, ref.remoteStatic);
    assert.deepEqual(nat.remoteEphemeral, ref.remoteEphemeral);

    const ephemeral = keyPairFromPrivate(seeded(`re${seed}`, 32));
    const payloadB = seeded(`pb${seed}`, seed % 5);
    const outRef = new Uint8Array(MESSAGE_B_OVERHEAD + payloadB.length + 3);
    const outNat = new Uint8Array(MESSAGE_B_OVERHEAD + payloadB.length + 3);
    assert.ok(writeMessageBReference(ref, ephemeral, payloadB, outRef, 3));
    assert.ok(writeMessageBNative(nat, ephemeral, payloadB, outNat, 3));
    assert.deepEqual(outNat, outRef, `message B, seed ${seed}`);
    assert.deepEqual(nat.symmetric.chainingKey, ref.symmetric.chainingKey, `ck after B, seed ${seed}`);
    assert.deepEqual(nat.symmetric.hash, ref.symmetric.hash, `h after B, seed ${seed}`);
  }
});

test('native readMessageA refuses what the reference refuses, with the same reason', () => {
  const s = setup(1, 12);
  const known = () => ({ presharedKey: s.psk });
  const both = (message: Uint8Array, resolve: (rs: Uint8Array) => { presharedKey: Uint8Array } | null) => [
    readMessageANative(responderState(s), message, resolve),
    readMessageAReference(responderState(s), message, resolve),
  ];

  for (const at of [32, 40, 70, 79, 80, 95, 96, 107]) {
    const tampered = Uint8Array.from(s.messageA);
    tampered[at]! ^= 1;
    assert.deepEqual(both(tampered, known), ['handshake-decrypt-failed', 'handshake-decrypt-failed'], `byte ${at} flipped`);
  }
  assert.deepEqual(
    both(s.messageA, () => null),
    ['unknown-peer', 'unknown-peer'],
  );
  const smallOrder = Uint8Array.from(s.messageA);
  smallOrder.fill(0, 0, 32);
  assert.deepEqual(both(smallOrder, known), ['invalid-public-key', 'invalid-public-key']);
  assert.deepEqual(both(s.messageA.subarray(0, MESSAGE_A_OVERHEAD - 1), known), ['truncated', 'truncated']);
  assert.deepEqual(
    both(s.messageA, () => ({ presharedKey: s.psk, staticStatic: null })),
    ['invalid-public-key', 'invalid-public-key'],
  );
});

test('native writeMessageB refuses a small-order initiator ephemeral key as the reference does', () => {
  const s = setup(2, 12);
  const ref = responderState(s);
  const nat = responderState(s);
  assert.deepEqual(
    readMessageAReference(ref, s.messageA, () => ({ presharedKey: s.psk })),
    s.payload,
  );
  assert.deepEqual(
    readMessageANative(nat, s.messageA, () => ({ presharedKey: s.psk })),
    s.payload,
  );
  ref.remoteEphemeral = new Uint8Array(32);
  nat.remoteEphemeral = new Uint8Array(32);
  const ephemeral = keyPairFromPrivate(seeded('e', 32));
  assert.equal(writeMessageBReference(ref, ephemeral, new Uint8Array(0), new Uint8Array(MESSAGE_B_OVERHEAD), 0), false);
  assert.equal(writeMessageBNative(nat, ephemeral, new Uint8Array(0), new Uint8Array(MESSAGE_B_OVERHEAD), 0), false);
});
