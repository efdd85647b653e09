/**
 * A data-plane worker: one thread, one TUN queue, the kernel UDP socket and
 * (where a device can take it) one AF_XDP queue per device.
 *
 * The loop (DESIGN.md): wait(port | tun | wake) → burst in → work → burst out.
 *
 *   receive  1. rxBurst from the port (UDP socket, or AF_XDP queue: then our own
 *               Ethernet/IP/UDP parse finds the WireGuard message)
 *            2. type 4 → look up the keypair by receiver index, open the whole
 *               burst in place (one AEAD call), then the replay window
 *            3. check the inner IP header and that its source belongs to the
 *               sending peer (allowed IPs), then one tunWriteBurst
 *            4. types 1–3 → the main thread (bounded), which runs handshakes
 *   send     1. tunReadBurst into frames at the headroom
 *            2. route by destination (allowed IPs) to a peer and its current keypair
 *            3. pad, write the data header in front, seal the burst in place
 *            4. AF_XDP: Ethernet/IP/UDP written into the headroom in front of
 *               each message (the peer's route: next-hop MAC, addresses), one
 *               txBurst; kernel path for peers without a route: one sendmmsg
 *
 * Nothing here allocates per packet on the common path; drops are counted by
 * reason (DropCounters) and never thrown. Threading: everything in this file
 * runs on the worker's own thread; shared state is reached only through the
 * SharedArrayBuffers named in worker-messages.ts.
 */
import { workerData, parentPort, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { native } from '../native/binding.js';
import { DropCounters, type DropReason } from './drop-counters.js';
import { PEER_SLOT_FIELDS as F, PEER_SLOT_WIDTH, PeerCounterSlab } from './peer-counters.js';
import type { FromWorker, KeypairWire, PeerRoute, ToWorker } from './worker-messages.js';
import type { NativeUdpPort, NativeWaiter, NativeXskPort, XskPortOptions } from '../native/binding.js';
import { Drop } from '../packet/drop.js';
import { UdpFrame, parseUdpFrame } from '../packet/udp-frame.js';
import { OuterHeaders, recordFromFrame, routeServes } from './outer-frame.js';
import { CaptureRing } from './capture-ring.js';
import { RoamedEndpoints } from './roamed-endpoints.js';
import { PeerRouter } from './peer-router.js';
import { DataKeypair, BURST_MAX } from './data-keypair.js';
import { KeypairFlag } from '../protocol/keypair.js';
import { DataBurst, DataTransport, TransportDrop } from '../protocol/transport.js';
import { WorkerEpoch } from '../protocol/key-retirement.js';
import { dataAeadBackend, type AeadBurstChoice } from '../crypto/aead-burst.js';
import { ADDR_RECORD_SIZE, addrEquals } from './addr-record.js';
import { systemClock } from '../protocol/clock.js';
import { Admission, CookieSecretShare, HandshakeAdmission } from './handshake-admission.js';

export interface WorkerInit {
  worker: number;
  tunFd: number;
  /** Kernel UDP socket shared with the main thread (the worker receives, everyone sends). */
  udpFd: number;
  port: MessagePort;
  peerCounters: SharedArrayBuffer;
  drops: SharedArrayBuffer;
  /** Where peers roamed, as workers saw it (RoamedEndpoints). */
  roamed: SharedArrayBuffer;
  /** Counts handshake messages posted to main and not yet taken: bounds the queue. */
  handshakeBacklog: SharedArrayBuffer;
  handshakeBacklogMax: number;
  /** The device's cookie secret (CookieSecretShare): under load, MAC2 is checked here to tell proven sources. */
  cookieSecret: SharedArrayBuffer;
  /** The key-retirement epochs (src/protocol/key-retirement.ts): this worker announces in its slot. */
  keyEpochs: SharedArrayBuffer;
  mtu: number;
  frameSize: number;
  frameCount: number;
  /** The data-path AEAD (datapath config "crypto"). */
  crypto: AeadBurstChoice;
  /** CPUs to pin this worker to (datapath config "cpus"); empty: no pinning. */
  cpus: number[];
}

const WG_DATA_HEADER = 16;
const WG_TAG = 16;
const STATS_INTERVAL_MS = 1_000;

/** Bytes before a TUN packet in its frame: outer eth/IP/UDP + WireGuard header, rounded up. */
const TX_HEADROOM = 128;
/** After the plaintext: padding to 16 and the AEAD tag. */
const TX_TAILROOM = 15 + WG_TAG;
const MAX_XSK_PORTS = 8;

/** One AF_XDP port of this worker (one device, the queue numbered like the worker). */
interface XskState {
  port: NativeXskPort;
  buf: Uint8Array;
  ifindex: number;
  name: string;
}

class Worker {
  private readonly n = native();
  private udp: NativeUdpPort;
  private udpBuf: Uint8Array;
  private readonly waiter: NativeWaiter;
  /** Poll set: [0] the UDP socket (worker 0 only, else -1), [1] the TUN queue, [2..] AF_XDP ports. */
  private readonly fds = new Int32Array(2 + MAX_XSK_PORTS).fill(-1);
  private readonly xsks: XskState[] = [];
  private readonly wakeBit: number;
  private readonly drops: DropCounters;
  private readonly counters: PeerCounterSlab;
  private readonly backlog: Int32Array;
  /** Announces when this worker may hold copies of transport keys (W1/W3 of key-retirement.ts). */
  private readonly epoch: WorkerEpoch;
  private readonly router = new PeerRouter();
  /** Which handshake messages go to the main thread (bounded queue; see handshake-admission.ts). */
  private readonly admission: HandshakeAdmission;
  private readonly roamed: RoamedEndpoints;
  private readonly roamScratch = new Uint8Array(ADDR_RECORD_SIZE);
  private readonly transport: DataTransport;
  private readonly burst = new DataBurst(BURST_MAX);
  private readonly frame = new UdpFrame();
  /** Per peer slot: endpoint record, AF_XDP route, current/previous/next keypairs. */
  private readonly peers: Array<PeerState | undefined> = [];
  /** receiver index (ours) → keypair, for every live keypair of every peer. */
  private readonly byIndex = new Map<number, DataKeypair>();
  private mtu: number;
  private listenPort = 0;
  /** Set only while `xdpwg capture` runs: AF_XDP frames in and out are copied here. */
  private capture: CaptureRing | null = null;
  private stopping = false;
  private lastStatsMs = 0;
  /**
   * The last TUN read filled every frame it was given: with offload
   * (native/tun.cc) the rest of a cut super packet may be waiting in the
   * queue's native state, which poll cannot see, so read again before sleeping.
   */
  private tunMore = false;

  // Burst scratch, allocated once.
  private readonly rxDesc = new Uint32Array(BURST_MAX * 2);
  private readonly rxAddr = new Uint8Array(BURST_MAX * ADDR_RECORD_SIZE);
  private readonly rxFrames = new Uint32Array(BURST_MAX);
  private readonly txDesc = new Uint32Array(BURST_MAX * 2);
  private readonly txAddr = new Uint8Array(BURST_MAX * ADDR_RECORD_SIZE);
  private readonly xskTxDesc = new Uint32Array(BURST_MAX * 2);
  private readonly tunDesc = new Uint32Array(BURST_MAX * 2);
  private readonly frames = new Uint32Array(BURST_MAX);
  private readonly freeList = new Uint32Array(BURST_MAX);
  private readonly one = new Uint32Array(1);
  private readonly cryptDesc = new Uint32Array(BURST_MAX * 2);
  private readonly cryptKeys: Array<DataKeypair | undefined> = new Array(BURST_MAX);
  private readonly cryptSlot = new Int32Array(BURST_MAX);
  private readonly cryptAddrIdx = new Int32Array(BURST_MAX);

  constructor(private readonly init: WorkerInit) {
    this.udp = new this.n.UdpPort({ fd: init.udpFd, frameSize: init.frameSize, frameCount: init.frameCount });
    this.udpBuf = new Uint8Array(this.udp.buffer);
    this.waiter = new this.n.Waiter();
    this.wakeBit = 1 << this.n.WAITER_WAKE_BIT;
    // One socket is shared by every worker: only worker 0 receives from it, so a datagram
    // does not wake every thread (the others only send on it).
    if (init.worker === 0) this.fds[0] = this.udp.fd;
    this.fds[1] = init.tunFd;
    this.drops = new DropCounters(init.drops);
    this.roamed = new RoamedEndpoints(init.roamed);
    this.counters = new PeerCounterSlab(init.peerCounters);
    this.backlog = new Int32Array(init.handshakeBacklog);
    this.admission = new HandshakeAdmission(this.backlog, init.handshakeBacklogMax, new CookieSecretShare(init.cookieSecret), systemClock);
    this.epoch = new WorkerEpoch(init.keyEpochs, init.worker);
    this.mtu = init.mtu;
    this.transport = new DataTransport(dataAeadBackend(init.crypto).backend);
  }

  private post(msg: FromWorker, transfer?: ArrayBuffer[]): void {
    parentPort!.postMessage(msg, transfer ?? []);
  }

  run(): void {
    if (this.init.cpus.length) this.n.setThreadAffinity(this.init.cpus);
    this.post({ t: 'ready', worker: this.init.worker, path: 'udp', eventFd: this.waiter.eventFd });
    // TEST ONLY (test/netns/faults.test.ts): XDPWG_TEST_CRASH_WORKER_AFTER_MS=N makes worker 0
    // throw N ms after start, as a bug would, to prove the daemon exits non-zero instead of hanging.
    const crashAfter = this.init.worker === 0 ? Number(process.env.XDPWG_TEST_CRASH_WORKER_AFTER_MS) : NaN;
    const crashAt = crashAfter > 0 ? Date.now() + crashAfter : Infinity;
    while (!this.stopping) {
      // No key copy survives a loop iteration: idle while blocked, then announce the epoch before touching keypairs.
      this.epoch.idle();
      const ready = this.waiter.wait(this.fds, 2 + this.xsks.length, this.tunMore ? 0 : Math.min(1000, Math.max(0, crashAt - Date.now())));
      this.epoch.enter();
      if (Date.now() >= crashAt) throw new Error('test hook XDPWG_TEST_CRASH_WORKER_AFTER_MS: worker 0 crashes on purpose');
      if (ready < 0) { this.fatal(`wait failed (${ready})`); return; }
      if (ready & this.wakeBit) this.drainControl();
      if (this.stopping) break;
      // Level-triggered: keep going while any side has work; the wait
      // returns at once when something is still readable.
      if (ready & 1) this.receiveUdp();
      for (let i = 0; i < this.xsks.length; i++) if (ready & (4 << i)) this.receiveXsk(this.xsks[i]!);
      // TUN offload: segments of a super packet may wait in native state, unseen by poll.
      if ((ready & 2) || this.tunMore) { if (!this.send()) return; }
      const now = Date.now();
      if (now - this.lastStatsMs >= STATS_INTERVAL_MS) {
        this.lastStatsMs = now;
        this.post({
          t: 'port-stats', worker: this.init.worker,
          ports: [{ path: 'udp', stats: this.udp.stats() }, ...this.xsks.map((x) => ({ path: `af_xdp ${x.name} queue ${this.init.worker}`, stats: x.port.stats() }))],
          cpuSeconds: this.n.threadCpuSeconds(),
        });
      }
    }
    this.epoch.idle();
    for (const x of this.xsks) x.port.close();
    this.udp.close();
    this.waiter.close();
  }

  private fatal(reason: string): void {
    this.post({ t: 'fatal', worker: this.init.worker, reason });
    this.stopping = true;
  }

  // ------------------------------------------------------------------ control

  private drainControl(): void {
    for (;;) {
      const m = receiveMessageOnPort(this.init.port);
      if (!m) return;
      this.apply(m.message as ToWorker);
    }
  }

  private peer(slot: number): PeerState {
    let p = this.peers[slot];
    if (!p) {
      p = this.peers[slot] = new PeerState();
      p.seenRoam = this.roamed.version(slot);
    }
    return p;
  }

  private apply(msg: ToWorker): void {
    switch (msg.t) {
      case 'peer': {
        const p = this.peer(msg.slot);
        if (msg.generation !== undefined) p.generation = msg.generation;
        p.endpoint = msg.endpoint;
        // The main thread's word is newer than any move recorded before it.
        p.seenRoam = this.roamed.version(msg.slot);
        p.outer = this.outerFor(p);
        return;
      }
      case 'peer-remove': {
        const p = this.peers[msg.slot];
        if (p) for (const kp of [p.current, p.previous, p.next]) if (kp) this.byIndex.delete(kp.localIndex);
        this.peers[msg.slot] = undefined;
        return;
      }
      case 'peer-route': {
        const p = this.peer(msg.slot);
        p.route = msg.route;
        p.outer = this.outerFor(p);
        return;
      }
      case 'allowed-ips':
        this.router.replace(msg.packed);
        return;
      case 'keypairs': {
        const p = this.peer(msg.slot);
        for (const kp of [p.current, p.previous, p.next]) if (kp) this.byIndex.delete(kp.localIndex);
        const wrap = (w: KeypairWire | null): DataKeypair | null => (w ? new DataKeypair(w, msg.slot) : null);
        p.current = wrap(msg.current);
        p.previous = wrap(msg.previous);
        p.next = wrap(msg.next);
        for (const kp of [p.current, p.previous, p.next]) if (kp) this.byIndex.set(kp.localIndex, kp);
        return;
      }
      case 'mtu':
        this.mtu = msg.mtu;
        return;
      case 'listen-port':
        this.listenPort = msg.port;
        for (const p of this.peers) if (p) p.outer = this.outerFor(p);
        return;
      case 'udp-fd': {
        // Between bursts the worker holds no frames, so the old port can go at once.
        const next = new this.n.UdpPort({ fd: msg.fd, frameSize: this.init.frameSize, frameCount: this.init.frameCount });
        this.udp.close();
        this.udp = next;
        this.udpBuf = new Uint8Array(next.buffer);
        if (this.init.worker === 0) this.fds[0] = next.fd;
        return;
      }
      case 'xsk-open':
        this.openXsk(msg.ifindex, msg.queues, msg.opts);
        return;
      case 'xsk-close': {
        // Between bursts the worker holds no frames of the port, so it can go at once.
        const i = this.xsks.findIndex((x) => x.ifindex === msg.ifindex);
        if (i < 0) return;
        this.xsks[i]!.port.close();
        this.xsks.splice(i, 1);
        this.fds.fill(-1, 2);
        this.xsks.forEach((x, k) => { this.fds[2 + k] = x.port.pollFd; });
        return;
      }
      case 'capture':
        this.capture = msg.buffer ? new CaptureRing(msg.buffer, this.init.worker, msg.snaplen) : null;
        return;
      case 'stop':
        this.stopping = true;
        return;
    }
  }

  /** AF_XDP headers for a peer: only from a route made for its current endpoint (see routeServes). */
  private outerFor(p: PeerState): OuterHeaders | null {
    return p.route && p.endpoint && routeServes(p.route, p.endpoint) ? new OuterHeaders(p.route, this.listenPort) : null;
  }

  /** Opens this worker's AF_XDP port on a device and reports its fd (or why not) to the main thread. */
  private openXsk(ifindex: number, queues: number, opts: Omit<XskPortOptions, 'queue'>): void {
    const w = this.init.worker;
    if (this.xsks.some((x) => x.ifindex === ifindex)) return;
    if (w >= queues) {
      this.post({ t: 'xsk', worker: w, ifindex, fd: null, error: `${opts.ifname} has ${queues} queue(s), this is worker ${w}` });
      return;
    }
    if (this.xsks.length >= MAX_XSK_PORTS) {
      this.post({ t: 'xsk', worker: w, ifindex, fd: null, error: `at most ${MAX_XSK_PORTS} AF_XDP devices per worker` });
      return;
    }
    try {
      const port = new this.n.XskPort({ ...opts, queue: w });
      const x: XskState = { port, buf: new Uint8Array(port.umem), ifindex, name: opts.ifname };
      this.fds[2 + this.xsks.length] = port.pollFd;
      this.xsks.push(x);
      const i = port.info();
      this.post({ t: 'xsk', worker: w, ifindex, fd: port.fd, describe: `AF_XDP queue ${w}: ${i.mode} mode, ${i.zeroCopy ? 'zero-copy' : 'copy'}${i.busyPoll ? ', busy poll' : ''}, ${i.frameCount} × ${i.frameSize} B frames` });
    } catch (err) {
      this.post({ t: 'xsk', worker: w, ifindex, fd: null, error: (err as Error).message });
    }
  }

  // ------------------------------------------------------------------ receive

  /** Datagrams from the kernel UDP socket: the WireGuard message is the whole payload. */
  private receiveUdp(): void {
    const n = this.udp.rxBurst(this.rxDesc, this.rxAddr, BURST_MAX);
    if (n <= 0) return;
    this.deliver(this.udpBuf, this.udp.buffer, n);
    for (let i = 0; i < n; i++) this.freeList[i] = this.rxDesc[2 * i]!;
    this.udp.freeFrames(this.freeList, n);
  }

  /** Frames from an AF_XDP queue: parse Ethernet/IP/UDP ourselves, then the same as the socket path. */
  private receiveXsk(x: XskState): void {
    const got = x.port.rxBurst(this.txDesc, BURST_MAX);
    if (got <= 0) return;
    const buf = x.buf, f = this.frame;
    const cap = this.capture, capNow = cap ? Date.now() : 0;
    let m = 0;
    for (let i = 0; i < got; i++) {
      const off = this.txDesc[2 * i]!, len = this.txDesc[2 * i + 1]!;
      this.rxFrames[i] = off;
      if (cap) cap.write(buf, off, len, capNow);
      if (parseUdpFrame(buf, off, len, f) !== Drop.none || f.dstPort !== this.listenPort) { this.drops.count('rx-bad-outer'); continue; }
      this.rxDesc[2 * m] = f.payload;
      this.rxDesc[2 * m + 1] = f.payloadLength;
      recordFromFrame(buf, f, x.ifindex, this.rxAddr, m * ADDR_RECORD_SIZE);
      m++;
    }
    if (m > 0) this.deliver(buf, x.port.umem, m);
    x.port.freeFrames(this.rxFrames, got);
  }

  /**
   * The receive path proper, over WireGuard messages at rxDesc in `buf`
   * (with their senders in rxAddr): data opened in place and written to the
   * TUN, handshakes to the main thread. The caller frees the frames.
   */
  private deliver(buf: Uint8Array, ab: ArrayBuffer, n: number): void {
    const now = Date.now();
    let jobs = 0;
    for (let i = 0; i < n; i++) {
      const off = this.rxDesc[2 * i]!, len = this.rxDesc[2 * i + 1]!;
      if (len < 4) { this.drops.count('rx-short'); continue; }
      const type = buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24);
      if (type === 4) {
        if (len < WG_DATA_HEADER + WG_TAG) { this.drops.count('rx-short'); continue; }
        const kp = this.byIndex.get((buf[off + 4]! | (buf[off + 5]! << 8) | (buf[off + 6]! << 16) | (buf[off + 7]! << 24)) >>> 0);
        if (!kp) { this.drops.count('rx-unknown-index'); continue; }
        if (kp.expired(now)) { this.drops.count('rx-key-expired'); continue; }
        this.cryptDesc[2 * jobs] = off;
        this.cryptDesc[2 * jobs + 1] = len;
        this.cryptKeys[jobs] = kp;
        this.cryptAddrIdx[jobs] = i;
        jobs++;
      } else if (type >= 1 && type <= 3) {
        // Each handshake message has one exact size (whitepaper §5.4.2-5.4.7): a wrong one is
        // dropped here, before it costs the main thread a message and a MAC check.
        if (len !== (type === 1 ? 148 : type === 2 ? 92 : 64)) { this.drops.count('rx-bad-size'); continue; }
        this.toMain(buf, off, len, i);
      } else {
        this.drops.count('rx-unknown-type');
      }
    }
    if (jobs === 0) return;
    let written = 0;
    const burst = this.burst;
    burst.reset(buf);
    for (let j = 0; j < jobs; j++) burst.add(this.cryptKeys[j]!.shared, this.cryptDesc[2 * j]!, this.cryptDesc[2 * j + 1]!);
    this.transport.openBurst(burst);
    const c = this.counters.view;
    for (let j = 0; j < jobs; j++) {
      const kp = this.cryptKeys[j]!;
      const plainLen = burst.result[j]!;
      if (plainLen < 0) { this.drops.count(receiveDropReason(-plainLen)); continue; }
      const off = this.cryptDesc[2 * j]!, len = this.cryptDesc[2 * j + 1]!;
      const slot = kp.slot;
      const peer = this.peers[slot];
      if (!peer) continue;
      const base = slot * PEER_SLOT_WIDTH;
      c[base + F.rxBytes] += len;
      c[base + F.rxPackets] += 1;
      c[base + F.lastAuthRxMs] = now;
      this.noteSource(peer, slot, this.cryptAddrIdx[j]!);
      if (kp === peer.next) this.confirm(peer, slot, kp);
      if (plainLen === 0) continue; // keepalive
      const inner = off + WG_DATA_HEADER;
      const innerLen = this.router.innerLength(buf, inner, plainLen);
      if (innerLen < 0) { this.drops.count('rx-bad-inner-packet'); continue; }
      if (this.router.lookupSource(buf, inner) !== slot) { this.drops.count('rx-allowed-ips'); continue; }
      c[base + F.lastDataRxMs] = now;
      this.tunDesc[2 * written] = inner;
      this.tunDesc[2 * written + 1] = innerLen;
      written++;
    }
    if (written > 0) {
      const w = this.n.tunWriteBurst(this.init.tunFd, ab, this.tunDesc, written);
      if (w < 0) this.fatal(`TUN write failed (errno ${-w}): the interface is gone`);
      else if (w < written) this.drops.count('tun-write-failed', written - w);
    }
  }

  /** Hands a handshake message to the main thread, unless its queue is full. */
  private toMain(buf: Uint8Array, off: number, len: number, i: number): void {
    // Per-source limits only for sources MAC2 proves; unproven messages get half the queue (handshake-admission.ts).
    const verdict = this.admission.admit(buf, off, len, this.rxAddr, i * ADDR_RECORD_SIZE);
    if (verdict !== Admission.admitted) {
      this.drops.count(verdict === Admission.rateLimited ? 'rx-ratelimited' : 'rx-handshake-queue-full');
      return;
    }
    const data = buf.slice(off, off + len);
    const addr = this.rxAddr.slice(i * ADDR_RECORD_SIZE, (i + 1) * ADDR_RECORD_SIZE);
    this.post({ t: 'handshake', worker: this.init.worker, data, addr }, [data.buffer, addr.buffer]);
  }

  /** Roaming: an authenticated packet from a new address moves the endpoint there. */
  private noteSource(peer: PeerState, slot: number, i: number): void {
    const rec = this.rxAddr.subarray(i * ADDR_RECORD_SIZE, (i + 1) * ADDR_RECORD_SIZE);
    if (peer.endpoint && addrEquals(peer.endpoint, rec)) return;
    peer.endpoint = rec.slice();
    if (peer.outer && !routeServes(peer.route!, peer.endpoint)) peer.outer = null;
    // The other workers answer at the new address from their next packet on.
    if (this.roamed.publish(slot, peer.endpoint)) peer.seenRoam = this.roamed.version(slot);
    this.post({ t: 'endpoint', slot, generation: peer.generation, addr: peer.endpoint.slice() });
  }

  /** Takes a move another worker saw (RoamedEndpoints), if there is a stable one. */
  private adoptRoam(peer: PeerState, slot: number): void {
    const v = this.roamed.read(slot, this.roamScratch);
    if (v < 0) return;
    peer.seenRoam = v;
    if (peer.endpoint && addrEquals(peer.endpoint, this.roamScratch)) return;
    peer.endpoint = this.roamScratch.slice();
    if (peer.outer && !routeServes(peer.route!, peer.endpoint)) peer.outer = null;
  }

  private confirm(peer: PeerState, slot: number, kp: DataKeypair): void {
    // Local promotion so this worker sends with it at once; main broadcasts the rotation.
    this.adoptConfirmed(peer);
    this.post({ t: 'confirmed', slot, generation: peer.generation, localIndex: kp.localIndex });
  }

  /**
   * The peer's "next" keypair has authenticated a data message (whitepaper
   * §5.4.6: the responder's key confirmation), on this worker or another:
   * send with it from now on. Protocol between workers: the worker that
   * opens that message sets KeypairFlag.received in the keypair's shared
   * state (transport.ts openBurst) before it writes the packet to the TUN;
   * every worker checks the flag before it seals for the peer. So a reply to
   * that packet, read on whichever worker its flow hashes to, is never sealed
   * with the old keypair, which the initiator may already have dropped.
   * The main thread's rotation message arrives later and agrees.
   */
  private adoptConfirmed(peer: PeerState): void {
    peer.previous = peer.current;
    peer.current = peer.next;
    peer.next = null;
  }

  // ------------------------------------------------------------------ send

  /**
   * Where TUN packets land: the first AF_XDP port's UMEM when a whole
   * MTU-sized packet fits its frames (zero copy onto the wire), else the
   * socket port's big frames (jumbo MTUs take the kernel path).
   */
  private tunTarget(): XskState | null {
    const x = this.xsks[0];
    return x && TX_HEADROOM + this.mtu + TX_TAILROOM <= x.port.frameSize ? x : null;
  }

  /** Returns false when the TUN is gone (the worker stops). */
  private send(): boolean {
    const x = this.tunTarget();
    const pool: FramePool = x ? x.port : this.udp;
    const buf = x ? x.buf : this.udpBuf;
    const headroom = x ? TX_HEADROOM : this.udp.headroom;
    const frameSize = x ? x.port.frameSize : this.udp.frameSize;
    const got = pool.allocFrames(this.frames, BURST_MAX);
    this.tunMore = false;
    if (got === 0) return true;
    const room = frameSize - headroom - TX_TAILROOM;
    for (let i = 0; i < got; i++) {
      this.tunDesc[2 * i] = this.frames[i]! + headroom;
      this.tunDesc[2 * i + 1] = room;
    }
    const n = this.n.tunReadBurst(this.init.tunFd, buf.buffer as ArrayBuffer, this.tunDesc, got);
    if (n < 0) {
      pool.freeFrames(this.frames, got);
      this.fatal(`TUN read failed (errno ${-n}): the interface is gone`);
      return false;
    }
    this.tunMore = n === got;
    // Frames the TUN did not fill go straight back.
    if (n < got) pool.freeFrames(this.frames.subarray(n), got - n);
    const now = Date.now();
    let jobs = 0;
    let freed = 0;
    // Packets for peers without a session: [slot, generation, packet, …], one message per burst.
    const staged: Array<number | Uint8Array> = [];
    for (let i = 0; i < n; i++) {
      const off = this.tunDesc[2 * i]!, len = this.tunDesc[2 * i + 1]!;
      const slot = this.router.lookupDestination(buf, off, len);
      if (slot < 0) { this.drops.count(slot === -2 ? 'tx-bad-inner-packet' : 'tx-no-route'); this.freeList[freed++] = off; continue; }
      const peer = this.peers[slot];
      if (peer?.next && (peer.next.shared.flags & KeypairFlag.received) !== 0) this.adoptConfirmed(peer);
      const kp = peer?.current;
      if (!peer || !kp || !kp.usableForSending(now)) {
        this.drops.count('tx-staged');
        staged.push(slot, peer?.generation ?? 0, buf.slice(off, off + len));
        this.freeList[freed++] = off;
        continue;
      }
      if (this.roamed.version(slot) !== peer.seenRoam) this.adoptRoam(peer, slot);
      if (!peer.endpoint) { this.drops.count('tx-no-endpoint'); this.freeList[freed++] = off; continue; }
      this.cryptDesc[2 * jobs] = off;
      this.cryptDesc[2 * jobs + 1] = len;
      this.cryptKeys[jobs] = kp;
      this.cryptSlot[jobs] = slot;
      jobs++;
    }
    if (freed > 0) pool.freeFrames(this.freeList, freed);
    if (staged.length > 0) this.post({ t: 'stage', items: staged });
    if (jobs === 0) return true;
    // Pad, number, header, seal: the whole burst in place, one AEAD call (src/protocol/transport.ts).
    const burst = this.burst;
    burst.reset(buf);
    for (let j = 0; j < jobs; j++) burst.add(this.cryptKeys[j]!.shared, this.cryptDesc[2 * j]!, this.cryptDesc[2 * j + 1]!);
    this.transport.sealBurst(burst, this.mtu);
    let viaXsk = 0;
    let viaUdp = 0;
    freed = 0;
    const c = this.counters.view;
    for (let j = 0; j < jobs; j++) {
      const msgLen = burst.result[j]!;
      if (msgLen < 0) {
        this.drops.count(-msgLen === TransportDrop.keypairRetired ? 'tx-keypair-retired' : 'tx-send-failed');
        this.freeList[freed++] = this.cryptDesc[2 * j]!;
        continue;
      }
      const slot = this.cryptSlot[j]!;
      const peer = this.peers[slot]!;
      const msgOff = this.cryptDesc[2 * j]! - WG_DATA_HEADER;
      const outer = peer.outer;
      if (outer && msgLen > outer.maxMessage) {
        // Bigger than the egress MTU: only the kernel can fragment it.
        if (!x) {
          this.queueUdp(msgOff, msgLen, peer.endpoint!, viaUdp++);
        } else {
          if (this.copyToUdp(buf, msgOff, msgLen, peer.endpoint!, viaUdp)) viaUdp++;
          else this.drops.count('tx-send-failed');
          this.freeList[freed++] = msgOff;
        }
      } else if (x && outer && outer.ifindex === x.ifindex) {
        // The common AF_XDP case: headers in front, the frame goes out as it lies.
        this.xskTxDesc[2 * viaXsk] = outer.write(buf, msgOff, msgLen);
        this.xskTxDesc[2 * viaXsk + 1] = outer.length + msgLen;
        viaXsk++;
      } else if (outer && this.sendOnOtherXsk(outer, buf, msgOff, msgLen)) {
        this.freeList[freed++] = msgOff;
      } else if (!x) {
        this.queueUdp(msgOff, msgLen, peer.endpoint!, viaUdp++);
      } else {
        // Kernel path from a UMEM frame (no route/neighbour yet, or a device without AF_XDP here): copy into a socket frame.
        if (this.copyToUdp(buf, msgOff, msgLen, peer.endpoint!, viaUdp)) viaUdp++;
        else this.drops.count('tx-send-failed');
        this.freeList[freed++] = msgOff;
      }
      const base = slot * PEER_SLOT_WIDTH;
      c[base + F.txBytes] += msgLen;
      c[base + F.txPackets] += 1;
      c[base + F.lastDataTxMs] = now;
      c[base + F.lastAnyTxMs] = now;
    }
    if (freed > 0) pool.freeFrames(this.freeList, freed);
    if (viaXsk > 0) {
      if (this.capture) for (let i = 0; i < viaXsk; i++) this.capture.write(buf, this.xskTxDesc[2 * i]!, this.xskTxDesc[2 * i + 1]!, now);
      const sent = x!.port.txBurst(this.xskTxDesc, viaXsk);
      if (sent < viaXsk) this.refused(x!.port, this.xskTxDesc, sent, viaXsk);
    }
    if (viaUdp > 0) {
      const sent = this.udp.txBurst(this.txDesc, this.txAddr, viaUdp);
      if (sent < viaUdp) this.refused(this.udp, this.txDesc, sent, viaUdp);
    }
    return true;
  }

  /** Frames a port did not take back: count them and return them to their pool. */
  private refused(pool: FramePool, desc: Uint32Array, sent: number, total: number): void {
    this.drops.count('tx-send-failed', total - sent);
    let k = 0;
    for (let j = sent; j < total; j++) this.freeList[k++] = desc[2 * j]!;
    pool.freeFrames(this.freeList, k);
  }

  /** A peer on another AF_XDP device than the one TUN frames live on: copy the message into that UMEM. */
  private sendOnOtherXsk(outer: OuterHeaders, buf: Uint8Array, msgOff: number, msgLen: number): boolean {
    const y = this.xsks.find((q) => q.ifindex === outer.ifindex);
    if (!y || y.port.allocFrames(this.one, 1) !== 1) return false;
    const dst = this.one[0]! + TX_HEADROOM;
    if (TX_HEADROOM + msgLen > y.port.frameSize) { y.port.freeFrames(this.one, 1); return false; }
    y.buf.set(buf.subarray(msgOff, msgOff + msgLen), dst);
    const desc = this.xskTxDesc.subarray(2 * BURST_MAX - 2);
    desc[0] = outer.write(y.buf, dst, msgLen);
    desc[1] = outer.length + msgLen;
    this.capture?.write(y.buf, desc[0]!, desc[1]!, Date.now());
    if (y.port.txBurst(desc, 1) !== 1) { y.port.freeFrames(this.one, 1); this.drops.count('tx-send-failed'); }
    return true;
  }

  /** Queues a message lying in a socket-port frame at tx slot i. */
  private queueUdp(msgOff: number, msgLen: number, endpoint: Uint8Array, i: number): void {
    this.txDesc[2 * i] = msgOff;
    this.txDesc[2 * i + 1] = msgLen;
    this.txAddr.set(endpoint, i * ADDR_RECORD_SIZE);
  }

  /** Copies a sealed message from a UMEM frame into a socket-port frame, queued at tx slot i. */
  private copyToUdp(buf: Uint8Array, msgOff: number, msgLen: number, endpoint: Uint8Array, i: number): boolean {
    if (this.udp.allocFrames(this.one, 1) !== 1) return false;
    const dst = this.one[0]! + this.udp.headroom;
    this.udpBuf.set(buf.subarray(msgOff, msgOff + msgLen), dst);
    this.queueUdp(dst, msgLen, endpoint, i);
    return true;
  }
}

/** The drop counter for a message openBurst refused: a keypair retired since the look-up is not a forgery. */
function receiveDropReason(code: number): DropReason {
  switch (code) {
    case TransportDrop.replay: return 'rx-replay';
    case TransportDrop.keypairUnusable: return 'rx-key-expired';
    case TransportDrop.counterExhausted: return 'rx-key-expired';
    default: return 'rx-auth-failed';
  }
}

class PeerState {
  /** Which peer of the slot this is (the 'peer' message's generation); 0 before the first 'peer' message. */
  generation = 0;
  endpoint: Uint8Array | null = null;
  /** The RoamedEndpoints version of this peer's slot this worker has taken into account. */
  seenRoam = 0;
  route: PeerRoute | null = null;
  /** Outer headers for the AF_XDP path, built from route (null: kernel socket). */
  outer: OuterHeaders | null = null;
  current: DataKeypair | null = null;
  previous: DataKeypair | null = null;
  next: DataKeypair | null = null;
}

/** The slice of the addon this loop uses (see src/native/binding.ts for the whole). */
/** What both port kinds offer for frames. */
interface FramePool {
  allocFrames(out: Uint32Array, n: number): number;
  freeFrames(offsets: Uint32Array, n: number): void;
}


if (parentPort && workerData && (workerData as { kind?: string }).kind === 'xdpwg-datapath') {
  new Worker((workerData as { init: WorkerInit }).init).run();
}
