/**
 * A peer's timer state machine (whitepaper §6): rekeying, handshake retries
 * and give-up, passive and persistent keepalives, keypair expiry and key
 * zeroing.
 *
 * The daemon reports what happened through hooks named for the event
 * (dataSent, dataReceived, anyAuthenticatedPacketReceived, …, each with a
 * one-line contract below) and the machine answers through TimerActions
 * callbacks (sendInitiation, sendKeepalive, giveUp, keypairsExpired,
 * zeroKeys). Time comes only from the injected Clock; nothing is scheduled
 * on the event loop. Instead the machine keeps one deadline per timer and
 * the owner calls tick() when nextDeadline() has come (or on a periodic
 * tick). Tests drive it deterministically with a FakeClock.
 *
 * Rules (§6.1–§6.5; the kernel and wireguard-go behave the same):
 *  - an initiator whose current keypair is REKEY_AFTER_TIME old, or any side
 *    after REKEY_AFTER_MESSAGES, starts a new handshake when it sends;
 *  - an initiator receiving on a keypair REJECT_AFTER_TIME − KEEPALIVE_TIMEOUT
 *    − REKEY_TIMEOUT old starts one too, once per keypair;
 *  - keypairs are never used after REJECT_AFTER_TIME: they are retired then;
 *  - data received and nothing sent back for KEEPALIVE_TIMEOUT → keepalive;
 *  - data sent and nothing authenticated received for KEEPALIVE_TIMEOUT +
 *    REKEY_TIMEOUT → new handshake;
 *  - an unanswered initiation is retried every REKEY_TIMEOUT + jitter; after
 *    MAX_HANDSHAKE_RETRIES + 1 retries (20 initiations in all, the last one
 *    REKEY_ATTEMPT_TIME after the first) it gives up and the staged packets
 *    are dropped;
 *  - initiations not caused by a retry go out at most once per REKEY_TIMEOUT;
 *  - 3 × REJECT_AFTER_TIME after the last session was derived, all keys and
 *    handshake state are erased;
 *  - with a persistent keepalive interval, a keepalive goes out whenever
 *    nothing authenticated was sent or received for that long.
 *
 * Main thread only.
 */
import type { Clock } from './clock.js';
import type { Keypair, KeypairSet } from './keypair.js';
import {
  KEEPALIVE_TIMEOUT_MS,
  MAX_HANDSHAKE_RETRIES,
  PERSISTENT_KEEPALIVE_MAX_S,
  REKEY_TIMEOUT_JITTER_MAX_MS,
  REKEY_TIMEOUT_MS,
  ZERO_KEYS_AFTER_MS,
} from './constants.js';

/** Why an initiation is asked for (for logs; only 'retry' changes the rules). */
export type InitiationReason =
  /** The daemon has packets but no usable keypair (requestHandshake). */
  | 'requested'
  /** Retransmission of an unanswered initiation (§6.4). */
  | 'retry'
  /** The current keypair is old or worn out (§6.2). */
  | 'rekey'
  /** Data sent, nothing heard back for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (§6.4). */
  | 'silence';

/** What the timers ask the daemon to do. Called synchronously from hooks and tick(). */
export interface TimerActions {
  /**
   * Create and send a handshake initiation now, then call handshakeInitiated()
   * (and the packet-sent hooks) — also when the send itself failed (no
   * endpoint yet, socket error), or the retries would stop. Rate limiting is
   * already applied.
   */
  sendInitiation(reason: InitiationReason): void;
  /** Send a keepalive (an empty data message) with the current keypair, if there is one (§6.5). */
  sendKeepalive(): void;
  /** The handshake did not complete in REKEY_ATTEMPT_TIME: drop staged packets, clear the handshake (§6.4). */
  giveUp(): void;
  /** These keypairs reached REJECT_AFTER_TIME and were retired (already wiped): unlist their indices (§6.1). */
  keypairsExpired(retired: Keypair[]): void;
  /** 3 × REJECT_AFTER_TIME with no new session: erase all keypairs and handshake state (§6.3). */
  zeroKeys(): void;
}

/**
 * Told when a peer's timers have a deadline earlier than any they told it
 * before (PeerTimers.scheduledAt), so the owner can keep every peer's
 * timers in one queue ordered by deadline and tick only those due.
 * Deadlines that move later or are disarmed are not told: the owner finds
 * out when the earlier entry comes due (tick() then fires nothing) and asks
 * nextDeadline().
 */
export interface TimerScheduler {
  schedule(timers: PeerTimers, at: number): void;
}

/** Construction options of PeerTimers. */
export interface PeerTimersOptions {
  clock: Clock;
  /** The peer's keypairs: read for the rekey rules, expired by the expiry timer. */
  keypairs: KeypairSet;
  actions: TimerActions;
  /** Persistent keepalive interval in seconds; 0 (default) disables it. */
  persistentKeepaliveSeconds?: number;
  /** Uniform random in [0, 1) for the retry jitter (injectable for tests). */
  random?: () => number;
  /** Told of new earliest deadlines (see TimerScheduler); none: the owner polls with tick(). */
  scheduler?: TimerScheduler;
}

/** The timers of one peer. */
const TIMER_NAMES = [
  'retransmitHandshake',
  'passiveKeepalive',
  'newHandshake',
  'persistentKeepalive',
  'expireKeypairs',
  'zeroKeys',
] as const;
/** One of the peer's timers. */
export type PeerTimerName = (typeof TIMER_NAMES)[number];

/** A peer's timers; see the file comment. */
export class PeerTimers {
  private readonly clock: Clock;
  private readonly keypairs: KeypairSet;
  private readonly actions: TimerActions;
  private readonly random: () => number;
  /** Deadline per timer (ms), NaN when not armed; indexed like TIMER_NAMES. */
  private readonly deadlines = new Float64Array(TIMER_NAMES.length).fill(NaN);
  private persistentIntervalMs: number;
  private retries = 0;
  private lastInitiationAt = -Infinity;
  private needAnotherKeepalive = false;
  private sentLastMinuteHandshake = false;
  private stopped = false;
  private readonly scheduler: TimerScheduler | undefined;
  /**
   * The earliest deadline told to the scheduler and not yet come due
   * (Infinity: none). The scheduler's owner sets it back to Infinity when
   * that entry comes due.
   */
  scheduledAt = Infinity;

  constructor(options: PeerTimersOptions) {
    this.scheduler = options.scheduler;
    this.clock = options.clock;
    this.keypairs = options.keypairs;
    this.actions = options.actions;
    this.random = options.random ?? Math.random;
    this.persistentIntervalMs = checkInterval(options.persistentKeepaliveSeconds ?? 0) * 1000;
  }

  // ---------------------------------------------------------------- hooks

  /** A data message with a non-empty payload was sent (not a keepalive). */
  dataSent(): void {
    if (!this.armed('newHandshake')) this.arm('newHandshake', KEEPALIVE_TIMEOUT_MS + REKEY_TIMEOUT_MS + this.jitter());
  }

  /** A data message with a non-empty payload was received and authenticated (not a keepalive). */
  dataReceived(): void {
    if (!this.armed('passiveKeepalive')) this.arm('passiveKeepalive', KEEPALIVE_TIMEOUT_MS);
    else this.needAnotherKeepalive = true;
  }

  /** Any authenticated packet was sent: data, keepalive or handshake message. */
  anyAuthenticatedPacketSent(): void {
    this.disarm('passiveKeepalive');
  }

  /** Any authenticated packet was received: data, keepalive or handshake message. */
  anyAuthenticatedPacketReceived(): void {
    this.disarm('newHandshake');
  }

  /** Any authenticated packet was sent or received (restarts the persistent keepalive countdown). */
  anyAuthenticatedPacketTraversal(): void {
    if (this.persistentIntervalMs > 0) this.arm('persistentKeepalive', this.persistentIntervalMs);
  }

  /** A transport data message (including a keepalive) was sent with `keypair`: may start a rekey (§6.2). */
  transportMessageSent(keypair: Keypair): void {
    if (keypair === this.keypairs.current && keypair.needsRekeyAfterSend(this.clock.now())) this.initiate('rekey');
  }

  /**
   * A transport data message (including a keepalive) was received and
   * authenticated with `keypair`: an initiator near REJECT_AFTER_TIME rekeys,
   * once per keypair (§6.2).
   */
  transportMessageReceived(keypair: Keypair): void {
    if (this.sentLastMinuteHandshake || keypair !== this.keypairs.current) return;
    if (!keypair.needsRekeyAfterReceive(this.clock.now())) return;
    this.sentLastMinuteHandshake = true;
    this.initiate('rekey');
  }

  /** An initiation was just sent (starts the retransmission countdown). */
  handshakeInitiated(): void {
    this.lastInitiationAt = this.clock.now();
    this.arm('retransmitHandshake', REKEY_TIMEOUT_MS + this.jitter());
  }

  /**
   * The handshake completed: as initiator on receiving the response, as
   * responder on the first data message with the new keypair.
   */
  handshakeComplete(): void {
    this.disarm('retransmitHandshake');
    this.retries = 0;
    this.sentLastMinuteHandshake = false;
  }

  /** A new keypair was derived and installed (either side): restarts key zeroing, schedules expiry. */
  sessionDerived(): void {
    this.arm('zeroKeys', ZERO_KEYS_AFTER_MS);
    this.armExpiry();
  }

  /**
   * The persistent keepalive interval changed (seconds, 0 = off). A new
   * non-zero interval sends a keepalive at once, as wg(8) users expect.
   */
  persistentKeepaliveIntervalChanged(seconds: number): void {
    this.persistentIntervalMs = checkInterval(seconds) * 1000;
    if (this.persistentIntervalMs === 0) {
      this.disarm('persistentKeepalive');
      return;
    }
    if (this.stopped) return;
    this.arm('persistentKeepalive', this.persistentIntervalMs);
    this.actions.sendKeepalive();
  }

  /**
   * The daemon has packets for this peer but no usable keypair: start a
   * handshake unless one went out less than REKEY_TIMEOUT ago.
   */
  requestHandshake(): void {
    this.initiate('requested');
  }

  // ---------------------------------------------------------------- scheduler

  /** The earliest armed deadline (ms on the clock), or undefined when nothing is armed. */
  nextDeadline(): number | undefined {
    let earliest: number | undefined;
    for (const d of this.deadlines) if (!Number.isNaN(d) && (earliest === undefined || d < earliest)) earliest = d;
    return earliest;
  }

  /** The deadline of one timer, or undefined when not armed (for tests and `xdpwg show`). */
  deadlineOf(name: PeerTimerName): number | undefined {
    const d = this.deadlines[TIMER_NAMES.indexOf(name)]!;
    return Number.isNaN(d) ? undefined : d;
  }

  /** Fires every timer whose deadline is at or before clock.now(), earliest first. */
  tick(): void {
    const now = this.clock.now();
    for (;;) {
      if (this.stopped) return;
      let due = -1;
      for (let i = 0; i < this.deadlines.length; i++) {
        const d = this.deadlines[i]!;
        if (d <= now && (due < 0 || d < this.deadlines[due]!)) due = i;
      }
      if (due < 0) return;
      this.deadlines[due] = NaN;
      this.fire(TIMER_NAMES[due]!);
    }
  }

  /** Disarms everything for good (peer removed, device down). */
  stop(): void {
    this.stopped = true;
    this.deadlines.fill(NaN);
  }

  // ---------------------------------------------------------------- internals

  private fire(name: PeerTimerName): void {
    switch (name) {
      case 'retransmitHandshake':
        // `>`, as the kernel and wireguard-go: the first initiation and 19 retries (20 attempts)
        // go out before giving up, the last of them REKEY_ATTEMPT_TIME after the first.
        if (this.retries > MAX_HANDSHAKE_RETRIES) {
          // §6.4: REKEY_ATTEMPT_TIME worth of retries went unanswered.
          this.retries = 0;
          this.disarm('passiveKeepalive');
          this.actions.giveUp();
          if (!this.armed('zeroKeys')) this.arm('zeroKeys', ZERO_KEYS_AFTER_MS);
        } else {
          this.retries++;
          this.initiate('retry');
        }
        return;
      case 'passiveKeepalive':
        this.actions.sendKeepalive();
        if (this.needAnotherKeepalive) {
          this.needAnotherKeepalive = false;
          this.arm('passiveKeepalive', KEEPALIVE_TIMEOUT_MS);
        }
        return;
      case 'newHandshake':
        this.initiate('silence');
        return;
      case 'persistentKeepalive':
        if (this.persistentIntervalMs > 0) {
          this.actions.sendKeepalive();
          // The send normally reports a traversal, which re-arms; re-arm anyway so the rhythm never stops.
          if (!this.armed('persistentKeepalive')) this.arm('persistentKeepalive', this.persistentIntervalMs);
        }
        return;
      case 'expireKeypairs': {
        const retired = this.keypairs.expire(this.clock.now());
        if (retired.length > 0) this.actions.keypairsExpired(retired);
        this.armExpiry();
        return;
      }
      case 'zeroKeys':
        this.disarm('expireKeypairs');
        this.actions.zeroKeys();
        return;
    }
  }

  /** Asks for an initiation, applying the once-per-REKEY_TIMEOUT limit to everything but retries. */
  private initiate(reason: InitiationReason): void {
    if (this.stopped) return;
    if (reason !== 'retry') {
      if (this.clock.now() - this.lastInitiationAt < REKEY_TIMEOUT_MS) return;
      if (!this.armed('retransmitHandshake')) this.retries = 0; // a fresh attempt, not a continuation
    }
    this.actions.sendInitiation(reason);
  }

  private armExpiry(): void {
    const at = this.keypairs.nextExpiry();
    if (at === undefined || this.stopped) this.disarm('expireKeypairs');
    else this.setDeadline(TIMER_NAMES.indexOf('expireKeypairs'), at);
  }

  private jitter(): number {
    return Math.floor(this.random() * REKEY_TIMEOUT_JITTER_MAX_MS);
  }

  private arm(name: PeerTimerName, afterMs: number): void {
    if (this.stopped) return;
    this.setDeadline(TIMER_NAMES.indexOf(name), this.clock.now() + afterMs);
  }

  private setDeadline(i: number, at: number): void {
    this.deadlines[i] = at;
    if (this.scheduler && at < this.scheduledAt) {
      this.scheduledAt = at;
      this.scheduler.schedule(this, at);
    }
  }

  private disarm(name: PeerTimerName): void {
    this.deadlines[TIMER_NAMES.indexOf(name)] = NaN;
  }

  private armed(name: PeerTimerName): boolean {
    return !Number.isNaN(this.deadlines[TIMER_NAMES.indexOf(name)]!);
  }
}

function checkInterval(seconds: number): number {
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > PERSISTENT_KEEPALIVE_MAX_S) {
    throw new RangeError(`persistent keepalive interval must be 0..${PERSISTENT_KEEPALIVE_MAX_S} s, got ${seconds}`);
  }
  return seconds;
}
