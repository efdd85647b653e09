/**
 * What the main thread and a handshake crypto thread say to each other
 * (handshake-crypto-pool.ts ↔ handshake-crypto-worker.ts), one MessagePort
 * each, in order.
 *
 * The main thread is the only writer of what the thread knows (identity,
 * peers); the thread answers each batch with one results message. A result
 * carries the identity generation and the peer's version the thread used,
 * so the main thread can drop results computed with keys that changed while
 * they were in flight.
 */
import type { DropReason } from '../../packet/drop-reasons.js';
import type { RespondedInitiation } from '../../protocol/noise-responder.js';

export type ToCrypto =
  /** The device's static private key (null: none; every result is refused). */
  | { t: 'identity'; privateKey: Uint8Array | null; generation: number }
  /** A peer the responder accepts initiations from, with its PSK (32 zero bytes: none); version bumps on every change. */
  | { t: 'peer'; publicKey: Uint8Array; presharedKey: Uint8Array; version: number }
  | { t: 'peer-remove'; publicKey: Uint8Array }
  /**
   * Many 'peer' / 'peer-remove' changes in order, one message of flat buffers (a 100,000-peer set
   * is not 200,000 messages per thread, nor 200,000 cloned arrays): per change i, publicKeys and
   * presharedKeys hold 32 bytes at 32 i, versions[i] is the version, 0 for a removal.
   */
  | { t: 'peers'; count: number; publicKeys: Uint8Array; presharedKeys: Uint8Array; versions: Uint32Array }
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
  { t: 'ready' } | { t: 'results'; seq: number; generation: number; reasons: Array<DropReason | null>; records: Uint8Array };
