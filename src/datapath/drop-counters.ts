/**
 * Drops on the data path, counted by reason. The data path never throws: a
 * packet that cannot be used is dropped and one of these counters goes up.
 * Each worker owns one Float64Array slab in a SharedArrayBuffer (single
 * writer); the main thread sums them for `xdpwg stats`.
 */
export const DROP_REASONS = [
  'rx-short',              // datagram shorter than any WireGuard message
  'rx-unknown-type',       // first byte not 1..4 or reserved bytes set
  'rx-bad-size',           // handshake message of the wrong size
  'rx-unknown-index',      // data for a receiver index we do not have
  'rx-auth-failed',        // AEAD tag did not verify
  'rx-replay',             // counter already seen or left of the window
  'rx-key-expired',        // keypair past REJECT_AFTER_TIME / REJECT_AFTER_MESSAGES
  'rx-bad-inner-packet',   // decrypted payload is not a well-formed IPv4/IPv6 packet
  'rx-allowed-ips',        // inner source address not owned by the sending peer
  'rx-handshake-queue-full', // handshake messages arriving faster than the main thread drains them
  'rx-bad-outer',          // AF_XDP frame with a malformed Ethernet/IP/UDP header
  'tun-write-failed',
  'tx-no-route',           // no peer owns the destination address
  'tx-no-endpoint',        // the peer has no known endpoint
  'tx-bad-inner-packet',   // TUN gave us something that is not IPv4/IPv6
  'tx-too-big',            // packet does not fit a frame after encapsulation
  'tx-send-failed',        // the port refused the burst
  'tx-staged',             // no session yet: handed to the main thread to queue (not a loss)
  'rx-handshake-replay',   // initiation whose TAI64N timestamp is not newer than the last accepted (whitepaper §5.1)
  'rx-handshake-flood',    // initiation within 20 ms of the last accepted one from the same peer
  'rx-handshake-invalid',  // handshake message with a valid MAC1 that does not decrypt, names no peer, or no handshake of ours
  'rx-cookie-required',    // under load without a valid MAC2: answered with a cookie reply, not processed (whitepaper §5.4.7)
  'rx-ratelimited',        // under load, over the per-source handshake rate (whitepaper §5.3)
  'tx-keypair-retired',    // sealed while the main thread retired the keypair: not sent (src/protocol/key-retirement.ts)
] as const;
export type DropReason = (typeof DROP_REASONS)[number];
export const DROP_INDEX: Readonly<Record<DropReason, number>> = Object.fromEntries(DROP_REASONS.map((r, i) => [r, i])) as Record<DropReason, number>;

export class DropCounters {
  readonly view: Float64Array;
  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(DROP_REASONS.length * 8)) {
    this.view = new Float64Array(buffer);
  }
  count(reason: DropReason, n = 1): void { this.view[DROP_INDEX[reason]] += n; }

  /** Sums several workers' slabs into { reason: count } for the non-zero reasons. */
  static summarize(slabs: readonly DropCounters[]): Record<string, number> {
    const out: Record<string, number> = {};
    DROP_REASONS.forEach((r, i) => {
      const n = slabs.reduce((acc, s) => acc + s.view[i], 0);
      if (n) out[r] = n;
    });
    return out;
  }
}
