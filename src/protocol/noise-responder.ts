/**
 * The responder's handshake split at the line between crypto and state, so
 * the crypto can run on any thread (src/daemon/handshake-crypto-pool.ts) and
 * the state keeps one owner (the main thread):
 *
 *   respondToInitiation   pure crypto, any thread: -> e, es, s, ss, {t}
 *                         read, <- e, ee, se, psk, {} written, Split()
 *                         (whitepaper §5.4.2-§5.4.5) — everything
 *                         consumeInitiation + createResponse + beginSession
 *                         of noise.ts compute, without touching a Handshake
 *   acceptInitiation      state, the handshake's owner: the replay and
 *                         flood checks of §5.1 against the peer's memory,
 *                         then the peer's handshake takes the session (a
 *                         fresh index, the response's index fields filled)
 *
 * The crypto runs before the checks, so a replayed initiation costs the
 * ephemeral and two more DHs that the single-threaded order skips; callers
 * keep a cheap pre-check (ReplayPrefilter) in front of the write to save them.
 */
import { compareTai64n } from '../crypto/tai64n.js';
import { generateKeyPair, type X25519KeyPair } from '../crypto/x25519.js';
import { KEY_LENGTH, wipe } from '../crypto/bytes.js';
import type { Clock } from './clock.js';
import {
  RESPONSE_SIZE, Initiation, Response, MESSAGE_INITIATION, MESSAGE_RESPONSE,
  classify, readU32, writeType, writeU32, type DropReason,
} from './wire.js';
import { IKpsk2State, readMessageA, split, writeMessageB, type InitiatorIdentity } from './noise-ikpsk2.js';
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

/** Who the responder knows: the PSK and cached DH(static, static) per initiator static key, or null. */
export type InitiatorDirectory = (remoteStatic: Uint8Array) => InitiatorIdentity | null;

/**
 * The responder's crypto for one initiation whose MACs were checked:
 * reads message A, asks `directory` who the initiator is, and — unless
 * `skipWrite(remoteStatic, timestamp)` says the owner will refuse it anyway —
 * writes the response and derives the session keys. Touches no shared state.
 */
export function respondToInitiation(
  msg: Uint8Array, local: X25519KeyPair, directory: InitiatorDirectory,
  skipWrite: (remoteStatic: Uint8Array, timestamp: Uint8Array) => DropReason | null = () => null,
  ephemeral?: X25519KeyPair,
): RespondedInitiation | DropReason {
  const type = classify(msg);
  if (type !== MESSAGE_INITIATION) return typeof type === 'string' ? type : 'unknown-type';
  const state = new IKpsk2State('responder', local, null, new Uint8Array(KEY_LENGTH), CONSTRUCTION, IDENTIFIER);
  const timestamp = readMessageA(state, msg.subarray(Initiation.ephemeral, Initiation.mac1), directory);
  if (typeof timestamp === 'string') { state.wipe(); return timestamp; }
  const remoteStatic = state.remoteStatic!;
  const refused = skipWrite(remoteStatic, timestamp);
  if (refused) { state.wipe(); return refused; }
  const response = new Uint8Array(RESPONSE_SIZE);
  writeType(response, MESSAGE_RESPONSE);
  if (!writeMessageB(state, ephemeral ?? generateKeyPair(), new Uint8Array(0), response, Response.ephemeral)) {
    state.wipe();
    return 'invalid-public-key';
  }
  const [initiatorToResponder, responderToInitiator] = split(state);
  return {
    remoteStatic, timestamp, remoteIndex: readU32(msg, Initiation.sender), response,
    sendKey: responderToInitiator, receiveKey: initiatorToResponder,
  };
}

/**
 * The owner's half: refuses a timestamp not later than the peer's last
 * accepted one (replay) and an initiation within INITIATION_FLOOD_MS of the
 * last accepted one (flood), exactly as consumeInitiation; otherwise the
 * initiation is accepted — the peer's handshake in flight is abandoned, a
 * fresh index is taken for the session and written into the response — and
 * the session's keys are returned (the caller installs them, which moves the
 * index to the keypair). On refusal nothing changes and the keys are wiped.
 */
export function acceptInitiation<P>(
  hs: Handshake<P>, r: RespondedInitiation, indices: IndexAllocator<Handshake<P>>, clock: Clock,
): TransportKeys | DropReason {
  const now = clock.now();
  const refused = compareTai64n(r.timestamp, hs.lastTimestamp) <= 0 ? 'replayed-timestamp'
    : now - hs.lastInitiationConsumedAt < INITIATION_FLOOD_MS ? 'initiation-flood' : null;
  if (refused) { wipe(r.sendKey, r.receiveKey); return refused; }
  hs.clear(indices);
  hs.lastTimestamp.set(r.timestamp);
  hs.lastInitiationConsumedAt = now;
  const localIndex = indices.insert(hs);
  writeU32(r.response, Response.sender, localIndex);
  writeU32(r.response, Response.receiver, r.remoteIndex);
  return { sendKey: r.sendKey, receiveKey: r.receiveKey, localIndex, remoteIndex: r.remoteIndex, isInitiator: false, createdAt: now };
}

/**
 * A thread's own memory of the greatest timestamp it decrypted per
 * initiator, to skip writing responses the owner will refuse as replays. A
 * genuine initiator never repeats a timestamp (each initiation takes a new
 * one, §5.1), so skipping on "not greater than one already seen here" only
 * ever skips replays; the owner's check stays the authority.
 */
export class ReplayPrefilter {
  private readonly greatest = new Map<string, Uint8Array>();

  /** 'replayed-timestamp' when this thread already saw this key with a timestamp ≥ this one; else remembers it. */
  check(remoteStaticHex: string, timestamp: Uint8Array): DropReason | null {
    const seen = this.greatest.get(remoteStaticHex);
    if (seen && compareTai64n(timestamp, seen) <= 0) return 'replayed-timestamp';
    if (seen) seen.set(timestamp); else this.greatest.set(remoteStaticHex, Uint8Array.from(timestamp));
    return null;
  }

  /** Forgets a key (its peer was removed). */
  forget(remoteStaticHex: string): void { this.greatest.delete(remoteStaticHex); }
}
