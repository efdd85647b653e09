/**
 * The responder's handshake split at the line between crypto and state, so
 * the crypto can run on any thread (src/daemon/handshake/handshake-crypto-pool.ts) and
 * the state keeps one owner (the main thread):
 *
 *   respondToInitiation   pure crypto, any thread: -> e, es, s, ss, {t}
 *                         read, <- e, ee, se, psk, {} written, Split()
 *                         (whitepaper §5.4.2-§5.4.5), without touching a
 *                         Handshake
 *   acceptInitiation      state, the handshake's owner: the replay and
 *                         flood checks of §5.1 against the peer's memory,
 *                         then the peer's handshake takes the session (a
 *                         fresh index, the response's index fields filled)
 *
 * The crypto runs before the owner's checks; so that a replayed initiation
 * does not cost the ephemeral and two more DHs that the single-threaded
 * order skips, the crypto's thread keeps its own pre-check (ReplayPrefilter).
 *
 * This is the daemon's only responder. test/helpers/noise-reference-responder.ts
 * keeps the single-threaded order (check, then write the response) as the
 * tests' reference; both refuse with initiationRefusal below.
 */
import { TAI64N_LENGTH, compareTai64n } from '../crypto/tai64n.js';
import { generateKeyPair, sharedSecret, type X25519KeyPair } from '../crypto/x25519.js';
import { KEY_LENGTH, wipe } from '../crypto/bytes.js';
import { TAG_LENGTH } from '../crypto/aead.js';
import { native, type NativeX25519Key } from '../native/binding.js';
import type { Clock } from './clock.js';
import {
  RESPONSE_SIZE,
  Initiation,
  Response,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  classify,
  readU32,
  writeType,
  writeU32,
} from './wire.js';
import type { DropReason } from '../packet/drop-reasons.js';
import { IKpsk2State, readMessageAReference, split, writeMessageBReference, type InitiatorIdentity } from './noise-ikpsk2.js';
import { NOISE_FAILURES, NOISE_REPLAYED, nativeCapable } from './noise-ikpsk2-native.js';
import { CONSTRUCTION, IDENTIFIER, INITIATION_FLOOD_MS, type Handshake, type IndexAllocator, type TransportKeys } from './noise.js';

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
   * multiplications. See ReplayPrefilter.
   */
  notAfter?: Uint8Array;
}

/** Who the responder knows: by initiator static key, or null for a stranger. */
export type InitiatorDirectory = (remoteStatic: Uint8Array) => KnownInitiator | null;

const NOTHING_SEEN = new Uint8Array(TAI64N_LENGTH);
/** The bytes of message A inside an initiation: e ‖ AEAD(s) ‖ AEAD(t). */
const messageA = (msg: Uint8Array): Uint8Array => msg.subarray(Initiation.ephemeral, Initiation.mac1);

/**
 * The responder's crypto for one initiation whose MACs were checked:
 * reads message A, asks `directory` who the initiator is, writes the
 * response and derives the session keys. Touches no shared state. Natively
 * (two addon calls, noiseReadA1 and noiseRespond) when our static key is the
 * native backend's; the JavaScript body below is the reference.
 */
export function respondToInitiation(
  msg: Uint8Array,
  local: X25519KeyPair,
  directory: InitiatorDirectory,
  ephemeral?: X25519KeyPair,
): RespondedInitiation | DropReason {
  const type = classify(msg);
  if (type !== MESSAGE_INITIATION) return typeof type === 'string' ? type : 'unknown-type';
  if (nativeCapable(local) && (!ephemeral || nativeCapable(ephemeral))) return respondNative(msg, local, directory, ephemeral);
  return respondReference(msg, local, directory, ephemeral);
}

/** respondToInitiation through noise-ikpsk2.ts, in JavaScript wherever the keys allow. */
export function respondReference(
  msg: Uint8Array,
  local: X25519KeyPair,
  directory: InitiatorDirectory,
  ephemeral?: X25519KeyPair,
): RespondedInitiation | DropReason {
  const state = new IKpsk2State('responder', local, null, new Uint8Array(KEY_LENGTH), CONSTRUCTION, IDENTIFIER);
  let notAfter: Uint8Array = NOTHING_SEEN;
  const timestamp = readMessageAReference(state, messageA(msg), (rs) => {
    const known = directory(rs);
    if (known?.notAfter) notAfter = known.notAfter;
    return known;
  });
  if (typeof timestamp === 'string') {
    state.wipe();
    return timestamp;
  }
  if (compareTai64n(timestamp, notAfter) <= 0) {
    state.wipe();
    return 'replayed-timestamp';
  }
  const response = new Uint8Array(RESPONSE_SIZE);
  writeType(response, MESSAGE_RESPONSE);
  if (!writeMessageBReference(state, ephemeral ?? generateKeyPair(), new Uint8Array(0), response, Response.ephemeral)) {
    state.wipe();
    return 'invalid-public-key';
  }
  const remoteStatic = state.remoteStatic!;
  const [initiatorToResponder, responderToInitiator] = split(state);
  return {
    remoteStatic,
    timestamp,
    remoteIndex: readU32(msg, Initiation.sender),
    response,
    sendKey: responderToInitiator,
    receiveKey: initiatorToResponder,
  };
}

/** Per static key pair: ck ‖ h after Initialize() and the pre-message "<- s" (the same for every initiation). */
const initialStates = new WeakMap<X25519KeyPair, Uint8Array>();

function initialState(local: X25519KeyPair): Uint8Array {
  let state = initialStates.get(local);
  if (!state) {
    const fresh = new IKpsk2State('responder', local, null, new Uint8Array(KEY_LENGTH), CONSTRUCTION, IDENTIFIER);
    state = new Uint8Array(2 * KEY_LENGTH);
    state.set(fresh.symmetric.chainingKey);
    state.set(fresh.symmetric.hash, KEY_LENGTH);
    fresh.wipe();
    initialStates.set(local, state);
  }
  return state;
}

function respondNative(
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
 * Whether an initiation with this timestamp, arriving now, must be refused
 * (whitepaper §5.1): a timestamp not later than the peer's last accepted one
 * is a replay; one within INITIATION_FLOOD_MS of the last accepted
 * initiation is a flood. Null when it may be accepted. The one copy of the
 * check: acceptInitiation and the tests' reference responder both call it.
 */
export function initiationRefusal(
  hs: Handshake<unknown>,
  timestamp: Uint8Array,
  now: number,
): 'replayed-timestamp' | 'initiation-flood' | null {
  if (compareTai64n(timestamp, hs.lastTimestamp) <= 0) return 'replayed-timestamp';
  if (now - hs.lastInitiationConsumedAt < INITIATION_FLOOD_MS) return 'initiation-flood';
  return null;
}

/**
 * The owner's half: refuses replays and floods (initiationRefusal);
 * otherwise the initiation is accepted — the peer's handshake in flight is
 * abandoned, a fresh index is taken for the session and written into the
 * response — and the session's keys are returned (the caller installs them,
 * which moves the index to the keypair). On refusal nothing changes and the
 * keys are wiped.
 */
export function acceptInitiation<P>(
  hs: Handshake<P>,
  r: RespondedInitiation,
  indices: IndexAllocator<Handshake<P>>,
  clock: Clock,
): TransportKeys | DropReason {
  const now = clock.now();
  const refused = initiationRefusal(hs, r.timestamp, now);
  if (refused) {
    wipe(r.sendKey, r.receiveKey);
    return refused;
  }
  hs.clear(indices);
  hs.recordTimestamp(r.timestamp);
  hs.lastInitiationConsumedAt = now;
  const localIndex = indices.insert(hs);
  writeU32(r.response, Response.sender, localIndex);
  writeU32(r.response, Response.receiver, r.remoteIndex);
  return { sendKey: r.sendKey, receiveKey: r.receiveKey, localIndex, remoteIndex: r.remoteIndex, isInitiator: false, createdAt: now };
}

/**
 * A thread's own memory of the greatest timestamp it answered per
 * initiator, to skip writing responses the owner will refuse as replays. A
 * genuine initiator never repeats a timestamp (each initiation takes a new
 * one, §5.1), so skipping on "not greater than one already answered here"
 * only ever skips replays; the owner's check stays the authority.
 */
export class ReplayPrefilter {
  private readonly greatest = new Map<string, Uint8Array>();

  /** The greatest timestamp answered for this key here, if any (pass it as KnownInitiator.notAfter). */
  seen(remoteStaticHex: string): Uint8Array | undefined {
    return this.greatest.get(remoteStaticHex);
  }

  /** A response was written for this timestamp (later than any seen). */
  answered(remoteStaticHex: string, timestamp: Uint8Array): void {
    const seen = this.greatest.get(remoteStaticHex);
    if (seen) seen.set(timestamp);
    else this.greatest.set(remoteStaticHex, Uint8Array.from(timestamp));
  }

  /** Forgets a key (its peer was removed). */
  forget(remoteStaticHex: string): void {
    this.greatest.delete(remoteStaticHex);
  }
}
