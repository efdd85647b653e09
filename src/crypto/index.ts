/**
 * The cryptographic primitives of WireGuard (whitepaper §5.4), one import:
 * X25519, BLAKE2s HASH/MAC/HMAC/KDF1-3, ChaCha20-Poly1305 (two backends),
 * XChaCha20-Poly1305, TAI64N, key codecs, constant-time compare and wiping.
 */
export * from './bytes.js';
export * from './encoding.js';
export * from './x25519.js';
export * from './blake2s.js';
export * from './aead.js';
export * from './tai64n.js';
