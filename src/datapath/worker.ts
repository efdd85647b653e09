/**
 * A data-plane worker: one thread, one TUN queue, one outer port.
 *
 * The loop (DESIGN.md): wait(port | tun | wake) → burst in → work → burst out.
 *
 *   receive  1. rxBurst from the port (UDP socket or AF_XDP queue)
 *            2. type 4 → look up the keypair by receiver index, open the whole
 *               burst in place (one AEAD call), then the replay window
 *            3. check the inner IP header and that its source belongs to the
 *               sending peer (allowed IPs), then one tunWriteBurst
 *            4. types 1–3 → the main thread (bounded), which runs handshakes
 *   send     1. tunReadBurst into frames at the headroom
 *            2. route by destination (allowed IPs) to a peer and its current keypair
 *            3. pad, write the data header in front, seal the burst in place
 *            4. one txBurst to the peers' endpoints
 *
 * Nothing here allocates per packet on the common path; drops are counted by
 * reason (DropCounters) and never thrown. Threading: everything in this file
 * runs on the worker's own thread; shared state is reached only through the
 * SharedArrayBuffers named in worker-messages.ts.
 */
import { workerData, parentPort, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { native } from '../native/binding.js';
import { DropCounters } from './drop-counters.js';
import { PEER_SLOT_FIELDS as F, PEER_SLOT_WIDTH, PeerCounterSlab } from './peer-counters.js';
import type { FromWorker, KeypairWire, ToWorker } from './worker-messages.js';
import { PeerRouter } from './peer-router.js';
import { DataKeypair, BURST_MAX } from './data-keypair.js';
import { DataBurst, DataTransport, TransportDrop } from '../protocol/transport.js';
import { nativeDataAead } from '../crypto/aead-burst.js';
import { ADDR_RECORD_SIZE, addrEquals } from './addr-record.js';

export interface WorkerInit {
  worker: number;
  tunFd: number;
  /** Kernel UDP socket shared with the main thread (the worker receives, everyone sends). */
  udpFd: number;
  port: MessagePort;
  peerCounters: SharedArrayBuffer;
  drops: SharedArrayBuffer;
  /** Counts handshake messages posted to main and not yet taken: bounds the queue. */
  handshakeBacklog: SharedArrayBuffer;
  handshakeBacklogMax: number;
  mtu: number;
  frameSize: number;
  frameCount: number;
}

const WG_DATA_HEADER = 16;
const WG_TAG = 16;
const STATS_INTERVAL_MS = 1_000;

class Worker {
  private readonly n = native() as unknown as NativeApi;
  private udp: NativeUdpPort;
  private buf: Uint8Array;
  private dv: DataView;
  private readonly waiter: { readonly eventFd: number; wait(fds: Int32Array, nfds: number, timeoutMs: number): number; close(): void };
  private readonly fds: Int32Array;
  private readonly wakeBit: number;
  private readonly drops: DropCounters;
  private readonly counters: PeerCounterSlab;
  private readonly backlog: Int32Array;
  private readonly router = new PeerRouter();
  private readonly transport = new DataTransport(nativeDataAead());
  private readonly burst = new DataBurst(BURST_MAX);
  /** Per peer slot: endpoint record, current/previous/next keypairs. */
  private readonly peers: Array<PeerState | undefined> = [];
  /** receiver index (ours) → keypair, for every live keypair of every peer. */
  private readonly byIndex = new Map<number, DataKeypair>();
  private mtu: number;
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
  private readonly txDesc = new Uint32Array(BURST_MAX * 2);
  private readonly txAddr = new Uint8Array(BURST_MAX * ADDR_RECORD_SIZE);
  private readonly tunDesc = new Uint32Array(BURST_MAX * 2);
  private readonly frames = new Uint32Array(BURST_MAX);
  private readonly freeList = new Uint32Array(BURST_MAX);
  private readonly cryptDesc = new Uint32Array(BURST_MAX * 2);
  private readonly cryptKeys: Array<DataKeypair | undefined> = new Array(BURST_MAX);
  private readonly cryptSlot = new Int32Array(BURST_MAX);
  private readonly cryptAddrIdx = new Int32Array(BURST_MAX);

  constructor(private readonly init: WorkerInit) {
    this.udp = new this.n.UdpPort({ fd: init.udpFd, frameSize: init.frameSize, frameCount: init.frameCount });
    this.buf = new Uint8Array(this.udp.buffer);
    this.dv = new DataView(this.udp.buffer);
    this.waiter = new this.n.Waiter();
    this.wakeBit = 1 << this.n.WAITER_WAKE_BIT;
    // One socket is shared by every worker: only worker 0 receives from it, so a datagram
    // does not wake every thread (the others only send on it).
    this.fds = Int32Array.of(init.worker === 0 ? this.udp.fd : -1, init.tunFd);
    this.drops = new DropCounters(init.drops);
    this.counters = new PeerCounterSlab(init.peerCounters);
    this.backlog = new Int32Array(init.handshakeBacklog);
    this.mtu = init.mtu;
  }

  private post(msg: FromWorker, transfer?: ArrayBuffer[]): void {
    parentPort!.postMessage(msg, transfer ?? []);
  }

  run(): void {
    this.post({ t: 'ready', worker: this.init.worker, path: 'udp', eventFd: this.waiter.eventFd });
    // TEST ONLY (test/netns/faults.test.ts): XDPWG_TEST_CRASH_WORKER_AFTER_MS=N makes worker 0
    // throw N ms after start, as a bug would, to prove the daemon exits non-zero instead of hanging.
    const crashAfter = this.init.worker === 0 ? Number(process.env.XDPWG_TEST_CRASH_WORKER_AFTER_MS) : NaN;
    const crashAt = crashAfter > 0 ? Date.now() + crashAfter : Infinity;
    while (!this.stopping) {
      const ready = this.waiter.wait(this.fds, 2, this.tunMore ? 0 : Math.min(1000, Math.max(0, crashAt - Date.now())));
      if (Date.now() >= crashAt) throw new Error('test hook XDPWG_TEST_CRASH_WORKER_AFTER_MS: worker 0 crashes on purpose');
      if (ready < 0) { this.fatal(`wait failed (${ready})`); return; }
      if (ready & this.wakeBit) this.drainControl();
      if (this.stopping) break;
      // Level-triggered: keep going while either side has work; the wait
      // returns at once when something is still readable.
      if (ready & 1) this.receive();
      // TUN offload: segments of a super packet may wait in native state, unseen by poll.
      if ((ready & 2) || this.tunMore) { if (!this.send()) return; }
      const now = Date.now();
      if (now - this.lastStatsMs >= STATS_INTERVAL_MS) {
        this.lastStatsMs = now;
        this.post({ t: 'port-stats', worker: this.init.worker, path: 'udp', stats: this.udp.stats() });
      }
    }
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

  private apply(msg: ToWorker): void {
    switch (msg.t) {
      case 'peer': {
        const p = this.peers[msg.slot] ?? (this.peers[msg.slot] = new PeerState());
        p.endpoint = msg.endpoint;
        return;
      }
      case 'peer-remove': {
        const p = this.peers[msg.slot];
        if (p) for (const kp of [p.current, p.previous, p.next]) if (kp) this.byIndex.delete(kp.localIndex);
        this.peers[msg.slot] = undefined;
        return;
      }
      case 'allowed-ips':
        this.router.replace(msg.packed);
        return;
      case 'keypairs': {
        const p = this.peers[msg.slot] ?? (this.peers[msg.slot] = new PeerState());
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
      case 'udp-fd': {
        // Between bursts the worker holds no frames, so the old port can go at once.
        const next = new this.n.UdpPort({ fd: msg.fd, frameSize: this.init.frameSize, frameCount: this.init.frameCount });
        this.udp.close();
        this.udp = next;
        this.buf = new Uint8Array(next.buffer);
        this.dv = new DataView(next.buffer);
        if (this.init.worker === 0) this.fds[0] = next.fd;
        return;
      }
      case 'stop':
        this.stopping = true;
        return;
    }
  }

  // ------------------------------------------------------------------ receive

  private receive(): void {
    const n = this.udp.rxBurst(this.rxDesc, this.rxAddr, BURST_MAX);
    if (n <= 0) return;
    const buf = this.buf, dv = this.dv, now = Date.now();
    let jobs = 0;
    for (let i = 0; i < n; i++) {
      const off = this.rxDesc[2 * i]!, len = this.rxDesc[2 * i + 1]!;
      if (len < 4) { this.drops.count('rx-short'); continue; }
      const type = dv.getUint32(off, true);
      if (type === 4) {
        if (len < WG_DATA_HEADER + WG_TAG) { this.drops.count('rx-short'); continue; }
        const kp = this.byIndex.get(dv.getUint32(off + 4, true));
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
        this.toMain(off, len, i);
      } else {
        this.drops.count('rx-unknown-type');
      }
    }
    let written = 0;
    if (jobs > 0) {
      const burst = this.burst;
      burst.reset(buf);
      for (let j = 0; j < jobs; j++) burst.add(this.cryptKeys[j]!.shared, this.cryptDesc[2 * j]!, this.cryptDesc[2 * j + 1]!);
      this.transport.openBurst(burst);
      const c = this.counters.view;
      for (let j = 0; j < jobs; j++) {
        const kp = this.cryptKeys[j]!;
        const plainLen = burst.result[j]!;
        if (plainLen < 0) { this.drops.count(-plainLen === TransportDrop.replay ? 'rx-replay' : 'rx-auth-failed'); continue; }
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
    }
    if (written > 0) {
      const w = this.n.tunWriteBurst(this.init.tunFd, this.udp.buffer, this.tunDesc, written);
      if (w < 0) this.fatal(`TUN write failed (errno ${-w}): the interface is gone`);
      else if (w < written) this.drops.count('tun-write-failed', written - w);
    }
    // Every received frame goes back to the pool: TUN writes copy.
    for (let i = 0; i < n; i++) this.freeList[i] = this.rxDesc[2 * i]!;
    this.udp.freeFrames(this.freeList, n);
  }

  /** Hands a handshake message to the main thread, unless its queue is full. */
  private toMain(off: number, len: number, i: number): void {
    if (Atomics.add(this.backlog, 0, 1) >= this.init.handshakeBacklogMax) {
      Atomics.sub(this.backlog, 0, 1);
      this.drops.count('rx-handshake-queue-full');
      return;
    }
    const data = this.buf.slice(off, off + len);
    const addr = this.rxAddr.slice(i * ADDR_RECORD_SIZE, (i + 1) * ADDR_RECORD_SIZE);
    this.post({ t: 'handshake', worker: this.init.worker, data, addr }, [data.buffer, addr.buffer]);
  }

  /** Roaming: an authenticated packet from a new address moves the endpoint there. */
  private noteSource(peer: PeerState, slot: number, i: number): void {
    const rec = this.rxAddr.subarray(i * ADDR_RECORD_SIZE, (i + 1) * ADDR_RECORD_SIZE);
    if (peer.endpoint && addrEquals(peer.endpoint, rec)) return;
    peer.endpoint = rec.slice();
    this.post({ t: 'endpoint', slot, addr: peer.endpoint.slice() });
  }

  private confirm(peer: PeerState, slot: number, kp: DataKeypair): void {
    // Local promotion so this worker sends with it at once; main broadcasts the rotation.
    peer.previous = peer.current;
    peer.current = kp;
    peer.next = null;
    this.post({ t: 'confirmed', slot, localIndex: kp.localIndex });
  }

  // ------------------------------------------------------------------ send

  /** Returns false when the TUN is gone (the worker stops). */
  private send(): boolean {
    const headroom = this.udp.headroom;
    const got = this.udp.allocFrames(this.frames, BURST_MAX);
    this.tunMore = false;
    if (got === 0) return true;
    const room = this.udp.frameSize - headroom - WG_TAG - 16;
    for (let i = 0; i < got; i++) {
      this.tunDesc[2 * i] = this.frames[i]! + headroom;
      this.tunDesc[2 * i + 1] = room;
    }
    const n = this.n.tunReadBurst(this.init.tunFd, this.udp.buffer, this.tunDesc, got);
    if (n < 0) {
      this.udp.freeFrames(this.frames, got);
      this.fatal(`TUN read failed (errno ${-n}): the interface is gone`);
      return false;
    }
    this.tunMore = n === got;
    // Frames the TUN did not fill go straight back.
    if (n < got) this.udp.freeFrames(this.frames.subarray(n), got - n);
    const buf = this.buf, now = Date.now();
    let jobs = 0;
    let freed = 0;
    for (let i = 0; i < n; i++) {
      const off = this.tunDesc[2 * i]!, len = this.tunDesc[2 * i + 1]!;
      const slot = this.router.lookupDestination(buf, off, len);
      if (slot < 0) { this.drops.count(slot === -2 ? 'tx-bad-inner-packet' : 'tx-no-route'); this.freeList[freed++] = off; continue; }
      const peer = this.peers[slot];
      const kp = peer?.current;
      if (!peer || !kp || !kp.usableForSending(now)) {
        this.drops.count('tx-staged');
        this.post({ t: 'stage', slot, packet: buf.slice(off, off + len) });
        this.freeList[freed++] = off;
        continue;
      }
      if (!peer.endpoint) { this.drops.count('tx-no-endpoint'); this.freeList[freed++] = off; continue; }
      this.cryptDesc[2 * jobs] = off;
      this.cryptDesc[2 * jobs + 1] = len;
      this.cryptKeys[jobs] = kp;
      this.cryptSlot[jobs] = slot;
      jobs++;
    }
    if (freed > 0) this.udp.freeFrames(this.freeList, freed);
    if (jobs === 0) return true;
    // Pad, number, header, seal: the whole burst in place, one AEAD call (src/protocol/transport.ts).
    const burst = this.burst;
    burst.reset(buf);
    for (let j = 0; j < jobs; j++) burst.add(this.cryptKeys[j]!.shared, this.cryptDesc[2 * j]!, this.cryptDesc[2 * j + 1]!);
    this.transport.sealBurst(burst, this.mtu);
    let out = 0;
    freed = 0;
    const c = this.counters.view;
    for (let j = 0; j < jobs; j++) {
      const msgLen = burst.result[j]!;
      if (msgLen < 0) { this.drops.count('tx-send-failed'); this.freeList[freed++] = this.cryptDesc[2 * j]!; continue; }
      const slot = this.cryptSlot[j]!;
      const peer = this.peers[slot]!;
      this.txDesc[2 * out] = this.cryptDesc[2 * j]! - WG_DATA_HEADER;
      this.txDesc[2 * out + 1] = msgLen;
      this.txAddr.set(peer.endpoint!, out * ADDR_RECORD_SIZE);
      out++;
      const base = slot * PEER_SLOT_WIDTH;
      c[base + F.txBytes] += msgLen;
      c[base + F.txPackets] += 1;
      c[base + F.lastDataTxMs] = now;
      c[base + F.lastAnyTxMs] = now;
    }
    if (freed > 0) this.udp.freeFrames(this.freeList, freed);
    const sent = this.udp.txBurst(this.txDesc, this.txAddr, out);
    if (sent < out) {
      this.drops.count('tx-send-failed', out - sent);
      let k = 0;
      for (let j = sent; j < out; j++) this.freeList[k++] = this.txDesc[2 * j]!;
      this.udp.freeFrames(this.freeList, k);
    }
    return true;
  }
}

class PeerState {
  endpoint: Uint8Array | null = null;
  current: DataKeypair | null = null;
  previous: DataKeypair | null = null;
  next: DataKeypair | null = null;
}

/** The slice of the addon this loop uses (see src/native/binding.ts for the whole). */
interface NativeUdpPort {
  readonly buffer: ArrayBuffer; readonly fd: number; readonly frameSize: number; readonly headroom: number;
  rxBurst(desc: Uint32Array, addr: Uint8Array, max: number): number;
  txBurst(desc: Uint32Array, addr: Uint8Array, n: number): number;
  allocFrames(out: Uint32Array, n: number): number;
  freeFrames(offsets: Uint32Array, n: number): void;
  stats(): Record<string, number>;
  close(): void;
}
interface NativeApi {
  UdpPort: new (opts: { fd: number; frameSize: number; frameCount: number }) => NativeUdpPort;
  Waiter: new () => { readonly eventFd: number; wait(fds: Int32Array, nfds: number, timeoutMs: number): number; close(): void };
  WAITER_WAKE_BIT: number;
  tunReadBurst(fd: number, buffer: ArrayBuffer, desc: Uint32Array, max: number): number;
  tunWriteBurst(fd: number, buffer: ArrayBuffer, desc: Uint32Array, n: number): number;
}


if (parentPort && workerData && (workerData as { kind?: string }).kind === 'xdpwg-datapath') {
  new Worker((workerData as { init: WorkerInit }).init).run();
}
