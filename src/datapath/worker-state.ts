/**
 * What a worker's loop (worker.ts), receive path (receive.ts) and send path
 * (send.ts) share: its ports, its view of the peers and their keypairs, its
 * counters and its burst scratch.
 *
 * Threading: one WorkerState per worker thread, used only on that thread.
 * The state other threads see is reached only through the SharedArrayBuffers
 * named in worker-messages.ts (peer counters, drops, roamed endpoints,
 * keypairs' shared state, key-retirement epochs); the main thread changes
 * the rest by messages that the loop applies between bursts.
 */
import type { MessagePort } from 'node:worker_threads';
import { parentPort } from 'node:worker_threads';
import type { NativeBinding, NativeTunQueue, TunQueueSpec } from '../native/binding.js';
import { openTunQueue } from '../native/tun.js';
import { SocketPort, type XdpPort } from '../native/port.js';
import { BURST_SIZE } from '../native/frames.js';
import type { AeadBurstChoice } from '../crypto/aead-burst.js';
import { dataAeadBackend } from '../crypto/aead-burst.js';
import { DataTransport } from '../protocol/transport.js';
import { DropCounters } from './drop-counters.js';
import { PeerCounterSlab, SlotActivity } from './peer-counters.js';
import { RoamedEndpoints } from './roamed-endpoints.js';
import { PeerRouter } from './peer-router.js';
import { EmptyFrames } from './empty-frames.js';
import { BurstScratch } from './burst-scratch.js';
import type { CaptureRing } from './capture-ring.js';
import { DataKeypair } from './data-keypair.js';
import type { RouteHeaders } from './outer-frame.js';
import type { FromWorker, KeypairWire, PeerRoute } from './worker-messages.js';

export interface WorkerInit {
  worker: number;
  /** This worker's TUN queue: the fd (owned by the main thread) and the device's offload flags. */
  tun: TunQueueSpec;
  /** Kernel UDP socket shared with the main thread (the worker receives, everyone sends). */
  udpFd: number;
  port: MessagePort;
  peerCounters: SharedArrayBuffer;
  /** The slots this worker touched, for the main thread's tick (SlotActivity). */
  activity: SharedArrayBuffer;
  drops: SharedArrayBuffer;
  /** Where peers roamed, as workers saw it (RoamedEndpoints). */
  roamed: SharedArrayBuffer;
  /**
   * The message counter (WorkerPool.posted): Int32 word 0, main's count of
   * messages posted; word 1 + worker, what this worker drained up to. Absent
   * in tests that drive a worker by hand.
   */
  posted?: SharedArrayBuffer;
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
  /** Spin before sleeping after a burst, microseconds (src/datapath/spin.ts; datapath config "spinUs"). */
  spinUs: number;
  /** DaemonActivity's words and base: this worker stamps word 1 + worker. Absent in tests that drive a worker by hand. */
  daemonActivity?: { buffer: SharedArrayBuffer; baseMs: number };
}

/** One AF_XDP port of this worker (one device, the queue numbered like the worker). */
export interface XskState {
  port: XdpPort;
  /** The port's UMEM, where its packets lie (port.frames.bytes). */
  buf: Uint8Array;
  ifindex: number;
  name: string;
  /**
   * Full-size messages to one peer in a burst from which that peer's messages
   * leave by the kernel socket instead (tx-path.ts bulkMinRun; NEVER: AF_XDP only).
   */
  bulkMinRun: number;
}

/** One peer as this worker knows it. */
export class PeerState {
  /** Which peer of the slot this is (the 'peer' message's generation); 0 before the first 'peer' message. */
  generation = 0;
  endpoint: Uint8Array | null = null;
  /** The RoamedEndpoints version of this peer's slot this worker has taken into account. */
  seenRoam = 0;
  route: PeerRoute | null = null;
  /** Outer headers for the AF_XDP path, built from route (null: kernel socket). */
  outer: RouteHeaders | null = null;
  current: DataKeypair | null = null;
  previous: DataKeypair | null = null;
  next: DataKeypair | null = null;

  /**
   * The peer's "next" keypair has authenticated a data message (whitepaper
   * §5.4.6: the responder's key confirmation), on this worker or another:
   * send with it from now on. Protocol between workers: the worker that
   * opens that message sets KeypairFlag.received in the keypair's shared
   * state (transport.ts openBurst) before it writes the packet to the TUN;
   * every worker checks the flag before it seals for the peer (send.ts
   * routeToPeers). So a reply to that packet, read on whichever worker its
   * flow hashes to, is never sealed with the old keypair, which the
   * initiator may already have dropped. The main thread's rotation message
   * arrives later and agrees.
   */
  adoptConfirmed(): void {
    this.previous = this.current;
    this.current = this.next;
    this.next = null;
  }

  /**
   * The main thread's word on the peer's keypairs (a 'keypairs' message):
   * `byIndex` (receiver index → keypair, every peer's) follows. A keypair
   * this worker already holds (same Keypair.serial) keeps its object, so a
   * rotation (a confirmation: next → current → previous) costs no new views;
   * keypairs dropped leave `byIndex` before new ones enter it, so a new
   * keypair that reuses a dropped one's receiver index is the one found.
   */
  setKeypairs(
    m: { slot: number; current: KeypairWire | null; previous: KeypairWire | null; next: KeypairWire | null },
    byIndex: Map<number, DataKeypair>,
  ): void {
    const held = [this.current, this.previous, this.next];
    const wrap = (w: KeypairWire | null): DataKeypair | null =>
      w ? (held.find((kp) => kp?.serial === w.serial) ?? new DataKeypair(w, m.slot)) : null;
    this.current = wrap(m.current);
    this.previous = wrap(m.previous);
    this.next = wrap(m.next);
    const now = [this.current, this.previous, this.next];
    for (const kp of held) if (kp && !now.includes(kp)) byIndex.delete(kp.localIndex);
    for (const kp of now) if (kp && !held.includes(kp)) byIndex.set(kp.localIndex, kp);
  }
}

/** Frames of the receiving worker's socket port: room for 16 full GRO messages cut into datagrams at once. */
const GRO_FRAME_COUNT = 1024;

export class WorkerState {
  readonly scratch = new BurstScratch();
  /** Empty frames kept for TUN reads (empty-frames.ts): given back before a port closes or idles. */
  readonly emptyFrames = new EmptyFrames();
  /** This worker's TUN queue and its offload state (closed with the worker, worker.ts run). */
  readonly tun: NativeTunQueue;
  readonly drops: DropCounters;
  /** This worker's per-peer counters; replaced by a bigger one as peers come (PeerCounterSlab hand-over). */
  counters: PeerCounterSlab;
  readonly activity: SlotActivity;
  readonly roamed: RoamedEndpoints;
  readonly router = new PeerRouter();
  readonly transport: DataTransport;
  /**
   * The kernel socket port (replaced when the listen port changes). Its
   * address records (udp.addr) say who sent each message of a socket rx
   * burst, and where each message of a socket tx burst goes: a receive
   * burst is done with them before a send burst writes them.
   */
  udp: SocketPort;
  udpBuf: Uint8Array;
  /** This worker's AF_XDP ports, one per device. */
  readonly xsks: XskState[] = [];
  /**
   * Per peer slot: endpoint record, AF_XDP route, current/previous/next
   * keypairs. Made when the peer first has one of them: a configured peer
   * with none costs only its entry in `generations`.
   */
  readonly peers: Array<PeerState | undefined> = [];
  /** Per slot: the generation of its peer (the 'peer' messages'), for reports about peers without a PeerState yet. */
  generations = new Int32Array(1024);
  /** receiver index (ours) → keypair, for every live keypair of every peer. */
  readonly byIndex = new Map<number, DataKeypair>();
  mtu: number;
  listenPort = 0;
  /** Set only while `xdpwg capture` runs: AF_XDP frames in and out are copied here. */
  capture: CaptureRing | null = null;
  stopping = false;

  constructor(
    readonly n: NativeBinding,
    readonly init: WorkerInit,
  ) {
    this.tun = openTunQueue(init.tun);
    this.udp = this.openSocketPort(init.udpFd);
    this.udpBuf = this.udp.frames.bytes;
    this.drops = new DropCounters(init.drops);
    this.roamed = new RoamedEndpoints(init.roamed);
    this.counters = new PeerCounterSlab(init.peerCounters);
    this.activity = new SlotActivity(init.activity);
    this.mtu = init.mtu;
    this.transport = new DataTransport(dataAeadBackend(init.crypto).backend);
  }

  /** The socket port over the kernel UDP socket `fd` (shared with the main thread). */
  openSocketPort(fd: number): SocketPort {
    // UDP GRO on the one port that receives (worker 0); the others would map a spill area for nothing.
    const gro = this.init.worker === 0;
    // Its pool must take GRO's cut datagrams too: a coalesced message holds up to 64 (native/udp_gro.h).
    const frameCount = gro ? Math.max(this.init.frameCount, GRO_FRAME_COUNT) : this.init.frameCount;
    return new SocketPort(new this.n.UdpPort({ fd, frameSize: this.init.frameSize, frameCount, gro }), BURST_SIZE);
  }

  /** Records the slot's peer generation (grows the table by doubling). */
  setGeneration(slot: number, generation: number): void {
    if (slot >= this.generations.length) {
      let n = this.generations.length;
      while (n <= slot) n *= 2;
      const bigger = new Int32Array(n);
      bigger.set(this.generations);
      this.generations = bigger;
    }
    this.generations[slot] = generation;
  }

  /** The slot's peer generation (0: never told). */
  generationOf(slot: number): number {
    return slot < this.generations.length ? this.generations[slot]! : 0;
  }

  post(msg: FromWorker, transfer?: ArrayBuffer[]): void {
    parentPort!.postMessage(msg, transfer ?? []);
  }

  /** The worker cannot go on: tell the main thread and stop the loop. */
  fatal(reason: string): void {
    this.post({ t: 'fatal', worker: this.init.worker, reason });
    this.stopping = true;
  }
}
