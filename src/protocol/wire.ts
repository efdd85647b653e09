/**
 * The WireGuard wire format (whitepaper §5.4.2-§5.4.7): four message types,
 * their exact sizes and field offsets, all integers little-endian.
 *
 * The first four bytes are the type as a little-endian u32: one type byte and
 * three reserved bytes that must be zero, so a message whose reserved bytes
 * are set is of an unknown type and dropped.
 *
 * Parsers never throw: they return the message or a DropReason
 * (src/packet/drop-reasons.ts). The daemon
 * reads fields in place with the offsets below, after {@link classify} /
 * {@link classifyMessage}; the allocating whole-message parsers are a test
 * reference (test/helpers/wire-parsers.ts).
 *
 * This module is the one source of wire facts (as wireguard-go's
 * messages.go / the kernel's messages.h); ./constants.ts keeps only timers
 * and limits.
 */
import { TAG_LENGTH } from '../crypto/aead-sizes.js';
import type { DropReason } from '../packet/drop-reasons.js';

/** Handshake initiation (initiator → responder). */
export const MESSAGE_INITIATION = 1;
/** Handshake response (responder → initiator). */
export const MESSAGE_RESPONSE = 2;
/** Cookie reply, sent instead of a response when under load. */
export const MESSAGE_COOKIE_REPLY = 3;
/** Transport data (and keepalives: data with an empty payload). */
export const MESSAGE_DATA = 4;

/** The message type numbers. */
export type MessageType = typeof MESSAGE_INITIATION | typeof MESSAGE_RESPONSE | typeof MESSAGE_COOKIE_REPLY | typeof MESSAGE_DATA;

/** Size of a handshake initiation message. */
export const INITIATION_SIZE = 148;
/** Size of a handshake response message. */
export const RESPONSE_SIZE = 92;
/** Size of a cookie reply message. */
export const COOKIE_REPLY_SIZE = 64;
/** Header of a data message: type (1) ‖ reserved (3) ‖ receiver index (4) ‖ counter (8). */
export const DATA_HEADER_SIZE = 16;
/** Poly1305 tag at the end of each encrypted field (the AEAD's tag, src/crypto/aead.ts). */
export const TAG_SIZE = TAG_LENGTH;
/** Smallest data message: header + the tag of an empty plaintext (a keepalive). */
export const DATA_MIN_SIZE = DATA_HEADER_SIZE + TAG_SIZE;
/** Size of the MAC1 and MAC2 fields. */
export const MAC_SIZE = 16;
/** Size of the cookie (and the plaintext of a cookie reply). */
export const COOKIE_SIZE = 16;
/** Size of the XChaCha20 nonce in a cookie reply. */
export const COOKIE_NONCE_SIZE = 24;
/** Data plaintext is zero-padded to a multiple of this (whitepaper §5.4.6). */
export const DATA_PADDING = 16;

/** Offsets inside a handshake initiation (148 bytes). */
export const Initiation = {
  /** u32 LE = 1 */
  type: 0,
  /** u32 LE: the initiator's index for this handshake */
  sender: 4,
  /** 32 bytes: the initiator's ephemeral public key, unencrypted */
  ephemeral: 8,
  /** 32 + 16 bytes: AEAD of the initiator's static public key */
  encryptedStatic: 40,
  /** 12 + 16 bytes: AEAD of the TAI64N timestamp */
  encryptedTimestamp: 88,
  /** 16 bytes: MAC(HASH("mac1----" ‖ responder public), bytes 0..116) */
  mac1: 116,
  /** 16 bytes: MAC(cookie, bytes 0..132) or zeros */
  mac2: 132,
} as const;

/** Offsets inside a handshake response (92 bytes). */
export const Response = {
  /** u32 LE = 2 */
  type: 0,
  /** u32 LE: the responder's index */
  sender: 4,
  /** u32 LE: the initiator's index, from the initiation */
  receiver: 8,
  /** 32 bytes: the responder's ephemeral public key */
  ephemeral: 12,
  /** 0 + 16 bytes: AEAD of the empty string */
  encryptedNothing: 44,
  /** 16 bytes: MAC(HASH("mac1----" ‖ initiator public), bytes 0..60) */
  mac1: 60,
  /** 16 bytes: MAC(cookie, bytes 0..76) or zeros */
  mac2: 76,
} as const;

/** Offsets inside a cookie reply (64 bytes). */
export const CookieReply = {
  /** u32 LE = 3 */
  type: 0,
  /** u32 LE: the sender index of the message this answers */
  receiver: 4,
  /** 24 bytes: random XChaCha20 nonce */
  nonce: 8,
  /** 16 + 16 bytes: XAEAD of the cookie, AD = mac1 of the message answered */
  encryptedCookie: 32,
} as const;

/** Offsets inside a data message (>= 32 bytes). */
export const Data = {
  /** u32 LE = 4 */
  type: 0,
  /** u32 LE: the receiving side's keypair index */
  receiver: 4,
  /** u64 LE: the nonce counter */
  counter: 8,
  /** encrypted, padded inner packet followed by its 16-byte tag */
  payload: 16,
} as const;

/** Reads a little-endian u32 without allocating. */
export function readU32(buf: Uint8Array, offset: number): number {
  return (buf[offset]! | (buf[offset + 1]! << 8) | (buf[offset + 2]! << 16) | (buf[offset + 3]! << 24)) >>> 0;
}

/** Writes a little-endian u32 without allocating. */
export function writeU32(buf: Uint8Array, offset: number, value: number): void {
  buf[offset] = value & 0xff;
  buf[offset + 1] = (value >>> 8) & 0xff;
  buf[offset + 2] = (value >>> 16) & 0xff;
  buf[offset + 3] = (value >>> 24) & 0xff;
}

/** The exact size of a handshake message type (whitepaper §5.4.2–§5.4.7); 0 for other types. */
export function handshakeSize(type: number): number {
  return type === MESSAGE_INITIATION
    ? INITIATION_SIZE
    : type === MESSAGE_RESPONSE
      ? RESPONSE_SIZE
      : type === MESSAGE_COOKIE_REPLY
        ? COOKIE_REPLY_SIZE
        : 0;
}

/**
 * Classifies the message at buf[offset, offset+length) by its type and
 * checks its length: the type when the length is right for it, else why not
 * ('short', 'truncated', 'oversized', 'unknown-type'). Allocation-free: the
 * data path's first check on every received message.
 */
export function classifyMessage(buf: Uint8Array, offset: number, length: number): MessageType | DropReason {
  if (length < 4) return 'short';
  const type = readU32(buf, offset);
  if (type === MESSAGE_DATA) return length < DATA_MIN_SIZE ? 'short' : MESSAGE_DATA;
  const size = handshakeSize(type);
  if (size === 0) return 'unknown-type';
  return length === size ? (type as MessageType) : length < size ? 'truncated' : 'oversized';
}

/** {@link classifyMessage} of a whole buffer (the control path's form). */
export function classify(buf: Uint8Array, length = buf.length): MessageType | DropReason {
  return classifyMessage(buf, 0, length);
}

/** Writes the 4-byte type field (type byte + three zero reserved bytes). */
export function writeType(buf: Uint8Array, type: MessageType): void {
  writeU32(buf, 0, type);
}

/**
 * The padded plaintext length of an inner packet of `length` bytes: rounded up
 * to a multiple of 16, but never past the MTU (whitepaper §5.4.6).
 */
export function paddedLength(length: number, mtu: number): number {
  const padded = (length + DATA_PADDING - 1) & ~(DATA_PADDING - 1);
  return length > mtu ? length : Math.min(padded, mtu);
}
