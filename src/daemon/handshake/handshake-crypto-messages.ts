/**
 * What the handshake crew (native/handshake_crew.cc) gives back for a job of
 * initiations: per initiation a status byte, and for each answered one a
 * fixed record in one buffer (handshake-crypto-pool.ts reads them). The
 * layout here is the one the crew writes (its kRec* constants).
 */
import type { DropReason } from '../../packet/drop-reasons.js';
import type { RespondedInitiation } from '../../protocol/noise-responder.js';
import { NOISE_FAILURES, NOISE_REPLAYED } from '../../protocol/noise-ikpsk2-native.js';

/** An answered initiation as the main thread sees it: the response and keys, the initiator's key in hex (the device's peer key). */
export type CryptoAnswer = RespondedInitiation & { initiatorHex: string };

/** An answered record, little-endian. */
export const AnswerRecord = {
  /** u32: the version of the peer entry used (peer-key-table.ts; the pool checks it is still current). */
  version: 0,
  /** u32: the initiator's sender index. */
  remoteIndex: 4,
  /** u32: the identity generation used (the pool checks it is still current). */
  generation: 8,
  /** 32 bytes: the initiator's static public key. */
  remoteStatic: 12,
  /** 12 bytes: its TAI64N timestamp. */
  timestamp: 44,
  /** 92 bytes: the response, index fields and MACs zero. */
  response: 56,
  /** 32 + 32 bytes: the responder's sending key, then its receiving key. */
  keys: 148,
  size: 212,
} as const;

/** The crew's status bytes beyond 0 (answered), in the responder's drop reasons. */
export const CREW_STATUS_REASONS: Record<number, DropReason> = {
  ...NOISE_FAILURES,
  [NOISE_REPLAYED]: 'replayed-timestamp',
  /** The initiator's key is no configured peer. */
  6: 'unknown-peer',
  /** No private key set: nobody is known. */
  7: 'unknown-peer',
  /** Not an initiation (the type field). */
  8: 'unknown-type',
};
