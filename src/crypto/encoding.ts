/**
 * Key codecs as wg(8) and the UAPI use them: base64 (exactly 44 characters
 * ending in '=') for configuration files and the command line, lowercase hex
 * (exactly 64 characters) for the cross-platform userspace API.
 * Decoding is strict: anything but a canonical encoding of 32 bytes is refused
 * with a {@link KeyFormatError}, never silently truncated or padded.
 */
import { KEY_LENGTH } from './bytes.js';

/** Thrown when a textual key is not a canonical base64 or hex encoding of 32 bytes. */
export class KeyFormatError extends Error {
  override readonly name = 'KeyFormatError';
}

const BASE64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const HEX_KEY = /^[0-9a-fA-F]{64}$/;

/** Encodes a 32-byte key as wg does: 44 characters of standard base64. */
export function keyToBase64(key: Uint8Array): string {
  assertKeyLength(key);
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('base64');
}

/**
 * Decodes a wg base64 key. The last data character must leave the unused low
 * bits zero (42 chars + one of 16 chars + '='), so every accepted string is the
 * unique encoding of its key, as wg's own decoder requires.
 */
export function keyFromBase64(text: string): Uint8Array {
  if (text.length !== 44) throw new KeyFormatError(`key must be 44 base64 characters, got ${text.length}`);
  if (!BASE64_KEY.test(text)) throw new KeyFormatError('key is not canonical base64 of 32 bytes');
  return new Uint8Array(Buffer.from(text, 'base64'));
}

/** Encodes a 32-byte key as 64 lowercase hex digits (the UAPI form). */
export function keyToHex(key: Uint8Array): string {
  assertKeyLength(key);
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex');
}

/** Decodes 64 hex digits (either case) into a 32-byte key. */
export function keyFromHex(text: string): Uint8Array {
  if (!HEX_KEY.test(text)) throw new KeyFormatError(`key must be 64 hex digits, got ${JSON.stringify(text.slice(0, 80))}`);
  return new Uint8Array(Buffer.from(text, 'hex'));
}

/** Decodes arbitrary-length hex (even count of hex digits), for test vectors and diagnostics. */
export function hexToBytes(text: string): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) throw new KeyFormatError('not an even-length hex string');
  return new Uint8Array(Buffer.from(text, 'hex'));
}

/** Encodes bytes as lowercase hex. */
export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function assertKeyLength(key: Uint8Array): void {
  if (key.length !== KEY_LENGTH) throw new RangeError(`a key is ${KEY_LENGTH} bytes, got ${key.length}`);
}
