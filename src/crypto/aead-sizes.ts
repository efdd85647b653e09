/**
 * The AEAD's sizes, apart from its implementations (aead.ts): the wire
 * layout and the native handshake path need the tag length only, not the
 * JavaScript ChaCha20-Poly1305 that aead.ts carries as its reference backend.
 */

/** Poly1305 tag length. */
export const TAG_LENGTH = 16;
