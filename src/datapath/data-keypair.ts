/**
 * Transport keypairs as a worker uses them, and the burst seal/open around
 * the native batched AEAD (native/aead_burst.cc).
 *
 * A worker's DataKeypair wraps the keypair's SharedArrayBuffer
 * (src/protocol/keypair.ts, KeypairShared: keys, send counter, flags, replay
 * window). Counters are reserved once per burst and per keypair (one
 * Atomics.add), so a nonce is never handed out twice across workers, and
 * the per-packet path holds no BigInt: counters are kept below 2^53 so they
 * are exact Numbers. A keypair that reaches that (after ~9e15 messages,
 * centuries at line rate) is refused for sending, earlier than
 * REJECT_AFTER_MESSAGES would refuse it.
 */
import { native } from '../native/binding.js';
import { KeypairShared } from '../protocol/keypair.js';
import { REJECT_AFTER_TIME_MS, REKEY_AFTER_TIME_MS, REKEY_AFTER_MESSAGES } from '../protocol/constants.js';
import type { KeypairWire } from './worker-messages.js';

/** Most packets one burst carries through this layer. */
export const BURST_MAX = 64;
const HEADER = 16;
const TAG = 16;
/** Sending stops here (see the file comment). */
const SEND_COUNTER_LIMIT = Number.MAX_SAFE_INTEGER;
/** Ask for a new session from this counter on (REKEY_AFTER_MESSAGES, capped to our exact range). */
const REKEY_COUNTER = Math.min(Number(REKEY_AFTER_MESSAGES), 2 ** 52);

/** Status values openBurst writes per packet. */
export const OPEN_OK = 0;
export const OPEN_AUTH_FAILED = 1;
export const OPEN_REPLAY = 2;

export class DataKeypair {
  readonly shared: KeypairShared;
  readonly localIndex: number;
  readonly remoteIndex: number;
  readonly createdMs: number;
  readonly isInitiator: boolean;

  constructor(w: KeypairWire, readonly slot: number) {
    this.shared = new KeypairShared(w.shared);
    this.localIndex = this.shared.localIndex;
    this.remoteIndex = this.shared.remoteIndex;
    this.createdMs = w.createdMs;
    this.isInitiator = w.isInitiator;
  }

  /** Reserves n consecutive send counters; returns the first, or -1 when the keypair may not send. */
  reserve(n: number): number {
    if (!this.shared.canSend()) return -1;
    const first = Number(this.shared.reserveSendCounters(n));
    return first + n > SEND_COUNTER_LIMIT ? -1 : first;
  }

  /** Past REJECT_AFTER_TIME or wiped by the main thread: neither sends nor receives (whitepaper §6.1). */
  expired(nowMs: number): boolean { return nowMs - this.createdMs >= REJECT_AFTER_TIME_MS || !this.shared.canReceive(); }

  usableForSending(nowMs: number): boolean {
    return nowMs - this.createdMs < REJECT_AFTER_TIME_MS && this.shared.canSend() && Number(this.shared.sendCounter()) < SEND_COUNTER_LIMIT;
  }

  /** The initiator renews a session after REKEY_AFTER_TIME; anyone after REKEY_AFTER_MESSAGES (§6.2). */
  wantsRekey(nowMs: number): boolean {
    return (this.isInitiator && nowMs - this.createdMs >= REKEY_AFTER_TIME_MS) || Number(this.shared.sendCounter()) >= REKEY_COUNTER;
  }
}

interface AeadNative {
  aeadSealBurst(buffer: ArrayBufferLike, desc: Uint32Array, n: number, keys: Uint8Array, keyIndex: Uint16Array, counters: Uint32Array, results: Uint8Array): number;
  aeadOpenBurst(buffer: ArrayBufferLike, desc: Uint32Array, n: number, keys: Uint8Array, keyIndex: Uint16Array, counters: Uint32Array, results: Uint8Array): number;
}

// Per-thread scratch for one burst.
const keys = new Uint8Array(BURST_MAX * 32);
const keyIndex = new Uint16Array(BURST_MAX);
const counters = new Uint32Array(BURST_MAX * 2);
const regions = new Uint32Array(BURST_MAX * 2);
const results = new Uint8Array(BURST_MAX);
let aead: AeadNative | undefined;

/**
 * Seals a burst in place. desc[2i] is the offset of a data message whose
 * 16-byte header has its type and receiver index written, desc[2i+1] the
 * header plus padded plaintext; the tag is appended after it. Counters are
 * reserved here and written into the headers. ok[i] = 1 when packet i is sealed.
 */
export function sealBurst(buf: Uint8Array, desc: Uint32Array, n: number, kps: ArrayLike<DataKeypair | undefined>, ok: Uint8Array): void {
  aead ??= native() as unknown as AeadNative;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let distinct = 0;
  let i = 0;
  while (i < n) {
    // Run of packets with the same keypair: one counter reservation, one key slot.
    const kp = kps[i]!;
    let j = i + 1;
    while (j < n && kps[j] === kp) j++;
    const first = kp.reserve(j - i);
    keys.set(kp.shared.sendKey, distinct * 32);
    for (let k = i; k < j; k++) {
      const c = first < 0 ? 0 : first + (k - i);
      const lo = c % 0x1_0000_0000, hi = Math.floor(c / 0x1_0000_0000);
      const off = desc[2 * k]!;
      dv.setUint32(off + 8, lo, true);
      dv.setUint32(off + 12, hi, true);
      counters[2 * k] = lo;
      counters[2 * k + 1] = hi;
      keyIndex[k] = distinct;
      // A packet without a counter gets a descriptor the native side refuses,
      // so it is never sealed (never a reused nonce).
      regions[2 * k] = first < 0 ? 0xffff_ffff : off + HEADER;
      regions[2 * k + 1] = first < 0 ? 0 : desc[2 * k + 1]! - HEADER;
    }
    distinct++;
    i = j;
  }
  aead.aeadSealBurst(buf.buffer, regions, n, keys, keyIndex, counters, results);
  for (let k = 0; k < n; k++) ok[k] = results[k] === 0 ? 1 : 0;
}

/**
 * Opens a burst of whole data messages in place (desc = message offset and
 * length), then applies each keypair's replay window to the authenticated
 * ones. status[i] = OPEN_OK, OPEN_AUTH_FAILED or OPEN_REPLAY.
 */
export function openBurst(buf: Uint8Array, desc: Uint32Array, n: number, kps: ArrayLike<DataKeypair | undefined>, status: Uint8Array): void {
  aead ??= native() as unknown as AeadNative;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let distinct = 0;
  let last: DataKeypair | undefined;
  for (let k = 0; k < n; k++) {
    const kp = kps[k]!;
    if (kp !== last) { keys.set(kp.shared.receiveKey, distinct * 32); distinct++; last = kp; }
    keyIndex[k] = distinct - 1;
    const off = desc[2 * k]!;
    counters[2 * k] = dv.getUint32(off + 8, true);
    counters[2 * k + 1] = dv.getUint32(off + 12, true);
    regions[2 * k] = off + HEADER;
    regions[2 * k + 1] = desc[2 * k + 1]! - HEADER - TAG;
  }
  aead.aeadOpenBurst(buf.buffer, regions, n, keys, keyIndex, counters, results);
  for (let k = 0; k < n; k++) {
    if (results[k] !== 0) { status[k] = OPEN_AUTH_FAILED; continue; }
    // The window is updated only after authentication (§5.4.6).
    status[k] = kps[k]!.shared.replay.checkAndUpdate(counters[2 * k]!, counters[2 * k + 1]!) ? OPEN_OK : OPEN_REPLAY;
  }
}
