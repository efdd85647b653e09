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
import type { DropReason } from '../protocol/wire.js';
import type { RespondedInitiation } from '../protocol/noise-responder.js';

export type ToCrypto =
  /** The device's static private key (null: none; every result is refused). */
  | { t: 'identity'; privateKey: Uint8Array | null; generation: number }
  /** A peer the responder accepts initiations from, with its PSK (32 zero bytes: none); version bumps on every change. */
  | { t: 'peer'; publicKey: Uint8Array; presharedKey: Uint8Array; version: number }
  | { t: 'peer-remove'; publicKey: Uint8Array }
  /** Initiations (count × INITIATION_SIZE bytes, MACs checked) to answer; seq names the batch. */
  | { t: 'batch'; seq: number; count: number; messages: Uint8Array };

/** An answered initiation: the response and keys, the initiator's key in hex (the device's peer key), the peer version used. */
export type CryptoAnswer = RespondedInitiation & { initiatorHex: string; version: number };

/** One initiation's outcome: answered, or why it was refused. */
export type CryptoResult = CryptoAnswer | DropReason;

export type FromCrypto =
  | { t: 'ready' }
  | { t: 'results'; seq: number; generation: number; results: CryptoResult[] };
