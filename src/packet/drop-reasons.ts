/**
 * Every reason the daemon drops a packet or a message, in one table, and the
 * counter each one goes up under.
 *
 * A reason names the place the failure is found (the kernel's habit of a
 * named exit per check): the parsers of src/packet/, the message and
 * handshake code of src/protocol/, the data path of src/datapath/ and the
 * daemon's handshake path all return or count a {@link DropReason}. The
 * counters are what users see (`xdpwg stats` drops, `xdpwg_drops_total
 * {reason=…}`, the README's drop table); several reasons may share one, so a
 * counter name stays stable while the checks behind it get finer.
 *
 * Adding a reason: one entry in {@link DROP_REASONS} (its counter and why),
 * then raise it where the check fails. The counter is part of the entry, so a
 * reason without one does not compile, and nothing maps reasons to counters
 * anywhere else. A new counter also needs its line in {@link DROP_COUNTERS}
 * and in the README's table (test/unit/drop-counters.test.ts checks both).
 *
 * This file lives in src/packet/, the lowest layer, because the packet
 * parsers raise reasons too and every layer above may import it.
 */

/**
 * The drop counters users see, with their meaning (the README's drop table
 * says the same in prose). Renaming one breaks users' dashboards.
 */
export const DROP_COUNTERS = {
  'rx-short': 'datagram shorter than 4 bytes, or a data message shorter than header + tag',
  'rx-unknown-type': 'type not 1..4 or reserved bytes set',
  'rx-bad-size': "handshake message not of its type's exact size",
  'rx-unknown-index': 'data for a receiver index we do not have',
  'rx-auth-failed': 'data message whose AEAD tag did not verify',
  'rx-replay': 'counter already seen or left of the window',
  'rx-key-expired': 'keypair past REJECT_AFTER_TIME, or retired by the main thread (its peer may be gone)',
  'rx-bad-inner-packet': 'decrypted payload is not a well-formed IPv4/IPv6 packet',
  'rx-allowed-ips': 'inner source address not owned by the sending peer',
  'rx-handshake-queue-full': 'handshake messages arriving faster than the main thread drains them',
  'rx-bad-outer-runt': 'AF_XDP frame shorter than the Ethernet/IP/UDP headers it starts',
  'rx-bad-outer-ethertype': 'AF_XDP frame neither IPv4 nor IPv6 (ARP and the like)',
  'rx-bad-outer-ip-version': 'AF_XDP frame whose IP version disagrees with its ethertype',
  'rx-bad-outer-ipv4-header-length': 'AF_XDP frame with IPv4 IHL < 5 or beyond the frame',
  'rx-bad-outer-ipv4-options': 'AF_XDP frame with IPv4 options',
  'rx-bad-outer-ip-length': 'AF_XDP frame whose IP length is beyond the frame or below its header',
  'rx-bad-outer-fragment': 'AF_XDP frame that is an IPv4 fragment',
  'rx-bad-outer-protocol': 'AF_XDP frame that is not UDP, or IPv6 with extension headers',
  'rx-bad-outer-udp-length': 'AF_XDP frame whose UDP length is below 8 or beyond the IP payload',
  'rx-bad-outer-port': 'AF_XDP frame to another UDP port than the listen port',
  'tun-write-failed': 'the TUN queue refused an inner packet',
  'tx-no-route': 'no peer owns the destination address',
  'tx-no-endpoint': 'the peer has no known endpoint',
  'tx-bad-inner-packet': 'TUN gave us something that is not IPv4/IPv6',
  'tx-send-failed': 'the port refused the packet, or took it and could not send it (not counted as sent), or it could not be sealed',
  'rx-handshake-replay': 'initiation whose TAI64N timestamp is not newer than the last accepted (whitepaper §5.1)',
  'rx-handshake-flood': 'initiation within 20 ms of the last accepted one from the same peer',
  'rx-handshake-invalid': 'handshake message with a valid MAC1 that does not decrypt, names no peer, or no handshake of ours',
  'rx-cookie-required': 'under load without a valid MAC2: answered with a cookie reply, not processed (whitepaper §5.4.7)',
  'rx-ratelimited': 'under load, over the per-source handshake rate (whitepaper §5.3)',
  'tx-keypair-retired': 'sealed while the main thread retired the keypair: not sent (src/protocol/key-retirement.ts)',
  'rx-counter-exhausted': 'data message whose counter is at REJECT_AFTER_MESSAGES (whitepaper §6.1)',
  'rx-aead-error': 'the AEAD backend refused a data message (not a forgery: a library or descriptor error)',
  'rx-bad-data-header':
    'data message the transport refused before decrypting (header, index or bounds); classify checks these first, so a bug',
  'rx-bad-mac1': 'handshake message whose MAC1 is not for our public key (whitepaper §5.4.4)',
} as const;

/** A counter users see. */
export type DropCounter = keyof typeof DROP_COUNTERS;

/** One reason: the counter it is counted under, and when it is raised. */
interface ReasonEntry {
  readonly counter: DropCounter;
  readonly why: string;
}

/**
 * Every drop reason, grouped by where it is raised. Reasons raised where
 * they are counted (the data path) carry their counter's name.
 */
export const DROP_REASONS = {
  // Outer headers of an AF_XDP frame (src/packet/ parsers; the port check in src/datapath/receive.ts).
  'outer-runt': { counter: 'rx-bad-outer-runt', why: 'shorter than the headers it claims to start' },
  'outer-ethertype': { counter: 'rx-bad-outer-ethertype', why: 'neither IPv4 nor IPv6 (VLAN tags are not handled)' },
  'outer-ip-version': { counter: 'rx-bad-outer-ip-version', why: 'IP version nibble disagrees with the ethertype' },
  'outer-ipv4-header-length': { counter: 'rx-bad-outer-ipv4-header-length', why: 'IPv4 IHL < 5 or beyond the frame' },
  'outer-ipv4-options': {
    counter: 'rx-bad-outer-ipv4-options',
    why: 'IPv4 header with options (never sent by WireGuard peers; refused by policy)',
  },
  'outer-ip-length': {
    counter: 'rx-bad-outer-ip-length',
    why: 'IP total/payload length larger than the frame or smaller than its headers',
  },
  'outer-fragment': { counter: 'rx-bad-outer-fragment', why: 'IPv4 fragment (MF or offset set)' },
  'outer-protocol': { counter: 'rx-bad-outer-protocol', why: 'not UDP, or IPv6 extension headers before UDP' },
  'outer-udp-length': { counter: 'rx-bad-outer-udp-length', why: 'UDP length field below 8 or beyond the IP payload' },
  'outer-port': { counter: 'rx-bad-outer-port', why: 'not addressed to the UDP port we serve' },

  // Message type and size (src/protocol/wire.ts classify).
  short: { counter: 'rx-short', why: 'shorter than 4 bytes, or a data message shorter than header + tag' },
  truncated: { counter: 'rx-bad-size', why: "a handshake message shorter than its type's size" },
  oversized: { counter: 'rx-bad-size', why: "a handshake message longer than its type's size" },
  'unknown-type': { counter: 'rx-unknown-type', why: 'type field (with its reserved bytes) is not 1-4' },

  // Opening data messages (src/protocol/transport.ts openBurst).
  'open-out-of-bounds': { counter: 'rx-bad-data-header', why: 'the descriptor reaches past the buffer (a caller bug)' },
  'open-too-short': { counter: 'rx-bad-data-header', why: 'shorter than header + tag (classify drops these first)' },
  'open-bad-header': { counter: 'rx-bad-data-header', why: 'not type 4, or reserved bytes set (classify drops these first)' },
  'open-wrong-receiver-index': { counter: 'rx-bad-data-header', why: "receiver index is not the keypair's the caller looked up" },
  'open-keypair-unusable': { counter: 'rx-key-expired', why: 'keypair expired or wiped since the look-up' },
  'open-counter-exhausted': { counter: 'rx-counter-exhausted', why: 'counter at REJECT_AFTER_MESSAGES (§6.1)' },
  'open-aead-failed': { counter: 'rx-aead-error', why: 'the AEAD backend refused the packet (descriptor or library error)' },
  'open-auth-failed': { counter: 'rx-auth-failed', why: 'the tag did not verify' },
  'open-replay': { counter: 'rx-replay', why: 'authentic, but the counter was seen before or is too old (§5.4.6)' },

  // Sealing data messages (src/protocol/transport.ts sealBurst).
  'seal-keypair-unusable': { counter: 'tx-send-failed', why: 'keypair expired, wiped, or its send counter exhausted' },
  'seal-no-headroom': { counter: 'tx-send-failed', why: 'fewer than 16 bytes before the plaintext for the header' },
  'seal-no-tailroom': { counter: 'tx-send-failed', why: 'no room after the plaintext for padding and tag' },
  'seal-counter-exhausted': { counter: 'tx-send-failed', why: 'the send counter reached REJECT_AFTER_MESSAGES (§6.1)' },
  'seal-aead-failed': { counter: 'tx-send-failed', why: 'the AEAD backend refused the packet' },
  'seal-keypair-retired': { counter: 'tx-keypair-retired', why: 'sealed, but the keypair was retired meanwhile: not sent' },

  // MACs and cookies (src/protocol/cookie.ts).
  'bad-mac1': { counter: 'rx-bad-mac1', why: 'MAC1 wrong: the sender does not know our public key, or the message is corrupt' },
  'need-cookie': { counter: 'rx-cookie-required', why: 'under load and MAC2 missing: answered with a cookie reply' },
  'bad-mac2': { counter: 'rx-cookie-required', why: 'under load and MAC2 not from a current cookie: answered with a cookie reply' },
  'forged-cookie-reply': { counter: 'rx-handshake-invalid', why: 'a cookie reply that does not decrypt with the MAC1 we last sent as AD' },
  'unexpected-cookie-reply': { counter: 'rx-handshake-invalid', why: 'a cookie reply when we have no handshake message awaiting one' },

  // The handshake (src/protocol/noise*.ts).
  'handshake-decrypt-failed': { counter: 'rx-handshake-invalid', why: 'an encrypted handshake field did not authenticate' },
  'invalid-public-key': { counter: 'rx-handshake-invalid', why: "a Diffie-Hellman with the sender's key gave zero (small-order key)" },
  'unknown-peer': { counter: 'rx-handshake-invalid', why: 'initiation from a static key that is not one of our peers' },
  'replayed-timestamp': { counter: 'rx-handshake-replay', why: 'initiation timestamp not later than the last accepted one from that peer' },
  'initiation-flood': { counter: 'rx-handshake-flood', why: 'initiation within 20 ms of the last accepted one from that peer' },
  'unknown-receiver-index': { counter: 'rx-handshake-invalid', why: 'receiver index names no handshake (or keypair) of ours' },
  'unexpected-response': { counter: 'rx-handshake-invalid', why: 'a response for a handshake that is not waiting for one' },

  // Raised and counted by the data path and the handshake path (src/datapath/, src/daemon/).
  'rx-unknown-index': { counter: 'rx-unknown-index', why: 'data for a receiver index we do not have' },
  'rx-key-expired': { counter: 'rx-key-expired', why: 'keypair past REJECT_AFTER_TIME' },
  'rx-peer-gone': { counter: 'rx-key-expired', why: 'authentic data on a keypair whose peer was removed meanwhile' },
  'rx-bad-inner-packet': { counter: 'rx-bad-inner-packet', why: 'decrypted payload is not a well-formed IPv4/IPv6 packet' },
  'rx-allowed-ips': { counter: 'rx-allowed-ips', why: 'inner source address not owned by the sending peer' },
  'rx-handshake-queue-full': { counter: 'rx-handshake-queue-full', why: 'no room in the queue to the main thread or the crypto threads' },
  'rx-ratelimited': { counter: 'rx-ratelimited', why: 'under load, a proven source over its handshake rate' },
  'tun-write-failed': { counter: 'tun-write-failed', why: 'the TUN queue refused an inner packet' },
  'tx-no-route': { counter: 'tx-no-route', why: 'no peer owns the destination address' },
  'tx-no-endpoint': { counter: 'tx-no-endpoint', why: 'the peer has no known endpoint' },
  'tx-bad-inner-packet': { counter: 'tx-bad-inner-packet', why: 'TUN gave us something that is not IPv4/IPv6' },
  'tx-send-failed': {
    counter: 'tx-send-failed',
    why: 'the port (AF_XDP ring or kernel socket) did not take the packet, or took it and could not send it (not counted as sent)',
  },
} as const satisfies Record<string, ReasonEntry>;

/** Why a packet or message was dropped: the one vocabulary of every layer. */
export type DropReason = keyof typeof DROP_REASONS;

/** The counter a reason goes up under. */
export function counterOf(reason: DropReason): DropCounter {
  return DROP_REASONS[reason].counter;
}

/**
 * Every reason in table order. A reason's numeric code is its position + 1,
 * for results kept in integer arrays (DataBurst.result holds −code); 0 is
 * never a drop.
 */
export const DROP_REASON_LIST = Object.keys(DROP_REASONS) as DropReason[];

/** Numeric codes by reason (see DROP_REASON_LIST). */
export const DROP_CODE: Readonly<Record<DropReason, number>> = Object.fromEntries(DROP_REASON_LIST.map((r, i) => [r, i + 1])) as Record<
  DropReason,
  number
>;

/**
 * The reason of a numeric code from DROP_CODE. Any other number is a bug in
 * the code that wrote it, not bad input: it throws rather than count the
 * drop under a guess.
 */
export function reasonOfCode(code: number): DropReason {
  const reason = DROP_REASON_LIST[code - 1];
  if (reason === undefined) throw new RangeError(`${code} is not a drop reason code`);
  return reason;
}
