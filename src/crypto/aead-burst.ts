/**
 * Batched, in-place ChaCha20-Poly1305 for WireGuard transport data messages
 * (whitepaper §5.4.6; RFC 8439 §2.8): the data path's AEAD.
 *
 * A burst is a set of packets lying in one packet buffer (a UMEM or a frame
 * buffer). Packet i is described by:
 *   desc[2i], desc[2i+1]  offset and length of the plaintext / ciphertext
 *                         region; the 16-byte Poly1305 tag lies right after it
 *   keyIndex[i]           which 32-byte key of the key table (a burst mixes peers)
 *   counters              the 64-bit nonce counter: BigUint64Array[i], or a
 *                         Uint32Array of (low, high) pairs so the caller never
 *                         needs a BigInt on the hot path
 * The nonce is 32 zero bits ‖ counter as 64-bit little-endian; associated data
 * is empty. Seal encrypts the region in place and writes the tag after it;
 * open verifies the tag and decrypts in place. Every packet gets an
 * `AeadStatus` in results[i]; a bad packet is a counted drop, never an
 * exception. A packet that fails to open has its region zeroed, so no
 * unauthenticated plaintext stays in the buffer. The caller (the transport)
 * still decides keys, counters, padding and replay.
 *
 * One layering:
 * - {@link AeadBurstBackend}: the positional call the addon exports
 *   (buffer, desc, n, keys, keyIndex, counters, results), the one backend
 *   interface;
 * - {@link AeadBurst}: the preallocated arrays of one burst, laid out as the
 *   addon reads them (native/aead_burst.h), which the transport fills and
 *   hands to a backend with sealWith/openWith.
 *
 * Backends, compared byte for byte in test/unit/aead-burst.test.ts:
 * - native: one addon call per burst, OpenSSL EVP (native/aead_burst.cc);
 * - node:crypto: one cipher object per packet (the fallback when the addon
 *   is not built), src/crypto/aead.ts's nodeAead;
 * - @noble/ciphers: pure JavaScript (the naive reference), aead.ts's nobleAead.
 *
 * Threading: each worker thread has its own addon instance and its own cached
 * OpenSSL contexts; backends hold no cross-call state visible to JavaScript.
 */
import { native, type NativeTransportBurstFn } from '../native/binding.js';
import { TAG_LENGTH, nobleAead, nodeAead, type AeadBackend } from './aead.js';
import { KEY_LENGTH } from './bytes.js';

/** ChaCha20 key length (RFC 8439 §2.3). */
export const AEAD_BURST_KEY_LENGTH = KEY_LENGTH;
/** Poly1305 tag length (RFC 8439 §2.5), stored right after each region. */
export const AEAD_BURST_TAG_LENGTH = TAG_LENGTH;

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

const NO_AD = new Uint8Array(0);

/** Where the packets lie: an ArrayBuffer (e.g. the UMEM) or a view of one (then offsets are relative to the view). */
export type PacketBuffer = ArrayBuffer | Uint8Array;
/** Key table indices, one per packet. */
export type KeyIndexArray = Uint16Array | Uint32Array;
/** Nonce counters: one bigint per packet, or (low, high) 32-bit pairs. */
export type CounterArray = BigUint64Array | Uint32Array;

/**
 * A burst AEAD: the interface the transport's data path calls. Both methods
 * process packets 0..n-1, write results[0..n-1], and return how many are Ok.
 * They throw (TypeError/RangeError) only when an argument has the wrong shape
 * (a programming error), never because of a packet.
 */
/**
 * One burst call: processes packets 0..n-1 of `buffer` (regions in `desc`) with
 * keys[keyIndex[i]] and counters[i], writes results[0..n-1], returns how many are Ok.
 */
export type AeadBurstFn = (
  buffer: PacketBuffer,
  desc: Uint32Array,
  n: number,
  keys: Uint8Array,
  keyIndex: KeyIndexArray,
  counters: CounterArray,
  results: Uint8Array,
  aad?: Uint8Array,
  noncePrefix?: number,
) => number;

export interface AeadBurstBackend {
  /** Short name for logs and benchmarks. */
  readonly name: string;
  /** Encrypts each region in place and writes its tag after it. */
  sealBurst: AeadBurstFn;
  /** Verifies each tag and decrypts the region in place; failures are zeroed and reported. */
  openBurst: AeadBurstFn;
  /**
   * The native backend only: the data transport's whole burst in one call (keypair checks,
   * counters, headers, replay window: native/data_transport.h), which src/protocol/transport.ts
   * then uses instead of its own steps around sealBurst/openBurst. Absent with
   * XDPWG_DATA_TRANSPORT=js (to measure one against the other).
   */
  wholeBurst?: { seal: NativeTransportBurstFn<number>; open: NativeTransportBurstFn<Uint8Array> };
}

/**
 * The native backend: one addon call per burst (OpenSSL EVP, cached
 * contexts). Throws when the addon cannot be loaded; see {@link aeadBurstBackend}
 * for automatic fallback.
 */
export function nativeAeadBurst(): AeadBurstBackend {
  const addon = native();
  if (typeof addon.aeadSealBurst !== 'function' || typeof addon.aeadOpenBurst !== 'function') {
    throw new Error('native addon has no aeadSealBurst/aeadOpenBurst; rebuild it (npm run build:native)');
  }
  const whole =
    process.env['XDPWG_DATA_TRANSPORT'] === 'js' || typeof addon.transportSealBurst !== 'function'
      ? undefined
      : { seal: addon.transportSealBurst, open: addon.transportOpenBurst };
  return { name: 'native', sealBurst: addon.aeadSealBurst, openBurst: addon.aeadOpenBurst, ...(whole ? { wholeBurst: whole } : {}) };
}

/** node:crypto backend: OpenSSL through one cipher object per packet; the fallback without the addon. */
export const nodeCryptoAeadBurst: AeadBurstBackend = jsBackend(nodeAead);
/** @noble/ciphers backend: pure JavaScript, the naive reference. */
export const nobleAeadBurst: AeadBurstBackend = jsBackend(nobleAead);

/**
 * One burst's descriptors, laid out exactly as the addon reads them
 * (native/aead_burst.h, AeadBurstArgs), so one call seals or opens a whole
 * burst:
 *   region i  = buffer[desc[2i] .. desc[2i] + desc[2i+1])   plaintext / ciphertext
 *   tag i     = the 16 bytes right after region i
 *   key i     = keys[32 * keyIndex[i] .. + 32)
 *   nonce i   = 4 zero bytes ‖ (counters[2i] | counters[2i+1] << 32) as 64-bit LE
 *   status i  = AeadStatus
 * Allocate once per thread and reuse; the key table is handed to the
 * backend trimmed to `keyCount` keys (so an index at or past it is
 * badKeyIndex), through a view rebuilt only when keyCount changes.
 */
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
  private keyView: Uint8Array;
  private keyViewCount = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 0xffff) {
      throw new RangeError(`AEAD burst capacity must be 1..65535, got ${capacity}`);
    }
    this.capacity = capacity;
    this.desc = new Uint32Array(2 * capacity);
    this.keys = new Uint8Array(capacity * AEAD_BURST_KEY_LENGTH);
    this.keyIndex = new Uint16Array(capacity);
    this.counters = new Uint32Array(2 * capacity);
    this.status = new Uint8Array(capacity);
    this.keyView = this.keys.subarray(0, 0);
  }

  /** Starts an empty burst over `buffer`. */
  reset(buffer: Uint8Array): void {
    this.buffer = buffer;
    this.count = 0;
    this.keyCount = 0;
  }

  /** Seals every packet in place with `backend`; returns how many succeeded. */
  sealWith(backend: AeadBurstBackend): number {
    return backend.sealBurst(this.buffer, this.desc, this.count, this.keyTable(), this.keyIndex, this.counters, this.status);
  }

  /** Opens every packet in place with `backend`; returns how many authenticated. */
  openWith(backend: AeadBurstBackend): number {
    return backend.openBurst(this.buffer, this.desc, this.count, this.keyTable(), this.keyIndex, this.counters, this.status);
  }

  /** Zeroes the key table, so no key copy outlives the burst. */
  wipeKeys(): void {
    this.keys.fill(0, 0, this.keyCount * AEAD_BURST_KEY_LENGTH);
    this.keyCount = 0;
  }

  private keyTable(): Uint8Array {
    if (this.keyViewCount !== this.keyCount) {
      this.keyViewCount = this.keyCount;
      this.keyView = this.keys.subarray(0, this.keyCount * AEAD_BURST_KEY_LENGTH);
    }
    return this.keyView;
  }
}

/** Which data-path AEAD the datapath config asks for ("crypto backend"). */
export type AeadBurstChoice = 'auto' | 'native' | 'node' | 'noble';

/**
 * Picks the transport's AEAD backend. 'auto' takes the native one when the
 * addon loads and falls back to node:crypto otherwise; `reason` says why,
 * for the log (never silent).
 */
export function dataAeadBackend(choice: AeadBurstChoice = 'auto'): { backend: AeadBurstBackend; reason: string } {
  switch (choice) {
    case 'native':
      return { backend: nativeAeadBurst(), reason: 'configured' };
    case 'node':
      return { backend: nodeCryptoAeadBurst, reason: 'configured' };
    case 'noble':
      return { backend: nobleAeadBurst, reason: 'configured' };
    case 'auto':
      try {
        return { backend: nativeAeadBurst(), reason: 'native addon loaded' };
      } catch (err) {
        return { backend: nodeCryptoAeadBurst, reason: `native AEAD unavailable: ${(err as Error).message}` };
      }
    default:
      throw new TypeError(`unknown AEAD backend ${JSON.stringify(choice)}; expected auto, native, node or noble`);
  }
}

/**
 * Builds a burst backend from a per-message AEAD (src/crypto/aead.ts), with
 * the native backend's exact semantics: same argument checks, same
 * statuses, failed opens zeroed. The per-message AEAD allocates its output;
 * it is copied back in place.
 */
function jsBackend(aead: AeadBackend): AeadBurstBackend {
  const name = aead.name;
  const nonce = new Uint8Array(12);
  const nonceView = new DataView(nonce.buffer);
  const run = (
    open: boolean,
    ...[buffer, desc, n, keys, keyIndex, counters, results, aad, noncePrefix]: Parameters<AeadBurstFn>
  ): number => {
    checkBurstShape(buffer, desc, n, keys, keyIndex, counters, results, aad, noncePrefix);
    const bytes = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
    const keyCount = Math.floor(keys.length / AEAD_BURST_KEY_LENGTH);
    const ad = aad ?? NO_AD;
    nonceView.setUint32(0, noncePrefix ?? 0, true);
    let ok = 0;
    for (let i = 0; i < n; i++) {
      const off = desc[2 * i]!;
      const len = desc[2 * i + 1]!;
      const slot = keyIndex[i]!;
      let status: AeadStatusCode = AeadStatus.ok;
      if (len > 0x7fff_ffff || off + len + AEAD_BURST_TAG_LENGTH > bytes.length) {
        status = AeadStatus.badDescriptor;
      } else if (slot >= keyCount) {
        status = AeadStatus.badKeyIndex;
      } else {
        if (counters instanceof BigUint64Array) {
          nonceView.setBigUint64(4, counters[i]!, true);
        } else {
          nonceView.setUint32(4, counters[2 * i]!, true);
          nonceView.setUint32(8, counters[2 * i + 1]!, true);
        }
        const key = keys.subarray(slot * AEAD_BURST_KEY_LENGTH, (slot + 1) * AEAD_BURST_KEY_LENGTH);
        try {
          if (!open) {
            bytes.set(aead.seal(key, nonce, bytes.subarray(off, off + len), ad), off); // ciphertext ‖ tag
          } else {
            const plain = aead.open(key, nonce, bytes.subarray(off, off + len + AEAD_BURST_TAG_LENGTH), ad);
            if (plain)
              bytes.set(plain, off); // written only once authentic
            else {
              bytes.fill(0, off, off + len); // as native: no unauthenticated bytes left to misuse
              status = AeadStatus.authFailed;
            }
          }
        } catch {
          // The library refused (as native's EVP failure): counted, never thrown.
          if (open) bytes.fill(0, off, off + len);
          status = AeadStatus.cryptoError;
        }
      }
      results[i] = status;
      if (status === AeadStatus.ok) ok++;
    }
    return ok;
  };
  return {
    name,
    sealBurst: (...args) => run(false, ...args),
    openBurst: (...args) => run(true, ...args),
  };
}

/** The argument checks the native glue makes, with its error types. */
function checkBurstShape(
  buffer: PacketBuffer,
  desc: Uint32Array,
  n: number,
  keys: Uint8Array,
  keyIndex: KeyIndexArray,
  counters: CounterArray,
  results: Uint8Array,
  aad: Uint8Array | undefined,
  noncePrefix: number | undefined,
): void {
  if (!(buffer instanceof ArrayBuffer) && !(buffer instanceof Uint8Array))
    throw new TypeError('buffer must be an ArrayBuffer or a Uint8Array (the packet buffer)');
  if (!(desc instanceof Uint32Array)) throw new TypeError('desc must be a Uint32Array of (offset, length) pairs');
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new RangeError('n must be a non-negative integer');
  if (desc.length < 2 * n) throw new RangeError('desc holds fewer than n (offset, length) pairs');
  if (!(keys instanceof Uint8Array)) throw new TypeError('keys must be a Uint8Array of 32-byte keys');
  if (keys.length % AEAD_BURST_KEY_LENGTH !== 0) throw new RangeError('keys length must be a multiple of 32');
  if (!(keyIndex instanceof Uint16Array) && !(keyIndex instanceof Uint32Array))
    throw new TypeError('keyIndex must be a Uint16Array or Uint32Array');
  if (keyIndex.length < n) throw new RangeError('keyIndex holds fewer than n entries');
  if (counters instanceof BigUint64Array) {
    if (counters.length < n) throw new RangeError('counters holds fewer than n entries');
  } else if (counters instanceof Uint32Array) {
    if (counters.length < 2 * n) throw new RangeError('counters (Uint32Array low, high pairs) holds fewer than n pairs');
  } else {
    throw new TypeError('counters must be a BigUint64Array or a Uint32Array of (low, high) pairs');
  }
  if (!(results instanceof Uint8Array)) throw new TypeError('results must be a Uint8Array');
  if (results.length < n) throw new RangeError('results holds fewer than n entries');
  if (aad !== undefined && !(aad instanceof Uint8Array)) throw new TypeError('aad must be a Uint8Array when given');
  if (noncePrefix !== undefined && (!Number.isInteger(noncePrefix) || noncePrefix < 0 || noncePrefix > 0xffff_ffff)) {
    throw new RangeError('noncePrefix must be an integer in 0..2^32-1');
  }
}
