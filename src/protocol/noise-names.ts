/**
 * The two strings WireGuard's Noise handshake starts from (whitepaper
 * §5.4), apart from the handshake code (noise.ts) so that the native
 * responder (noise-responder-native.ts) can derive its initial state
 * without loading the JavaScript handshake.
 */
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The Noise protocol name WireGuard uses (whitepaper §5.4: Construction). */
export const CONSTRUCTION = utf8('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s');
/** WireGuard's protocol identifier, the Noise prologue (whitepaper §5.4: Identifier). */
export const IDENTIFIER = utf8('WireGuard v1 zx2c4 Jason@zx2c4.com');
