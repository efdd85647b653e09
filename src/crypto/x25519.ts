/**
 * X25519 (RFC 7748) through node:crypto (OpenSSL), about ten times faster
 * than a JavaScript implementation (DESIGN.md: 60 µs vs 780 µs for tweetnacl).
 *
 * Keys cross this module as raw 32-byte arrays. OpenSSL wants key objects, so
 * raw keys are wrapped: a private key through its PKCS#8 DER form (slow, about
 * 350 µs, done once per configured key), a public key through JWK (about 6 µs,
 * done per Diffie-Hellman with a remote key). An {@link X25519KeyPair} keeps the
 * private key object so repeated DH with the same private key costs one import.
 */
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, randomFillSync, type KeyObject } from 'node:crypto';
import { KEY_LENGTH, isAllZero, wipe } from './bytes.js';

/** PKCS#8 DER header for an X25519 private key (OID 1.3.101.110); the 32 raw bytes follow. */
const PKCS8_X25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]);

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
 * Cost: one PKCS#8 import (~350 µs); use for static and test keys, not per handshake.
 */
export function keyPairFromPrivate(privateKey: Uint8Array): X25519KeyPair {
  if (privateKey.length !== KEY_LENGTH) throw new RangeError(`an X25519 private key is 32 bytes, got ${privateKey.length}`);
  const der = new Uint8Array(PKCS8_X25519_PREFIX.length + KEY_LENGTH);
  der.set(PKCS8_X25519_PREFIX);
  der.set(privateKey, PKCS8_X25519_PREFIX.length);
  const keyObject = createPrivateKey({ key: Buffer.from(der.buffer), format: 'der', type: 'pkcs8' });
  wipe(der);
  return { privateKey: clampPrivateKey(Uint8Array.from(privateKey)), publicKey: publicOf(keyObject), keyObject };
}

/**
 * A fresh random key pair generated inside OpenSSL (~40 µs): the per-handshake
 * ephemeral key. Raw bytes come back through JWK export.
 */
export function generateKeyPair(): X25519KeyPair {
  const { privateKey: keyObject } = generateKeyPairSync('x25519');
  const jwk = keyObject.export({ format: 'jwk' });
  const privateKey = new Uint8Array(Buffer.from(jwk.d!, 'base64url'));
  const publicKey = new Uint8Array(Buffer.from(jwk.x!, 'base64url'));
  return { privateKey, publicKey, keyObject };
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

function publicOf(keyObject: KeyObject): Uint8Array {
  const jwk = keyObject.export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(jwk.x!, 'base64url'));
}
