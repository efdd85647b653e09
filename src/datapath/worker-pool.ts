/**
 * The main thread's handle on the data-plane workers: starts one worker per
 * TUN queue, broadcasts the rare state changes (peers, endpoints, keypairs,
 * allowed IPs, MTU) and wakes the workers so they take them at once, and
 * hands what workers report (handshake messages, staged packets, roaming,
 * confirmations) to the device.
 *
 * Threading: main thread only.
 */
import { Worker, MessageChannel, type MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { native } from '../native/binding.js';
import { DropCounters } from './drop-counters.js';
import { PeerCounterSlab, SlotActivity } from './peer-counters.js';
import { RoamedEndpoints } from './roamed-endpoints.js';
import type { FromWorker, ToWorker } from './worker-messages.js';
import type { WorkerInit } from './worker.js';
import type { AeadBurstChoice } from '../crypto/aead-burst.js';
import type { TunQueueSpec } from '../native/binding.js';

export interface WorkerPoolOptions {
  /** One worker per TUN queue (tunQueueSpecs). */
  tunQueues: TunQueueSpec[];
  udpFd: number;
  mtu: number;
  /** The most peer slots the device will use; the per-worker tables start small and grow to it (ensurePeerCapacity). */
  maxPeers: number;
  frameSize: number;
  frameCount: number;
  handshakeBacklogMax: number;
  /** CookieSecretShare.buffer: the cookie secret, for the workers' MAC2 checks under load. */
  cookieSecret: SharedArrayBuffer;
  /** KeyRetirement.buffer: where workers announce their epochs (src/protocol/key-retirement.ts). */
  keyEpochs: SharedArrayBuffer;
  crypto: AeadBurstChoice;
  /** Worker i is pinned to cpus[i % cpus.length]; empty: not pinned. */
  cpus: number[];
  /** Spin before sleeping after a burst, microseconds (src/datapath/spin.ts). */
  spinUs: number;
  /** DaemonActivity's words and base (src/native/idle-memory.ts): worker w stamps word 1 + w. */
  daemonActivity?: { buffer: SharedArrayBuffer; baseMs: number };
  onMessage(msg: FromWorker): void;
  /** A worker ended without being asked to. */
  onExit(worker: number, reason: string): void;
}

interface Member {
  thread: Worker;
  port: MessagePort;
  eventFd: number;
  stopping: boolean;
}

/**
 * V8 heap limits of a data-path worker. Its packets live in native frames
 * (UMEM, socket port regions), not on its heap; what it allocates per burst
 * is small and short-lived, so a small young generation (whose semi-spaces
 * are what an idle isolate keeps resident) costs only more frequent, cheap
 * scavenges. The old generation holds the per-peer state (routes, keypairs,
 * replay windows): bounded by MAX_PEERS, far below the limit.
 * XDPWG_WORKER_YOUNG_MB overrides the young generation (measurements; the
 * default 4 MB gave the same TCP throughput as V8's default, and ~4 MB less
 * idle RSS over two workers).
 */
export function datapathWorkerLimits(): { maxYoungGenerationSizeMb: number; maxOldGenerationSizeMb: number } {
  const young = Number(process.env.XDPWG_WORKER_YOUNG_MB);
  return { maxYoungGenerationSizeMb: Number.isFinite(young) && young > 0 ? young : 4, maxOldGenerationSizeMb: 256 };
}

/** Peer slots the per-worker counter slabs hold at first (64 KB per worker); they double as peers come. */
export const INITIAL_PEER_SLOTS = 1024;

/** How long withWakesDeferred's wake waits (ms): what the workers do not drain by then, a wake brings. */
const DEFERRED_WAKE_MS = 1;

export class WorkerPool {
  /** Per worker: the counter slab main reads (see PeerCounterSlab for the growth hand-over). */
  readonly peerSlabs: PeerCounterSlab[] = [];
  /** Per worker: bigger slabs posted and not yet acknowledged, oldest first. */
  private readonly pendingSlabs: PeerCounterSlab[][] = [];
  /** Per worker: the slots it touched since the main thread's last tick (SlotActivity). */
  readonly activity: SlotActivity[] = [];
  /** Slots every worker's slab holds or will hold once it takes the last posted buffer. */
  private peerCapacity: number;
  readonly dropSlabs: DropCounters[] = [];
  /** Handshake messages posted by workers and not yet taken by the device. */
  readonly handshakeBacklog = new Int32Array(new SharedArrayBuffer(4));
  /** Shared by all workers (see RoamedEndpoints). */
  private readonly roamed: RoamedEndpoints;
  private readonly members: Member[] = [];
  private readonly wakeFd: (fd: number) => void;
  /** withWakesHeld is running (depth), and a broadcast inside it wants a wake. */
  private wakesHeld = 0;
  private wakePending = false;
  /** Broadcasts made while wakes are held, posted together before the wake (broadcast). */
  private held: ToWorker[] = [];
  /**
   * Messages posted to the workers, counted, so a worker can find them
   * without being woken. Int32 words: 0, the count of broadcasts posted
   * (main: Atomics.add after each post); 1 + w, the count worker w had read
   * when it last drained its port (worker.ts: Atomics.load of word 0, store
   * into its word, then drain). A worker checks word 0 each time it wakes,
   * for any reason, before it reads packets; so a message posted (and
   * counted) before a datagram leaves is applied before the worker reads
   * any answer to that datagram, woken or not. The eventfd wake is then only
   * for promptness: withWakesDeferred sends it later, and only to workers
   * whose word is behind.
   */
  readonly posted: Int32Array;
  /** withWakesDeferred is running (depth), and its deferred wake's timer. */
  private wakesDeferred = 0;
  private deferredWake: NodeJS.Timeout | undefined;

  private constructor(private readonly opts: WorkerPoolOptions) {
    this.roamed = new RoamedEndpoints();
    this.peerCapacity = Math.min(INITIAL_PEER_SLOTS, opts.maxPeers);
    this.posted = new Int32Array(new SharedArrayBuffer(4 * (1 + opts.tunQueues.length)));
    this.wakeFd = native().wakeFd;
  }

  /**
   * Starts the workers and resolves once every one reported ready. One at a
   * time: each worker loads its modules with V8's process-wide lazy flag off
   * and sets it back before it reports ready (eager-load.ts), so no two
   * workers write the flag at once.
   */
  static async start(opts: WorkerPoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(opts);
    try {
      for (let i = 0; i < opts.tunQueues.length; i++) await pool.spawn(i, opts.tunQueues[i]!);
    } catch (err) {
      // The workers already started would otherwise run on, unreachable.
      await pool.stop();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.members.length;
  }

  private spawn(index: number, tun: TunQueueSpec): Promise<void> {
    const { port1, port2 } = new MessageChannel();
    const peerSlab = PeerCounterSlab.create(this.peerCapacity);
    const activity = SlotActivity.create(this.opts.maxPeers);
    const drops = new DropCounters();
    this.peerSlabs[index] = peerSlab;
    this.pendingSlabs[index] = [];
    this.activity[index] = activity;
    this.dropSlabs[index] = drops;
    const init: WorkerInit = {
      worker: index,
      tun,
      udpFd: this.opts.udpFd,
      port: port2,
      peerCounters: peerSlab.buffer,
      activity: activity.buffer,
      drops: drops.buffer,
      handshakeBacklog: this.handshakeBacklog.buffer as SharedArrayBuffer,
      posted: this.posted.buffer as SharedArrayBuffer,
      roamed: this.roamed.buffer,
      handshakeBacklogMax: this.opts.handshakeBacklogMax,
      keyEpochs: this.opts.keyEpochs,
      cookieSecret: this.opts.cookieSecret,
      mtu: this.opts.mtu,
      frameSize: this.opts.frameSize,
      frameCount: this.opts.frameCount,
      crypto: this.opts.crypto,
      cpus: this.opts.cpus.length ? [this.opts.cpus[index % this.opts.cpus.length]!] : [],
      spinUs: this.opts.spinUs,
      daemonActivity: this.opts.daemonActivity,
    };
    const file = fileURLToPath(new URL('./worker-entry.js', import.meta.url));
    const thread = new Worker(file, {
      workerData: { init },
      transferList: [port2],
      resourceLimits: datapathWorkerLimits(),
    });
    const member: Member = { thread, port: port1, eventFd: -1, stopping: false };
    this.members[index] = member;
    return new Promise((resolve, reject) => {
      let ready = false;
      thread.on('message', (msg: FromWorker) => {
        if (msg.t === 'ready') {
          member.eventFd = msg.eventFd;
          ready = true;
          resolve();
          return;
        }
        if (msg.t === 'peer-tables-taken') {
          this.slabTaken(index, msg.counters);
          return;
        }
        if (msg.t === 'handshakes') Atomics.sub(this.handshakeBacklog, 0, msg.lengths.length);
        this.opts.onMessage(msg);
      });
      thread.on('error', (err) => {
        if (!ready) reject(err);
        else this.opts.onExit(index, `worker ${index} crashed: ${err.message}`);
      });
      thread.on('exit', (code) => {
        if (!ready) reject(new Error(`worker ${index} exited (${code}) before it was ready`));
        else if (!member.stopping) this.opts.onExit(index, `worker ${index} exited unexpectedly (code ${code})`);
      });
    });
  }

  /**
   * Makes every worker's per-peer tables hold `slots` slots (doubling):
   * posts the bigger buffers now, before any message names a slot beyond
   * the old size (PeerCounterSlab states the hand-over).
   */
  ensurePeerCapacity(slots: number): void {
    if (slots <= this.peerCapacity) return;
    let cap = this.peerCapacity;
    while (cap < slots) cap *= 2;
    this.peerCapacity = Math.min(cap, Math.max(slots, this.opts.maxPeers));
    // After what was broadcast before (held broadcasts included), as it would have been without holding.
    this.postHeld();
    this.members.forEach((m, i) => {
      const slab = PeerCounterSlab.create(this.peerCapacity);
      this.pendingSlabs[i]!.push(slab);
      m.port.postMessage({ t: 'peer-tables', counters: slab.buffer } satisfies ToWorker);
    });
    if (this.wakesHeld > 0) this.wakePending = true;
    else this.wakeAll();
  }

  /** Zeroes a slot's counters for a new peer, in the slabs main reads and those the workers are about to take. */
  clearPeerSlot(slot: number): void {
    for (const s of this.peerSlabs) s.clear(slot);
    for (const list of this.pendingSlabs) for (const s of list) s.clear(slot);
  }

  /** Worker `index` copied its counters into `buffer` and writes only there now: read it from now on. */
  private slabTaken(index: number, buffer: SharedArrayBuffer): void {
    const list = this.pendingSlabs[index]!;
    // Told apart by size, not identity: a SharedArrayBuffer posted back from a worker arrives as a
    // new object over the same memory (an identity match never held, so main went on reading the
    // first slab, stale once the worker moved on, and kept every slab posted since). Each slab
    // posted is bigger than the last, so the size names it.
    const at = list.findIndex((s) => s.buffer.byteLength === buffer.byteLength);
    if (at < 0) return;
    this.peerSlabs[index] = list[at]!;
    list.splice(0, at + 1);
  }

  /**
   * Sends a state change to every worker and wakes them: at once, or, inside
   * withWakesHeld, gathered with the others of that call and posted as one
   * 'many' message per worker just before the wake. A worker reads its
   * messages only when woken (worker.ts drainControl), so holding them until
   * the wake delays nothing it could have seen; the order of all messages
   * to a worker is kept (every direct post flushes the held ones first).
   * Under a handshake flood each answer publishes a keypair: one message a
   * turn instead of one per answer per worker (each a structured clone and
   * a wake-up of the worker's message queue, and a receiveMessageOnPort).
   */
  broadcast(msg: ToWorker): void {
    if (this.wakesHeld > 0) {
      this.held.push(msg);
      this.wakePending = true;
      return;
    }
    for (const m of this.members) m.port.postMessage(msg);
    Atomics.add(this.posted, 0, 1);
    this.wakeAll();
  }

  /** Posts the broadcasts gathered while wakes were held (one message per worker). */
  private postHeld(): void {
    const held = this.held;
    if (held.length === 0) return;
    this.held = [];
    const msg: ToWorker = held.length === 1 ? held[0]! : { t: 'many', messages: held };
    for (const m of this.members) m.port.postMessage(msg);
    Atomics.add(this.posted, 0, 1);
  }

  /**
   * Runs fn with the workers' wakes held: its broadcasts are posted at once
   * (their order kept) and the workers are woken once, when fn returns. The
   * wake (an eventfd write, and the worker's trip out of its poll) is what
   * costs, ~100 µs of main thread per keypair when a handshake flood
   * published each on its own. Only for code that sends nothing the
   * published state must precede before fn returns: a worker drains its
   * messages only when woken, so a peer's answer to a datagram sent inside
   * fn could find the worker without the keypair.
   */
  withWakesHeld(fn: () => void): void {
    this.wakesHeld++;
    try {
      fn();
    } finally {
      if (--this.wakesHeld === 0 && this.wakePending) {
        this.postHeld();
        this.wakePending = false;
        this.wake();
      }
    }
  }

  /**
   * withWakesHeld, except that the wake at the end is deferred by
   * DEFERRED_WAKE_MS and then goes only to workers that have not drained
   * what was posted meanwhile (see `posted`). For the handshake answers of a
   * flood: each turn's keypairs are posted (and counted) before the
   * responses leave, so a worker applies them before it reads the
   * initiators' first data, and the workers, woken anyway by the flood's
   * packets, mostly drain them without a wake of their own; a wake is an
   * eventfd write and a worker's trip out of its poll per turn otherwise.
   */
  withWakesDeferred(fn: () => void): void {
    this.wakesDeferred++;
    try {
      this.withWakesHeld(fn);
    } finally {
      this.wakesDeferred--;
    }
  }

  /**
   * Inside withWakesHeld: posts the held broadcasts and wakes the workers
   * now if one is waiting (before sending what must follow it); inside
   * withWakesDeferred, posts them (counted) and leaves the wake to the timer.
   */
  releaseHeldWake(): void {
    if (!this.wakePending) return;
    this.postHeld();
    this.wakePending = false;
    this.wake();
  }

  /** Wakes the workers now, or (withWakesDeferred) soon, those still behind then. */
  private wake(): void {
    if (this.wakesDeferred === 0) {
      this.wakeAll();
      return;
    }
    this.deferredWake ??= setTimeout(() => {
      this.deferredWake = undefined;
      const posted = Atomics.load(this.posted, 0);
      this.members.forEach((m, w) => {
        if (m.eventFd >= 0 && Atomics.load(this.posted, 1 + w) !== posted) this.wakeFd(m.eventFd);
      });
    }, DEFERRED_WAKE_MS);
  }

  private wakeAll(): void {
    for (const m of this.members) if (m.eventFd >= 0) this.wakeFd(m.eventFd);
  }

  /** Asks every worker to stop and waits for them (at most timeoutMs, then terminates). */
  async stop(timeoutMs = 2000): Promise<void> {
    for (const m of this.members) m.stopping = true;
    // No deferred wake after this: the workers' eventfds close with them.
    clearTimeout(this.deferredWake);
    this.deferredWake = undefined;
    this.broadcast({ t: 'stop' });
    await Promise.all(
      this.members.map(
        (m) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              void m.thread.terminate().then(() => resolve());
            }, timeoutMs);
            m.thread.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
  }
}
