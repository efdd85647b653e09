/**
 * WireGuard's handshake (whitepaper §5.4.2-§5.4.5): Noise_IKpsk2 with the
 * construction "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s", the identifier
 * "WireGuard v1 zx2c4 Jason@zx2c4.com" as prologue, and the message layout of
 * wire.ts around the generic pattern of noise-ikpsk2.ts:
 *
 *   <- s
 *   ...
 *   -> e, es, s, ss, {t}          initiation: t = TAI64N timestamp
 *   <- e, ee, se, psk, {}         response
 *
 * Flow (MACs are cookie.ts's job, added/checked around these calls):
 *   initiator: createInitiation → (send) → consumeResponse → beginSession
 *   responder: ./noise-responder.ts — respondToInitiation (the crypto, on
 *              any thread) → acceptInitiation (replay/flood, the session)
 * beginSession hands over TransportKeys whose localIndex is the handshake's
 * index: replace the index table entry with the keypair under that index.
 * (test/helpers/noise-reference-responder.ts keeps the responder as two
 * single-threaded steps on a Handshake, the tests' reference.)
 *
 * Threading: main thread only. Nothing here performs I/O; time comes from
 * the Clock passed in.
 */
import { TAI64N_LENGTH, tai64n } from '../crypto/tai64n.js';
import { generateKeyPair, hasSmallOrder, sharedSecret, type X25519KeyPair } from '../crypto/x25519.js';
import { hash } from '../crypto/blake2s.js';
import { KEY_LENGTH, isAllZero, wipe } from '../crypto/bytes.js';
import type { Clock } from './clock.js';
import {
  INITIATION_SIZE,
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
import { IKpsk2State, cloneForTrial, readMessageB, split, writeMessageA } from './noise-ikpsk2.js';
import { CONSTRUCTION, IDENTIFIER } from './noise-names.js';

/** The protocol name and prologue (noise-names.ts: the responder's native path takes them without this module). */
export { CONSTRUCTION, IDENTIFIER };

/** Ci = HASH(Construction): the initial chaining key. */
export const INITIAL_CHAINING_KEY = hash(CONSTRUCTION);
/** Hi = HASH(Ci ‖ Identifier): the initial handshake hash. */
export const INITIAL_HASH = hash(INITIAL_CHAINING_KEY, IDENTIFIER);

/** At most this many initiations per second are accepted from one peer (kernel and wireguard-go). */
export const INITIATIONS_PER_SECOND = 50;
/** So an initiation within this many ms of the last accepted one is a flood and refused. */
export const INITIATION_FLOOD_MS = 1000 / INITIATIONS_PER_SECOND;

/** Where a handshake is; each message moves it one step. */
export type HandshakeStage = 'zeroed' | 'created-initiation' | 'consumed-initiation' | 'created-response' | 'consumed-response';

/** The part of an index table the handshake needs (IndexTable satisfies it). */
export interface IndexAllocator<V> {
  /** Stores value under a fresh random unique index. */
  insert(value: V): number;
  /** Frees an index. */
  remove(index: number): boolean;
}

/** The result of a completed handshake: what a keypair is made of. */
export interface TransportKeys {
  /** Key for messages we send (32 bytes). */
  readonly sendKey: Uint8Array;
  /** Key for messages we receive (32 bytes). */
  readonly receiveKey: Uint8Array;
  /** Our index: the peer puts it in the receiver field of its data messages. */
  readonly localIndex: number;
  /** The peer's index: we put it in the receiver field of ours. */
  readonly remoteIndex: number;
  /** True on the side that sent the initiation. */
  readonly isInitiator: boolean;
  /** clock.now() when the keys were derived (REKEY/REJECT_AFTER_TIME count from here). */
  readonly createdAt: number;
}

/**
 * The handshake state WireGuard keeps per peer: who the peer is (static key,
 * PSK, the cached static-static DH), the replay/flood memory of its
 * initiations, and the one handshake in flight with it.
 */
export class Handshake<P = unknown> {
  /** Where the handshake in flight is. */
  stage: HandshakeStage = 'zeroed';
  /** Our index for the handshake in flight, while it has one. */
  localIndex: number | null = null;
  /** The peer's index for the handshake in flight. */
  remoteIndex = 0;
  /**
   * Greatest TAI64N timestamp accepted from this peer (whitepaper §5.1); all
   * zeros before the first. Read only: recordTimestamp changes it.
   */
  get lastTimestamp(): Uint8Array {
    return this.stamp ?? NO_TIMESTAMP;
  }
  /** clock.now() of the last accepted initiation from this peer. */
  lastInitiationConsumedAt = -Infinity;

  private noise: IKpsk2State | null = null;
  private local: X25519KeyPair;
  /**
   * The PSK, null for none. Made per peer only when set: each small
   * Uint8Array of its own is ~350 bytes of heap and malloc, and a
   * configured peer that never handshakes needs neither (issue 20).
   */
  private psk: Uint8Array | null;
  /** lastTimestamp once an initiation was accepted (null: none yet; same reason). */
  private stamp: Uint8Array | null = null;
  /** DH(our static, peer static): computed at the first handshake (undefined: not yet), null when zero. */
  private staticStatic: Uint8Array | null | undefined;

  /**
   * @param peer the engine's peer object, returned with the handshake by lookups
   * @param local this device's static key pair
   * @param remoteStatic the peer's static public key (32 bytes)
   * @param presharedKey 32 bytes, or null/undefined for none (all zeros, whitepaper §5.2)
   */
  constructor(
    readonly peer: P,
    local: X25519KeyPair,
    readonly remoteStatic: Uint8Array,
    presharedKey?: Uint8Array | null,
  ) {
    if (remoteStatic.length !== KEY_LENGTH) throw new RangeError(`a peer's public key is 32 bytes, got ${remoteStatic.length}`);
    this.local = local;
    this.psk = copyPsk(presharedKey);
    // Not computed here: a scalar multiplication per configured peer was most of the cost of a
    // 100,000-peer `wg setconf`, for peers most of which never handshake.
    this.staticStatic = undefined;
  }

  /** The PSK in use (all zeros when none). Read only: setPresharedKey changes it. */
  get presharedKey(): Uint8Array {
    return this.psk ?? NO_PSK;
  }

  /** Sets or clears (null) the PSK; used from the next handshake on. */
  setPresharedKey(presharedKey: Uint8Array | null): void {
    if (this.psk) wipe(this.psk);
    this.psk = copyPsk(presharedKey);
  }

  /** An accepted initiation's timestamp becomes lastTimestamp (the caller checked it is later). */
  recordTimestamp(timestamp: Uint8Array): void {
    (this.stamp ??= new Uint8Array(TAI64N_LENGTH)).set(timestamp);
  }

  /**
   * Changes our static key (device private key changed): recomputes the
   * static-static DH and abandons the handshake in flight.
   */
  setLocalStatic(local: X25519KeyPair, indices?: IndexAllocator<Handshake<P>>): void {
    this.clear(indices);
    if (this.staticStatic) wipe(this.staticStatic);
    this.local = local;
    this.staticStatic = undefined;
  }

  /** False when DH(our static, peer static) is zero: no handshake with this peer is possible. */
  get hasValidStaticStatic(): boolean {
    // For a clamped private key (a multiple of 8) the DH is zero exactly for the points of small
    // order, so the check needs no DH (hasSmallOrder).
    return !hasSmallOrder(this.remoteStatic);
  }

  /** @internal the cached DH(our static, peer static) */
  get cachedStaticStatic(): Uint8Array | null {
    if (this.staticStatic === undefined) this.staticStatic = sharedSecret(this.local, this.remoteStatic);
    return this.staticStatic;
  }

  /** @internal our static key pair */
  get localStatic(): X25519KeyPair {
    return this.local;
  }

  /**
   * Abandons the handshake in flight: wipes the chaining key, hash and
   * ephemeral private key, frees our index (if indices is given), and returns
   * to 'zeroed'. The replay memory (timestamp, flood time) is kept.
   */
  clear(indices?: IndexAllocator<Handshake<P>>): void {
    this.noise?.wipe();
    this.noise = null;
    if (this.localIndex !== null) indices?.remove(this.localIndex);
    this.localIndex = null;
    this.remoteIndex = 0;
    this.stage = 'zeroed';
  }

  /** @internal used by the functions of this module */
  get inFlight(): IKpsk2State | null {
    return this.noise;
  }

  /** @internal used by the functions of this module */
  set inFlight(state: IKpsk2State | null) {
    if (this.noise && this.noise !== state) this.noise.wipeExcept(state);
    this.noise = state;
  }

  /** @internal a fresh state for a new handshake */
  newState(role: 'initiator' | 'responder'): IKpsk2State {
    return new IKpsk2State(
      role,
      this.local,
      role === 'initiator' ? this.remoteStatic : null,
      Uint8Array.from(this.presharedKey),
      CONSTRUCTION,
      IDENTIFIER,
    );
  }
}

/**
 * Initiator, step 1: a fresh handshake initiation (148 bytes, MAC fields
 * zero: the caller adds them with CookieGenerator.addMacs). Any handshake in
 * flight is abandoned; a new random index is taken from indices.
 * Returns null when no handshake is possible with this peer (zero
 * static-static DH). ephemeral is for tests; normally a fresh key is made.
 */
export function createInitiation<P>(
  hs: Handshake<P>,
  indices: IndexAllocator<Handshake<P>>,
  clock: Clock,
  ephemeral: X25519KeyPair = generateKeyPair(),
): Uint8Array | null {
  hs.clear(indices);
  if (!hs.hasValidStaticStatic) return null;
  const state = hs.newState('initiator');
  const msg = new Uint8Array(INITIATION_SIZE);
  writeType(msg, MESSAGE_INITIATION);
  const timestamp = tai64n(clock.now());
  if (!writeMessageA(state, ephemeral, timestamp, msg, Initiation.ephemeral, hs.cachedStaticStatic)) {
    state.wipe();
    return null;
  }
  hs.inFlight = state;
  hs.localIndex = indices.insert(hs);
  writeU32(msg, Initiation.sender, hs.localIndex);
  hs.stage = 'created-initiation';
  return msg;
}

/**
 * Initiator, step 2: consumes a response (MACs already checked). lookup
 * finds our handshake by the receiver index. The response is tried on a copy
 * of the state, so a forged or corrupted response leaves our initiation
 * intact for the genuine one. Returns the handshake, now 'consumed-response',
 * or the drop reason.
 */
export function consumeResponse<P>(
  msg: Uint8Array,
  lookup: (receiverIndex: number) => Handshake<P> | undefined,
): Handshake<P> | DropReason {
  const type = classify(msg);
  if (type !== MESSAGE_RESPONSE) return typeof type === 'string' ? type : 'unknown-type';
  const hs = lookup(readU32(msg, Response.receiver));
  if (!hs) return 'unknown-receiver-index';
  const state = hs.inFlight;
  if (hs.stage !== 'created-initiation' || !state) return 'unexpected-response';
  const trial = cloneForTrial(state);
  const result = readMessageB(trial, msg.subarray(Response.ephemeral, Response.mac1));
  if (typeof result === 'string') {
    trial.symmetric.wipe();
    return result;
  }
  hs.inFlight = trial;
  hs.remoteIndex = readU32(msg, Response.sender);
  hs.stage = 'consumed-response';
  return hs;
}

/**
 * Both sides, last step: derives the transport keys (whitepaper §5.4.5:
 * (T_send, T_recv) = KDF2(C, ε), swapped on the responder), wipes the
 * handshake's secrets and returns it to 'zeroed'. The initiator calls it
 * after consumeResponse (the reference responder after createResponse). The returned
 * localIndex now belongs to the keypair (handshake.localIndex becomes null):
 * point the index table entry at the keypair. Null at any other stage.
 */
export function beginSession<P>(hs: Handshake<P>, clock: Clock): TransportKeys | null {
  const state = hs.inFlight;
  const isInitiator = hs.stage === 'consumed-response';
  if (!state || hs.localIndex === null || (!isInitiator && hs.stage !== 'created-response')) return null;
  const [initiatorToResponder, responderToInitiator] = split(state);
  const keys: TransportKeys = {
    sendKey: isInitiator ? initiatorToResponder : responderToInitiator,
    receiveKey: isInitiator ? responderToInitiator : initiatorToResponder,
    localIndex: hs.localIndex,
    remoteIndex: hs.remoteIndex,
    isInitiator,
    createdAt: clock.now(),
  };
  hs.inFlight = null;
  hs.localIndex = null;
  hs.remoteIndex = 0;
  hs.stage = 'zeroed';
  return keys;
}

/** Wipes a keypair's keys (when it expires or is replaced). */
export function wipeTransportKeys(keys: TransportKeys): void {
  wipe(keys.sendKey, keys.receiveKey);
}

/**
 * What a peer without a PSK, or before its first accepted initiation, reads:
 * shared by every peer, never written (wipe only zeroes it again).
 */
const NO_PSK = new Uint8Array(KEY_LENGTH);
const NO_TIMESTAMP = new Uint8Array(TAI64N_LENGTH);

/** A peer's own copy of a PSK; null for none (an all-zero PSK is none, whitepaper §5.2). */
function copyPsk(psk: Uint8Array | null | undefined): Uint8Array | null {
  if (!psk) return null;
  if (psk.length !== KEY_LENGTH) throw new RangeError(`a preshared key is 32 bytes, got ${psk.length}`);
  return isAllZero(psk) ? null : Uint8Array.from(psk);
}
