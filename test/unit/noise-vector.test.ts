/**
 * The generic Noise core against the cacophony Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s
 * vector (/work/shared/vectors/noise-ikpsk2-cacophony.json, copied from the snow
 * library's tests): the same functions WireGuard's messages use, with the
 * vector's prologue in place of WireGuard's identifier, must produce every
 * message ciphertext and the handshake hash byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hexToBytes, bytesToHex, keyPairFromPrivate, aeadSeal, aeadOpen } from '../../src/crypto/index.js';
import {
  IKpsk2State,
  writeMessageA,
  readMessageA,
  writeMessageB,
  readMessageB,
  split,
  MESSAGE_A_OVERHEAD,
  MESSAGE_B_OVERHEAD,
} from '../../src/protocol/noise-ikpsk2.js';

interface Vector {
  protocol_name: string;
  init_prologue: string;
  init_psks: string[];
  init_static: string;
  init_ephemeral: string;
  init_remote_static: string;
  resp_prologue: string;
  resp_psks: string[];
  resp_static: string;
  resp_ephemeral: string;
  handshake_hash: string;
  messages: { payload: string; ciphertext: string }[];
}

const VECTOR_FILE = '/work/shared/vectors/noise-ikpsk2-cacophony.json';

test('Noise_IKpsk2 cacophony vector: both messages, the transport messages and the handshake hash', () => {
  const { vectors } = JSON.parse(readFileSync(VECTOR_FILE, 'utf8')) as { vectors: Vector[] };
  assert.ok(vectors.length > 0);
  for (const v of vectors) {
    assert.equal(v.protocol_name, 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s');
    const name = new TextEncoder().encode(v.protocol_name);
    const initStatic = keyPairFromPrivate(hexToBytes(v.init_static));
    const respStatic = keyPairFromPrivate(hexToBytes(v.resp_static));
    assert.equal(bytesToHex(respStatic.publicKey), v.init_remote_static, "the vector's responder key pair is consistent");

    const initiator = new IKpsk2State(
      'initiator',
      initStatic,
      hexToBytes(v.init_remote_static),
      hexToBytes(v.init_psks[0]!),
      name,
      hexToBytes(v.init_prologue),
    );
    const responder = new IKpsk2State('responder', respStatic, null, new Uint8Array(32), name, hexToBytes(v.resp_prologue));

    // -> e, es, s, ss, {payload}
    const p0 = hexToBytes(v.messages[0]!.payload);
    const m0 = new Uint8Array(MESSAGE_A_OVERHEAD + p0.length);
    assert.ok(writeMessageA(initiator, keyPairFromPrivate(hexToBytes(v.init_ephemeral)), p0, m0, 0));
    assert.equal(bytesToHex(m0), v.messages[0]!.ciphertext, 'message 1');
    const got0 = readMessageA(responder, m0, (rs) => {
      assert.deepEqual(rs, initStatic.publicKey);
      return { presharedKey: hexToBytes(v.resp_psks[0]!) };
    });
    assert.ok(got0 instanceof Uint8Array, `responder read message 1: ${String(got0)}`);
    assert.deepEqual(got0, p0);

    // <- e, ee, se, psk, {payload}
    const p1 = hexToBytes(v.messages[1]!.payload);
    const m1 = new Uint8Array(MESSAGE_B_OVERHEAD + p1.length);
    assert.ok(writeMessageB(responder, keyPairFromPrivate(hexToBytes(v.resp_ephemeral)), p1, m1, 0));
    assert.equal(bytesToHex(m1), v.messages[1]!.ciphertext, 'message 2');
    const got1 = readMessageB(initiator, m1);
    assert.ok(got1 instanceof Uint8Array, `initiator read message 2: ${String(got1)}`);
    assert.deepEqual(got1, p1);

    assert.equal(bytesToHex(initiator.symmetric.hash), v.handshake_hash, 'initiator handshake hash');
    assert.equal(bytesToHex(responder.symmetric.hash), v.handshake_hash, 'responder handshake hash');

    // Transport: k1 initiator→responder, k2 responder→initiator, nonces from 0, empty AD.
    const [i1, i2] = split(initiator);
    const [r1, r2] = split(responder);
    assert.deepEqual(i1, r1);
    assert.deepEqual(i2, r2);
    const nonces = [0, 0];
    for (let m = 2; m < v.messages.length; m++) {
      const fromInitiator = m % 2 === 0;
      const key = fromInitiator ? i1 : i2;
      const n = nonces[fromInitiator ? 0 : 1]!++;
      const payload = hexToBytes(v.messages[m]!.payload);
      const ct = aeadSeal(key, n, payload, new Uint8Array(0));
      assert.equal(bytesToHex(ct), v.messages[m]!.ciphertext, `message ${m + 1}`);
      assert.deepEqual(aeadOpen(fromInitiator ? r1 : r2, n, ct, new Uint8Array(0)), payload);
    }
  }
});

test('Noise_IKpsk2: a different prologue on one side fails the first message', () => {
  const { vectors } = JSON.parse(readFileSync(VECTOR_FILE, 'utf8')) as { vectors: Vector[] };
  const v = vectors[0]!;
  const name = new TextEncoder().encode(v.protocol_name);
  const initStatic = keyPairFromPrivate(hexToBytes(v.init_static));
  const respStatic = keyPairFromPrivate(hexToBytes(v.resp_static));
  const initiator = new IKpsk2State(
    'initiator',
    initStatic,
    respStatic.publicKey,
    hexToBytes(v.init_psks[0]!),
    name,
    hexToBytes(v.init_prologue),
  );
  const responder = new IKpsk2State('responder', respStatic, null, new Uint8Array(32), name, new TextEncoder().encode('another prologue'));
  const m0 = new Uint8Array(MESSAGE_A_OVERHEAD);
  assert.ok(writeMessageA(initiator, keyPairFromPrivate(hexToBytes(v.init_ephemeral)), new Uint8Array(0), m0, 0));
  assert.equal(
    readMessageA(responder, m0, () => ({ presharedKey: new Uint8Array(32) })),
    'handshake-decrypt-failed',
  );
});
