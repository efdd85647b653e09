/**
 * The responder's half of Noise_IKpsk2 through the addon
 * (native/noise_ikpsk2.cc): the same tokens as readMessageA/writeMessageB of
 * noise-ikpsk2.ts, which stay the reference (test/unit/noise-native.test.ts
 * compares the two byte for byte) and the path whenever a key pair is not
 * the native backend's.
 *
 * Why: the JavaScript responder spent ~390 µs a handshake on the main thread,
 * half of it node:crypto's per-object overheads across ~20 HMAC-BLAKE2s and
 * four X25519s; the native chain is one call per token group.
 *
 * Threading: main thread (the handshake state's owner), as noise-ikpsk2.ts.
 */
import { KEY_LENGTH, wipe } from '../crypto/bytes.js';
import { TAG_LENGTH } from '../crypto/aead-sizes.js';
import { sharedSecret, type X25519KeyPair } from '../crypto/x25519.js';
import { native, type NativeX25519Key } from '../native/binding.js';
import type { IKpsk2Failure, IKpsk2State, InitiatorIdentity } from './noise-ikpsk2.js';
import type { SymmetricState } from './noise-symmetric.js';

/** The addon's status codes (native/noise_ikpsk2.cc) in noise-ikpsk2.ts's words; OpenSSL failing (4) reads as a failed decryption. */
export const NOISE_FAILURES: Record<number, IKpsk2Failure> = {
  1: 'invalid-public-key',
  2: 'handshake-decrypt-failed',
  3: 'truncated',
  4: 'handshake-decrypt-failed',
};
/** noiseRespond's status for a timestamp not after the one given (noise-responder.ts). */
export const NOISE_REPLAYED = 5;

/** Bytes of message A before its payload: e (32) + AEAD(s) (48). */
const MESSAGE_A_PREFIX = KEY_LENGTH + KEY_LENGTH + TAG_LENGTH;

/** True when the native path can run the handshake of these key pairs. */
export function nativeCapable(...pairs: X25519KeyPair[]): boolean {
  return pairs.every((p) => p.backend.name === 'native');
}

/** ck ‖ h of a symmetric state, as the addon takes it. */
function packState(ss: SymmetricState): Uint8Array {
  const state = new Uint8Array(2 * KEY_LENGTH);
  state.set(ss.chainingKey);
  state.set(ss.hash, KEY_LENGTH);
  return state;
}

/** Puts the addon's ck ‖ h back into the symmetric state, wiping the old values and the packed copy. */
function unpackState(ss: SymmetricState, state: Uint8Array): void {
  wipe(ss.chainingKey, ss.hash);
  ss.chainingKey = state.slice(0, KEY_LENGTH);
  ss.hash = state.slice(KEY_LENGTH);
  wipe(state);
}

/** readMessageA of noise-ikpsk2.ts, natively. hs.localStatic must be a native key pair. */
export function readMessageANative(
  hs: IKpsk2State,
  message: Uint8Array,
  resolve: (initiatorStatic: Uint8Array) => InitiatorIdentity | null,
): Uint8Array | IKpsk2Failure {
  if (message.length < MESSAGE_A_PREFIX + TAG_LENGTH) return 'truncated';
  const addon = native();
  const state = packState(hs.symmetric);
  const rs = new Uint8Array(KEY_LENGTH);
  hs.remoteEphemeral = message.slice(0, KEY_LENGTH);
  const first = addon.noiseReadA1(state, hs.localStatic.handle as NativeX25519Key, message, rs);
  if (first !== 0) {
    wipe(state);
    return NOISE_FAILURES[first] ?? 'handshake-decrypt-failed';
  }
  hs.remoteStatic = rs;
  const identity = resolve(rs);
  if (!identity) {
    wipe(state);
    return 'unknown-peer';
  }
  hs.presharedKey = identity.presharedKey;
  const staticStatic = identity.staticStatic === undefined ? sharedSecret(hs.localStatic, rs) : identity.staticStatic;
  if (!staticStatic) {
    wipe(state);
    return 'invalid-public-key';
  }
  const payload = new Uint8Array(message.length - MESSAGE_A_PREFIX - TAG_LENGTH);
  const second = addon.noiseReadA2(state, staticStatic, message, payload);
  if (identity.staticStatic === undefined) wipe(staticStatic);
  if (second !== 0) {
    wipe(state);
    return NOISE_FAILURES[second] ?? 'handshake-decrypt-failed';
  }
  unpackState(hs.symmetric, state);
  return payload;
}

/** writeMessageB of noise-ikpsk2.ts, natively. ephemeral must be a native key pair. */
export function writeMessageBNative(
  hs: IKpsk2State,
  ephemeral: X25519KeyPair,
  payload: Uint8Array,
  out: Uint8Array,
  offset: number,
): boolean {
  hs.localEphemeral = ephemeral;
  const state = packState(hs.symmetric);
  const message = new Uint8Array(KEY_LENGTH + TAG_LENGTH + payload.length);
  const status = native().noiseWriteB(
    state,
    ephemeral.handle as NativeX25519Key,
    ephemeral.publicKey,
    hs.remoteEphemeral!,
    hs.remoteStatic!,
    hs.presharedKey,
    payload,
    message,
  );
  if (status !== 0) {
    wipe(state);
    return false;
  }
  unpackState(hs.symmetric, state);
  out.set(message, offset);
  return true;
}
