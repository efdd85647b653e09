/**
 * X25519 (RFC 7748) through node:crypto (OpenSSL), about ten times faster
 * than a JavaScript implementation (DESIGN.md: 60 µs vs 780 µs for tweetnacl;
 * bench/protocol.ts measures it here).
 *
 * Keys cross this module as raw 32-byte arrays; OpenSSL wants key objects.
 * Raw keys go in through JWK import (a private key ~40 µs, a public key
 * ~6 µs); PKCS#8 DER import is ~350 µs and only a fallback. Nothing is ever
 * exported from OpenSSL: Node 20's JWK export of X25519 keys was seen to
 * deadlock (a futex wait, never returning) after a few thousand calls on this
 * machine, so a public key is computed as X25519(private, 9), the base point
 * (RFC 7748 §6.1), and ephemeral keys are made from our own random bytes.
 */
import { createPrivateKey, createPublicKey, diffieHellman, randomFillSync, type KeyObject } from 'node:crypto';
import { KEY_LENGTH, isAllZero, wipe } from './bytes.js';

/** PKCS#8 DER header for an X25519 private key (OID 1.3.101.110); the 32 raw bytes follow. */
const PKCS8_X25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]);

/** The X25519 base point u = 9 (RFC 7748 §4.1), as OpenSSL's public key object. */
const BASE_POINT = importPublicKey(Uint8Array.from({ length: KEY_LENGTH }, (_, i) => (i === 0 ? 9 : 0)));

/**
 * Placeholder for the "x" member JWK requires beside "d": Node builds a
 * private key from "d" alone (OpenSSL derives the public half), so its value
 * does not matter; should a Node version check it, import falls back to DER.
 */
const JWK_PLACEHOLDER_X = 'A'.repeat(43);

/** A private key with its public key and the OpenSSL object used for DH. */
export interface X25519KeyPair {
  /** The clamped 32-byte private scalar. Wiped by {@link wipeKeyPair}. */
  readonly privateKey: Uint8Array;
  /** The 32-byte public key (u-coordinate). */
  readonly publicKey: Uint8Array;
  /** OpenSSL's handle on the private key; cannot be wiped from JavaScript. */
  readonly keyObject: KeyObject;
}

/**
 * Clamps a private scalar in place as RFC 7748 §5 decodeScalar25519 does:
 * clear the low three bits, clear bit 255, set bit 254. wg genkey prints
 * clamped keys, so we do the same; DH results do not depend on it because
 * X25519 clamps internally.
 */
export function clampPrivateKey(key: Uint8Array): Uint8Array {
  if (key.length !== KEY_LENGTH) throw new RangeError(`an X25519 private key is 32 bytes, got ${key.length}`);
  key[0]! &= 248;
  key[31]! &= 127;
  key[31]! |= 64;
  return key;
}

/** A fresh random private key, clamped (what `wg genkey` prints). */
export function generatePrivateKey(): Uint8Array {
  return clampPrivateKey(randomFillSync(new Uint8Array(KEY_LENGTH)));
}

/**
 * Builds a key pair from a raw private key (copied, then clamped in the copy).
 * Cost: one private key import and one scalar multiplication (~80 µs).
 */
export function keyPairFromPrivate(privateKey: Uint8Array): X25519KeyPair {
  if (privateKey.length !== KEY_LENGTH) throw new RangeError(`an X25519 private key is 32 bytes, got ${privateKey.length}`);
  const raw = clampPrivateKey(Uint8Array.from(privateKey));
  const keyObject = importPrivateKey(raw);
  const pub = diffieHellman({ privateKey: keyObject, publicKey: BASE_POINT });
  return { privateKey: raw, publicKey: new Uint8Array(pub.buffer, pub.byteOffset, pub.byteLength), keyObject };
}

/** A fresh random key pair: the per-handshake ephemeral key (~80 µs). */
export function generateKeyPair(): X25519KeyPair {
  const raw = generatePrivateKey();
  const pair = keyPairFromPrivate(raw);
  wipe(raw);
  return pair;
}

/** The public key of a raw private key (what `wg pubkey` prints, as bytes). */
export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  return keyPairFromPrivate(privateKey).publicKey;
}

/** OpenSSL's handle on a remote public key (JWK import, ~6 µs). */
export function importPublicKey(publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== KEY_LENGTH) throw new RangeError(`an X25519 public key is 32 bytes, got ${publicKey.length}`);
  const x = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('base64url');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' });
}

/**
 * X25519(ours, theirs). Returns null when the result is all zeros, i.e. the
 * remote key is of small order (RFC 7748 §6.1 allows the check; the
 * whitepaper §5.4 and the kernel refuse such keys). OpenSSL itself refuses an
 * all-zero result with an error, which we translate to null too.
 */
export function sharedSecret(ours: X25519KeyPair, theirs: Uint8Array | KeyObject): Uint8Array | null {
  let out: Buffer;
  try {
    const publicKey = theirs instanceof Uint8Array ? importPublicKey(theirs) : theirs;
    out = diffieHellman({ privateKey: ours.keyObject, publicKey });
  } catch {
    return null;
  }
  const secret = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  if (secret.length !== KEY_LENGTH || isAllZero(secret)) {
    wipe(secret);
    return null;
  }
  return secret;
}

/** Wipes the raw private key of a pair (the OpenSSL object is released by the GC). */
export function wipeKeyPair(pair: X25519KeyPair | null | undefined): void {
  if (pair) wipe(pair.privateKey);
}

/** OpenSSL's handle on a raw private key: JWK import, DER if JWK is refused. */
function importPrivateKey(raw: Uint8Array): KeyObject {
  const d = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url');
  try {
    return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d, x: JWK_PLACEHOLDER_X }, format: 'jwk' });
  } catch {
    const der = new Uint8Array(PKCS8_X25519_PREFIX.length + KEY_LENGTH);
    der.set(PKCS8_X25519_PREFIX);
    der.set(raw, PKCS8_X25519_PREFIX.length);
    const keyObject = createPrivateKey({ key: Buffer.from(der.buffer), format: 'der', type: 'pkcs8' });
    wipe(der);
    return keyObject;
  }
}
