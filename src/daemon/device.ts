/**
 * The device: the control plane of one WireGuard interface (main thread).
 *
 * It owns the static identity, the peers, the allowed-IPs table, the index
 * table, the handshakes, cookies and timers, and the kernel UDP socket. The
 * workers (src/datapath/) move data; they hand the device handshake messages,
 * packets without a session, roaming and confirmations, and the device tells
 * them about peers, keypairs and allowed IPs.
 *
 * Handshake flow (whitepaper §5.4, §6):
 *   1. a worker stages a packet for a peer with no usable keypair → the device
 *      queues it and sends an initiation (at most one per REKEY_TIMEOUT)
 *   2. initiation received → MAC checks (cookie reply under load) → the
 *      crypto on a HandshakeCryptoPool thread (respondToInitiation) → back
 *      here: acceptInitiation (replay, flood) → keypair installed as "next"
 *      → response
 *   3. response received → consumeResponse → keypair "current" → staged
 *      packets (or a keepalive) go out so the responder can confirm it
 *   4. a worker reports the first data on "next" → it becomes current
 *
 * Threading: main thread only (the pool's threads get copies of the
 * identity and peers' PSKs and hand back results; noise-responder.ts).
 */
import { availableParallelism } from 'node:os';
import { clampPrivateKey, keyPairFromPrivate, type X25519KeyPair } from '../crypto/x25519.js';
import { isAllZero, equalConstantTime, wipe } from '../crypto/bytes.js';
import { keyToBase64 } from '../crypto/encoding.js';
import { AllowedIps } from '../protocol/allowed-ips.js';
import { IndexTable } from '../protocol/index-table.js';
import { Keypair } from '../protocol/keypair.js';
import { KeyRetirement } from '../protocol/key-retirement.js';
import { systemClock, type Clock } from '../protocol/clock.js';
import {
  beginSession, consumeResponse, createInitiation, wipeTransportKeys, type Handshake,
} from '../protocol/noise.js';
import { acceptInitiation } from '../protocol/noise-responder.js';
import { CookieChecker, CookieGenerator } from '../protocol/cookie.js';
import { HandshakeRateLimiter } from '../protocol/ratelimiter.js';
import { HandshakeLoadDetector } from '../protocol/load-detector.js';
import { HANDSHAKE_QUEUE_CAPACITY, REKEY_ATTEMPT_TIME_MS } from '../protocol/constants.js';
import { PeerTimers, type InitiationReason } from '../protocol/timers.js';
import { INITIATION_SIZE, RESPONSE_SIZE, MESSAGE_COOKIE_REPLY, MESSAGE_INITIATION, MESSAGE_RESPONSE, type DropReason } from '../protocol/wire.js';
import { native, type NativeUdpPort } from '../native/binding.js';
import { WorkerPool } from '../datapath/worker-pool.js';
import { readPeerTraffic } from '../datapath/peer-counters.js';
import { DropCounters } from '../datapath/drop-counters.js';
import { addrFromEndpoint, endpointFromAddr, ADDR_RECORD_SIZE } from '../datapath/addr-record.js';
import { packAllowedIps, type FromWorker, type KeypairWire } from '../datapath/worker-messages.js';
import { DataTransport } from '../protocol/transport.js';
import { dataAeadBackend } from '../crypto/aead-burst.js';
import {
  Errno, UapiError, formatEndpoint, peerKey, type DeviceControl, type DeviceSnapshot, type PeerSnapshot, type UapiPeerOp, type UapiSetOp,
} from './device-config.js';
import type { Logger } from './log.js';
import type { DatapathConfig } from './datapath-config.js';
import { XdpPaths } from './xdp-paths.js';
import { applyTrafficStamps } from './traffic-events.js';
import { CookieSecretShare } from '../datapath/handshake-admission.js';
import { describeXdpSteering, type XdpSteering } from './xdp-steering.js';
import { HandshakeCounters, type HandshakeCounts } from './handshake-counters.js';
import { CaptureSession } from './capture-session.js';
import { Peer } from './peer.js';
import { HandshakeCryptoPool } from './handshake-crypto-pool.js';
import type { CryptoAnswer } from './handshake-crypto-messages.js';
import { DatagramBatch } from './datagram-batch.js';

const MAX_PEERS = 4096;
const TICK_MS = 100;
/** How often (in ticks) peers' routes and neighbours are re-read. */
const ROUTE_CHECK_TICKS = 10;
/** UDP frames of 64 KiB + headroom let any TUN MTU up to 65535 through the socket path. */
const FRAME_SIZE = 65536 + 128;
const FRAME_COUNT = 256;
const HEADROOM_FOR_MAIN = 128;
/** SO_RCVBUF / SO_SNDBUF of the UDP socket (wireguard-go's 7 MiB). */
const SOCKET_BUFFER_BYTES = 7 << 20;

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

/** The JSON `xdpwg stats` prints. */
export interface DeviceStats {
  interface: string;
  listenPort: number;
  workers: number;
  /** Whose XDP program steers frames to AF_XDP: own, device-plugin, kernel-fallback (src/daemon/xdp-steering.ts). */
  xdpProgram: string;
  /** Per worker: CPU seconds its thread has used (index = worker). */
  workerCpuSeconds: number[];
  handshakes: HandshakeCounts;
  ports: Array<Record<string, number | string>>;
  afxdp: ReturnType<XdpPaths['summary']>;
  paths: Array<{ publicKey: string; path: string }>;
  drops: Record<string, number>;
  peers: Array<{ publicKey: string; endpoint: string | null; rxBytes: number; txBytes: number; rxPackets: number; txPackets: number; stagedDropped: number; hasSession: boolean }>;
}

export interface DeviceOptions {
  ifname: string;
  tunFds: number[];
  log: Logger;
  datapath: DatapathConfig;
  clock?: Clock;
  /** Our XDP filter (default) or the AF_XDP device plugin's maps (src/daemon/xdp-steering.ts). */
  steering?: XdpSteering;
  /** Told how many leading workers can send on AF_XDP everywhere (0: all); see XdpPaths. */
  onSendingWorkers?: (n: number) => void;
}

export class Device implements DeviceControl {
  onFatal: (reason: string) => void = () => {};
  private identity: X25519KeyPair | undefined;
  private listenPort = 0;
  private fwmark = 0;
  private readonly peers = new Map<string, Peer>();
  private readonly bySlot: Array<Peer | undefined> = [];
  private readonly freeSlots: number[] = [];
  /** Per slot: the generation of the last peer given it (Peer.generation). */
  private readonly slotGenerations: number[] = [];
  private readonly allowed = new AllowedIps<Peer>();
  private readonly indices = new IndexTable<IndexEntry>();
  /** Which peer each keypair in the index table belongs to (cookie replies to our responses name a keypair). */
  private readonly keypairOwners = new WeakMap<Keypair, Peer>();
  private cookieChecker: CookieChecker | undefined;
  private readonly cookieGenerators = new Map<Peer, CookieGenerator>();
  private readonly rateLimiter: HandshakeRateLimiter;
  private readonly load: HandshakeLoadDetector;
  private udp: NativeUdpPort | undefined;
  private pool: WorkerPool | undefined;
  /** Runs the responder's handshake crypto on other threads; the context of each initiation is its source address record. */
  private handshakeCrypto: HandshakeCryptoPool<Uint8Array> | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private allowedDirty = false;
  private readonly mainDrops = new DropCounters();
  private readonly clock: Clock;
  private readonly log: Logger;
  /** Handshake responses, sent once per batch of crypto results. */
  private readonly responses = new DatagramBatch(HEADROOM_FOR_MAIN, () => this.pool?.releaseHeldWake());
  private readonly tx = { desc: new Uint32Array(2), addr: new Uint8Array(ADDR_RECORD_SIZE), frame: new Uint32Array(1) };
  private closed = false;
  /** Seals what the main thread itself sends (staged packets, keepalives). */
  private readonly transport: DataTransport;
  /** Zeroes retired keys once no worker can be reading them (src/protocol/key-retirement.ts). */
  private readonly retirement: KeyRetirement;
  /** The cookie secret, shared with the workers so they can tell MAC2-proven sources (src/datapath/handshake-admission.ts). */
  private readonly cookieSecret = new CookieSecretShare();
  private ticks = 0;
  private mtu = 1420;
  private readonly portStats: Array<Array<Record<string, number | string>>> = [];
  private xdp: XdpPaths | undefined;
  private readonly workerCpu: number[] = [];
  private readonly handshakes = new HandshakeCounters();
  /** The running `xdpwg capture`, if any. */
  private capture: CaptureSession | undefined;

  private constructor(private readonly opts: DeviceOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log;
    this.rateLimiter = new HandshakeRateLimiter(this.clock);
    this.load = new HandshakeLoadDetector(this.clock);
    this.retirement = new KeyRetirement(opts.tunFds.length);
    const aead = dataAeadBackend(opts.datapath.crypto);
    this.transport = new DataTransport(aead.backend);
    this.log.verbose(`data-path AEAD: ${aead.backend.name} (${aead.reason})`);
  }

  /** Creates the device, binds a UDP port (random until listen_port is set) and starts the workers. */
  static async create(opts: DeviceOptions): Promise<Device> {
    const d = new Device(opts);
    d.bind(0);
    d.xdp = new XdpPaths(opts.datapath, opts.tunFds.length, d.log, (m) => d.pool?.broadcast(m), opts.steering, opts.onSendingWorkers);
    d.pool = await WorkerPool.start({
      tunFds: opts.tunFds,
      udpFd: d.udp!.fd,
      mtu: 1420,
      maxPeers: MAX_PEERS,
      frameSize: FRAME_SIZE,
      frameCount: FRAME_COUNT,
      handshakeBacklogMax: HANDSHAKE_QUEUE_CAPACITY,
      keyEpochs: d.retirement.buffer,
      cookieSecret: d.cookieSecret.buffer,
      crypto: opts.datapath.crypto,
      cpus: opts.datapath.cpus === 'auto' ? [] : opts.datapath.cpus,
      onMessage: (m) => d.fromWorker(m),
      onExit: (w, reason) => d.onFatal(`data path ${reason}; exiting so the service manager restarts us`),
    });
    d.handshakeCrypto = await HandshakeCryptoPool.start<Uint8Array>({
      threads: availableParallelism(),
      maxInFlight: HANDSHAKE_QUEUE_CAPACITY,
      backlog: d.pool.handshakeBacklog,
      onResult: (r, addr) => d.onInitiationResponded(r, addr),
      // One wake of the workers for the keypairs of a turn's answers; the responses leave after
      // it (each DatagramBatch send releases a held wake first), so no peer answers before it.
      handleAnswers: (handle) => (d.pool ? d.pool.withWakesHeld(handle) : handle()),
      onFatal: (reason) => d.onFatal(`${reason}; exiting so the service manager restarts us`),
    });
    d.pool.broadcast({ t: 'listen-port', port: d.listenPort });
    d.xdp.setListenPort(d.listenPort);
    d.ticker = setInterval(() => d.tick(), TICK_MS);
    d.ticker.unref();
    return d;
  }

  get name(): string { return this.opts.ifname; }

  /** Kernel UDP socket on the listen port (dual-stack); workers receive from it, everyone sends on it. */
  private bind(port: number): void {
    const N = native();
    let next: NativeUdpPort;
    try {
      // 7 MiB socket buffers, as wireguard-go sets: under a flood the buffer rides out the
      // moments the receiving worker is not scheduled, instead of dropping a peer's handshake.
      // The fwmark carries over to the new socket, as wireguard-go's rebind keeps it.
      next = new N.UdpPort({ port, frameSize: 4096, frameCount: 64, rcvBuf: SOCKET_BUFFER_BYTES, sndBuf: SOCKET_BUFFER_BYTES, mark: this.fwmark });
    } catch (err) {
      throw new UapiError(Errno.EADDRINUSE, `cannot listen on UDP port ${port}: ${(err as Error).message}`);
    }
    const old = this.udp;
    this.udp = next;
    this.listenPort = next.port;
    if (old) {
      this.pool?.broadcast({ t: 'udp-fd', fd: next.fd });
      // Workers dup the fd when they switch; close ours after they had the chance.
      setTimeout(() => old.close(), 500).unref();
    }
    this.log.verbose(`UDP listening on port ${this.listenPort}`);
    if (old) {
      this.pool?.broadcast({ t: 'listen-port', port: this.listenPort });
      this.xdp?.setListenPort(this.listenPort);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    await this.pool?.stop();
    await this.handshakeCrypto?.close();
    this.xdp?.close();
    for (const p of this.peers.values()) this.removePeer(p);
    this.retirement.zeroAllAfterWorkersStopped();
    this.udp?.close();
  }

  // ------------------------------------------------------------------ UAPI

  getSnapshot(): DeviceSnapshot {
    const peers: PeerSnapshot[] = [];
    for (const p of this.peers.values()) {
      const t = this.pool ? readPeerTraffic(this.pool.peerSlabs, p.slot) : undefined;
      const hs = p.lastHandshakeWallMs;
      peers.push({
        publicKey: p.publicKey,
        presharedKey: p.handshake.presharedKey,
        endpoint: p.endpoint,
        lastHandshakeSec: hs ? Math.floor(hs / 1000) : 0,
        lastHandshakeNsec: hs ? (hs % 1000) * 1_000_000 : 0,
        rxBytes: (t?.rxBytes ?? 0) + p.controlRxBytes,
        txBytes: (t?.txBytes ?? 0) + p.controlTxBytes,
        persistentKeepalive: p.persistentKeepalive,
        allowedIPs: this.allowed.listByPeer(p).map((a) => ({ family: a.family, address: a.address, bits: a.cidr })),
      });
    }
    return { privateKey: this.identity?.privateKey, listenPort: this.listenPort, fwmark: this.fwmark, peers };
  }

  applySet(ops: UapiSetOp[]): void {
    try {
      for (const op of ops) this.applyOne(op);
    } finally {
      if (this.allowedDirty) this.publishAllowedIps();
    }
  }

  private applyOne(op: UapiSetOp): void {
    switch (op.kind) {
      case 'private_key': return this.setPrivateKey(op.privateKey);
      case 'listen_port': if (op.port !== this.listenPort || op.port === 0) this.bind(op.port); return;
      case 'fwmark': return this.setFwmark(op.fwmark);
      case 'replace_peers': for (const p of [...this.peers.values()]) this.removePeer(p); return;
      case 'peer': return this.applyPeer(op);
    }
  }

  /**
   * wg(8)'s fwmark: the mark on every outer packet. The kernel socket gets
   * SO_MARK at once (its workers' duplicates share it); the AF_XDP path's
   * route lookups use the mark from now on, so a peer whose endpoint policy
   * routing sends elsewhere for marked packets (wg-quick's full tunnel) is
   * re-resolved. A failure (EPERM) answers the UAPI set with EADDRINUSE, the
   * code wireguard-go gives "failed to update fwmark".
   */
  private setFwmark(mark: number): void {
    if (mark === this.fwmark) return;
    try {
      this.udp?.setMark(mark);
    } catch (err) {
      throw new UapiError(Errno.EADDRINUSE, `failed to update fwmark: ${(err as Error).message}`);
    }
    this.fwmark = mark;
    this.log.verbose(mark ? `fwmark 0x${mark.toString(16)} on the outer packets` : 'fwmark cleared');
    this.xdp?.setFwmark(mark);
  }

  private setPrivateKey(key: Uint8Array): void {
    // `wg syncconf` and `wg setconf` always send private_key: the same key again changes
    // nothing and must keep every session (wireguard-go returns early the same way).
    // (identity.privateKey is clamped: a key differing only in the clamped bits is the same identity.)
    if (this.identity ? equalConstantTime(clampPrivateKey(Uint8Array.from(key)), this.identity.privateKey) : isAllZero(key)) return;
    if (isAllZero(key)) {
      this.identity = undefined;
      this.cookieChecker = undefined;
    } else {
      this.identity = keyPairFromPrivate(key);
      this.cookieChecker = new CookieChecker(this.identity.publicKey, this.clock);
      this.cookieChecker.onSecretRotated = (secret) => this.cookieSecret.publish(secret);
      // A peer whose key is now our own key is removed (wireguard-go does so).
      const self = this.peers.get(peerKey(this.identity.publicKey));
      if (self) this.removePeer(self);
    }
    this.handshakeCrypto?.setIdentity(this.identity?.privateKey ?? null);
    for (const p of this.peers.values()) {
      for (const kp of p.keypairs.clear()) this.retireKeypair(kp);
      this.publishKeypairs(p);
      if (this.identity) p.handshake.setLocalStatic(this.identity, this.indices);
      this.cookieGenerators.set(p, new CookieGenerator(p.publicKey, this.clock));
    }
  }

  private applyPeer(op: UapiPeerOp): void {
    const key = peerKey(op.publicKey);
    if (this.identity && equalConstantTime(op.publicKey, this.identity.publicKey)) return;
    let peer = this.peers.get(key);
    if (op.remove) { if (peer) this.removePeer(peer); return; }
    const added = !peer;
    if (!peer) {
      if (op.updateOnly) return;
      peer = this.addPeer(op.publicKey);
    }
    if (op.presharedKey) peer.handshake.setPresharedKey(isAllZero(op.presharedKey) ? null : op.presharedKey);
    if (added || op.presharedKey) this.handshakeCrypto?.setPeer(peer.publicKey, peer.handshake.presharedKey);
    if (op.endpoint) this.setEndpoint(peer, addrFromEndpoint(op.endpoint));
    if (op.persistentKeepalive !== undefined && op.persistentKeepalive !== peer.persistentKeepalive) {
      peer.persistentKeepalive = op.persistentKeepalive;
      // A new non-zero interval sends one at once, so NAT state forms immediately.
      peer.timers.persistentKeepaliveIntervalChanged(op.persistentKeepalive);
    }
    if (op.replaceAllowedIPs) { this.allowed.removeByPeer(peer); this.allowedDirty = true; }
    for (const c of op.allowedIPs) {
      if (c.remove) this.allowed.remove(c.prefix.family, c.prefix.address, c.prefix.bits, peer);
      else this.allowed.insert(c.prefix.family, c.prefix.address, c.prefix.bits, peer);
      this.allowedDirty = true;
    }
  }

  private addPeer(publicKey: Uint8Array): Peer {
    if (isAllZero(publicKey)) throw new UapiError(Errno.EINVAL, 'a peer public key of all zeros is not valid');
    const slot = this.freeSlots.pop() ?? this.bySlot.length;
    if (slot >= MAX_PEERS) throw new UapiError(Errno.ENOANO, `too many peers (limit ${MAX_PEERS})`);
    // Without our private key the handshake state waits for one (setPrivateKey re-keys every peer).
    const local = this.identity ?? placeholderIdentity();
    const generation = (this.slotGenerations[slot] ?? 0) + 1;
    const peer = new Peer(slot, generation, publicKey.slice(), local);
    // Any clamped private key is a multiple of 8, so DH with it is zero exactly
    // for the small-order points: the check holds before our own key is set.
    if (!peer.handshake.hasValidStaticStatic) {
      peer.handshake.clear();
      throw new UapiError(Errno.EINVAL, 'the peer public key is of low order: no handshake is possible with it');
    }
    peer.timers = new PeerTimers({ clock: this.clock, keypairs: peer.keypairs, actions: this.timerActions(peer) });
    for (const s of this.pool?.peerSlabs ?? []) s.clear(slot);
    this.slotGenerations[slot] = generation;
    this.bySlot[slot] = peer;
    this.peers.set(peerKey(publicKey), peer);
    this.cookieGenerators.set(peer, new CookieGenerator(publicKey, this.clock));
    this.pool?.broadcast({ t: 'peer', slot, generation, endpoint: null });
    return peer;
  }

  private removePeer(peer: Peer): void {
    peer.timers.stop();
    for (const kp of peer.keypairs.clear()) this.retireKeypair(kp);
    peer.handshake.clear(this.indices);
    if (this.allowed.removeByPeer(peer) > 0) this.allowedDirty = true;
    this.peers.delete(peerKey(peer.publicKey));
    this.handshakeCrypto?.removePeer(peer.publicKey);
    this.cookieGenerators.delete(peer);
    this.bySlot[peer.slot] = undefined;
    this.freeSlots.push(peer.slot);
    this.xdp?.setEndpoint(peer.slot, null);
    this.pool?.broadcast({ t: 'peer-remove', slot: peer.slot });
  }

  private setEndpoint(peer: Peer, addr: Uint8Array): void {
    // Every authenticated packet confirms the endpoint; only a change is news to
    // the workers and the AF_XDP route (three netlink look-ups): a handshake
    // from an unmoved peer cost ~180 µs of main thread here before.
    if (peer.endpointAddr && Buffer.compare(peer.endpointAddr, addr) === 0) return;
    peer.endpointAddr = addr;
    peer.endpoint = endpointFromAddr(addr);
    this.pool?.broadcast({ t: 'peer', slot: peer.slot, generation: peer.generation, endpoint: addr });
    this.xdp?.setEndpoint(peer.slot, addr);
  }

  private publishAllowedIps(): void {
    this.allowedDirty = false;
    const entries: Array<[Uint8Array, number, number]> = [];
    for (const p of this.peers.values()) for (const a of this.allowed.listByPeer(p)) entries.push([a.address, a.cidr, p.slot]);
    this.pool?.broadcast({ t: 'allowed-ips', packed: packAllowedIps(entries) });
  }

  // ------------------------------------------------------------------ keypairs

  private wire(kp: Keypair | undefined): KeypairWire | null {
    if (!kp) return null;
    // Keypair.createdAt is on this.clock; workers compare with Date.now().
    return { shared: kp.shared.buffer, createdMs: Date.now() - (this.clock.now() - kp.createdAt), isInitiator: kp.isInitiator };
  }

  private publishKeypairs(peer: Peer): void {
    const k = peer.keypairs;
    this.pool?.broadcast({ t: 'keypairs', slot: peer.slot, current: this.wire(k.current), previous: this.wire(k.previous), next: this.wire(k.next) });
  }

  private retireKeypair(kp: Keypair): void {
    this.indices.remove(kp.localIndex);
    kp.wipe();
  }

  // ------------------------------------------------------------------ sending from the main thread

  /** Sends one datagram on the kernel socket to a peer's endpoint. */
  private sendTo(addr: Uint8Array, bytes: Uint8Array): boolean {
    const udp = this.udp;
    if (!udp) return false;
    if (udp.allocFrames(this.tx.frame, 1) !== 1) return false;
    const off = this.tx.frame[0]! + HEADROOM_FOR_MAIN;
    new Uint8Array(udp.buffer, off, bytes.length).set(bytes);
    this.tx.desc[0] = off;
    this.tx.desc[1] = bytes.length;
    this.tx.addr.set(addr);
    if (udp.txBurst(this.tx.desc, this.tx.addr, 1) !== 1) { udp.freeFrames(this.tx.frame, 1); return false; }
    return true;
  }

  /** Encrypts and sends data packets (staged ones, or one empty keepalive) with the peer's current keypair. */
  private sendData(peer: Peer, packets: Uint8Array[]): void {
    const kp = peer.keypairs.sendable(this.clock.now());
    if (!kp || !peer.endpointAddr) return;
    let data = false;
    for (const plain of packets) {
      // Header room before the plaintext, padding and tag room after it.
      const buf = new Uint8Array(16 + plain.length + 15 + 16);
      buf.set(plain, 16);
      const len = this.transport.seal(kp.shared, buf, 16, plain.length, this.mtu);
      if (len < 0) continue;
      if (this.sendTo(peer.endpointAddr, buf.subarray(0, len))) peer.controlTxBytes += len;
      data ||= plain.length > 0;
    }
    const t = peer.timers;
    if (data) t.dataSent();
    t.anyAuthenticatedPacketSent();
    t.anyAuthenticatedPacketTraversal();
    t.transportMessageSent(kp);
  }

  /** The timers' requests, bound to one peer (src/protocol/timers.ts TimerActions). */
  private timerActions(peer: Peer): ConstructorParameters<typeof PeerTimers>[0]['actions'] {
    return {
      sendInitiation: (reason) => this.sendInitiation(peer, reason),
      sendKeepalive: () => this.sendKeepalive(peer),
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

  /** A keepalive: an empty data message; with no session yet it waits for one, so it asks for a handshake. */
  private sendKeepalive(peer: Peer): void {
    if (peer.keypairs.sendable(this.clock.now())) {
      this.sendData(peer, [new Uint8Array(0)]);
    } else if (this.identity && peer.endpointAddr) {
      if (peer.staged.length === 0) peer.staged.push(new Uint8Array(0));
      peer.timers.requestHandshake();
    }
  }

  /** Sends a handshake initiation (the timers decided it is time, and rate-limited it). */
  private sendInitiation(peer: Peer, reason: InitiationReason): void {
    if (this.identity && peer.endpointAddr) {
      const msg = createInitiation(peer.handshake, this.indices, this.clock);
      if (msg) {
        this.cookieGenerators.get(peer)!.addMacs(msg);
        if (this.sendTo(peer.endpointAddr, msg)) { peer.controlTxBytes += msg.length; this.handshakes.initiationsSent++; }
        this.log.debug(`${peer.name}: sending handshake initiation (${reason})`);
        peer.timers.anyAuthenticatedPacketSent();
        peer.timers.anyAuthenticatedPacketTraversal();
      }
    }
    // Also when nothing could be sent: the retry countdown goes on (TimerActions contract).
    peer.timers.handshakeInitiated();
  }

  // ------------------------------------------------------------------ messages from workers

  private fromWorker(m: FromWorker): void {
    switch (m.t) {
      case 'handshake': return this.onHandshakeMessage(m.data, m.addr);
      case 'stage': {
        const touched = new Set<Peer>();
        for (let i = 0; i + 2 < m.items.length; i += 3) {
          const peer = this.peerOf(m.items[i] as number, m.items[i + 1] as number);
          if (!peer) continue;
          peer.staged.push(m.items[i + 2] as Uint8Array);
          touched.add(peer);
        }
        for (const peer of touched) {
          // A session may have formed between the worker's look and now.
          if (peer.keypairs.sendable(this.clock.now())) this.flushStaged(peer);
          else peer.timers.requestHandshake();
        }
        return;
      }
      case 'confirmed': {
        const peer = this.peerOf(m.slot, m.generation);
        const kp = peer?.keypairs.next;
        if (!peer || !kp || kp.localIndex !== m.localIndex) return;
        const { retired } = peer.keypairs.received(kp);
        for (const r of retired) this.retireKeypair(r);
        this.publishKeypairs(peer);
        // The responder's handshake completes here (wireguard-go: on the first data with the
        // new keypair): stamp it, and send what waited for a session.
        peer.lastHandshakeWallMs = Date.now();
        peer.timers.handshakeComplete();
        this.flushStaged(peer);
        return;
      }
      case 'endpoint': {
        const peer = this.peerOf(m.slot, m.generation);
        if (peer) this.setEndpoint(peer, m.addr);
        return;
      }
      case 'xsk':
        this.xdp?.workerPort(m.worker, m.ifindex, m.fd, m.error, m.describe);
        return;
      case 'port-stats':
        this.portStats[m.worker] = m.ports.map((p) => ({ worker: m.worker, path: p.path, ...p.stats }));
        if (m.cpuSeconds !== undefined) this.workerCpu[m.worker] = m.cpuSeconds;
        return;
      case 'fatal':
        this.onFatal(m.reason);
        return;
      case 'ready':
        return;
    }
  }

  /** The peer a worker's report is about: the slot's peer, if it is still the one the worker meant. */
  private peerOf(slot: number, generation: number): Peer | undefined {
    const peer = this.bySlot[slot];
    return peer && peer.generation === generation ? peer : undefined;
  }

  private flushStaged(peer: Peer): void {
    const packets = peer.staged.drain();
    if (packets.length > 0) this.sendData(peer, packets);
  }

  private onHandshakeMessage(msg: Uint8Array, addr: Uint8Array): void {
    if (!this.identity || !this.cookieChecker) return;
    const type = msg[0];
    const underLoad = this.load.underLoad(this.pool ? Atomics.load(this.pool.handshakeBacklog, 0) : 0);
    // The cookie names the source: address bytes ‖ port (address record bytes 0..17).
    const src = addr.subarray(0, 18);
    if (type === MESSAGE_INITIATION || type === MESSAGE_RESPONSE) {
      const verdict = this.cookieChecker.validate(msg, src, underLoad);
      if (verdict === 'bad-mac1') { this.mainDrops.count('rx-auth-failed'); return; }
      if (verdict === 'need-cookie' || verdict === 'bad-mac2') {
        this.mainDrops.count('rx-cookie-required');
        const reply = this.cookieChecker.createReply(msg, src);
        if (reply && this.sendTo(addr, reply)) this.handshakes.cookieRepliesSent++;
        return;
      }
      if (underLoad && !this.rateLimiter.allow(addr[18] === 4 ? 4 : 6, addr, addr[18] === 4 ? 12 : 0)) { this.mainDrops.count('rx-ratelimited'); return; }
    }
    if (type === MESSAGE_INITIATION) this.onInitiation(msg, addr);
    else if (type === MESSAGE_RESPONSE) this.onResponse(msg, addr);
    else if (type === MESSAGE_COOKIE_REPLY) this.onCookieReply(msg);
  }

  private dropInitiation(why: DropReason): void {
    this.mainDrops.count(why === 'replayed-timestamp' ? 'rx-handshake-replay' : why === 'initiation-flood' ? 'rx-handshake-flood' : 'rx-handshake-invalid');
    this.log.limited('debug', `init-${why}`, `dropped handshake initiation: ${why}`);
  }

  /** An initiation whose MACs passed: its crypto runs on the pool's threads, the rest in onInitiationResponded. */
  private onInitiation(msg: Uint8Array, addr: Uint8Array): void {
    if (!this.handshakeCrypto?.submit(msg, addr)) this.mainDrops.count('rx-handshake-queue-full');
  }

  /** The pool answered an initiation: the replay/flood checks against the peer's state, then the session and the response. */
  private onInitiationResponded(r: CryptoAnswer | DropReason, addr: Uint8Array): void {
    if (typeof r === 'string') return this.dropInitiation(r);
    const peer = this.peers.get(r.initiatorHex);
    if (!peer) { wipe(r.sendKey, r.receiveKey); return this.dropInitiation('unknown-peer'); }
    const keys = acceptInitiation(peer.handshake, r, this.indices, this.clock);
    if (typeof keys === 'string') return this.dropInitiation(keys);
    peer.controlRxBytes += INITIATION_SIZE;
    this.handshakes.initiationsReceived++;
    this.setEndpoint(peer, addr);
    this.cookieGenerators.get(peer)!.addMacs(r.response);
    this.installKeypair(peer, keys);
    // Sent with the other responses of this batch of results, in one sendmmsg (datagram-batch.ts).
    if (this.udp) {
      this.responses.push(this.udp, addr, r.response, (sent) => {
        if (!sent) { this.mainDrops.count('tx-send-failed'); return; }
        peer.controlTxBytes += RESPONSE_SIZE;
        this.handshakes.responsesSent++;
      });
    }
    this.log.debug(`${peer.name}: handshake initiation received, response sent`);
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
    if (typeof hs === 'string') { this.mainDrops.count('rx-handshake-invalid'); this.log.limited('debug', `resp-${hs}`, `dropped handshake response: ${hs}`); return; }
    const peer = hs.peer;
    peer.controlRxBytes += msg.length;
    this.handshakes.responsesReceived++;
    this.setEndpoint(peer, addr);
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
    if (peer.staged.length > 0) this.flushStaged(peer);
    else this.sendKeepalive(peer);
  }

  private onCookieReply(msg: Uint8Array): void {
    const index = new DataView(msg.buffer, msg.byteOffset).getUint32(4, true);
    const e = this.indices.get(index);
    // A reply to our initiation names its handshake; a reply to our response names the
    // keypair the response installed (installKeypair moved the index to it).
    const peer = e instanceof Keypair ? this.keypairOwners.get(e) : e?.peer;
    if (peer && this.cookieGenerators.get(peer)?.consumeReply(msg) === 'ok') this.handshakes.cookieRepliesReceived++;
  }

  private installKeypair(peer: Peer, keys: Parameters<typeof wipeTransportKeys>[0]): void {
    const kp = new Keypair(keys, this.retirement);
    wipeTransportKeys(keys);
    this.indices.replace(kp.localIndex, kp);
    for (const r of peer.keypairs.install(kp)) this.retireKeypair(r);
    this.keypairOwners.set(kp, peer);
    this.publishKeypairs(peer);
  }

  // ------------------------------------------------------------------ timers (whitepaper §6)

  /** Every TICK_MS: turn the workers' traffic stamps into timer events, then fire what is due. */
  private tick(): void {
    const slabs = this.pool?.peerSlabs ?? [];
    for (const peer of this.peers.values()) {
      applyTrafficStamps(peer, readPeerTraffic(slabs, peer.slot), peer.timers, peer.keypairs.current);
      peer.timers.tick();
    }
    if (this.allowedDirty) this.publishAllowedIps();
    this.retirement.reap();
    // Every tick: a bigger MTU must switch the workers to big frames before big packets come.
    this.followMtu();
    if (++this.ticks % ROUTE_CHECK_TICKS === 0) {
      // Routes and neighbours change under us (gateway MAC, roaming): re-read them.
      this.xdp?.refresh((slot) => readPeerTraffic(slabs, slot));
    }
  }

  /**
   * The TUN's MTU may change at runtime (`ip link set IF mtu N`); padding must
   * not exceed it (whitepaper §5.4.6). A TUN moved to another namespace is not
   * visible here: the last MTU seen stays in force.
   */
  private followMtu(): void {
    const link = native().linkInfo(this.opts.ifname);
    if (link && link.mtu !== this.mtu) {
      this.mtu = link.mtu;
      this.pool?.broadcast({ t: 'mtu', mtu: link.mtu });
    }
  }

  /**
   * Starts copying the AF_XDP path's frames (both directions) for `xdpwg
   * capture`; one capture at a time. The caller drains the session and
   * closes it.
   */
  openCapture(snaplen: number): CaptureSession {
    if (!this.pool) throw new Error('capture: the data plane is not running');
    if (this.capture) throw new Error('capture: another capture is running on this interface');
    const session = new CaptureSession(this.pool.size, snaplen, (m) => this.pool?.broadcast(m), () => {
      if (this.capture === session) this.capture = undefined;
    });
    this.capture = session;
    return session;
  }

  /** What `xdpwg stats` shows: per port/queue counters, drops by reason, per-peer counters. */
  statsSnapshot(): DeviceStats {
    const slabs = this.pool?.peerSlabs ?? [];
    return {
      interface: this.opts.ifname,
      listenPort: this.listenPort,
      workers: this.pool?.size ?? 0,
      xdpProgram: describeXdpSteering(this.xdp?.steering ?? { kind: 'own' }),
      workerCpuSeconds: Array.from({ length: this.pool?.size ?? 0 }, (_, i) => this.workerCpu[i] ?? 0),
      handshakes: this.handshakes.snapshot(),
      ports: this.portStats.filter(Boolean).flat(),
      afxdp: this.xdp?.summary() ?? [],
      paths: [...this.peers.values()].map((p) => ({ publicKey: keyToBase64(p.publicKey), path: this.xdp?.reasonFor(p.slot) === '' ? 'af_xdp' : `kernel socket (${this.xdp?.reasonFor(p.slot)})` })),
      drops: this.dropSummary(),
      peers: [...this.peers.values()].map((p) => {
        const t = readPeerTraffic(slabs, p.slot);
        return {
          publicKey: keyToBase64(p.publicKey),
          endpoint: p.endpoint ? formatEndpoint(p.endpoint) : null,
          rxBytes: t.rxBytes + p.controlRxBytes, txBytes: t.txBytes + p.controlTxBytes,
          rxPackets: t.rxPackets, txPackets: t.txPackets,
          stagedDropped: p.staged.dropped,
          hasSession: p.keypairs.current !== undefined,
        };
      }),
    };
  }

  /** Drop counters of the whole device (workers + main thread), for `xdpwg stats`. */
  dropSummary(): Record<string, number> {
    return DropCounters.summarize([...(this.pool?.dropSlabs ?? []), this.mainDrops]);
  }
}
