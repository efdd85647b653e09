/**
 * AEADs of the whitepaper §5.4:
 *   AEAD(key, counter, plain, ad)  = ChaCha20-Poly1305 (RFC 8439) with the
 *                                    96-bit nonce 32 zero bits ‖ 64-bit
 *                                    little-endian counter
 *   XAEAD(key, nonce24, plain, ad) = XChaCha20-Poly1305 (cookie replies)
 * Output is ciphertext ‖ 16-byte tag. Opening returns null on any
 * authentication failure, never throws on bad input from the network.
 *
 * Two ChaCha20-Poly1305 backends with the same interface: node:crypto
 * (OpenSSL, the default; docs/DESIGN.md measures it ~3x faster than JavaScript)
 * and @noble/ciphers (pure JavaScript, the reference in tests).
 * These allocate per call: they serve the handshake and tests. The data path
 * uses its own in-place, batched backend.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { chacha20poly1305 as nobleChaCha, xchacha20poly1305 as nobleXChaCha } from '@noble/ciphers/chacha.js';
import { KEY_LENGTH } from './bytes.js';
import { TAG_LENGTH } from './aead-sizes.js';

export { TAG_LENGTH };
/** ChaCha20-Poly1305 nonce length (RFC 8439). */
export const NONCE_LENGTH = 12;
/** XChaCha20-Poly1305 nonce length. */
export const XNONCE_LENGTH = 24;

/** A ChaCha20-Poly1305 implementation (RFC 8439 §2.8), keyed per call. */
export interface AeadBackend {
  /** Short name for logs and benchmarks. */
  readonly name: string;
  /** Encrypts under a 12-byte nonce: returns ciphertext ‖ tag (plaintext.length + 16 bytes). */
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array;
  /** Decrypts ciphertext ‖ tag; null when shorter than a tag or not authentic. */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null;
}

/** The 12-byte nonce: 4 zero bytes, then the counter as 64-bit little-endian (whitepaper §5.4). */
export function counterNonce(counter: bigint | number): Uint8Array {
  const nonce = new Uint8Array(NONCE_LENGTH);
  const view = new DataView(nonce.buffer);
  if (typeof counter === 'bigint') {
    view.setBigUint64(4, counter, true);
  } else {
    if (!Number.isSafeInteger(counter) || counter < 0)
      throw new RangeError(`nonce counter must be a non-negative safe integer, got ${counter}`);
    view.setUint32(4, counter >>> 0, true);
    view.setUint32(8, Math.floor(counter / 0x1_0000_0000), true);
  }
  return nonce;
}

/** ChaCha20-Poly1305 through OpenSSL. */
export const nodeAead: AeadBackend = {
  name: 'node:crypto',
  seal(key, nonce, plaintext, ad) {
    checkKeyAndNonce(key, nonce);
    const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LENGTH });
    cipher.setAAD(ad, { plaintextLength: plaintext.length });
    const body = cipher.update(plaintext);
    cipher.final();
    const out = new Uint8Array(plaintext.length + TAG_LENGTH);
    out.set(body);
    out.set(cipher.getAuthTag(), plaintext.length);
    return out;
  },
  open(key, nonce, sealed, ad) {
    checkKeyAndNonce(key, nonce);
    if (sealed.length < TAG_LENGTH) return null;
    const n = sealed.length - TAG_LENGTH;
    const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LENGTH });
    decipher.setAuthTag(sealed.subarray(n));
    decipher.setAAD(ad, { plaintextLength: n });
    const body = decipher.update(sealed.subarray(0, n));
    try {
      decipher.final();
    } catch {
      body.fill(0); // unauthenticated plaintext must not escape
      return null;
    }
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  },
};

/** ChaCha20-Poly1305 in pure JavaScript (@noble/ciphers): the reference. */
export const nobleAead: AeadBackend = {
  name: '@noble/ciphers',
  seal(key, nonce, plaintext, ad) {
    checkKeyAndNonce(key, nonce);
    return nobleChaCha(key, nonce, ad).encrypt(plaintext);
  },
  open(key, nonce, sealed, ad) {
    checkKeyAndNonce(key, nonce);
    if (sealed.length < TAG_LENGTH) return null;
    try {
      return nobleChaCha(key, nonce, ad).decrypt(sealed);
    } catch {
      return null;
    }
  },
};

/** AEAD(key, counter, plaintext, ad) with the default backend. */
export function aeadSeal(key: Uint8Array, counter: bigint | number, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  return nodeAead.seal(key, counterNonce(counter), plaintext, ad);
}

/** Opens AEAD(key, counter, …) with the default backend; null when not authentic. */
export function aeadOpen(key: Uint8Array, counter: bigint | number, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
  return nodeAead.open(key, counterNonce(counter), sealed, ad);
}

/** XAEAD: XChaCha20-Poly1305 seal with a 24-byte nonce (cookie replies, whitepaper §5.4.7). */
export function xaeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  checkKey(key);
  if (nonce.length !== XNONCE_LENGTH) throw new RangeError(`XChaCha20 nonce is 24 bytes, got ${nonce.length}`);
  return nobleXChaCha(key, nonce, ad).encrypt(plaintext);
}

/** XAEAD open; null when not authentic or malformed. */
export function xaeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
  checkKey(key);
  if (nonce.length !== XNONCE_LENGTH || sealed.length < TAG_LENGTH) return null;
  try {
    return nobleXChaCha(key, nonce, ad).decrypt(sealed);
  } catch {
    return null;
  }
}

function checkKeyAndNonce(key: Uint8Array, nonce: Uint8Array): void {
  checkKey(key);
  if (nonce.length !== NONCE_LENGTH) throw new RangeError(`ChaCha20-Poly1305 nonce is 12 bytes, got ${nonce.length}`);
}

function checkKey(key: Uint8Array): void {
  if (key.length !== KEY_LENGTH) throw new RangeError(`ChaCha20-Poly1305 key is 32 bytes, got ${key.length}`);
}
