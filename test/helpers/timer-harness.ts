/**
 * A stand-in for the daemon around PeerTimers, for timer tests: it records
 * every action with its time and, like the daemon, reports the packets those
 * actions send back through the hooks. `runUntil` moves a FakeClock forward
 * deadline by deadline, so every timer fires at its exact time.
 */
import { FakeClock } from '../../src/protocol/clock.js';
import { Keypair, KeypairSet } from '../../src/protocol/keypair.js';
import { PeerTimers, type InitiationReason, type TimerScheduler } from '../../src/protocol/timers.js';

/** One recorded action: ms since the harness started, and what. */
export interface TimerEvent {
  at: number;
  what: 'initiation' | 'keepalive' | 'giveUp' | 'keypairsExpired' | 'zeroKeys';
  reason?: InitiationReason;
}

export class TimerHarness {
  readonly clock = new FakeClock(1_000_000);
  readonly start = this.clock.now();
  readonly keypairs = new KeypairSet();
  readonly events: TimerEvent[] = [];
  readonly timers: PeerTimers;
  private nextIndex = 1;

  constructor(options: { persistentKeepaliveSeconds?: number; random?: () => number; scheduler?: TimerScheduler } = {}) {
    this.timers = new PeerTimers({
      clock: this.clock,
      scheduler: options.scheduler,
      keypairs: this.keypairs,
      persistentKeepaliveSeconds: options.persistentKeepaliveSeconds,
      random: options.random ?? (() => 0.5),
      actions: {
        sendInitiation: (reason) => {
          this.record('initiation', reason);
          this.timers.handshakeInitiated();
          this.packetSent();
        },
        sendKeepalive: () => {
          const kp = this.keypairs.sendable(this.clock.now());
          if (kp === undefined) return;
          this.record('keepalive');
          this.packetSent();
          this.timers.transportMessageSent(kp);
        },
        giveUp: () => this.record('giveUp'),
        keypairsExpired: () => this.record('keypairsExpired'),
        zeroKeys: () => {
          this.record('zeroKeys');
          this.keypairs.clear();
        },
      },
    });
  }

  /** Milliseconds since the start. */
  get t(): number {
    return this.clock.now() - this.start;
  }

  /** Completes a handshake now, as initiator or responder (responder's keypair confirmed at once). */
  session(isInitiator: boolean): Keypair {
    const key = new Uint8Array(32).fill(this.nextIndex);
    const kp = new Keypair({
      sendKey: key,
      receiveKey: key,
      localIndex: this.nextIndex++,
      remoteIndex: 7,
      isInitiator,
      createdAt: this.clock.now(),
    });
    this.keypairs.install(kp);
    if (!isInitiator) this.keypairs.received(kp);
    this.timers.sessionDerived();
    this.timers.handshakeComplete();
    this.timers.anyAuthenticatedPacketReceived();
    this.timers.anyAuthenticatedPacketTraversal();
    return kp;
  }

  /** We send a data packet now with the current keypair. */
  sendData(): void {
    const kp = this.keypairs.sendable(this.clock.now());
    if (kp === undefined) {
      this.timers.requestHandshake();
      return;
    }
    this.timers.dataSent();
    this.packetSent();
    this.timers.transportMessageSent(kp);
  }

  /** A data packet arrives now on the current keypair (payload, or a keepalive when empty). */
  receiveData(keepalive = false): void {
    const kp = this.keypairs.current;
    if (kp === undefined || kp.isExpired(this.clock.now())) return;
    if (!keepalive) this.timers.dataReceived();
    this.timers.anyAuthenticatedPacketReceived();
    this.timers.anyAuthenticatedPacketTraversal();
    this.timers.transportMessageReceived(kp);
  }

  /** Moves time to start + `t` ms, firing every timer at its deadline on the way. */
  runUntil(t: number): void {
    const target = this.start + t;
    for (let d = this.timers.nextDeadline(); d !== undefined && d <= target; d = this.timers.nextDeadline()) {
      this.clock.set(Math.max(d, this.clock.now()));
      this.timers.tick();
    }
    this.clock.set(target);
    this.timers.tick();
  }

  /** The recorded events of one kind. */
  of(what: TimerEvent['what']): TimerEvent[] {
    return this.events.filter((e) => e.what === what);
  }

  private packetSent(): void {
    this.timers.anyAuthenticatedPacketSent();
    this.timers.anyAuthenticatedPacketTraversal();
  }

  private record(what: TimerEvent['what'], reason?: InitiationReason): void {
    this.events.push({ at: this.t, what, reason });
  }
}
