/**
 * The handshake rate limiter (whitepaper §5.3, denial-of-service
 * mitigation): under load, each source may have at most
 * RATELIMIT_PACKETS_PER_SECOND handshake messages processed per second, with
 * bursts of RATELIMIT_BURST. IPv4 sources are told apart by /32, IPv6 sources
 * by /64 (RATELIMIT_IPV6_PREFIX_BITS), since one host commonly owns a whole /64.
 *
 * One token bucket per source, measured in milliseconds of credit: a message
 * costs 1000 / rate ms; the bucket holds at most burst × cost and refills at
 * one ms per ms. A source seen for the first time starts with a full bucket.
 * Entries idle for RATELIMIT_GC_INTERVAL_MS are forgotten: by then their
 * bucket would be full again, so forgetting changes no answer. The table is
 * bounded; when full of active sources, new sources are refused.
 *
 * Main thread only (handshakes never run in workers).
 */
import type { Clock } from './clock.js';
import type { IpFamily } from '../packet/ip-prefix.js';
import { RATELIMIT_BURST, RATELIMIT_GC_INTERVAL_MS, RATELIMIT_MAX_ENTRIES, RATELIMIT_PACKETS_PER_SECOND } from './constants.js';

/** Tuning, defaulting to the kernel's and wireguard-go's values. */
export interface RateLimiterOptions {
  packetsPerSecond?: number;
  burst?: number;
  maxEntries?: number;
}

interface Bucket {
  /** Credit in ms. */
  tokens: number;
  /** When the credit was last brought up to date. */
  updatedAt: number;
}

/** Per-source token buckets for handshake messages. */
export class HandshakeRateLimiter {
  private readonly clock: Clock;
  private readonly costMs: number;
  private readonly maxTokensMs: number;
  private readonly maxEntries: number;
  private readonly buckets = new Map<number | string, Bucket>();
  private lastGcAt: number;

  constructor(clock: Clock, options: RateLimiterOptions = {}) {
    const rate = options.packetsPerSecond ?? RATELIMIT_PACKETS_PER_SECOND;
    const burst = options.burst ?? RATELIMIT_BURST;
    if (!(rate > 0) || !Number.isInteger(burst) || burst < 1) {
      throw new RangeError(`rate limiter needs a positive rate and a burst of at least 1, got ${rate}/s burst ${burst}`);
    }
    this.clock = clock;
    this.costMs = 1000 / rate;
    this.maxTokensMs = this.costMs * burst;
    this.maxEntries = options.maxEntries ?? RATELIMIT_MAX_ENTRIES;
    this.lastGcAt = clock.now();
  }

  /** Sources currently tracked. */
  get size(): number {
    return this.buckets.size;
  }

  /**
   * Whether a handshake message from this source may be processed now; if
   * so, its cost is taken. The source address is bytes[offset..) — 4 bytes
   * for family 4, 16 for family 6 (an IPv4-mapped ::ffff:a.b.c.d counts as
   * that IPv4 address). Never throws; an address past the end is refused.
   */
  allow(family: IpFamily, bytes: Uint8Array, offset = 0): boolean {
    const key = sourceKey(family, bytes, offset);
    if (key === undefined) return false;
    const now = this.clock.now();
    if (now - this.lastGcAt >= RATELIMIT_GC_INTERVAL_MS) this.collect(now);
    const bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxEntries) {
        this.collect(now);
        if (this.buckets.size >= this.maxEntries) return false;
      }
      this.buckets.set(key, { tokens: this.maxTokensMs - this.costMs, updatedAt: now });
      return true;
    }
    bucket.tokens = Math.min(this.maxTokensMs, bucket.tokens + (now - bucket.updatedAt));
    bucket.updatedAt = now;
    if (bucket.tokens < this.costMs) return false;
    bucket.tokens -= this.costMs;
    return true;
  }

  /**
   * False when this source is known and has no credit left now: allow()
   * would refuse it. Takes nothing, records nothing (a source never seen
   * stays unseen), so callers can skip costly checks for sources that are
   * over their rate anyway.
   */
  hasCredit(family: IpFamily, bytes: Uint8Array, offset = 0): boolean {
    const key = sourceKey(family, bytes, offset);
    if (key === undefined) return false;
    const bucket = this.buckets.get(key);
    if (bucket === undefined) return true;
    return Math.min(this.maxTokensMs, bucket.tokens + (this.clock.now() - bucket.updatedAt)) >= this.costMs;
  }

  /** Forgets everything (device down). */
  clear(): void {
    this.buckets.clear();
  }

  /** Drops entries idle long enough that their bucket is full again. */
  private collect(now: number): void {
    this.lastGcAt = now;
    for (const [key, bucket] of this.buckets) {
      if (now - bucket.updatedAt >= RATELIMIT_GC_INTERVAL_MS) this.buckets.delete(key);
    }
  }
}

/** The bucket key: the /32 of an IPv4 source, the /64 of an IPv6 source; undefined for a malformed address. */
function sourceKey(family: IpFamily, a: Uint8Array, o: number): number | string | undefined {
  const word = (at: number): number => ((a[o + at]! << 24) | (a[o + at + 1]! << 16) | (a[o + at + 2]! << 8) | a[o + at + 3]!) >>> 0;
  if (family === 4) return o + 4 <= a.length ? word(0) : undefined;
  if (family !== 6 || o + 16 > a.length) return undefined;
  if (word(0) === 0 && word(4) === 0 && word(8) === 0xffff) return word(12); // IPv4-mapped (RFC 4291 §2.5.5.2)
  // The first RATELIMIT_IPV6_PREFIX_BITS (64) bits, two words, name the source.
  return `${word(0)}:${word(4)}`;
}
