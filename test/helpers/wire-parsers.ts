/**
 * Whole-message parsers of the wire format (whitepaper §5.4.2-§5.4.7), as a
 * readable reference for tests: each returns an object of views into the
 * message, or the reason it is refused. The daemon itself never allocates
 * per message: it classifies (src/protocol/wire.ts classify /
 * classifyMessage) and reads fields in place at wire.ts's offsets.
 */
import {
  COOKIE_REPLY_SIZE,
  CookieReply,
  Data,
  INITIATION_SIZE,
  Initiation,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_DATA,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  RESPONSE_SIZE,
  Response,
  classify,
  readU32,
  writeU32,
} from '../../src/protocol/wire.js';
import type { DropReason } from '../../src/packet/drop-reasons.js';

/** Reads the little-endian u64 counter of a data message. */
export function readU64(buf: Uint8Array, offset: number): bigint {
  return BigInt(readU32(buf, offset)) | (BigInt(readU32(buf, offset + 4)) << 32n);
}

/** Writes a little-endian u64. */
export function writeU64(buf: Uint8Array, offset: number, value: bigint): void {
  writeU32(buf, offset, Number(value & 0xffff_ffffn));
  writeU32(buf, offset + 4, Number((value >> 32n) & 0xffff_ffffn));
}

/** A parsed handshake initiation; byte fields are views into the message. */
export interface InitiationMessage {
  readonly type: typeof MESSAGE_INITIATION;
  readonly sender: number;
  readonly ephemeral: Uint8Array;
  readonly encryptedStatic: Uint8Array;
  readonly encryptedTimestamp: Uint8Array;
  readonly mac1: Uint8Array;
  readonly mac2: Uint8Array;
  /** The whole message (for MAC checks). */
  readonly bytes: Uint8Array;
}

/** A parsed handshake response; byte fields are views into the message. */
export interface ResponseMessage {
  readonly type: typeof MESSAGE_RESPONSE;
  readonly sender: number;
  readonly receiver: number;
  readonly ephemeral: Uint8Array;
  readonly encryptedNothing: Uint8Array;
  readonly mac1: Uint8Array;
  readonly mac2: Uint8Array;
  readonly bytes: Uint8Array;
}

/** A parsed cookie reply; byte fields are views into the message. */
export interface CookieReplyMessage {
  readonly type: typeof MESSAGE_COOKIE_REPLY;
  readonly receiver: number;
  readonly nonce: Uint8Array;
  readonly encryptedCookie: Uint8Array;
  readonly bytes: Uint8Array;
}

/** A parsed data message header; payload is encrypted data ‖ tag. */
export interface DataMessage {
  readonly type: typeof MESSAGE_DATA;
  readonly receiver: number;
  readonly counter: bigint;
  readonly payload: Uint8Array;
  readonly bytes: Uint8Array;
}

/** Any parsed message. */
export type Message = InitiationMessage | ResponseMessage | CookieReplyMessage | DataMessage;

/** Parses a handshake initiation, or says why not. */
export function parseInitiation(buf: Uint8Array): InitiationMessage | DropReason {
  const t = classify(buf);
  if (typeof t === 'string') return t;
  if (t !== MESSAGE_INITIATION) return 'unknown-type';
  return {
    type: MESSAGE_INITIATION,
    sender: readU32(buf, Initiation.sender),
    ephemeral: buf.subarray(Initiation.ephemeral, Initiation.encryptedStatic),
    encryptedStatic: buf.subarray(Initiation.encryptedStatic, Initiation.encryptedTimestamp),
    encryptedTimestamp: buf.subarray(Initiation.encryptedTimestamp, Initiation.mac1),
    mac1: buf.subarray(Initiation.mac1, Initiation.mac2),
    mac2: buf.subarray(Initiation.mac2, INITIATION_SIZE),
    bytes: buf,
  };
}

/** Parses a handshake response, or says why not. */
export function parseResponse(buf: Uint8Array): ResponseMessage | DropReason {
  const t = classify(buf);
  if (typeof t === 'string') return t;
  if (t !== MESSAGE_RESPONSE) return 'unknown-type';
  return {
    type: MESSAGE_RESPONSE,
    sender: readU32(buf, Response.sender),
    receiver: readU32(buf, Response.receiver),
    ephemeral: buf.subarray(Response.ephemeral, Response.encryptedNothing),
    encryptedNothing: buf.subarray(Response.encryptedNothing, Response.mac1),
    mac1: buf.subarray(Response.mac1, Response.mac2),
    mac2: buf.subarray(Response.mac2, RESPONSE_SIZE),
    bytes: buf,
  };
}

/** Parses a cookie reply, or says why not. */
export function parseCookieReply(buf: Uint8Array): CookieReplyMessage | DropReason {
  const t = classify(buf);
  if (typeof t === 'string') return t;
  if (t !== MESSAGE_COOKIE_REPLY) return 'unknown-type';
  return {
    type: MESSAGE_COOKIE_REPLY,
    receiver: readU32(buf, CookieReply.receiver),
    nonce: buf.subarray(CookieReply.nonce, CookieReply.encryptedCookie),
    encryptedCookie: buf.subarray(CookieReply.encryptedCookie, COOKIE_REPLY_SIZE),
    bytes: buf,
  };
}

/** Parses a data message header, or says why not. */
export function parseData(buf: Uint8Array): DataMessage | DropReason {
  const t = classify(buf);
  if (typeof t === 'string') return t;
  if (t !== MESSAGE_DATA) return 'unknown-type';
  return {
    type: MESSAGE_DATA,
    receiver: readU32(buf, Data.receiver),
    counter: readU64(buf, Data.counter),
    payload: buf.subarray(Data.payload),
    bytes: buf,
  };
}

/** Parses any message by its type, or says why it is dropped. */
export function parseMessage(buf: Uint8Array): Message | DropReason {
  const t = classify(buf);
  if (typeof t === 'string') return t;
  switch (t) {
    case MESSAGE_INITIATION:
      return parseInitiation(buf);
    case MESSAGE_RESPONSE:
      return parseResponse(buf);
    case MESSAGE_COOKIE_REPLY:
      return parseCookieReply(buf);
    case MESSAGE_DATA:
      return parseData(buf);
  }
}
