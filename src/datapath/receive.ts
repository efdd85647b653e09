/**
 * The receive path of a worker (kernel WireGuard's receive.c, wireguard-go's
 * receive.go), one burst at a time, in this order:
 *
 *   1. readSocket / readXsk   a burst from the kernel UDP socket (the payload
 *                             is the message), or from an AF_XDP queue (our
 *                             own Ethernet/IP/UDP parse finds it)
 *   2. classify               type and exact size per message; data: look up
 *                             the keypair by receiver index; handshake
 *                             messages (types 1–3): handToMain, bounded,
 *                             one message to main per burst
 *   3. decrypt + 4. replay    open the whole burst in place with one AEAD call,
 *                             then the replay window, only for authentic
 *                             packets (transport.ts openBurst)
 *   5. acceptAuthenticated    peer counters, roaming, key confirmation
 *   6. checkAllowedIps        the inner IP header's length, and that its
 *                             source belongs to the sending peer
 *   7. writeToTun             one TunQueue.writeBurst
 *
 * Every failure is a counted drop (DropCounters), never a throw. Threading:
 * the worker's own thread (worker-state.ts).
 */
import { UdpFrame, parseUdpFrame } from '../packet/udp-frame.js';
import { dropOf } from '../protocol/transport.js';
import { DATA_HEADER_SIZE, Data, MESSAGE_DATA, classifyMessage, readU32 } from '../protocol/wire.js';
import { systemClock } from '../protocol/clock.js';
import { PEER_SLOT_FIELDS as F, PEER_SLOT_WIDTH } from './peer-counters.js';
import { recordFromFrame, routeServes } from './outer-frame.js';
import type { DataKeypair } from './data-keypair.js';
import { BURST_SIZE } from '../native/frames.js';
import { ADDR_RECORD_SIZE, addrEquals } from './addr-record.js';
import { CookieSecretShare, HandshakeAdmission } from './handshake-admission.js';
import type { PeerState, WorkerState, XskState } from './worker-state.js';

export class Receiver {
  private readonly frame = new UdpFrame();
  /** Which handshake messages go to the main thread (bounded queue; see handshake-admission.ts). */
  private readonly admission: HandshakeAdmission;
  /** Who sent each message of the burst being delivered: the socket port's records, or scratch.rxSenders. */
  private senders: Uint8Array = new Uint8Array(0);
  /** The burst's admitted handshake messages (offset, length in the burst's buffer; index of the sender), posted together. */
  private handshakes = 0;
  private handshakeBytes = 0;
  private readonly handshakeAt = new Uint32Array(BURST_SIZE * 2);
  private readonly handshakeFrom = new Uint32Array(BURST_SIZE);
  /** The burst's confirmed keypairs, [slot, generation, localIndex, …], posted together after it. */
  private readonly confirms: number[] = [];

  constructor(private readonly s: WorkerState) {
    const init = s.init;
    this.admission = new HandshakeAdmission(
      new Int32Array(init.handshakeBacklog),
      init.handshakeBacklogMax,
      new CookieSecretShare(init.cookieSecret),
      systemClock,
    );
  }

  // ------------------------------------------------------------ 1. read

  /**
   * Datagrams from the kernel UDP socket: the WireGuard message is the whole payload. `now`: the
   * worker's clock read once per wake (worker.ts iterate), not once per burst.
   */
  readSocket(now = Date.now()): void {
    const s = this.s,
      sc = s.scratch;
    const n = s.udp.rxBurst(sc.rxMessages, BURST_SIZE);
    if (n <= 0) return;
    this.deliver(s.udpBuf, s.udp.addr, n, now);
    for (let i = 0; i < n; i++) sc.freeList[i] = sc.rxMessages[2 * i]!;
    s.udp.freeFrames(sc.freeList, n);
  }

  /** Frames from an AF_XDP queue: parse Ethernet/IP/UDP ourselves, then the same as the socket path. */
  readXsk(x: XskState, now = Date.now()): void {
    const s = this.s,
      sc = s.scratch;
    const got = x.port.rxBurst(sc.xskRxDesc, BURST_SIZE);
    if (got <= 0) return;
    const buf = x.buf,
      f = this.frame;
    const cap = s.capture;
    let m = 0;
    for (let i = 0; i < got; i++) {
      const off = sc.xskRxDesc[2 * i]!,
        len = sc.xskRxDesc[2 * i + 1]!;
      sc.xskRxFrames[i] = off;
      if (cap) cap.write(buf, off, len, now);
      const bad = parseUdpFrame(buf, off, len, f) ?? (f.dstPort !== s.listenPort ? 'outer-port' : null);
      if (bad !== null) {
        s.drops.count(bad);
        continue;
      }
      sc.rxMessages[2 * m] = f.payload;
      sc.rxMessages[2 * m + 1] = f.payloadLength;
      recordFromFrame(buf, f, x.ifindex, sc.rxSenders, m * ADDR_RECORD_SIZE);
      m++;
    }
    if (m > 0) this.deliver(buf, sc.rxSenders, m, now);
    x.port.freeFrames(sc.xskRxFrames, got);
  }

  /**
   * Steps 2–7 over the WireGuard messages at scratch.rxMessages in `buf`,
   * sent by the address records in `senders`. The caller frees the frames.
   */
  private deliver(buf: Uint8Array, senders: Uint8Array, n: number, now: number): void {
    this.senders = senders;
    const jobs = this.classify(buf, n, now);
    if (jobs === 0) return;
    this.decryptAndCheckReplay(buf, jobs);
    const written = this.acceptAndCheck(buf, jobs, now);
    if (written > 0) this.writeToTun(buf.buffer as ArrayBuffer, written);
    if (this.confirms.length > 0) {
      // Cloned by the post: the array is ours again at once.
      this.s.post({ t: 'confirmed', items: this.confirms });
      this.confirms.length = 0;
    }
  }

  // ------------------------------------------------------------ 2. classify

  /** Sorts the burst: data messages with a live keypair become crypt jobs, handshakes go to main. Returns the job count. */
  private classify(buf: Uint8Array, n: number, now: number): number {
    const s = this.s,
      sc = s.scratch;
    let jobs = 0;
    for (let i = 0; i < n; i++) {
      const off = sc.rxMessages[2 * i]!,
        len = sc.rxMessages[2 * i + 1]!;
      // Each handshake message has one exact size (whitepaper §5.4.2-5.4.7): a wrong one is
      // dropped here, before it costs the main thread a message and a MAC check.
      const type = classifyMessage(buf, off, len);
      if (type === MESSAGE_DATA) {
        const kp = s.byIndex.get(readU32(buf, off + Data.receiver));
        if (!kp) {
          s.drops.count('rx-unknown-index');
          continue;
        }
        if (kp.expired(now)) {
          s.drops.count('rx-key-expired');
          continue;
        }
        sc.cryptDesc[2 * jobs] = off;
        sc.cryptDesc[2 * jobs + 1] = len;
        sc.cryptKeys[jobs] = kp;
        sc.cryptRxIndex[jobs] = i;
        jobs++;
      } else if (typeof type === 'number') {
        this.admitHandshake(buf, off, len, i);
      } else {
        s.drops.count(type);
      }
    }
    if (this.handshakes > 0) this.handToMain(buf);
    return jobs;
  }

  /** Queues a handshake message of this burst for the main thread, unless its queue is full. */
  private admitHandshake(buf: Uint8Array, off: number, len: number, i: number): void {
    // Per-source limits only for sources MAC2 proves; unproven messages get half the queue (handshake-admission.ts).
    const verdict = this.admission.admit(buf, off, len, this.senders, i * ADDR_RECORD_SIZE);
    if (verdict !== null) {
      this.s.drops.count(verdict);
      return;
    }
    const at = this.handshakes++;
    this.handshakeAt[2 * at] = off;
    this.handshakeAt[2 * at + 1] = len;
    this.handshakeFrom[at] = i;
    this.handshakeBytes += len;
  }

  /**
   * Hands the burst's admitted handshake messages to the main thread as one
   * message (two transferred buffers), not one each: under a flood a burst
   * often holds several initiations, and each message costs both threads a
   * structured clone, transfers and a wake of main's event loop.
   */
  private handToMain(buf: Uint8Array): void {
    const s = this.s,
      n = this.handshakes,
      senders = this.senders;
    const data = new Uint8Array(this.handshakeBytes);
    const addrs = new Uint8Array(n * ADDR_RECORD_SIZE);
    const lengths: number[] = [];
    let at = 0;
    for (let k = 0; k < n; k++) {
      const off = this.handshakeAt[2 * k]!,
        len = this.handshakeAt[2 * k + 1]!,
        i = this.handshakeFrom[k]!;
      data.set(buf.subarray(off, off + len), at);
      at += len;
      lengths.push(len);
      addrs.set(senders.subarray(i * ADDR_RECORD_SIZE, (i + 1) * ADDR_RECORD_SIZE), k * ADDR_RECORD_SIZE);
    }
    this.handshakes = 0;
    this.handshakeBytes = 0;
    s.post({ t: 'handshakes', worker: s.init.worker, data, lengths, addrs }, [data.buffer, addrs.buffer]);
  }

  // ------------------------------------------------------------ 3. decrypt, 4. replay

  /** Opens every crypt job in place with one AEAD call; the replay window runs after authentication. */
  private decryptAndCheckReplay(buf: Uint8Array, jobs: number): void {
    const sc = this.s.scratch,
      burst = sc.crypt;
    burst.reset(buf);
    for (let j = 0; j < jobs; j++) burst.add(sc.cryptKeys[j]!.shared, sc.cryptDesc[2 * j]!, sc.cryptDesc[2 * j + 1]!);
    this.s.transport.openBurst(burst);
  }

  // ------------------------------------------------------------ 5. accept, 6. allowed IPs

  /** Steps 5 and 6 per opened message; queues the inner packets that pass at scratch.tunDesc. Returns how many. */
  private acceptAndCheck(buf: Uint8Array, jobs: number, now: number): number {
    const s = this.s,
      sc = s.scratch,
      burst = sc.crypt;
    let written = 0;
    for (let j = 0; j < jobs; j++) {
      const plainLen = burst.result[j]!;
      if (plainLen < 0) {
        s.drops.count(dropOf(plainLen)!);
        continue;
      }
      const kp = sc.cryptKeys[j]!;
      const peer = s.peers[kp.slot];
      // Authentic, but the peer was removed after the look-up (a remove message between bursts).
      if (!peer) {
        s.drops.count('rx-peer-gone');
        continue;
      }
      this.acceptAuthenticated(peer, kp, j, now);
      if (plainLen === 0) continue; // keepalive
      const inner = sc.cryptDesc[2 * j]! + DATA_HEADER_SIZE;
      const innerLen = this.checkAllowedIps(buf, inner, plainLen, kp.slot);
      if (innerLen < 0) continue;
      const at = kp.slot * PEER_SLOT_WIDTH + F.lastDataRxMs;
      // Stamp first, then the mark (peer-counters.ts SlotActivity protocol).
      if (s.counters.view[at] !== now) {
        s.counters.view[at] = now;
        s.activity.mark(kp.slot);
      }
      sc.tunDesc[2 * written] = inner;
      sc.tunDesc[2 * written + 1] = innerLen;
      written++;
    }
    return written;
  }

  /** An authentic message from the peer: its counters, its endpoint, and key confirmation. */
  private acceptAuthenticated(peer: PeerState, kp: DataKeypair, j: number, now: number): void {
    const s = this.s,
      c = s.counters.view,
      base = kp.slot * PEER_SLOT_WIDTH;
    c[base + F.rxBytes] = c[base + F.rxBytes]! + s.scratch.cryptDesc[2 * j + 1]!;
    c[base + F.rxPackets] = c[base + F.rxPackets]! + 1;
    if (c[base + F.lastAuthRxMs] !== now) {
      c[base + F.lastAuthRxMs] = now;
      s.activity.mark(kp.slot);
    }
    this.noteSource(peer, kp.slot, s.scratch.cryptRxIndex[j]!);
    if (kp === peer.next) this.confirm(peer, kp);
  }

  /** The inner packet's length (from its IP header), or −1 when it is malformed or its source is not the peer's (both counted). */
  private checkAllowedIps(buf: Uint8Array, inner: number, plainLen: number, slot: number): number {
    const s = this.s;
    const innerLen = s.router.innerLength(buf, inner, plainLen);
    if (innerLen < 0) {
      s.drops.count('rx-bad-inner-packet');
      return -1;
    }
    if (s.router.lookupSource(buf, inner) !== slot) {
      s.drops.count('rx-allowed-ips');
      return -1;
    }
    return innerLen;
  }

  /**
   * Roaming (whitepaper §2.1): an authenticated packet from a new address
   * moves the endpoint there. The other workers take the move from
   * RoamedEndpoints before their next send (send.ts adoptRoam).
   */
  private noteSource(peer: PeerState, slot: number, i: number): void {
    const s = this.s;
    // Compared in place: the common case (same source) allocates nothing per packet.
    const at = i * ADDR_RECORD_SIZE;
    if (peer.endpoint && addrEquals(peer.endpoint, this.senders, at)) return;
    peer.endpoint = this.senders.slice(at, at + ADDR_RECORD_SIZE);
    if (peer.outer && !routeServes(peer.route!, peer.endpoint)) peer.outer = null;
    // The other workers answer at the new address from their next packet on.
    if (s.roamed.publish(slot, peer.endpoint)) peer.seenRoam = s.roamed.version(slot);
    s.post({ t: 'endpoint', slot, generation: peer.generation, addr: peer.endpoint.slice() });
  }

  /** The first message on the peer's "next" keypair: send with it (PeerState.adoptConfirmed), and tell main. */
  private confirm(peer: PeerState, kp: DataKeypair): void {
    // Local promotion so this worker sends with it at once; main broadcasts the rotation.
    peer.adoptConfirmed();
    this.confirms.push(kp.slot, peer.generation, kp.localIndex);
  }

  // ------------------------------------------------------------ 7. TUN write

  /** Packets written into the TUN since the worker last cleared it (worker.ts iterate: once per wake). */
  tunWritten = 0;

  private writeToTun(ab: ArrayBuffer, written: number): void {
    const s = this.s;
    const w = s.tun.writeBurst(ab, s.scratch.tunDesc, written);
    if (w < 0) s.fatal(`TUN write failed (errno ${-w}): the interface is gone`);
    else {
      this.tunWritten += w;
      if (w < written) s.drops.count('tun-write-failed', written - w);
    }
  }
}
