/**
 * The responder's handshake split at the line between crypto and state, so
 * the crypto can run on other threads and the state keeps one owner (the
 * main thread). The daemon's crypto runs in the native handshake crew
 * (src/daemon/handshake/handshake-crypto-pool.ts, native/handshake_crew.cc),
 * which makes the same calls as respondToInitiation's native path; this
 * file's respondToInitiation is the JavaScript form of that step (tests,
 * and the reference it is checked against):
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
 * order skips, the crypto's side keeps its own pre-check (KnownInitiator's
 * notAfter: the crew keeps the greatest timestamp it answered per peer).
 *
 * The types and the native path are in noise-responder-native.ts.
 *
 * This is the daemon's only responder. test/helpers/noise-reference-responder.ts
 * keeps the single-threaded order (check, then write the response) as the
 * tests' reference; both refuse with initiationRefusal below.
 */
import { compareTai64n } from '../crypto/tai64n.js';
import { generateKeyPair, type X25519KeyPair } from '../crypto/x25519.js';
import { KEY_LENGTH, wipe } from '../crypto/bytes.js';
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
import { IKpsk2State, readMessageAReference, split, writeMessageBReference } from './noise-ikpsk2.js';
import { nativeCapable } from './noise-ikpsk2-native.js';
import { CONSTRUCTION, IDENTIFIER, INITIATION_FLOOD_MS, type Handshake, type IndexAllocator, type TransportKeys } from './noise.js';
import {
  NOTHING_SEEN,
  messageA,
  respondToInitiationNative,
  type InitiatorDirectory,
  type RespondedInitiation,
} from './noise-responder-native.js';

export type { InitiatorDirectory, KnownInitiator, RespondedInitiation } from './noise-responder-native.js';

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
  if (nativeCapable(local) && (!ephemeral || nativeCapable(ephemeral))) return respondToInitiationNative(msg, local, directory, ephemeral);
  const type = classify(msg);
  if (type !== MESSAGE_INITIATION) return typeof type === 'string' ? type : 'unknown-type';
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
