/**
 * X25519 (RFC 7748) for the handshake, through one of two backends:
 *
 * - native (the default when the addon loads): libsodium in the addon
 *   (native/x25519.cc). A key pair keeps the raw scalar in the addon.
 *   Measured on this 2-core machine (bench/x25519-backends.cc): a DH
 *   ~31 µs and a fresh key pair ~28 µs, against ~35 µs and ~40 µs through
 *   OpenSSL's EVP (the backend before) and ~45 µs and ~85 µs through
 *   node:crypto's KeyObjects.
 * - node:crypto (the fallback): raw keys go in through JWK import (a private
 *   key ~40 µs, a public key ~6 µs); PKCS#8 DER import is ~350 µs and only a
 *   fallback. Nothing is ever exported from OpenSSL: Node 20's JWK export of
 *   X25519 keys was seen to deadlock (a futex wait, never returning) after a
 *   few thousand calls on this machine, so a public key is computed as
 *   X25519(private, 9), the base point (RFC 7748 §6.1), and ephemeral keys
 *   are made from our own random bytes.
 *
 * Threading: a key pair belongs to the thread that made it (its handle
 * lives in that thread's addon or node instance).
 */
import { createPrivateKey, createPublicKey, diffieHellman, randomFillSync, type KeyObject } from 'node:crypto';
import { KEY_LENGTH, isAllZero, wipe } from './bytes.js';
import { native, type NativeBinding } from '../native/binding.js';

/** PKCS#8 DER header for an X25519 private key (OID 1.3.101.110); the 32 raw bytes follow. */
const PKCS8_X25519_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
]);

/** The X25519 base point u = 9 (RFC 7748 §4.1), as node's public key object (made on first use). */
let basePoint: KeyObject | undefined;

/**
 * Placeholder for the "x" member JWK requires beside "d": Node builds a
 * private key from "d" alone (OpenSSL derives the public half), so its value
 * does not matter; should a Node version check it, import falls back to DER.
 */
const JWK_PLACEHOLDER_X = 'A'.repeat(43);

/** A private key with its public key and the backend's object used for DH. */
export interface X25519KeyPair {
  /** The clamped 32-byte private scalar. Wiped by {@link wipeKeyPair}. */
  readonly privateKey: Uint8Array;
  /** The 32-byte public key (u-coordinate). */
  readonly publicKey: Uint8Array;
  /** The backend's handle on the private key (the addon's copy, wiped when the GC frees it; node's KeyObject); released by the GC. */
  readonly handle: unknown;
  /** The backend that made handle. */
  readonly backend: X25519Backend;
}

/** Where the scalar multiplications run. */
export interface X25519Backend {
  readonly name: 'native' | 'node';
  /** The backend's key for a clamped raw scalar, and its public key. */
  keyFromPrivate(clamped: Uint8Array): { handle: unknown; publicKey: Uint8Array };
  /** X25519(ours, theirs), or null when the result is all zeros (or the peer key is refused). */
  derive(handle: unknown, theirs: Uint8Array): Uint8Array | null;
}

/** node:crypto: KeyObjects, JWK import. */
export const nodeX25519: X25519Backend = {
  name: 'node',
  keyFromPrivate(clamped) {
    const keyObject = importPrivateKey(clamped);
    basePoint ??= importPublicKey(Uint8Array.from({ length: KEY_LENGTH }, (_, i) => (i === 0 ? 9 : 0)));
    const pub = diffieHellman({ privateKey: keyObject, publicKey: basePoint });
    return { handle: keyObject, publicKey: new Uint8Array(pub.buffer, pub.byteOffset, pub.byteLength) };
  },
  derive(handle, theirs) {
    let out: Buffer;
    try {
      out = diffieHellman({ privateKey: handle as KeyObject, publicKey: importPublicKey(theirs) });
    } catch {
      // OpenSSL refuses an all-zero result with an error.
      return null;
    }
    const secret = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    if (secret.length !== KEY_LENGTH || isAllZero(secret)) {
      wipe(secret);
      return null;
    }
    return secret;
  },
};

/** The addon's libsodium keys (native/x25519.cc). Throws when the addon cannot be loaded. */
export function nativeX25519(): X25519Backend {
  const addon: NativeBinding = native();
  return {
    name: 'native',
    keyFromPrivate(clamped) {
      const publicKey = new Uint8Array(KEY_LENGTH);
      return { handle: addon.x25519KeyFromPrivate(clamped, publicKey), publicKey };
    },
    derive(handle, theirs) {
      const out = new Uint8Array(KEY_LENGTH);
      return addon.x25519Derive(handle as ReturnType<NativeBinding['x25519KeyFromPrivate']>, theirs, out) ? out : null;
    },
  };
}

let defaultBackend: X25519Backend | undefined;
/** The native backend where the addon loads, else node:crypto (chosen once per thread). */
export function x25519Backend(): X25519Backend {
  if (!defaultBackend) {
    try {
      defaultBackend = nativeX25519();
    } catch {
      defaultBackend = nodeX25519;
    }
  }
  return defaultBackend;
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
 * Builds a key pair from a raw private key (copied, then clamped in the copy)
 * with the given backend (default: {@link x25519Backend}).
 */
export function keyPairFromPrivate(privateKey: Uint8Array, backend: X25519Backend = x25519Backend()): X25519KeyPair {
  if (privateKey.length !== KEY_LENGTH) throw new RangeError(`an X25519 private key is 32 bytes, got ${privateKey.length}`);
  const raw = clampPrivateKey(Uint8Array.from(privateKey));
  const { handle, publicKey } = backend.keyFromPrivate(raw);
  return { privateKey: raw, publicKey, handle, backend };
}

/** A fresh random key pair: the per-handshake ephemeral key. */
export function generateKeyPair(backend: X25519Backend = x25519Backend()): X25519KeyPair {
  const raw = generatePrivateKey();
  const pair = keyPairFromPrivate(raw, backend);
  wipe(raw);
  return pair;
}

/** The public key of a raw private key (what `wg pubkey` prints, as bytes). */
export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  return keyPairFromPrivate(privateKey).publicKey;
}

/** node's handle on a remote public key (JWK import, ~6 µs). */
function importPublicKey(publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== KEY_LENGTH) throw new RangeError(`an X25519 public key is 32 bytes, got ${publicKey.length}`);
  const x = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('base64url');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' });
}

/**
 * X25519(ours, theirs). Returns null when the result is all zeros, i.e. the
 * remote key is of small order (RFC 7748 §6.1 allows the check; the
 * whitepaper §5.4 and the kernel refuse such keys).
 */
export function sharedSecret(ours: X25519KeyPair, theirs: Uint8Array): Uint8Array | null {
  if (theirs.length !== KEY_LENGTH) throw new RangeError(`an X25519 public key is 32 bytes, got ${theirs.length}`);
  return ours.backend.derive(ours.handle, theirs);
}

/** Wipes the raw private key of a pair (the backend's object is released by the GC). */
export function wipeKeyPair(pair: X25519KeyPair | null | undefined): void {
  if (pair) wipe(pair.privateKey);
}

/** node's handle on a raw private key: JWK import, DER if JWK is refused. */
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

/**
 * The u-coordinates (little-endian, bit 255 ignored as X25519 ignores it)
 * whose product with any clamped scalar is zero: the points of order 1, 2,
 * 4 and 8 and their non-canonical encodings (0, 1, p−1, p, p+1 and the two
 * points of order 8). A peer key among them can never handshake; checking
 * the list answers without a scalar multiplication (test/unit/crypto.test.ts
 * checks it against the DH itself).
 */
const SMALL_ORDER_U: readonly Uint8Array[] = (() => {
  const p = (1n << 255n) - 19n;
  return [
    0n,
    1n,
    p - 1n,
    p,
    p + 1n,
    325606250916557431795983626356110631294008115727848805560023387167927233504n,
    39382357235489614581723060781553021112529911719440698176882885853963445705823n,
  ].map((u) => Uint8Array.from({ length: KEY_LENGTH }, (_, i) => Number((u >> BigInt(8 * i)) & 0xffn)));
})();

/** True when DH with this public key is zero for every private key (see SMALL_ORDER_U). */
export function hasSmallOrder(publicKey: Uint8Array): boolean {
  if (publicKey.length !== KEY_LENGTH) throw new RangeError(`an X25519 public key is 32 bytes, got ${publicKey.length}`);
  next: for (const u of SMALL_ORDER_U) {
    for (let i = 0; i < KEY_LENGTH - 1; i++) if (publicKey[i] !== u[i]) continue next;
    if ((publicKey[KEY_LENGTH - 1]! & 0x7f) === u[KEY_LENGTH - 1]) return true;
  }
  return false;
}
