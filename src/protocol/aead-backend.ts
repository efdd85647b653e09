/**
 * The data path's AEAD: ChaCha20-Poly1305 (RFC 8439) over bursts of packets,
 * in place inside one packet buffer (whitepaper §5.4.6).
 *
 * A burst is a set of preallocated typed arrays, laid out exactly as the
 * native batched backend (native/aead_burst.h, AeadBurstArgs) reads them, so
 * one native call seals or opens a whole burst:
 *   region i  = buffer[desc[2i] .. desc[2i] + desc[2i+1])   plaintext / ciphertext
 *   tag i     = the 16 bytes right after region i
 *   key i     = keys[32 * keyIndex[i] .. + 32)
 *   nonce i   = 4 zero bytes ‖ (counters[2i] | counters[2i+1] << 32) as 64-bit LE
 *   status i  = AeadStatus
 * Seal encrypts each region in place and writes its tag; open checks each tag
 * and decrypts in place, zeroing a region that fails (so unauthenticated
 * plaintext never lies in the buffer). A bad packet never stops the burst and
 * nothing throws.
 *
 * Threading: a burst and a backend instance belong to one thread.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { TAG_LENGTH } from '../crypto/aead.js';
import { KEY_LENGTH } from '../crypto/bytes.js';

/** Per-packet outcome; the numbers match native/aead_burst.h AeadStatus. */
export const AeadStatus = {
  ok: 0,
  /** Open: the tag did not verify (forged, corrupted, or the wrong key). */
  authFailed: 1,
  /** Region plus tag not inside the buffer. */
  badDescriptor: 2,
  /** keyIndex beyond the key table. */
  badKeyIndex: 3,
  /** The crypto library refused an operation (should never happen). */
  cryptoError: 4,
} as const;

/** The numeric values of AeadStatus. */
export type AeadStatusCode = (typeof AeadStatus)[keyof typeof AeadStatus];

/** One burst's descriptors (see the file comment). Allocate once per worker and reuse. */
export class AeadBurst {
  /** Packets the arrays have room for. */
  readonly capacity: number;
  /** Packets in the current burst. */
  count = 0;
  /** The packet memory every descriptor points into (a UMEM or frame buffer view). */
  buffer: Uint8Array = new Uint8Array(0);
  /** 2 × capacity: region offset, region length (without the tag). */
  readonly desc: Uint32Array;
  /** The key table: up to `capacity` keys of 32 bytes. */
  readonly keys: Uint8Array;
  /** Keys in the table. */
  keyCount = 0;
  /** Per packet: index of its key in `keys`. */
  readonly keyIndex: Uint16Array;
  /** 2 × capacity: counter low 32 bits, high 32 bits. */
  readonly counters: Uint32Array;
  /** Per packet: AeadStatus after the call. */
  readonly status: Uint8Array;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 0xffff) {
      throw new RangeError(`AEAD burst capacity must be 1..65535, got ${capacity}`);
    }
    this.capacity = capacity;
    this.desc = new Uint32Array(2 * capacity);
    this.keys = new Uint8Array(capacity * KEY_LENGTH);
    this.keyIndex = new Uint16Array(capacity);
    this.counters = new Uint32Array(2 * capacity);
    this.status = new Uint8Array(capacity);
  }

  /** Starts an empty burst over `buffer`. */
  reset(buffer: Uint8Array): void {
    this.buffer = buffer;
    this.count = 0;
    this.keyCount = 0;
  }

  /** Zeroes the key table, so no key copy outlives the burst. */
  wipeKeys(): void {
    this.keys.fill(0, 0, this.keyCount * KEY_LENGTH);
    this.keyCount = 0;
  }
}

/**
 * A ChaCha20-Poly1305 implementation for the data path. The native batched
 * OpenSSL backend (src/crypto/aead-burst.ts) implements this same interface.
 */
export interface DataAeadBackend {
  /** Short name for logs and benchmarks. */
  readonly name: string;
  /** Seals every packet of the burst in place; returns how many succeeded. */
  sealBurst(burst: AeadBurst): number;
  /** Opens every packet of the burst in place; returns how many authenticated. */
  openBurst(burst: AeadBurst): number;
}

/**
 * The default backend: node:crypto's 'chacha20-poly1305' (OpenSSL), one
 * cipher object per packet. It allocates per packet (node:crypto has no
 * in-place API); the native batched backend exists to remove that cost.
 */
export class NodeCryptoDataAead implements DataAeadBackend {
  readonly name = 'node:crypto';
  private readonly nonce = Buffer.alloc(12);

  sealBurst(burst: AeadBurst): number {
    return this.each(burst, (i) => this.sealOne(burst, i));
  }

  openBurst(burst: AeadBurst): number {
    return this.each(burst, (i) => this.openOne(burst, i));
  }

  /** Runs one packet's operation over the burst, recording statuses; returns how many succeeded. */
  private each(burst: AeadBurst, one: (i: number) => AeadStatusCode): number {
    let ok = 0;
    for (let i = 0; i < burst.count; i++) {
      const status = one(i);
      burst.status[i] = status;
      if (status === AeadStatus.ok) ok++;
    }
    return ok;
  }

  private sealOne(burst: AeadBurst, i: number): AeadStatusCode {
    const buffer = burst.buffer;
    const offset = burst.desc[2 * i]!;
    const length = burst.desc[2 * i + 1]!;
    if (offset + length + TAG_LENGTH > buffer.length) return AeadStatus.badDescriptor;
    const key = this.key(burst, i);
    if (key === undefined) return AeadStatus.badKeyIndex;
    this.setNonce(burst, i);
    try {
      const cipher = createCipheriv('chacha20-poly1305', key, this.nonce, { authTagLength: TAG_LENGTH });
      const region = buffer.subarray(offset, offset + length);
      const sealed = cipher.update(region);
      cipher.final();
      buffer.set(sealed, offset);
      buffer.set(cipher.getAuthTag(), offset + length);
      return AeadStatus.ok;
    } catch {
      return AeadStatus.cryptoError;
    }
  }

  private openOne(burst: AeadBurst, i: number): AeadStatusCode {
    const buffer = burst.buffer;
    const offset = burst.desc[2 * i]!;
    const length = burst.desc[2 * i + 1]!;
    if (offset + length + TAG_LENGTH > buffer.length) return AeadStatus.badDescriptor;
    const key = this.key(burst, i);
    if (key === undefined) return AeadStatus.badKeyIndex;
    this.setNonce(burst, i);
    const region = buffer.subarray(offset, offset + length);
    let plain: Buffer;
    try {
      const decipher = createDecipheriv('chacha20-poly1305', key, this.nonce, { authTagLength: TAG_LENGTH });
      decipher.setAuthTag(buffer.subarray(offset + length, offset + length + TAG_LENGTH));
      plain = decipher.update(region);
      try {
        decipher.final();
      } catch {
        plain.fill(0);
        region.fill(0);
        return AeadStatus.authFailed;
      }
    } catch {
      region.fill(0);
      return AeadStatus.cryptoError;
    }
    buffer.set(plain, offset);
    return AeadStatus.ok;
  }

  private key(burst: AeadBurst, i: number): Uint8Array | undefined {
    const k = burst.keyIndex[i]!;
    if (k >= burst.keyCount) return undefined;
    return burst.keys.subarray(k * KEY_LENGTH, (k + 1) * KEY_LENGTH);
  }

  /** nonce = 4 zero bytes ‖ counter as 64-bit little-endian (whitepaper §5.4.6). */
  private setNonce(burst: AeadBurst, i: number): void {
    this.nonce.writeUInt32LE(burst.counters[2 * i]!, 4);
    this.nonce.writeUInt32LE(burst.counters[2 * i + 1]!, 8);
  }
}
