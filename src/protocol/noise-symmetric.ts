/**
 * The Noise Protocol Framework's SymmetricState (Noise spec rev 34, §5.1-5.2)
 * instantiated with ChaChaPoly and BLAKE2s, the primitives of
 * Noise_*_25519_ChaChaPoly_BLAKE2s and of WireGuard (whitepaper §5.4):
 *
 *   ck  chaining key      (WireGuard's C)
 *   h   handshake hash    (WireGuard's H)
 *   k,n cipher key and its nonce counter; WireGuard uses each k exactly once
 *       with n = 0, and Noise resets n to 0 on every MixKey, so both agree.
 *
 * Generic on purpose: the cacophony Noise_IKpsk2 vector and WireGuard's
 * messages run through these same functions.
 */
import { aeadOpen, aeadSeal } from '../crypto/aead.js';
import { hash, kdf2, kdf3, HASH_LENGTH } from '../crypto/blake2s.js';
import { wipe } from '../crypto/bytes.js';

/** Chaining key, handshake hash and the current cipher key of a Noise handshake. */
export class SymmetricState {
  /** The chaining key ck. */
  chainingKey: Uint8Array;
  /** The handshake hash h. */
  hash: Uint8Array;
  /** The cipher key k, or null before the first MixKey (then encryption is the identity). */
  private key: Uint8Array | null = null;
  /** The nonce n for k. */
  private nonce = 0;

  private constructor(chainingKey: Uint8Array, handshakeHash: Uint8Array) {
    this.chainingKey = chainingKey;
    this.hash = handshakeHash;
  }

  /**
   * InitializeSymmetric(protocolName) (§5.2): h = name padded to 32 bytes if
   * it fits, else HASH(name); ck = h. Then MixHash(prologue) (§5.3).
   */
  static initialize(protocolName: Uint8Array, prologue: Uint8Array): SymmetricState {
    let h: Uint8Array;
    if (protocolName.length <= HASH_LENGTH) {
      h = new Uint8Array(HASH_LENGTH);
      h.set(protocolName);
    } else {
      h = hash(protocolName);
    }
    const state = new SymmetricState(Uint8Array.from(h), h);
    state.mixHash(prologue);
    return state;
  }

  /** A copy whose later changes do not affect this state (for trial decryption). */
  clone(): SymmetricState {
    const copy = new SymmetricState(Uint8Array.from(this.chainingKey), Uint8Array.from(this.hash));
    copy.key = this.key ? Uint8Array.from(this.key) : null;
    copy.nonce = this.nonce;
    return copy;
  }

  /** MixHash(data): h = HASH(h ‖ data). */
  mixHash(data: Uint8Array): void {
    const next = hash(this.hash, data);
    wipe(this.hash);
    this.hash = next;
  }

  /** MixKey(input): (ck, k) = KDF2(ck, input); n = 0. */
  mixKey(input: Uint8Array): void {
    const [ck, k] = kdf2(this.chainingKey, input);
    this.replace(ck, k);
  }

  /**
   * MixKeyAndHash(input) (the "psk" token): (ck, τ, k) = KDF3(ck, input);
   * MixHash(τ); n = 0.
   */
  mixKeyAndHash(input: Uint8Array): void {
    const [ck, tau, k] = kdf3(this.chainingKey, input);
    this.mixHash(tau);
    wipe(tau);
    this.replace(ck, k);
  }

  /** EncryptAndHash(plaintext): c = AEAD(k, n++, plaintext, h); MixHash(c). */
  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const c = this.key ? aeadSeal(this.key, this.nonce++, plaintext, this.hash) : Uint8Array.from(plaintext);
    this.mixHash(c);
    return c;
  }

  /** DecryptAndHash(ciphertext): the plaintext, or null when not authentic (state then unusable). */
  decryptAndHash(ciphertext: Uint8Array): Uint8Array | null {
    const p = this.key ? aeadOpen(this.key, this.nonce++, ciphertext, this.hash) : Uint8Array.from(ciphertext);
    if (p === null) return null;
    this.mixHash(ciphertext);
    return p;
  }

  /** Split() (§5.2): [k1, k2] = KDF2(ck, ε); k1 protects initiator→responder. */
  split(): [Uint8Array, Uint8Array] {
    return kdf2(this.chainingKey, new Uint8Array(0));
  }

  /** Erases ck, h and k. */
  wipe(): void {
    wipe(this.chainingKey, this.hash, this.key);
    this.key = null;
    this.nonce = 0;
  }

  private replace(ck: Uint8Array, k: Uint8Array): void {
    wipe(this.chainingKey, this.key);
    this.chainingKey = ck;
    this.key = k;
    this.nonce = 0;
  }
}
