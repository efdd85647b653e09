/**
 * The Noise_IKpsk2 handshake pattern (Noise spec §7.5 IK, §9 psk2):
 *
 *   <- s
 *   ...
 *   -> e, es, s, ss, {payload}
 *   <- e, ee, se, psk, {payload}
 *
 * over any protocol name and prologue, byte for byte as the Noise spec writes
 * the messages: message A = e.pub (32) ‖ AEAD(s.pub) (48) ‖ AEAD(payload);
 * message B = e.pub (32) ‖ AEAD(payload). WireGuard's initiation and
 * response carry exactly these bytes between their headers and MACs
 * (noise.ts), with a 12-byte TAI64N payload in A and an empty one in B.
 *
 * With a psk modifier every "e" token is MixHash(e.pub) then MixKey(e.pub)
 * (§9.2); WireGuard's C = KDF1(C, E.pub) is the chaining-key half of that.
 */
import { sharedSecret, type X25519KeyPair } from '../crypto/x25519.js';
import { wipe, KEY_LENGTH } from '../crypto/bytes.js';
import { TAG_LENGTH } from '../crypto/aead.js';
import { SymmetricState } from './noise-symmetric.js';
import { nativeCapable, readMessageANative, writeMessageBNative } from './noise-ikpsk2-native.js';
import type { DropReason } from '../packet/drop-reasons.js';

/** Bytes of e and the encrypted s (32 + 16) that open message A. */
const MESSAGE_A_PREFIX = KEY_LENGTH + KEY_LENGTH + TAG_LENGTH;
/** Bytes of message A besides its payload: e (32) + encrypted s (48) + payload tag (16). */
export const MESSAGE_A_OVERHEAD = MESSAGE_A_PREFIX + TAG_LENGTH;
/** Bytes of message B besides its payload: e (32) + tag (16). */
export const MESSAGE_B_OVERHEAD = KEY_LENGTH + TAG_LENGTH;

/**
 * Why reading a handshake message failed: 'handshake-decrypt-failed' (an
 * AEAD field did not authenticate: wrong keys, wrong prologue, tampering),
 * 'invalid-public-key' (a Diffie-Hellman result was all zeros: a small-order
 * key), 'unknown-peer' (the initiator's static key is not one we know),
 * 'truncated' (shorter than the pattern requires).
 */
export type IKpsk2Failure = Extract<DropReason, 'handshake-decrypt-failed' | 'invalid-public-key' | 'unknown-peer' | 'truncated'>;

/** What the responder learns about the initiator once its static key is decrypted. */
export interface InitiatorIdentity {
  /** The PSK shared with this initiator (32 zero bytes when none). */
  presharedKey: Uint8Array;
  /** DH(responder static, initiator static) if cached; computed when absent. */
  staticStatic?: Uint8Array | null;
}

/**
 * The state of one IKpsk2 handshake in progress, on either side.
 * Threading: single-threaded, owned by whoever runs the handshake.
 */
export class IKpsk2State {
  /** ck, h and k. */
  readonly symmetric: SymmetricState;
  /** Our ephemeral key pair once message A (initiator) or B (responder) is written. */
  localEphemeral: X25519KeyPair | null = null;
  /** The peer's ephemeral public key once read. */
  remoteEphemeral: Uint8Array | null = null;
  /** The peer's static public key (known in advance by the initiator, learnt by the responder). */
  remoteStatic: Uint8Array | null;
  /** The PSK mixed in by the psk2 token. */
  presharedKey: Uint8Array;

  /**
   * Initialize(): the symmetric state with the protocol name and prologue,
   * then the pre-message "<- s": MixHash(responder static public key).
   * The initiator passes the responder's static key as remoteStatic; the
   * responder passes null and its own key pair as localStatic.
   */
  constructor(
    readonly role: 'initiator' | 'responder',
    readonly localStatic: X25519KeyPair,
    remoteStatic: Uint8Array | null,
    presharedKey: Uint8Array,
    protocolName: Uint8Array,
    prologue: Uint8Array,
  ) {
    this.remoteStatic = remoteStatic;
    this.presharedKey = presharedKey;
    this.symmetric = SymmetricState.initialize(protocolName, prologue);
    const responderStatic = role === 'initiator' ? remoteStatic : localStatic.publicKey;
    if (!responderStatic) throw new TypeError("the initiator must know the responder's static key");
    this.symmetric.mixHash(responderStatic);
  }

  /** Erases the symmetric state, the PSK copy and our ephemeral private key. */
  wipe(): void {
    this.wipeExcept(null);
  }

  /**
   * Erases this state but not what it shares with successor (a trial copy
   * made by {@link cloneForTrial} that replaces it shares the ephemeral key
   * pair and the PSK copy).
   */
  wipeExcept(successor: IKpsk2State | null): void {
    this.symmetric.wipe();
    if (this.presharedKey !== successor?.presharedKey) wipe(this.presharedKey);
    if (this.localEphemeral && this.localEphemeral !== successor?.localEphemeral) wipe(this.localEphemeral.privateKey);
    this.localEphemeral = null;
  }
}

/**
 * Initiator: writes message A (-> e, es, s, ss, {payload}) into out at offset
 * (MESSAGE_A_OVERHEAD + payload.length bytes). staticStatic is the
 * cached DH(s, rs) or null to compute it. Returns false when a DH result is
 * zero (the responder's static key is of small order).
 */
export function writeMessageA(
  hs: IKpsk2State,
  ephemeral: X25519KeyPair,
  payload: Uint8Array,
  out: Uint8Array,
  offset: number,
  staticStatic: Uint8Array | null = null,
): boolean {
  const ss = hs.symmetric;
  const rs = hs.remoteStatic!;
  hs.localEphemeral = ephemeral;
  // e
  out.set(ephemeral.publicKey, offset);
  ss.mixHash(ephemeral.publicKey);
  ss.mixKey(ephemeral.publicKey);
  // es
  if (!mixDh(ss, ephemeral, rs)) return false;
  // s
  out.set(ss.encryptAndHash(hs.localStatic.publicKey), offset + KEY_LENGTH);
  // ss
  if (staticStatic) ss.mixKey(staticStatic);
  else if (!mixDh(ss, hs.localStatic, rs)) return false;
  // {payload}
  out.set(ss.encryptAndHash(payload), offset + MESSAGE_A_PREFIX);
  return true;
}

/**
 * Responder: reads message A. After "s" decrypts, resolve(initiator static)
 * names the PSK and cached static-static DH for that initiator, or null when
 * the key is unknown. Returns the decrypted payload or why it failed.
 * On failure hs must be discarded. Runs natively (noise-ikpsk2-native.ts)
 * when our static key is the native backend's; this body is the reference.
 */
export function readMessageA(
  hs: IKpsk2State,
  message: Uint8Array,
  resolve: (initiatorStatic: Uint8Array) => InitiatorIdentity | null,
): Uint8Array | IKpsk2Failure {
  if (nativeCapable(hs.localStatic)) return readMessageANative(hs, message, resolve);
  return readMessageAReference(hs, message, resolve);
}

/** readMessageA in JavaScript: the reference the native path is tested against. */
export function readMessageAReference(
  hs: IKpsk2State,
  message: Uint8Array,
  resolve: (initiatorStatic: Uint8Array) => InitiatorIdentity | null,
): Uint8Array | IKpsk2Failure {
  if (message.length < MESSAGE_A_OVERHEAD) return 'truncated';
  const ss = hs.symmetric;
  // e
  const re = message.slice(0, KEY_LENGTH);
  hs.remoteEphemeral = re;
  ss.mixHash(re);
  ss.mixKey(re);
  // es
  if (!mixDh(ss, hs.localStatic, re)) return 'invalid-public-key';
  // s
  const rs = ss.decryptAndHash(message.subarray(KEY_LENGTH, MESSAGE_A_PREFIX));
  if (!rs) return 'handshake-decrypt-failed';
  hs.remoteStatic = rs;
  const identity = resolve(rs);
  if (!identity) return 'unknown-peer';
  hs.presharedKey = identity.presharedKey;
  // ss
  if (identity.staticStatic) ss.mixKey(identity.staticStatic);
  else if (identity.staticStatic === null || !mixDh(ss, hs.localStatic, rs)) return 'invalid-public-key';
  // {payload}
  const payload = ss.decryptAndHash(message.subarray(MESSAGE_A_PREFIX));
  return payload ?? 'handshake-decrypt-failed';
}

/**
 * Responder: writes message B (<- e, ee, se, psk, {payload}) into out at
 * offset (MESSAGE_B_OVERHEAD + payload.length bytes). False when a DH is zero.
 * Runs natively when the ephemeral key is the native backend's.
 */
export function writeMessageB(hs: IKpsk2State, ephemeral: X25519KeyPair, payload: Uint8Array, out: Uint8Array, offset: number): boolean {
  if (nativeCapable(ephemeral)) return writeMessageBNative(hs, ephemeral, payload, out, offset);
  return writeMessageBReference(hs, ephemeral, payload, out, offset);
}

/** writeMessageB in JavaScript: the reference the native path is tested against. */
export function writeMessageBReference(
  hs: IKpsk2State,
  ephemeral: X25519KeyPair,
  payload: Uint8Array,
  out: Uint8Array,
  offset: number,
): boolean {
  const ss = hs.symmetric;
  hs.localEphemeral = ephemeral;
  // e
  out.set(ephemeral.publicKey, offset);
  ss.mixHash(ephemeral.publicKey);
  ss.mixKey(ephemeral.publicKey);
  // ee
  if (!mixDh(ss, ephemeral, hs.remoteEphemeral!)) return false;
  // se
  if (!mixDh(ss, ephemeral, hs.remoteStatic!)) return false;
  // psk
  ss.mixKeyAndHash(hs.presharedKey);
  // {payload}
  out.set(ss.encryptAndHash(payload), offset + KEY_LENGTH);
  return true;
}

/**
 * Initiator: reads message B. Returns the payload or why it failed; on
 * failure hs is damaged, so callers that must survive a forged message B run
 * this on a copy (see {@link cloneForTrial}).
 */
export function readMessageB(hs: IKpsk2State, message: Uint8Array): Uint8Array | IKpsk2Failure {
  if (message.length < MESSAGE_B_OVERHEAD) return 'truncated';
  const ss = hs.symmetric;
  const e = hs.localEphemeral!;
  // e
  const re = message.slice(0, KEY_LENGTH);
  hs.remoteEphemeral = re;
  ss.mixHash(re);
  ss.mixKey(re);
  // ee
  if (!mixDh(ss, e, re)) return 'invalid-public-key';
  // se
  if (!mixDh(ss, hs.localStatic, re)) return 'invalid-public-key';
  // psk
  ss.mixKeyAndHash(hs.presharedKey);
  // {payload}
  const payload = ss.decryptAndHash(message.subarray(KEY_LENGTH));
  return payload ?? 'handshake-decrypt-failed';
}

/** A copy of hs sharing the key pairs but not the symmetric state: read into it, commit on success. */
export function cloneForTrial(hs: IKpsk2State): IKpsk2State {
  const copy = Object.create(IKpsk2State.prototype) as IKpsk2State;
  Object.assign(copy, hs, { symmetric: hs.symmetric.clone() });
  return copy;
}

/**
 * Split() after the last message: the initiator's sending key and the
 * responder's sending key, [k1, k2]. Then the handshake state is wiped.
 */
export function split(hs: IKpsk2State): [Uint8Array, Uint8Array] {
  const keys = hs.symmetric.split();
  hs.wipe();
  return keys;
}

/** MixKey(DH(ours, theirs)); false when the DH result is all zeros. */
function mixDh(ss: SymmetricState, ours: X25519KeyPair, theirs: Uint8Array): boolean {
  const dh = sharedSecret(ours, theirs);
  if (!dh) return false;
  ss.mixKey(dh);
  wipe(dh);
  return true;
}
