/**
 * The send path of a worker (kernel WireGuard's send.c, wireguard-go's
 * send.go), one burst at a time, in this order:
 *
 *   1. readTun           TunQueue.readBurst into frames at the headroom (of the
 *                        first AF_XDP port's UMEM when an MTU-sized packet
 *                        fits its frames, else the socket port's), taken from
 *                        the worker's stack of empty frames (empty-frames.ts)
 *   2. routeToPeers      by destination (allowed IPs) to a peer and its
 *                        current keypair; packets for a peer without a usable
 *                        session go to the main thread to be staged
 *   3. seal              pad, write the data header in front, seal the burst
 *                        in place with one AEAD call (transport.ts sealBurst)
 *   4. queueOuter        AF_XDP: Ethernet/IP/UDP written into the headroom in
 *                        front of each message (the peer's route: next-hop
 *                        MAC, addresses); kernel path for peers without a
 *                        route or messages over the egress MTU; a peer's
 *                        bulk run on a copy-mode device (tx-path.ts): the
 *                        kernel socket with UDP GSO, straight from the UMEM
 *   5. transmit          one txBurst on the AF_XDP queue, one sendmmsg on
 *                        the kernel socket (two when bulk runs left from the
 *                        UMEM: txBurstFrom); only then the peer's transmit
 *                        counters (bytes, packets, last data sent), for
 *                        exactly the messages a port took and sent: a
 *                        refused one is a drop (tx-send-failed), not
 *                        traffic, as in the kernel module and wireguard-go
 *
 * Every failure is a counted drop (DropCounters), never a throw. Threading:
 * the worker's own thread (worker-state.ts).
 */
import { KeypairFlag } from '../protocol/keypair.js';
import { dropOf } from '../protocol/transport.js';
import { PEER_SLOT_FIELDS as F, PEER_SLOT_WIDTH } from './peer-counters.js';
import { routeServes, type RouteHeaders } from './outer-frame.js';
import { BURST_SIZE, FRAME_HEADROOM } from '../native/frames.js';
import { DATA_HEADER_SIZE, DATA_PADDING, TAG_SIZE } from '../protocol/wire.js';
import { ADDR_RECORD_SIZE, addrEquals } from './addr-record.js';
import type { Port } from '../native/port.js';
import { NEVER } from './tx-path.js';
import type { PeerState, WorkerState, XskState } from './worker-state.js';

/** After the plaintext: padding to a multiple of 16 and the AEAD tag. */
const TX_TAILROOM = DATA_PADDING - 1 + TAG_SIZE;

export class Sender {
  private readonly roamScratch = new Uint8Array(ADDR_RECORD_SIZE);
  // The burst in flight (set by readTun, valid until transmit).
  /** The AF_XDP port whose UMEM holds the burst, or null: the socket port's frames. */
  private x: XskState | null = null;
  private pool: Port;
  private buf: Uint8Array;
  /** Frames queued for the AF_XDP tx ring / the kernel socket, and frames to free. */
  private viaXsk = 0;
  private viaUdp = 0;
  private freed = 0;
  /** Per queued message (by tx slot): its peer slot and sealed length, counted once a port took it. */
  private readonly xskSlot = new Uint32Array(BURST_SIZE);
  private readonly xskLen = new Uint32Array(BURST_SIZE);
  private readonly udpSlot = new Uint32Array(BURST_SIZE);
  private readonly udpLen = new Uint32Array(BURST_SIZE);
  /**
   * Bulk runs (tx-path.ts): messages leaving by the kernel socket straight
   * from the UMEM frames they were sealed in (UdpPort.txBurstFrom), with
   * their own address records and per-message peer slot and length.
   */
  private viaBulk = 0;
  private readonly bulkDesc = new Uint32Array(BURST_SIZE * 2);
  private readonly bulkAddr = new Uint8Array(BURST_SIZE * ADDR_RECORD_SIZE);
  private readonly bulkSlot = new Uint32Array(BURST_SIZE);
  private readonly bulkLen = new Uint32Array(BURST_SIZE);
  /** The burst's peers (runSlot) and their full-size message counts (runFull); per job, its peer's index. */
  private readonly runSlot = new Int32Array(BURST_SIZE);
  private readonly runFull = new Uint16Array(BURST_SIZE);
  private readonly jobRun = new Uint16Array(BURST_SIZE);
  /** Per job: 1 when its peer's messages leave by the socket from the UMEM in this burst. */
  private readonly jobBulk = new Uint8Array(BURST_SIZE);
  /**
   * The last TUN read filled every frame it was given: with offload
   * (native/tun_queue.cc) the rest of a cut super packet may be waiting in the
   * queue's native state, which poll cannot see, so read again before sleeping.
   */
  tunMore = false;
  /** Packets the last send() read from the TUN (0: it found none). */
  lastRead = 0;

  constructor(private readonly s: WorkerState) {
    this.pool = s.udp;
    this.buf = s.udpBuf;
  }

  /**
   * Whether the last burst held a packet bound for a peer (sealed, or staged for one without a
   * session). The worker's idle release counts only those as traffic: see worker.ts iterate.
   */
  forPeers = false;

  /**
   * One burst from the TUN to the wire. Returns false when the TUN is gone (the worker stops).
   * `now`: the worker's clock read once per wake (worker.ts iterate).
   */
  send(now = Date.now()): boolean {
    this.forPeers = false;
    const n = this.readTun();
    this.lastRead = n > 0 ? n : 0;
    if (n <= 0) return n === 0;
    const jobs = this.routeToPeers(n, now);
    // Packets for no peer (a fresh interface's router solicitations) are not traffic: a quiet worker
    // keeps no frames (its idle release, which they do not wake, would otherwise find them out).
    if (!this.forPeers) this.s.emptyFrames.release();
    if (jobs === 0) return true;
    this.seal(jobs);
    this.viaXsk = 0;
    this.viaUdp = 0;
    this.viaBulk = 0;
    this.freed = 0;
    this.chooseBulk(jobs);
    for (let j = 0; j < jobs; j++) this.queueOuter(j, now);
    if (this.freed > 0) this.pool.freeFrames(this.s.scratch.freeList, this.freed);
    this.transmit(now);
    return true;
  }

  // ------------------------------------------------------------ 1. TUN read

  /**
   * Where TUN packets land: the first AF_XDP port's UMEM when a whole
   * MTU-sized packet fits its frames (zero copy onto the wire), else the
   * socket port's big frames (jumbo MTUs take the kernel path).
   */
  private tunTarget(): XskState | null {
    const x = this.s.xsks[0];
    return x && FRAME_HEADROOM + this.s.mtu + TX_TAILROOM <= x.port.frames.frameSize ? x : null;
  }

  /**
   * Reads a burst into scratch.tunDesc, into the top of the worker's empty
   * frames (empty-frames.ts). Returns the packet count, or −1 when the TUN
   * is gone.
   */
  private readTun(): number {
    const s = this.s,
      sc = s.scratch;
    const x = (this.x = this.tunTarget());
    const pool = (this.pool = x ? x.port : s.udp);
    const buf = (this.buf = x ? x.buf : s.udpBuf);
    const headroom = x ? FRAME_HEADROOM : s.udp.frames.headroom;
    const frameSize = pool.frames.frameSize;
    const empty = s.emptyFrames;
    empty.prepare(pool);
    const got = empty.count;
    this.tunMore = false;
    if (got === 0) return 0;
    const room = frameSize - headroom - TX_TAILROOM;
    for (let i = 0; i < got; i++) {
      sc.tunDesc[2 * i] = empty.frames[got - 1 - i]! + headroom;
      sc.tunDesc[2 * i + 1] = room;
    }
    const n = s.tun.readBurst(buf.buffer as ArrayBuffer, sc.tunDesc, got);
    if (n < 0) {
      empty.release();
      s.fatal(`TUN read failed (errno ${-n}): the interface is gone`);
      return -1;
    }
    this.tunMore = n === got;
    empty.take(n);
    return n;
  }

  // ------------------------------------------------------------ 2. route to a peer and its keypair

  /** Turns the packets at scratch.tunDesc into crypt jobs (peer slot + keypair). Returns the job count. */
  private routeToPeers(n: number, now: number): number {
    const s = this.s,
      sc = s.scratch,
      buf = this.buf;
    let jobs = 0;
    let freed = 0;
    // Packets for peers without a session: [slot, generation, packet, …], one message per burst.
    const staged: Array<number | Uint8Array> = [];
    for (let i = 0; i < n; i++) {
      const off = sc.tunDesc[2 * i]!,
        len = sc.tunDesc[2 * i + 1]!;
      const slot = s.router.lookupDestination(buf, off, len);
      if (slot < 0) {
        s.drops.count(slot === -2 ? 'tx-bad-inner-packet' : 'tx-no-route');
        sc.freeList[freed++] = off;
        continue;
      }
      const peer = s.peers[slot];
      // Key confirmation seen by any worker: checked before sealing (PeerState.adoptConfirmed).
      if (peer?.next && (peer.next.shared.flags & KeypairFlag.received) !== 0) peer.adoptConfirmed();
      const kp = peer?.current;
      if (!peer || !kp || !kp.usableForSending(now)) {
        s.drops.count('tx-staged'); // an event (drop-counters.ts EVENTS): main queues it
        staged.push(slot, peer?.generation ?? s.generationOf(slot), buf.slice(off, off + len));
        sc.freeList[freed++] = off;
        continue;
      }
      if (s.roamed.version(slot) !== peer.seenRoam) this.adoptRoam(peer, slot);
      if (!peer.endpoint) {
        s.drops.count('tx-no-endpoint');
        sc.freeList[freed++] = off;
        continue;
      }
      sc.cryptDesc[2 * jobs] = off;
      sc.cryptDesc[2 * jobs + 1] = len;
      sc.cryptKeys[jobs] = kp;
      sc.cryptSlot[jobs] = slot;
      jobs++;
    }
    if (freed > 0) this.pool.freeFrames(sc.freeList, freed);
    if (staged.length > 0) s.post({ t: 'stage', items: staged });
    this.forPeers = jobs > 0 || staged.length > 0;
    return jobs;
  }

  /** Takes a move another worker saw (RoamedEndpoints, published by receive.ts noteSource), if there is a stable one. */
  private adoptRoam(peer: PeerState, slot: number): void {
    const v = this.s.roamed.read(slot, this.roamScratch);
    if (v < 0) return;
    peer.seenRoam = v;
    if (!this.s.roamed.lastReadOwn) return; // another peer's move in the same bucket
    if (peer.endpoint && addrEquals(peer.endpoint, this.roamScratch)) return;
    peer.endpoint = this.roamScratch.slice();
    if (peer.outer && !routeServes(peer.route!, peer.endpoint)) peer.outer = null;
  }

  // ------------------------------------------------------------ 3. seal

  /** Pad, number, header, seal: the whole burst in place, one AEAD call (src/protocol/transport.ts). */
  private seal(jobs: number): void {
    const sc = this.s.scratch,
      burst = sc.crypt;
    burst.reset(this.buf);
    for (let j = 0; j < jobs; j++) burst.add(sc.cryptKeys[j]!.shared, sc.cryptDesc[2 * j]!, sc.cryptDesc[2 * j + 1]!);
    this.s.transport.sealBurst(burst, this.s.mtu);
  }

  // ------------------------------------------------------------ 4. outer headers / path choice

  /**
   * Per job: whether its peer's messages leave by the kernel socket in this
   * burst (tx-path.ts): the TUN frames' device sends bulk runs that way and
   * the peer has at least bulkMinRun full-size messages here. Decided per
   * peer, so all of one peer's messages in the burst take one path.
   */
  private chooseBulk(jobs: number): void {
    const x = this.x,
      sc = this.s.scratch,
      bulk = this.jobBulk;
    const minRun = x ? x.bulkMinRun : NEVER;
    if (minRun === NEVER || minRun === 0) {
      bulk.fill(minRun === 0 ? 1 : 0, 0, jobs);
      return;
    }
    // Full size: the plaintext filled the MTU (sealed = header + padded MTU + tag, within the padding).
    const full = this.s.mtu + DATA_HEADER_SIZE;
    let runs = 0;
    for (let j = 0; j < jobs; j++) {
      const slot = sc.cryptSlot[j]!;
      let r = 0;
      while (r < runs && this.runSlot[r] !== slot) r++; // a burst has few peers: a short scan
      if (r === runs) {
        this.runSlot[r] = slot;
        this.runFull[r] = 0;
        runs++;
      }
      this.jobRun[j] = r;
      if (sc.crypt.result[j]! > full) this.runFull[r] = this.runFull[r]! + 1;
    }
    for (let j = 0; j < jobs; j++) bulk[j] = this.runFull[this.jobRun[j]!]! >= minRun ? 1 : 0;
  }

  /** Puts sealed message j on its way: AF_XDP here, AF_XDP on another device, or the kernel socket. */
  private queueOuter(j: number, now: number): void {
    const s = this.s,
      sc = s.scratch,
      x = this.x,
      buf = this.buf;
    const msgLen = sc.crypt.result[j]!;
    if (msgLen < 0) {
      s.drops.count(dropOf(msgLen)!);
      sc.freeList[this.freed++] = sc.cryptDesc[2 * j]!;
      return;
    }
    const slot = sc.cryptSlot[j]!;
    const peer = s.peers[slot]!;
    const msgOff = sc.cryptDesc[2 * j]! - DATA_HEADER_SIZE;
    const outer = peer.outer;
    if (x && outer && outer.ifindex === x.ifindex && this.jobBulk[j] === 1) {
      // A bulk run on a copy-mode device (tx-path.ts): the kernel socket sends it from the UMEM
      // with UDP GSO (oversized ones too, so the peer's messages keep their order).
      const i = this.viaBulk++;
      this.bulkDesc[2 * i] = msgOff;
      this.bulkDesc[2 * i + 1] = msgLen;
      this.bulkAddr.set(peer.endpoint!, i * ADDR_RECORD_SIZE);
      this.bulkSlot[i] = slot;
      this.bulkLen[i] = msgLen;
    } else if (outer && msgLen > outer.maxMessage) {
      // Bigger than the egress MTU: only the kernel can fragment it.
      this.toSocket(msgOff, msgLen, peer.endpoint!, slot);
    } else if (x && outer && outer.ifindex === x.ifindex) {
      // The common AF_XDP case: headers in front, the frame goes out as it lies.
      const i = this.viaXsk++;
      sc.xskTxDesc[2 * i] = outer.write(buf, msgOff, msgLen);
      sc.xskTxDesc[2 * i + 1] = outer.length + msgLen;
      this.xskSlot[i] = slot;
      this.xskLen[i] = msgLen;
    } else if (outer && this.sendOnOtherXsk(outer, msgOff, msgLen, slot, now)) {
      sc.freeList[this.freed++] = msgOff;
    } else {
      // Kernel path (no route/neighbour yet, or a device without AF_XDP here).
      this.toSocket(msgOff, msgLen, peer.endpoint!, slot);
    }
  }

  /** A port took and sent a data message of msgLen bytes to the peer in slot: its transmit counters. */
  private countSent(slot: number, msgLen: number, now: number): void {
    const c = this.s.counters.view,
      base = slot * PEER_SLOT_WIDTH;
    c[base + F.txBytes] = c[base + F.txBytes]! + msgLen;
    c[base + F.txPackets] = c[base + F.txPackets]! + 1;
    if (c[base + F.lastAnyTxMs] !== now || c[base + F.lastDataTxMs] !== now) {
      // Stamps first, then the mark (peer-counters.ts SlotActivity protocol).
      c[base + F.lastDataTxMs] = now;
      c[base + F.lastAnyTxMs] = now;
      this.s.activity.mark(slot);
    }
  }

  /** Queues a message for the kernel socket: in place in a socket frame, or copied there from a UMEM frame. */
  private toSocket(msgOff: number, msgLen: number, endpoint: Uint8Array, slot: number): void {
    const i = this.viaUdp;
    if (!this.x) {
      this.queueUdp(msgOff, msgLen, endpoint, i);
    } else {
      this.s.scratch.freeList[this.freed++] = msgOff;
      if (!this.copyToUdp(msgOff, msgLen, endpoint, i)) {
        this.s.drops.count('tx-send-failed');
        return;
      }
    }
    this.udpSlot[i] = slot;
    this.udpLen[i] = msgLen;
    this.viaUdp++;
  }

  /**
   * A peer on another AF_XDP device than the one TUN frames live on: copy the
   * message into that UMEM and send it at once (counted if the ring took it).
   * False when that device has no port or no free frame: the caller uses the
   * kernel socket instead.
   */
  private sendOnOtherXsk(outer: RouteHeaders, msgOff: number, msgLen: number, slot: number, now: number): boolean {
    const s = this.s,
      one = s.scratch.oneFrame;
    const y = s.xsks.find((q) => q.ifindex === outer.ifindex);
    if (!y || y.port.allocFrames(one, 1) !== 1) return false;
    const dst = one[0]! + FRAME_HEADROOM;
    if (FRAME_HEADROOM + msgLen > y.port.frames.frameSize) {
      y.port.freeFrames(one, 1);
      return false;
    }
    y.buf.set(this.buf.subarray(msgOff, msgOff + msgLen), dst);
    const desc = s.scratch.oneTxDesc;
    desc[0] = outer.write(y.buf, dst, msgLen);
    desc[1] = outer.length + msgLen;
    s.capture?.write(y.buf, desc[0]!, desc[1]!, Date.now());
    if (y.port.txBurst(desc, 1) !== 1) {
      y.port.freeFrames(one, 1);
      s.drops.count('tx-send-failed');
    } else this.countSent(slot, msgLen, now);
    return true;
  }

  /** Queues a message lying in a socket-port frame at tx slot i. */
  private queueUdp(msgOff: number, msgLen: number, endpoint: Uint8Array, i: number): void {
    const sc = this.s.scratch;
    sc.udpTxDesc[2 * i] = msgOff;
    sc.udpTxDesc[2 * i + 1] = msgLen;
    this.s.udp.addr.set(endpoint, i * ADDR_RECORD_SIZE);
  }

  /** Copies a sealed message from a UMEM frame into a socket-port frame, queued at tx slot i. */
  private copyToUdp(msgOff: number, msgLen: number, endpoint: Uint8Array, i: number): boolean {
    const s = this.s,
      one = s.scratch.oneFrame;
    if (s.udp.allocFrames(one, 1) !== 1) return false;
    const dst = one[0]! + s.udp.frames.headroom;
    s.udpBuf.set(this.buf.subarray(msgOff, msgOff + msgLen), dst);
    this.queueUdp(dst, msgLen, endpoint, i);
    return true;
  }

  // ------------------------------------------------------------ 5. transmit

  /**
   * One txBurst on the AF_XDP queue, one on the kernel socket; then the
   * transmit counters of what each port took (the tx ring: every descriptor
   * it accepted; the socket: every datagram it sent, as it zeroes the length
   * of one it took but could not send).
   */
  private transmit(now: number): void {
    const s = this.s,
      sc = s.scratch,
      viaXsk = this.viaXsk,
      viaUdp = this.viaUdp;
    if (this.viaBulk > 0) this.transmitBulk(now);
    if (viaXsk > 0) {
      if (s.capture) for (let i = 0; i < viaXsk; i++) s.capture.write(this.buf, sc.xskTxDesc[2 * i]!, sc.xskTxDesc[2 * i + 1]!, now);
      const sent = this.x!.port.txBurst(sc.xskTxDesc, viaXsk);
      for (let i = 0; i < sent; i++) this.countSent(this.xskSlot[i]!, this.xskLen[i]!, now);
      if (sent < viaXsk) this.refused(this.x!.port, sc.xskTxDesc, sent, viaXsk);
    }
    if (viaUdp > 0) {
      const sent = s.udp.txBurst(sc.udpTxDesc, viaUdp);
      let failed = 0;
      for (let i = 0; i < sent; i++) {
        if (sc.udpTxDesc[2 * i + 1] !== 0) this.countSent(this.udpSlot[i]!, this.udpLen[i]!, now);
        else failed++;
      }
      if (failed > 0) s.drops.count('tx-send-failed', failed);
      if (sent < viaUdp) this.refused(s.udp, sc.udpTxDesc, sent, viaUdp);
    }
  }

  /**
   * The bulk runs: one txBurstFrom on the kernel socket from the UMEM. The
   * kernel has copied every datagram when it returns, so all their frames go
   * back to the UMEM at once; what it did not send (zeroed length, or not
   * taken: socket buffer full) is tx-send-failed.
   */
  private transmitBulk(now: number): void {
    const s = this.s,
      sc = s.scratch,
      n = this.viaBulk,
      desc = this.bulkDesc;
    const sent = s.udp.txBurstFrom(this.buf, desc, this.bulkAddr, n);
    let failed = n - sent;
    for (let i = 0; i < n; i++) {
      if (i < sent && desc[2 * i + 1] !== 0) this.countSent(this.bulkSlot[i]!, this.bulkLen[i]!, now);
      else if (i < sent) failed++;
      sc.freeList[i] = desc[2 * i]!;
    }
    this.x!.port.freeFrames(sc.freeList, n);
    if (failed > 0) s.drops.count('tx-send-failed', failed);
  }

  /** Frames a port did not take back: count them and return them to their pool. */
  private refused(pool: Port, desc: Uint32Array, sent: number, total: number): void {
    const sc = this.s.scratch;
    this.s.drops.count('tx-send-failed', total - sent);
    let k = 0;
    for (let j = sent; j < total; j++) sc.freeList[k++] = desc[2 * j]!;
    pool.freeFrames(sc.freeList, k);
  }
}
