/**
 * Transport keypairs (whitepaper §5.4.5–§5.4.6, §6): the pair of symmetric
 * keys a completed handshake derives, their counters, and the current /
 * previous / next rotation of a peer's keypairs.
 *
 * What worker threads need of a keypair lives in ONE SharedArrayBuffer per
 * keypair (KeypairShared), posted to each worker once and re-wrapped there
 * with `new KeypairShared(sab)`. Layout (little-endian, byte offsets):
 *
 *   0    BigUint64  send counter: the next counter to use. Workers reserve
 *                   counters with one Atomics.add per burst, so a nonce is
 *                   never used twice across threads (§5.4.6).
 *   8    Int32      state flags (KeypairFlag), changed with Atomics.or/and
 *   12   Uint32     local index: the receiver index peers write on packets to us
 *   16   Uint32     remote index: the receiver index we write on packets to the peer
 *   20   (12 bytes reserved, zero)
 *   32   32 bytes   sending key
 *   64   32 bytes   receiving key
 *   96   REPLAY_WINDOW_BYTES  the receive replay window (./replay-window.ts)
 *
 * The main thread owns the lifecycle: it creates the buffer, clears the usable
 * flags when the keypair dies, and zeroes both keys. A worker checks the
 * flags before it copies a key; the keys themselves are zeroed only when no
 * worker can still be copying them: a Keypair given a KeyRetirement
 * (./key-retirement.ts, which states the protocol) defers the zeroing until
 * every worker has moved past the retirement. Without one (a single thread,
 * tests) wipe() zeroes at once.
 */
import { REJECT_AFTER_TIME_MS, REKEY_AFTER_MESSAGES, REKEY_AFTER_TIME_MS, REKEY_ON_RECEIVE_AGE_MS } from './constants.js';
import { KEY_LENGTH } from '../crypto/bytes.js';
import { REPLAY_WINDOW_BYTES, ReplayWindow } from './replay-window.js';
import type { KeyRetirement } from './key-retirement.js';

const SEND_COUNTER_BYTE = 0;
const FLAGS_WORD = 2;
const LOCAL_INDEX_WORD = 3;
const REMOTE_INDEX_WORD = 4;
const SEND_KEY_BYTE = 32;
const RECEIVE_KEY_BYTE = 64;
const REPLAY_BYTE = 96;

/** Size of one keypair's shared buffer. */
export const KEYPAIR_SHARED_BYTES = REPLAY_BYTE + REPLAY_WINDOW_BYTES;

/** Bits of the shared state word. */
export const KeypairFlag = {
  /** May be used to send (cleared at expiry or wipe). */
  canSend: 1 << 0,
  /** May be used to receive (cleared at expiry or wipe). */
  canReceive: 1 << 1,
  /** A worker authenticated a data message with it (confirms a responder's "next" keypair, §5.4.6). */
  received: 1 << 2,
  /** The send counter reached REJECT_AFTER_MESSAGES: never send with it again (§6.1). */
  sendExhausted: 1 << 3,
} as const;

/** Thrown on the control path for malformed keypair material. */
export class KeypairError extends Error {
  override readonly name = 'KeypairError';
}

/** A keypair's thread-shared state; see the file comment for the layout. */
export class KeypairShared {
  /** The shared buffer; post it to a worker and wrap it there with `new KeypairShared(buffer)`. */
  readonly buffer: SharedArrayBuffer;
  /** The sending key (a view into the buffer). */
  readonly sendKey: Uint8Array;
  /** The receiving key (a view into the buffer). */
  readonly receiveKey: Uint8Array;
  /** The receive replay window (in the buffer). */
  readonly replay: ReplayWindow;
  private regionView: Uint8Array | undefined;
  private readonly counter: BigUint64Array;
  private readonly words: Int32Array;

  /** Wraps an existing buffer (in a worker) — or allocates a zeroed one when none is given. */
  constructor(buffer?: SharedArrayBuffer) {
    const sab = buffer ?? new SharedArrayBuffer(KEYPAIR_SHARED_BYTES);
    if (sab.byteLength !== KEYPAIR_SHARED_BYTES) {
      throw new KeypairError(`a keypair's shared buffer has ${KEYPAIR_SHARED_BYTES} bytes, got ${sab.byteLength}`);
    }
    this.buffer = sab;
    this.counter = new BigUint64Array(sab, SEND_COUNTER_BYTE, 1);
    this.words = new Int32Array(sab, 0, REPLAY_BYTE / 4);
    this.sendKey = new Uint8Array(sab, SEND_KEY_BYTE, KEY_LENGTH);
    this.receiveKey = new Uint8Array(sab, RECEIVE_KEY_BYTE, KEY_LENGTH);
    this.replay = new ReplayWindow(sab, REPLAY_BYTE);
  }

  /**
   * The whole buffer as bytes: what the native transport reads (native/data_transport.h has the
   * layout too). Made on first use: a thread wraps every keypair of every peer with a session, but
   * reads regions only of those it seals or opens with (a view is ~100 bytes per keypair and thread).
   */
  get region(): Uint8Array {
    return (this.regionView ??= new Uint8Array(this.buffer));
  }

  /** The receiver index peers write on data messages to us. */
  get localIndex(): number {
    return Atomics.load(this.words, LOCAL_INDEX_WORD) >>> 0;
  }

  /** The receiver index we write on data messages to the peer. */
  get remoteIndex(): number {
    return Atomics.load(this.words, REMOTE_INDEX_WORD) >>> 0;
  }

  /** The state word (KeypairFlag bits). */
  get flags(): number {
    return Atomics.load(this.words, FLAGS_WORD);
  }

  /** True while sending is allowed: not expired, not wiped, counter not exhausted. */
  canSend(): boolean {
    return (Atomics.load(this.words, FLAGS_WORD) & (KeypairFlag.canSend | KeypairFlag.sendExhausted)) === KeypairFlag.canSend;
  }

  /** True while receiving is allowed. */
  canReceive(): boolean {
    return (Atomics.load(this.words, FLAGS_WORD) & KeypairFlag.canReceive) !== 0;
  }

  /** Sets flag bits; returns the previous state word. */
  setFlags(bits: number): number {
    return Atomics.or(this.words, FLAGS_WORD, bits);
  }

  /** Clears flag bits; returns the previous state word. */
  clearFlags(bits: number): number {
    return Atomics.and(this.words, FLAGS_WORD, ~bits);
  }

  /**
   * Reserves `n` consecutive send counters and returns the first (one
   * Atomics.add, so reservations from different threads never overlap). The
   * caller must still refuse counters at or beyond REJECT_AFTER_MESSAGES.
   */
  reserveSendCounters(n: number): bigint {
    return Atomics.add(this.counter, 0, BigInt(n));
  }

  /** The next send counter (how many counters have been handed out). */
  sendCounter(): bigint {
    return Atomics.load(this.counter, 0);
  }

  /** Sets the send counter (tests; a keypair starts at 0). */
  setSendCounter(value: bigint): void {
    Atomics.store(this.counter, 0, value);
  }

  /** Writes keys and indices and marks the keypair usable. Main thread, before publishing the buffer. */
  initialize(sendKey: Uint8Array, receiveKey: Uint8Array, localIndex: number, remoteIndex: number): void {
    if (sendKey.length !== KEY_LENGTH || receiveKey.length !== KEY_LENGTH) {
      throw new KeypairError(`transport keys are ${KEY_LENGTH} bytes, got ${sendKey.length} and ${receiveKey.length}`);
    }
    for (const [name, index] of [
      ['local', localIndex],
      ['remote', remoteIndex],
    ] as const) {
      if (!Number.isInteger(index) || index < 0 || index > 0xffff_ffff)
        throw new KeypairError(`${name} index must be a 32-bit unsigned integer, got ${index}`);
    }
    this.sendKey.set(sendKey);
    this.receiveKey.set(receiveKey);
    Atomics.store(this.words, LOCAL_INDEX_WORD, localIndex | 0);
    Atomics.store(this.words, REMOTE_INDEX_WORD, remoteIndex | 0);
    Atomics.store(this.counter, 0, 0n);
    this.replay.reset();
    Atomics.store(this.words, FLAGS_WORD, KeypairFlag.canSend | KeypairFlag.canReceive);
  }

  /** True once the keypair was retired: it may be neither sent nor received with again. */
  isRetired(): boolean {
    return (Atomics.load(this.words, FLAGS_WORD) & (KeypairFlag.canSend | KeypairFlag.canReceive)) === 0;
  }

  /**
   * Zeroes both keys. Only safe once no other thread can be copying them:
   * KeyRetirement decides when (see ./key-retirement.ts).
   */
  zeroKeys(): void {
    this.sendKey.fill(0);
    this.receiveKey.fill(0);
  }

  /** Makes the keypair unusable and zeroes both keys at once: for a keypair no other thread uses. */
  wipe(): void {
    this.clearFlags(KeypairFlag.canSend | KeypairFlag.canReceive);
    this.zeroKeys();
  }
}

/** What a completed handshake hands over to make a keypair (§5.4.5). */
export interface KeypairInit {
  /** T_send: the key for messages we send. */
  sendKey: Uint8Array;
  /** T_recv: the key for messages we receive. */
  receiveKey: Uint8Array;
  /** Our sender index of the handshake: peers address data messages to it. */
  localIndex: number;
  /** The peer's sender index: we address data messages to it. */
  remoteIndex: number;
  /** Whether we sent the initiation of the handshake that made this keypair. */
  isInitiator: boolean;
  /** Clock reading (ms) when the keypair was derived. */
  createdAt: number;
}

/** One transport keypair, as the main thread sees it. */
/** Serial numbers of this thread's keypairs (Keypair.serial). */
let lastKeypairSerial = 0;

export class Keypair {
  /** The part workers share. */
  readonly shared: KeypairShared;
  /**
   * Unique among this process's keypairs, never reused (a receiver index can
   * be, once free): how a worker tells a keypair it already holds from a new one.
   */
  readonly serial = ++lastKeypairSerial;
  /** Whether we initiated the handshake that derived it (only the initiator rekeys by time, §6.2). */
  readonly isInitiator: boolean;
  /** Clock reading (ms) when it was derived. */
  readonly createdAt: number;
  private wiped = false;

  /**
   * `retirement`: how wipe() reaches the workers that share the keys; without
   * one the keys are zeroed at once (no other thread uses them).
   */
  constructor(
    init: KeypairInit,
    private readonly retirement?: KeyRetirement,
  ) {
    this.shared = new KeypairShared();
    this.shared.initialize(init.sendKey, init.receiveKey, init.localIndex, init.remoteIndex);
    this.isInitiator = init.isInitiator;
    this.createdAt = init.createdAt;
  }

  /** Our receiver index for it (the key of the device's index table). */
  get localIndex(): number {
    return this.shared.localIndex;
  }

  /** The peer's receiver index for it. */
  get remoteIndex(): number {
    return this.shared.remoteIndex;
  }

  /** True once wipe() ran. */
  get isWiped(): boolean {
    return this.wiped;
  }

  /** §6.1: too old to send or receive with (REJECT_AFTER_TIME). */
  isExpired(now: number): boolean {
    return now - this.createdAt >= REJECT_AFTER_TIME_MS;
  }

  /**
   * §6.2: after sending with this keypair, should a new handshake start?
   * Yes when REKEY_AFTER_MESSAGES were sent, or when we are the initiator and
   * it is REKEY_AFTER_TIME old.
   */
  needsRekeyAfterSend(now: number): boolean {
    if (this.wiped) return false;
    return this.shared.sendCounter() > REKEY_AFTER_MESSAGES || (this.isInitiator && now - this.createdAt >= REKEY_AFTER_TIME_MS);
  }

  /**
   * §6.2: after receiving with this keypair, should a new handshake start?
   * Yes when we are the initiator and it is REJECT_AFTER_TIME −
   * KEEPALIVE_TIMEOUT − REKEY_TIMEOUT old, so a fresh one exists in time even
   * if we never send.
   */
  needsRekeyAfterReceive(now: number): boolean {
    return !this.wiped && this.isInitiator && now - this.createdAt >= REKEY_ON_RECEIVE_AGE_MS;
  }

  /**
   * Makes the keypair unusable for every thread at once and erases its keys
   * (once no worker can be reading them, when a KeyRetirement was given). Idempotent.
   */
  wipe(): void {
    if (this.wiped) return;
    this.wiped = true;
    if (this.retirement) this.retirement.retire(this.shared);
    else this.shared.wipe();
  }
}

/**
 * A peer's keypairs (§5.4.6, §6): `current` sends; `previous` still receives
 * what was in flight before a rotation; `next` is a responder's fresh keypair,
 * unused for sending until the initiator's first data message with it
 * arrives, because until then the responder cannot know the initiator has it.
 *
 * Every method returns the keypairs it retired: they are already wiped, and
 * the caller removes their local indices from the index table and tells the
 * workers. Main thread only.
 */
export class KeypairSet {
  current: Keypair | undefined;
  previous: Keypair | undefined;
  next: Keypair | undefined;

  /**
   * Installs the keypair of a completed handshake. As initiator it becomes
   * current at once (the responder's reply proved the responder has it); the
   * old current becomes previous — or, if an unconfirmed next was pending,
   * that next becomes previous and the old current is retired. As responder it
   * becomes next, and previous is retired.
   */
  install(keypair: Keypair): Keypair[] {
    const retired: Keypair[] = [];
    if (keypair.isInitiator) {
      if (this.next !== undefined) {
        retire(retired, this.previous);
        this.previous = this.next;
        this.next = undefined;
        retire(retired, this.current);
      } else {
        retire(retired, this.previous);
        this.previous = this.current;
      }
      this.current = keypair;
    } else {
      retire(retired, this.next);
      this.next = keypair;
      retire(retired, this.previous);
      this.previous = undefined;
    }
    return retired;
  }

  /**
   * Called when a data message authenticated with `keypair`. If it is `next`,
   * the initiator has proved it holds it: next becomes current, current
   * becomes previous. Returns whether a rotation happened and what was retired.
   */
  received(keypair: Keypair): { rotated: boolean; retired: Keypair[] } {
    if (keypair !== this.next) return { rotated: false, retired: [] };
    const retired: Keypair[] = [];
    retire(retired, this.previous);
    this.previous = this.current;
    this.current = this.next;
    this.next = undefined;
    return { rotated: true, retired };
  }

  /** The keypair with this local index, if it is one of ours. */
  byLocalIndex(index: number): Keypair | undefined {
    for (const k of [this.current, this.previous, this.next]) if (k !== undefined && k.localIndex === index) return k;
    return undefined;
  }

  /** The keypair to send with: current, if it exists and is usable at `now`. */
  sendable(now: number): Keypair | undefined {
    const k = this.current;
    return k !== undefined && !k.isWiped && !k.isExpired(now) && k.shared.canSend() ? k : undefined;
  }

  /** Retires every keypair REJECT_AFTER_TIME old or older (§6.1). */
  expire(now: number): Keypair[] {
    const retired: Keypair[] = [];
    if (this.current?.isExpired(now)) {
      retire(retired, this.current);
      this.current = undefined;
    }
    if (this.previous?.isExpired(now)) {
      retire(retired, this.previous);
      this.previous = undefined;
    }
    if (this.next?.isExpired(now)) {
      retire(retired, this.next);
      this.next = undefined;
    }
    return retired;
  }

  /** The earliest time (ms) at which one of the keypairs expires, or undefined when there are none. */
  nextExpiry(): number | undefined {
    let earliest: number | undefined;
    for (const k of [this.current, this.previous, this.next]) {
      if (k === undefined) continue;
      const at = k.createdAt + REJECT_AFTER_TIME_MS;
      if (earliest === undefined || at < earliest) earliest = at;
    }
    return earliest;
  }

  /** Retires all keypairs (§6.3 key zeroing, peer removal). */
  clear(): Keypair[] {
    const retired: Keypair[] = [];
    retire(retired, this.current);
    retire(retired, this.previous);
    retire(retired, this.next);
    this.current = this.previous = this.next = undefined;
    return retired;
  }
}

function retire(into: Keypair[], keypair: Keypair | undefined): void {
  if (keypair === undefined) return;
  keypair.wipe();
  into.push(keypair);
}
