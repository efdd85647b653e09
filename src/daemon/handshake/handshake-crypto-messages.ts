/**
 * What the main thread and a handshake crypto thread say to each other
 * (handshake-crypto-pool.ts ↔ handshake-crypto-worker.ts), one MessagePort
 * each, in order.
 *
 * The main thread is the only writer of what the thread knows (identity,
 * the shared peer table); the thread answers each batch with one results message. A result
 * carries the identity generation and the peer's version the thread used,
 * so the main thread can drop results computed with keys that changed while
 * they were in flight.
 */
import type { DropReason } from '../../packet/drop-reasons.js';
import type { RespondedInitiation } from '../../protocol/noise-responder.js';

export type ToCrypto =
  /** The device's static private key (null: none; every result is refused). */
  | { t: 'identity'; privateKey: Uint8Array | null; generation: number }
  /**
   * The peer table to read from now on (peer-key-table.ts: shared, written by
   * the main thread alone): at start, and after each rebuild into a new
   * buffer. id counts the buffers; the thread answers 'table-switched'.
   */
  | { t: 'table'; buffer: SharedArrayBuffer; id: number }
  /** Peers that went (count × 32 bytes of public keys): drop what is cached for them (no secret travels). */
  | { t: 'forget'; count: number; publicKeys: Uint8Array }
  /** Initiations (count × INITIATION_SIZE bytes, MACs checked) to answer; seq names the batch. */
  | { t: 'batch'; seq: number; count: number; messages: Uint8Array };

/** An answered initiation as the main thread sees it: the response and keys, the initiator's key in hex (the device's peer key). */
export type CryptoAnswer = RespondedInitiation & { initiatorHex: string };

/**
 * A batch's results travel as one transferred buffer of fixed records (no
 * structured clone of five small arrays per handshake, no garbage for the
 * collectors of both threads), plus, per initiation, its drop reason or null
 * when its record holds an answer. An answered record, little-endian:
 */
export const AnswerRecord = {
  /** u32: the version of the peer entry used (handshake-crypto-pool.ts maps it back to the peer). */
  version: 0,
  /** u32: the initiator's sender index. */
  remoteIndex: 4,
  /** 32 bytes: the initiator's static public key. */
  remoteStatic: 8,
  /** 12 bytes: its TAI64N timestamp. */
  timestamp: 40,
  /** 92 bytes: the response, index fields and MACs zero. */
  response: 52,
  /** 32 + 32 bytes: the responder's sending key, then its receiving key. */
  keys: 144,
  size: 208,
} as const;

export type FromCrypto =
  | { t: 'ready' }
  /** The thread reads the table buffer `id` now, and no older one (the pool may wipe those). */
  | { t: 'table-switched'; id: number }
  | { t: 'results'; seq: number; generation: number; reasons: Array<DropReason | null>; records: Uint8Array };
