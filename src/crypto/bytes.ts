/**
 * Byte helpers shared by the primitives: constant-time comparison, wiping,
 * concatenation. Secrets are compared only through {@link equalConstantTime}
 * so that a MAC or key check takes the same time wherever the first
 * difference lies (the whitepaper's §5.4 MACs and the kernel's crypto_memneq).
 */
import { timingSafeEqual } from 'node:crypto';

/** Length in bytes of every WireGuard key (X25519 keys, PSK, symmetric keys). */
export const KEY_LENGTH = 32;

/**
 * True when a and b hold the same bytes. The comparison time depends only on
 * the length, never on the contents; arrays of different lengths are unequal.
 */
export function equalConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

/** True when every byte is zero, examined without an early exit. */
export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]!;
  return acc === 0;
}

/**
 * Overwrites key material with zeros. JavaScript cannot guarantee that no
 * copy survives elsewhere (the engine may have moved the buffer), but wiping
 * the buffers we own is what the protocol asks for when a handshake or a
 * keypair ends (whitepaper §5.4.6: ephemeral keys are erased after use).
 */
export function wipe(...buffers: (Uint8Array | null | undefined)[]): void {
  for (const b of buffers) b?.fill(0);
}

/** Concatenates byte arrays into a fresh array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
