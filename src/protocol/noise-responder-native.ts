/**
 * The responder's crypto through the addon (two calls, noiseReadA1 and
 * noiseRespond; native/noise_ikpsk2.cc), with the types it shares with the
 * reference path of noise-responder.ts, and the initial chaining state the
 * handshake crew is given per identity (initialStateFor). Its own file: it
 * needs none of the JavaScript Noise code of the reference path.
 *
 * Threading: any thread; the cache of initial states is per thread.
 */
import { createHash } from 'node:crypto';
import { TAI64N_LENGTH } from '../crypto/tai64n.js';
import { sharedSecret, type X25519KeyPair } from '../crypto/x25519.js';
import { KEY_LENGTH, wipe } from '../crypto/bytes.js';
import { TAG_LENGTH } from '../crypto/aead-sizes.js';
import { native, type NativeX25519Key } from '../native/binding.js';
import { RESPONSE_SIZE, Initiation, Response, MESSAGE_INITIATION, MESSAGE_RESPONSE, classify, readU32, writeType } from './wire.js';
import type { DropReason } from '../packet/drop-reasons.js';
import type { InitiatorIdentity } from './noise-ikpsk2.js';
import { NOISE_FAILURES, NOISE_REPLAYED, nativeCapable } from './noise-ikpsk2-native.js';
import { CONSTRUCTION, IDENTIFIER } from './noise-names.js';

/** What respondToInitiation computed: the response and session keys, waiting for the owner's checks. */
export interface RespondedInitiation {
  /** The initiator's static public key (decrypted from the initiation). */
  readonly remoteStatic: Uint8Array;
  /** Its TAI64N timestamp (12 bytes). */
  readonly timestamp: Uint8Array;
  /** The initiator's sender index: our receiver index on the session. */
  readonly remoteIndex: number;
  /** The response (92 bytes): index fields and MACs still zero. */
  readonly response: Uint8Array;
  /** Responder's sending key (T_send) and receiving key (T_recv), §5.4.5. */
  readonly sendKey: Uint8Array;
  readonly receiveKey: Uint8Array;
}

/** What the responder's thread knows of an initiator, found by its static key. */
export interface KnownInitiator extends InitiatorIdentity {
  /**
   * The greatest timestamp this thread already answered for the initiator
   * (12 bytes), if any: an initiation whose timestamp is not later gets no
   * response written ('replayed-timestamp'), saving its three scalar
   * multiplications (a genuine initiator never repeats a timestamp, §5.1:
   * this only ever skips replays; the owner's check stays the authority).
   */
  notAfter?: Uint8Array;
}

/** Who the responder knows: by initiator static key, or null for a stranger. */
export type InitiatorDirectory = (remoteStatic: Uint8Array) => KnownInitiator | null;

/** The timestamp before every other: nothing answered yet. */
export const NOTHING_SEEN = new Uint8Array(TAI64N_LENGTH);
/** The bytes of message A inside an initiation: e ‖ AEAD(s) ‖ AEAD(t). */
export const messageA = (msg: Uint8Array): Uint8Array => msg.subarray(Initiation.ephemeral, Initiation.mac1);

/** Per static key pair: ck ‖ h after Initialize() and the pre-message "<- s" (the same for every initiation). */
const initialStates = new WeakMap<X25519KeyPair, Uint8Array>();

/**
 * Initialize() and "<- s" as the whitepaper writes them (§5.4.2): Ci =
 * HASH(Construction), Hi = HASH(Ci ‖ Identifier), then h = HASH(Hi ‖ S_pub).
 * Computed here with node's BLAKE2s-256 rather than through the reference
 * state (noise-ikpsk2.ts); test/unit/noise-responder.test.ts checks the two agree.
 */
export function initialState(local: X25519KeyPair): Uint8Array {
  let state = initialStates.get(local);
  if (!state) initialStates.set(local, (state = initialStateFor(local.publicKey)));
  return state;
}

/** initialState for a static public key, computed each call (the handshake crew is given it once per identity). */
export function initialStateFor(publicKey: Uint8Array): Uint8Array {
  const ck = createHash('blake2s256').update(CONSTRUCTION).digest();
  const hi = createHash('blake2s256').update(ck).update(IDENTIFIER).digest();
  const h = createHash('blake2s256').update(hi).update(publicKey).digest();
  const state = new Uint8Array(2 * KEY_LENGTH);
  state.set(ck);
  state.set(h, KEY_LENGTH);
  return state;
}

/** respondToInitiation (noise-responder.ts) through the addon: the key pairs must be native ones. */
export function respondNative(
  msg: Uint8Array,
  local: X25519KeyPair,
  directory: InitiatorDirectory,
  ephemeral?: X25519KeyPair,
): RespondedInitiation | DropReason {
  const addon = native();
  const a = messageA(msg);
  const state = initialState(local).slice();
  const remoteStatic = new Uint8Array(KEY_LENGTH);
  const first = addon.noiseReadA1(state, local.handle as NativeX25519Key, a, remoteStatic);
  if (first !== 0) {
    wipe(state);
    return NOISE_FAILURES[first] ?? 'handshake-decrypt-failed';
  }
  const known = directory(remoteStatic);
  if (!known) {
    wipe(state);
    return 'unknown-peer';
  }
  const staticStatic = known.staticStatic === undefined ? sharedSecret(local, remoteStatic) : known.staticStatic;
  if (!staticStatic) {
    wipe(state);
    return 'invalid-public-key';
  }
  const body = new Uint8Array(KEY_LENGTH + TAG_LENGTH);
  const keys = new Uint8Array(2 * KEY_LENGTH);
  const timestamp = new Uint8Array(TAI64N_LENGTH);
  const status = addon.noiseRespond(
    state,
    staticStatic,
    known.presharedKey,
    a,
    remoteStatic,
    known.notAfter ?? NOTHING_SEEN,
    (ephemeral?.handle as NativeX25519Key | undefined) ?? null,
    body,
    keys,
    timestamp,
  );
  if (known.staticStatic === undefined) wipe(staticStatic);
  if (status !== 0) return status === NOISE_REPLAYED ? 'replayed-timestamp' : (NOISE_FAILURES[status] ?? 'handshake-decrypt-failed');
  const response = new Uint8Array(RESPONSE_SIZE);
  writeType(response, MESSAGE_RESPONSE);
  response.set(body, Response.ephemeral);
  const result = {
    remoteStatic,
    timestamp,
    remoteIndex: readU32(msg, Initiation.sender),
    response,
    sendKey: keys.slice(KEY_LENGTH),
    receiveKey: keys.slice(0, KEY_LENGTH),
  };
  wipe(keys);
  return result;
}

/**
 * respondToInitiation for a static key of the native backend; a key of
 * another backend is refused as a programming error, not answered.
 */
export function respondToInitiationNative(
  msg: Uint8Array,
  local: X25519KeyPair,
  directory: InitiatorDirectory,
  ephemeral?: X25519KeyPair,
): RespondedInitiation | DropReason {
  const type = classify(msg);
  if (type !== MESSAGE_INITIATION) return typeof type === 'string' ? type : 'unknown-type';
  if (!nativeCapable(local) || (ephemeral && !nativeCapable(ephemeral)))
    throw new TypeError('respondToInitiationNative needs native key pairs (noise-responder.ts answers any)');
  return respondNative(msg, local, directory, ephemeral);
}
