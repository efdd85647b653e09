/**
 * The protocol's timers and limits, in one place (as wireguard-go's
 * constants.go). Wire facts (message types, sizes, the tag, padding) are
 * ./wire.ts's.
 *
 * Section numbers refer to the WireGuard whitepaper ("WireGuard: Next
 * Generation Kernel Network Tunnel", J. A. Donenfeld, revision e2da747).
 * Values that the whitepaper leaves to the implementation (jitter, queue
 * sizes, rate limits) follow the Linux kernel module and wireguard-go, which
 * agree on them; the comment says so.
 *
 * Times are in MILLISECONDS because the protocol's Clock (./clock.ts) counts
 * milliseconds. Message counts are bigint because they span 64 bits.
 */

/**
 * TEST ONLY: XDPWG_TEST_TIME_SCALE=N (N > 1) divides the session timers below
 * (REKEY_AFTER_TIME, REJECT_AFTER_TIME, REKEY_ATTEMPT_TIME, REKEY_TIMEOUT and
 * its jitter, KEEPALIVE_TIMEOUT, and those derived from them) by N, so a
 * soak test sees a rekey every 120/N s instead of every two minutes
 * (test/netns/memory.test.ts). Their ratios, and so the protocol's logic,
 * stay as the whitepaper has them. Unset (the only production setting): 1.
 */
export const TEST_TIME_SCALE: number = (() => {
  const n = Number(process.env.XDPWG_TEST_TIME_SCALE);
  return Number.isFinite(n) && n > 1 ? n : 1;
})();
const scaled = (ms: number): number => ms / TEST_TIME_SCALE;

/** §6.1: after this many messages sent with one keypair, the initiator starts a new handshake. */
export const REKEY_AFTER_MESSAGES: bigint = 1n << 60n;

/**
 * §6.1: no message may be sent or accepted with a counter at or beyond this
 * value (2^64 − 2^13 − 1). The 2^13 margin keeps the receiver's replay window
 * (§5.4.6) clear of the 64-bit wrap.
 */
export const REJECT_AFTER_MESSAGES: bigint = (1n << 64n) - (1n << 13n) - 1n;

/** §6.1, §6.2: an initiator whose current keypair is this old starts a new handshake when it sends. */
export const REKEY_AFTER_TIME_MS = scaled(120_000);

/** §6.1, §6.2: a keypair this old is never used again to send or to receive. */
export const REJECT_AFTER_TIME_MS = scaled(180_000);

/** §6.1, §6.4: retries of a handshake stop after this long; staged packets are then dropped. */
export const REKEY_ATTEMPT_TIME_MS = scaled(90_000);

/** §6.1, §6.4: an unanswered initiation is retried after this long (plus jitter). */
export const REKEY_TIMEOUT_MS = scaled(5_000);

/**
 * §6.1: the jitter added to REKEY_TIMEOUT on each retry is drawn uniformly
 * from [0, this) ms, so that peers which lost a handshake together do not
 * retry in lock step. The kernel and wireguard-go use one third of a second.
 */
export const REKEY_TIMEOUT_JITTER_MAX_MS = scaled(334);

/** §6.1, §6.5: a passive keepalive is sent when data arrived but nothing was sent for this long. */
export const KEEPALIVE_TIMEOUT_MS = scaled(10_000);

/**
 * §6.2: when receiving, an initiator starts a new handshake once its current
 * keypair is this old (REJECT_AFTER_TIME − KEEPALIVE_TIMEOUT − REKEY_TIMEOUT =
 * 165 s), so that a fresh keypair exists before the old one is rejected even
 * if the initiator itself sends nothing.
 */
export const REKEY_ON_RECEIVE_AGE_MS = REJECT_AFTER_TIME_MS - KEEPALIVE_TIMEOUT_MS - REKEY_TIMEOUT_MS;

/**
 * §6.4: REKEY_ATTEMPT_TIME worth of REKEY_TIMEOUT intervals (90 / 5 = 18), the
 * kernel's and wireguard-go's MAX_TIMER_HANDSHAKES: the retry timer gives up
 * once more retries than this went out, i.e. after 20 initiations in all.
 */
export const MAX_HANDSHAKE_RETRIES = REKEY_ATTEMPT_TIME_MS / REKEY_TIMEOUT_MS;

/** §6.3: with no new handshake for 3 × REJECT_AFTER_TIME (540 s), all keys and handshake state are erased. */
export const ZERO_KEYS_AFTER_MS = 3 * REJECT_AFTER_TIME_MS;

/**
 * §6.1, §6.4: a new handshake is started when data was sent but no
 * authenticated packet arrived for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (15 s).
 */
export const NEW_HANDSHAKE_AFTER_SILENCE_MS = KEEPALIVE_TIMEOUT_MS + REKEY_TIMEOUT_MS;

/** §5.4.7: the responder's cookie secret is replaced every two minutes. */
export const COOKIE_SECRET_MAX_AGE_MS = 120_000;

/** §5.4.7: an initiator uses a received cookie for MAC2 for two minutes (the kernel takes 5 s off for latency). */
export const COOKIE_MAX_AGE_MS = 120_000;

/**
 * §5.1: initiations from one peer arriving closer together than this are
 * refused even with a fresh TAI64N timestamp (flood protection; the kernel and
 * wireguard-go use 1/50 s).
 */
export const HANDSHAKE_INITIATION_MIN_INTERVAL_MS = 20;

/** §6.5 (persistent keepalive): the interval is configured in whole seconds, 1..65535; 0 disables it. */
export const PERSISTENT_KEEPALIVE_MAX_S = 65_535;

/**
 * §5.4.6: the replay window remembers the greatest counter received and the
 * REPLAY_WINDOW_SIZE counters below it (RFC 6479: the bitmap minus one 64-bit
 * block of slack). The kernel and wireguard-go use 8192 bits (window 8128);
 * ours is four times that, because several workers each send and receive
 * their own share of a peer's counters: under load one receiving worker can
 * lag the other by thousands of messages, and an 8128 window turned that lag
 * into false replay drops (measured: 32–332 per run at full load with two
 * workers). The window only widens what the receiver accepts as new; a
 * counter is still accepted at most once.
 */
export const REPLAY_WINDOW_SIZE = 32_704;

/** Bits in the replay bitmap (RFC 6479 §2): a power of two, at least REPLAY_WINDOW_SIZE + 64. */
export const REPLAY_BITMAP_BITS = 32_768;

/**
 * Packets held per peer while a handshake is pending (§6.4); the oldest is
 * dropped when full. The kernel and wireguard-go hold 128.
 */
export const STAGED_QUEUE_CAPACITY = 128;

/** Ratelimiter (§5.3, "Denial of Service"): handshake messages per second per source, kernel/wireguard-go value. */
export const RATELIMIT_PACKETS_PER_SECOND = 20;

/** Ratelimiter: how many handshake messages one source may send back to back. */
export const RATELIMIT_BURST = 5;

/** Ratelimiter: idle entries older than this are forgotten (a full bucket is the same as none). */
export const RATELIMIT_GC_INTERVAL_MS = 1_000;

/** Ratelimiter: IPv6 sources are grouped by this prefix, since one host usually owns a whole /64. */
export const RATELIMIT_IPV6_PREFIX_BITS = 64;

/**
 * Ratelimiter: at most this many sources are tracked; new sources beyond it
 * are refused (the kernel bounds its table the same way, by memory).
 */
export const RATELIMIT_MAX_ENTRIES = 65_536;

/** Capacity of the queue of handshake messages awaiting the main thread (wireguard-go: 1024). */
export const HANDSHAKE_QUEUE_CAPACITY = 1_024;

/** §5.3: the device is "under load" while the handshake backlog is at least capacity / this. */
export const UNDER_LOAD_QUEUE_FRACTION_DIVISOR = 8;

/** §5.3: once under load, the device stays so for this long after the backlog last crossed the threshold. */
export const UNDER_LOAD_AFTER_MS = 1_000;
