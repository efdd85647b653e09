/**
 * The handshake path of a device (whitepaper §5.4, §6): the static identity,
 * admission of handshake messages (MAC1/MAC2, cookie replies under load, the
 * per-source rate limit), receiving initiations, responses and cookie
 * replies, sending initiations and responses, and installing the keypairs a
 * handshake yields and publishing them to the workers. It owns the index
 * table, which names handshakes in flight and the keypairs they produced.
 *
 * Flow:
 *   1. a worker stages a packet for a peer with no usable keypair → the
 *      peer's timers ask for an initiation (at most one per REKEY_TIMEOUT)
 *   2. initiation received → MAC checks (cookie reply under load) → the
 *      crypto on the HandshakeCryptoPool's native crew → back
 *      here: acceptInitiation (replay, flood) → keypair installed as "next"
 *      → response (one sendmmsg per batch of answers)
 *   3. response received → consumeResponse → keypair "current" → staged
 *      packets (or a keepalive) go out so the responder can confirm it
 *   4. a worker reports the first data on "next" → it becomes current
 *
 * Threading: main thread only. Keypairs reach the workers as messages; keys
 * are zeroed through the retirement epochs (src/protocol/key-retirement.ts).
 * The crypto pool's crew gets a copy of the private key and reads the peers'
 * PSKs from the shared table, both written only from here, and hands back
 * answers that name the key versions they used (handshake-crypto-pool.ts).
 */
import { availableParallelism } from 'node:os';
import { clampPrivateKey, keyPairFromPrivate, type X25519KeyPair } from '../../crypto/x25519.js';
import { isAllZero, equalConstantTime, wipe } from '../../crypto/bytes.js';
import { IndexTable } from '../../protocol/index-table.js';
import { Keypair } from '../../protocol/keypair.js';
import type { KeyRetirement } from '../../protocol/key-retirement.js';
import type { Clock } from '../../protocol/clock.js';
import { beginSession, consumeResponse, createInitiation, wipeTransportKeys, type Handshake } from '../../protocol/noise.js';
import { acceptInitiation } from '../../protocol/noise-responder.js';
import { CookieChecker, CookieGenerator } from '../../protocol/cookie.js';
import { HANDSHAKE_QUEUE_CAPACITY, REKEY_ATTEMPT_TIME_MS } from '../../protocol/constants.js';
import { PeerTimers, type InitiationReason, type TimerScheduler } from '../../protocol/timers.js';
import {
  CookieReply,
  INITIATION_SIZE,
  RESPONSE_SIZE,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  readU32,
} from '../../protocol/wire.js';
import type { DropReason } from '../../packet/drop-reasons.js';
import { FRAME_HEADROOM } from '../../native/frames.js';
import { UdpAddrRecord as R } from '../../native/addr-record-layout.js';
import { DropCounters } from '../../datapath/drop-counters.js';
import { CookieSecretShare, MainThreadAdmission } from '../../datapath/handshake-admission.js';
import type { KeypairWire } from '../../datapath/worker-messages.js';
import type { Logger } from '../log.js';
import type { DataPlaneLink } from '../device/data-plane-link.js';
import type { KernelUdpSocket } from '../device/kernel-socket.js';
import type { MainThreadSend } from '../device/main-thread-send.js';
import type { PeerSet } from '../device/peer-set.js';
import { HandshakeCounters } from './handshake-counters.js';
import { HandshakeCryptoPool } from './handshake-crypto-pool.js';
import type { CryptoAnswer } from './handshake-crypto-messages.js';
import { DatagramBatch } from '../device/datagram-batch.js';
import type { Peer } from '../device/peer.js';

type IndexEntry = Handshake<Peer> | Keypair;

let placeholder: X25519KeyPair | undefined;
/**
 * The stand-in static key of peers added before the device has a private
 * key: one for the whole process (a scalar multiplication per peer would
 * cost 1,000 of them for a 1,000-peer config). Never used for a handshake.
 */
function placeholderIdentity(): X25519KeyPair {
  return (placeholder ??= keyPairFromPrivate(new Uint8Array(32).fill(1)));
}

/** What the handshake path works with; all of it belongs to the device. */
export interface HandshakePathDeps {
  clock: Clock;
  log: Logger;
  peers: PeerSet;
  socket: KernelUdpSocket;
  send: MainThreadSend;
  link: DataPlaneLink;
  retirement: KeyRetirement;
}

export class HandshakePath {
  private staticIdentity: X25519KeyPair | undefined;
  private cookieChecker: CookieChecker | undefined;
  /** Per peer, made at its first handshake message (two BLAKE2s and 64 bytes a peer that never handshakes does not need). */
  private readonly cookieGenerators = new Map<Peer, CookieGenerator>();
  private readonly indices = new IndexTable<IndexEntry>();
  /** Which peer each keypair in the index table belongs to (cookie replies to our responses name a keypair). */
  private readonly keypairOwners = new WeakMap<Keypair, Peer>();
  /** MAC1/MAC2, cookie replies and the rate limit under load (src/datapath/handshake-admission.ts). */
  private readonly admission: MainThreadAdmission;
  /** Handshake messages sent and accepted, by type (`xdpwg stats`). */
  readonly counters = new HandshakeCounters();
  /** Handshake messages refused, by reason (the main thread's drop counters). */
  readonly drops = new DropCounters();
  /** The cookie secret, shared with the workers so they can tell MAC2-proven sources (src/datapath/handshake-admission.ts). */
  readonly cookieSecret = new CookieSecretShare();
  private readonly clock: Clock;
  private readonly log: Logger;
  /** Runs the responder's handshake crypto on other threads; the context of each initiation is its source address record. */
  private crypto: HandshakeCryptoPool<Uint8Array> | undefined;
  /** Handshake responses, sent once per batch of crypto answers, after the workers' wake for their keypairs. */
  private readonly responses = new DatagramBatch(FRAME_HEADROOM, () => this.deps.link.pool?.releaseHeldWake());

  constructor(private readonly deps: HandshakePathDeps) {
    this.clock = deps.clock;
    this.log = deps.log;
    this.admission = new MainThreadAdmission(this.clock);
  }

  /**
   * Makes the crypto pool (after the workers: answers hold the workers'
   * wakes, WorkerPool.withWakesHeld) and gives it the key and the PSKs set
   * so far. Its crew of native threads runs from here on
   * (handshake-crypto-pool.ts).
   */
  async startCrypto(): Promise<void> {
    this.crypto = await HandshakeCryptoPool.start<Uint8Array>({
      threads: availableParallelism(),
      maxInFlight: HANDSHAKE_QUEUE_CAPACITY,
      backlog: this.deps.link.pool?.handshakeBacklog,
      onResult: (r, addr) => this.onInitiationResponded(r, addr),
      // The keypairs of a turn's answers go to the workers as one message, posted and counted before
      // the responses leave (each DatagramBatch send releases the held broadcasts first), so a worker
      // applies them before it reads a peer's answer; the wake itself is deferred and mostly not
      // needed: the flood's packets wake the workers (WorkerPool.withWakesDeferred).
      handleAnswers: (handle) => (this.deps.link.pool ? this.deps.link.pool.withWakesDeferred(handle) : handle()),
    });
    this.crypto.setIdentity(this.staticIdentity?.privateKey ?? null);
    for (const p of this.deps.peers.values()) this.crypto.setPeer(p.publicKey, p.handshake.presharedKey, p.key);
  }

  /** Handshake crypto threads running now (`xdpwg stats`). */
  get cryptoThreads(): number {
    return this.crypto?.threads ?? 0;
  }

  /** Initiations with the crypto crew and not yet answered. */
  get cryptoBusy(): boolean {
    return this.crypto?.busy ?? false;
  }

  async stopCrypto(): Promise<void> {
    await this.crypto?.close();
    this.crypto = undefined;
  }

  /** The device's static key pair, once a private key is set. */
  get identity(): X25519KeyPair | undefined {
    return this.staticIdentity;
  }

  /** The static key pair a new peer's handshake starts with (a stand-in until a private key is set). */
  localStatic(): X25519KeyPair {
    // Without our private key the handshake state waits for one (setPrivateKey re-keys every peer).
    return this.staticIdentity ?? placeholderIdentity();
  }

  /**
   * Sets the private key (all zeros: clears it). Returns false when the key is
   * the one in use: then nothing changes. Otherwise every peer must then go
   * through {@link resetPeer}.
   */
  setPrivateKey(key: Uint8Array): boolean {
    // `wg syncconf` and `wg setconf` always send private_key: the same key again changes
    // nothing and must keep every session (wireguard-go returns early the same way).
    // (identity.privateKey is clamped: a key differing only in the clamped bits is the same identity.)
    if (this.staticIdentity ? equalConstantTime(clampPrivateKey(Uint8Array.from(key)), this.staticIdentity.privateKey) : isAllZero(key))
      return false;
    if (isAllZero(key)) {
      this.staticIdentity = undefined;
      this.cookieChecker = undefined;
    } else {
      this.staticIdentity = keyPairFromPrivate(key);
      this.cookieChecker = new CookieChecker(this.staticIdentity.publicKey, this.clock);
      this.cookieChecker.onSecretRotated = (secret) => this.cookieSecret.publish(secret);
    }
    this.crypto?.setIdentity(this.staticIdentity?.privateKey ?? null);
    return true;
  }

  /** After a new private key: the peer's sessions end and its handshake takes the new key. */
  resetPeer(p: Peer): void {
    for (const kp of p.keypairs.clear()) this.retireKeypair(kp);
    this.publishKeypairs(p);
    if (this.staticIdentity) p.handshake.setLocalStatic(this.staticIdentity, this.indices);
    this.cookieGenerators.delete(p);
  }

  /** The peer's cookie state (MACs of what we send, cookies we receive), made when first needed. */
  private cookiesOf(peer: Peer): CookieGenerator {
    let g = this.cookieGenerators.get(peer);
    if (!g) {
      g = new CookieGenerator(peer.publicKey, this.clock);
      this.cookieGenerators.set(peer, g);
    }
    return g;
  }

  /**
   * Makes a peer's timers, wired to the handshake path and the main thread's
   * sending: one function for all peers (Peer.timers calls it at the
   * peer's first timer event), so an idle peer holds no timers and no closures.
   */
  readonly timersFor = (peer: Peer): PeerTimers =>
    new PeerTimers({ clock: this.clock, keypairs: peer.keypairs, actions: this.timerActions(peer), scheduler: this.scheduler });

  /** Where peers' timers say when they are next due (the device's TimerQueue); set before any peer exists. */
  scheduler: TimerScheduler | undefined;

  /** Starts handling a peer just added to the peer set. */
  adopt(peer: Peer): void {
    this.crypto?.setPeer(peer.publicKey, peer.handshake.presharedKey, peer.key);
  }

  /** The peer's preshared key (all zeros: none), as `preshared_key=` sets it. */
  setPresharedKey(peer: Peer, psk: Uint8Array): void {
    peer.handshake.setPresharedKey(isAllZero(psk) ? null : psk);
    this.crypto?.setPeer(peer.publicKey, peer.handshake.presharedKey, peer.key);
  }

  /** Ends a peer's timers, sessions and handshake, before it leaves the peer set. */
  forget(peer: Peer): void {
    peer.timersIfAny?.stop();
    for (const kp of peer.keypairs.clear()) this.retireKeypair(kp);
    peer.handshake.clear(this.indices);
    this.cookieGenerators.delete(peer);
    this.crypto?.removePeer(peer.publicKey);
  }

  // ------------------------------------------------------------------ receiving

  /** A handshake message (types 1–3) a worker received from `addr` (a UDP address record). */
  receive(msg: Uint8Array, addr: Uint8Array): void {
    if (!this.staticIdentity || !this.cookieChecker) return;
    const type = msg[0];
    const refused = this.admission.check(this.cookieChecker, msg, addr, this.deps.link.handshakeBacklog);
    if (refused) {
      this.drops.count(refused);
      if (refused === 'need-cookie' || refused === 'bad-mac2') {
        // The cookie names the source: remote address bytes ‖ port, the record's leading fields.
        const reply = this.cookieChecker.createReply(msg, addr.subarray(R.remoteIp, R.remotePort + 2));
        if (reply && this.deps.socket.send(addr, reply)) this.counters.cookieRepliesSent++;
      }
      return;
    }
    if (type === MESSAGE_INITIATION) this.onInitiation(msg, addr);
    else if (type === MESSAGE_RESPONSE) this.onResponse(msg, addr);
    else if (type === MESSAGE_COOKIE_REPLY) this.onCookieReply(msg);
  }

  private dropInitiation(why: DropReason): void {
    this.drops.count(why);
    this.log.limited('debug', `init-${why}`, `dropped handshake initiation: ${why}`);
  }

  /** An initiation whose MACs passed: its crypto runs on the pool's threads, the rest in onInitiationResponded. */
  private onInitiation(msg: Uint8Array, addr: Uint8Array): void {
    if (!this.crypto?.submit(msg, addr)) this.drops.count('rx-handshake-queue-full');
  }

  /** The pool answered an initiation: the replay/flood checks against the peer's state, then the session and the response. */
  private onInitiationResponded(r: CryptoAnswer | DropReason, addr: Uint8Array): void {
    if (typeof r === 'string') return this.dropInitiation(r);
    const peer = this.deps.peers.getByKey(r.initiatorHex);
    if (!peer) {
      wipe(r.sendKey, r.receiveKey);
      return this.dropInitiation('unknown-peer');
    }
    const keys = acceptInitiation(peer.handshake, r, this.indices, this.clock);
    if (typeof keys === 'string') return this.dropInitiation(keys);
    peer.controlRxBytes += INITIATION_SIZE;
    this.counters.initiationsReceived++;
    this.deps.peers.setEndpoint(peer, addr);
    this.cookiesOf(peer).addMacs(r.response);
    this.installKeypair(peer, keys);
    // Sent with the other responses of this batch of answers, in one sendmmsg (datagram-batch.ts).
    const udp = this.deps.socket.nativePort;
    if (udp) {
      this.responses.push(udp, addr, r.response, (sent) => {
        if (!sent) {
          this.drops.count('tx-send-failed');
          return;
        }
        peer.controlTxBytes += RESPONSE_SIZE;
        this.counters.responsesSent++;
      });
    }
    // Guarded: under a flood building the line (the peer's name) cost more than the rest of the logging.
    if (this.log.isDebug) this.log.debug(`${peer.name}: handshake initiation received, response sent`);
    const t = peer.timers;
    t.anyAuthenticatedPacketReceived();
    t.anyAuthenticatedPacketSent();
    t.anyAuthenticatedPacketTraversal();
    t.sessionDerived();
  }

  private onResponse(msg: Uint8Array, addr: Uint8Array): void {
    const hs = consumeResponse<Peer>(msg, (index) => {
      const e = this.indices.get(index);
      return e && !(e instanceof Keypair) ? e : undefined;
    });
    if (typeof hs === 'string') {
      this.drops.count(hs);
      this.log.limited('debug', `resp-${hs}`, `dropped handshake response: ${hs}`);
      return;
    }
    const peer = hs.peer;
    peer.controlRxBytes += msg.length;
    this.counters.responsesReceived++;
    this.deps.peers.setEndpoint(peer, addr);
    const keys = beginSession(hs, this.clock);
    if (!keys) return;
    this.installKeypair(peer, keys);
    peer.lastHandshakeWallMs = Date.now();
    this.log.debug(`${peer.name}: handshake response received, session started`);
    const t = peer.timers;
    t.anyAuthenticatedPacketReceived();
    t.anyAuthenticatedPacketTraversal();
    t.handshakeComplete();
    t.sessionDerived();
    // The responder confirms the session on our first data message: send staged packets, or a keepalive.
    if (peer.staged.length > 0) this.deps.send.flushStaged(peer);
    else this.deps.send.sendKeepalive(peer);
  }

  private onCookieReply(msg: Uint8Array): void {
    const e = this.indices.get(readU32(msg, CookieReply.receiver));
    // A reply to our initiation names its handshake; a reply to our response names the
    // keypair the response installed (installKeypair moved the index to it).
    const peer = e instanceof Keypair ? this.keypairOwners.get(e) : e?.peer;
    const generator = peer && this.cookieGenerators.get(peer);
    const verdict = generator ? generator.consumeReply(msg) : 'unknown-receiver-index';
    if (verdict === 'ok') this.counters.cookieRepliesReceived++;
    else this.drops.count(verdict);
  }

  /**
   * A worker saw the first data on the peer's "next" keypair (`localIndex`):
   * it becomes current, and the responder's handshake is complete.
   */
  confirmed(peer: Peer, localIndex: number): void {
    const kp = peer.keypairs.next;
    if (!kp || kp.localIndex !== localIndex) return;
    const { retired } = peer.keypairs.received(kp);
    for (const r of retired) this.retireKeypair(r);
    this.publishKeypairs(peer);
    // The responder's handshake completes here (wireguard-go: on the first data with the
    // new keypair): stamp it, and send what waited for a session.
    peer.lastHandshakeWallMs = Date.now();
    peer.timers.handshakeComplete();
    this.deps.send.flushStaged(peer);
  }

  // ------------------------------------------------------------------ sending

  /** Sends a handshake initiation (the timers decided it is time, and rate-limited it). */
  private sendInitiation(peer: Peer, reason: InitiationReason): void {
    if (this.staticIdentity && peer.endpointAddr) {
      const msg = createInitiation(peer.handshake, this.indices, this.clock);
      if (msg) {
        this.cookiesOf(peer).addMacs(msg);
        if (this.deps.socket.send(peer.endpointAddr, msg)) {
          peer.controlTxBytes += msg.length;
          this.counters.initiationsSent++;
        }
        this.log.debug(`${peer.name}: sending handshake initiation (${reason})`);
        peer.timers.anyAuthenticatedPacketSent();
        peer.timers.anyAuthenticatedPacketTraversal();
      }
    }
    // Also when nothing could be sent: the retry countdown goes on (TimerActions contract).
    peer.timers.handshakeInitiated();
  }

  /** The timers' requests, bound to one peer (src/protocol/timers.ts TimerActions). */
  private timerActions(peer: Peer): ConstructorParameters<typeof PeerTimers>[0]['actions'] {
    return {
      sendInitiation: (reason) => this.sendInitiation(peer, reason),
      sendKeepalive: () => this.deps.send.sendKeepalive(peer),
      giveUp: () => {
        this.log.verbose(`${peer.name}: handshake did not complete after ${REKEY_ATTEMPT_TIME_MS / 1000} s, giving up`);
        peer.staged.purge();
        peer.handshake.clear(this.indices);
      },
      keypairsExpired: (retired) => {
        for (const r of retired) this.indices.remove(r.localIndex);
        this.publishKeypairs(peer);
      },
      zeroKeys: () => {
        for (const r of peer.keypairs.clear()) this.retireKeypair(r);
        peer.handshake.clear(this.indices);
        this.publishKeypairs(peer);
      },
    };
  }

  // ------------------------------------------------------------------ keypairs

  private installKeypair(peer: Peer, keys: Parameters<typeof wipeTransportKeys>[0]): void {
    const kp = new Keypair(keys, this.deps.retirement);
    wipeTransportKeys(keys);
    this.indices.replace(kp.localIndex, kp);
    for (const r of peer.keypairs.install(kp)) this.retireKeypair(r);
    this.keypairOwners.set(kp, peer);
    this.publishKeypairs(peer);
  }

  private wire(kp: Keypair | undefined): KeypairWire | null {
    if (!kp) return null;
    // Keypair.createdAt is on this.clock; workers compare with Date.now().
    return {
      shared: kp.shared.buffer,
      serial: kp.serial,
      createdMs: Date.now() - (this.clock.now() - kp.createdAt),
      isInitiator: kp.isInitiator,
    };
  }

  /** Tells the workers the peer's current, previous and next keypairs. */
  private publishKeypairs(peer: Peer): void {
    const k = peer.keypairs;
    this.deps.link.broadcast({
      t: 'keypairs',
      slot: peer.slot,
      current: this.wire(k.current),
      previous: this.wire(k.previous),
      next: this.wire(k.next),
    });
  }

  private retireKeypair(kp: Keypair): void {
    this.indices.remove(kp.localIndex);
    kp.wipe();
  }
}
