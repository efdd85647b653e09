/**
 * TAI64N timestamps (whitepaper §5.1, cr.yp.to/libtai/tai64.html): 12 bytes,
 * 8-byte big-endian TAI seconds offset by 2^62, then 4-byte big-endian
 * nanoseconds. A responder accepts an initiation only if its timestamp is
 * strictly greater than the last one from that peer, so comparing the 12
 * bytes lexicographically compares the times.
 */

/** Length of a TAI64N label. */
export const TAI64N_LENGTH = 12;

/**
 * 2^62 + 10: the TAI64 label of the Unix epoch, TAI being 10 s ahead of UTC
 * in 1970; later leap seconds are ignored. The kernel and wireguard-go use
 * this same base, so a peer that switches between them and us keeps sending
 * increasing timestamps (a smaller base would be refused as a replay).
 */
const TAI64_BASE = (1n << 62n) + 10n;

/**
 * Granularity of the timestamps we send, in nanoseconds: 2^24 ns ≈ 16.8 ms,
 * the largest power of two under 20 ms (1 s / 50 initiations per second).
 * Rounding down hides the precise clock from observers (the kernel does the
 * same) while two initiations 20 ms apart still carry distinct timestamps.
 */
export const TAI64N_WHITENING_NS = 1 << 24;

/** The TAI64N label of a wall-clock time in milliseconds since the Unix epoch, whitened. */
export function tai64n(unixMs: number): Uint8Array {
  if (!Number.isFinite(unixMs) || unixMs < 0) throw new RangeError(`time must be non-negative milliseconds, got ${unixMs}`);
  const seconds = Math.floor(unixMs / 1000);
  const nanos = Math.floor((unixMs - seconds * 1000) * 1e6);
  const whitened = nanos - (nanos % TAI64N_WHITENING_NS);
  const out = new Uint8Array(TAI64N_LENGTH);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, TAI64_BASE + BigInt(seconds), false);
  view.setUint32(8, whitened, false);
  return out;
}

/** -1, 0 or 1 as a is earlier, equal or later than b (byte order is time order). */
export function compareTai64n(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < TAI64N_LENGTH; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}
