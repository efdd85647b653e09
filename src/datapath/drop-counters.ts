/**
 * The data path's counters by name: drops (a packet that cannot be used is
 * dropped and one of these goes up; the data path never throws) and events
 * (something worth counting that loses nothing). `xdpwg stats` prints the
 * non-zero drops under `drops` and the events under `events`; README.md
 * lists every name and its meaning, so they are user-facing: rename with
 * care.
 *
 * Threading: each worker owns one slab (a Float64Array over a
 * SharedArrayBuffer: single writer); the main thread owns its own and sums
 * them all for `xdpwg stats`.
 */
export const DROP_REASONS = [
  'rx-short',              // datagram shorter than 4 bytes, or a data message shorter than header + tag
  'rx-unknown-type',       // type not 1..4 or reserved bytes set
  'rx-bad-size',           // handshake message not of its type's exact size
  'rx-unknown-index',      // data for a receiver index we do not have
  'rx-auth-failed',        // data message whose AEAD tag did not verify
  'rx-replay',             // counter already seen or left of the window
  'rx-key-expired',        // keypair past REJECT_AFTER_TIME, or retired by the main thread
  'rx-bad-inner-packet',   // decrypted payload is not a well-formed IPv4/IPv6 packet
  'rx-allowed-ips',        // inner source address not owned by the sending peer
  'rx-handshake-queue-full', // handshake messages arriving faster than the main thread drains them
  'rx-bad-outer',          // AF_XDP frame with a malformed Ethernet/IP/UDP header, or not to the listen port
  'tun-write-failed',      // the TUN queue refused an inner packet
  'tx-no-route',           // no peer owns the destination address
  'tx-no-endpoint',        // the peer has no known endpoint
  'tx-bad-inner-packet',   // TUN gave us something that is not IPv4/IPv6
  'tx-send-failed',        // the port refused it, or took it and could not send it (not counted as sent)
  'rx-handshake-replay',   // initiation whose TAI64N timestamp is not newer than the last accepted (whitepaper §5.1)
  'rx-handshake-flood',    // initiation within 20 ms of the last accepted one from the same peer
  'rx-handshake-invalid',  // handshake message with a valid MAC1 that does not decrypt, names no peer, or no handshake of ours
  'rx-cookie-required',    // under load without a valid MAC2: answered with a cookie reply, not processed (whitepaper §5.4.7)
  'rx-ratelimited',        // under load, over the per-source handshake rate (whitepaper §5.3)
  'tx-keypair-retired',    // sealed while the main thread retired the keypair: not sent (src/protocol/key-retirement.ts)
  'rx-counter-exhausted',  // data message whose counter is at REJECT_AFTER_MESSAGES (whitepaper §6.1)
  'rx-aead-error',         // the AEAD backend refused a data message (not a forgery: a library or descriptor error)
  'rx-bad-data-header',    // data message the transport refused before decrypting (header, index or bounds); classify checks these first, so a bug
  'rx-bad-mac1',           // handshake message whose MAC1 is not for our public key (whitepaper §5.4.4)
] as const;

/** Counted, not lost. */
export const EVENTS = [
  'tx-staged',             // no session yet: the packet is handed to the main thread to queue until the handshake completes
] as const;

export type DropReason = (typeof DROP_REASONS)[number];
export type DatapathEvent = (typeof EVENTS)[number];
/** Every name a datapath slab counts: the drops, then the events. */
export const DATAPATH_COUNTERS: readonly (DropReason | DatapathEvent)[] = [...DROP_REASONS, ...EVENTS];

/**
 * Counters by name over one Float64Array (exact to 2^53), optionally in a
 * SharedArrayBuffer. Names default to the data path's (drops and events);
 * the port-layer echo example (src/cli/echo-worker.ts) counts its parse
 * verdicts with its own list.
 */
export class DropCounters<Name extends string = DropReason | DatapathEvent> {
  readonly view: Float64Array;
  readonly buffer: SharedArrayBuffer;
  private readonly index: Readonly<Record<string, number>>;

  constructor(buffer?: SharedArrayBuffer, readonly names: readonly Name[] = DATAPATH_COUNTERS as readonly Name[]) {
    this.buffer = buffer ?? new SharedArrayBuffer(names.length * 8);
    this.view = new Float64Array(this.buffer, 0, names.length);
    this.index = Object.fromEntries(names.map((r, i) => [r, i]));
  }

  count(name: Name, n = 1): void { this.view[this.index[name]!] += n; }

  get(name: Name): number { return this.view[this.index[name]!]!; }

  /** The non-zero counters by name. */
  snapshot(): Record<string, number> {
    return DropCounters.summarize([this], this.names);
  }

  /** Sums several slabs into { name: count } for the non-zero counters among `only` (default: the drops). */
  static summarize(slabs: readonly DropCounters<string>[], only: readonly string[] = DROP_REASONS): Record<string, number> {
    const out: Record<string, number> = {};
    for (const name of only) {
      let n = 0;
      for (const s of slabs) { const i = s.index[name]; if (i !== undefined) n += s.view[i]!; }
      if (n) out[name] = n;
    }
    return out;
  }

  /** Sums several slabs' events (EVENTS), non-zero only. */
  static summarizeEvents(slabs: readonly DropCounters<string>[]): Record<string, number> {
    return DropCounters.summarize(slabs, EVENTS);
  }
}
