/**
 * A data-plane worker: one thread, one TUN queue, the kernel UDP socket and
 * (where a device can take it) one AF_XDP queue per device. This file is
 * the loop and the control messages; the packets' paths are receive.ts
 * (wire → TUN) and send.ts (TUN → wire), their shared state
 * worker-state.ts, their scratch arrays burst-scratch.ts.
 *
 * The loop (docs/DESIGN.md): wait(port | tun | wake) → burst in → work → burst out.
 *   1. announce the key-retirement epoch (no key copy survives a wait)
 *   2. wake bit: apply the main thread's messages (peers, keypairs, routes…)
 *   3. readable socket (or GRO datagrams waiting in its port) / AF_XDP queue: Receiver.readSocket / readXsk
 *   4. readable TUN (or a super packet still being cut): Sender.send
 *   5. about once a second (everySecond): port counters to the main thread
 *
 * Nothing here allocates per packet on the common path; drops are counted by
 * reason (DropCounters) and never thrown. Threading: everything in this file
 * runs on the worker's own thread; shared state is reached only through the
 * SharedArrayBuffers named in worker-messages.ts.
 */
import { receiveMessageOnPort } from 'node:worker_threads';
import { native } from '../native/binding.js';
import { XdpPort } from '../native/port.js';
import { BURST_SIZE } from '../native/frames.js';
import { DaemonActivity, IdleMemoryRelease } from '../native/idle-memory.js';
import type { NativeWaiter, XskPortOptions } from '../native/binding.js';
import { PeerBatchOp, type ToWorker } from './worker-messages.js';
import { PeerCounterSlab } from './peer-counters.js';
import { ADDR_RECORD_SIZE } from './addr-record.js';
import { RouteHeaders, routeServes } from './outer-frame.js';
import { CaptureRing } from './capture-ring.js';
import { WorkerEpoch } from '../protocol/key-retirement.js';
import { PeerState, WorkerState, type WorkerInit, type XskState } from './worker-state.js';
import { Receiver } from './receive.js';
import { Sender } from './send.js';
import { bulkMinRun, type TxPathSetting } from './tx-path.js';
import { spinAfter } from './spin.js';
import { AnswerRead } from './answer-read.js';
import { workerThreadName } from '../native/thread-roles.js';

export type { WorkerInit } from './worker-state.js';

const STATS_INTERVAL_MS = 1_000;
/** Longest wait: the once-a-second work runs even when no packet comes. */
const MAX_WAIT_MS = 1_000;
const MAX_XSK_PORTS = 8;

/** The worker's loop; its thread's entry is worker-entry.ts. */
export class Worker {
  private readonly s: WorkerState;
  private readonly receiver: Receiver;
  private readonly sender: Sender;
  private readonly waiter: NativeWaiter;
  /** Poll set: [0] the UDP socket (worker 0 only, else -1), [1] the TUN queue, [2..] AF_XDP ports. */
  private readonly fds = new Int32Array(2 + MAX_XSK_PORTS).fill(-1);
  private readonly wakeBit: number;
  /** Announces when this worker may hold copies of transport keys (W1/W3 of key-retirement.ts). */
  private readonly epoch: WorkerEpoch;
  private lastStatsMs = 0;
  /** Whether to read the TUN right after writing into it (answer-read.ts). */
  private readonly answerRead = new AnswerRead(process.env['XDPWG_ANSWER_READ'] !== '0');
  /** After a burst that moved packets, how long the next wait spins first (spin.ts). */
  private spin = 0;
  /** Gives this thread's spare memory back once it has gone quiet (src/native/idle-memory.ts). */
  private readonly idleMemory: IdleMemoryRelease;
  /** WorkerPool.posted (word 0: main's count of messages posted; word 1 + worker: ours), and the count drained. */
  private readonly posted: Int32Array | null;
  private drained = 0;
  /**
   * TEST ONLY (test/netns/faults.test.ts): XDPWG_TEST_CRASH_WORKER_AFTER_MS=N makes worker 0
   * throw about N ms after it is given its first peer (checked once a second, off the packet path),
   * as a bug would, to prove the daemon exits non-zero instead of hanging. Counted from the first
   * peer, not from start: the test configures the daemon once its UAPI answers, and a start slower
   * than N ms must not let the crash come first (a full test run once saw that UAPI never answer; why
   * is not known). crashAfter is NaN and crashAt Infinity in production.
   */
  private readonly crashAfter: number;
  private crashAt = Infinity;

  constructor(init: WorkerInit) {
    const n = native();
    this.s = new WorkerState(n, init);
    this.receiver = new Receiver(this.s);
    this.sender = new Sender(this.s);
    this.waiter = new n.Waiter();
    const daemon = init.daemonActivity;
    this.idleMemory = new IdleMemoryRelease(
      () => {
        // Between bursts the worker holds no frames once its empty TUN frames are back: the
        // socket port's pages can go too.
        this.s.emptyFrames.release();
        this.s.udp.native.releaseIdle();
        n.releaseIdleMemory();
      },
      Date.now(),
      daemon && new DaemonActivity(daemon.buffer, daemon.baseMs, 1 + init.worker),
    );
    this.wakeBit = 1 << n.WAITER_WAKE_BIT;
    // One socket is shared by every worker: only worker 0 receives from it, so a datagram
    // does not wake every thread (the others only send on it).
    if (init.worker === 0) this.fds[0] = this.s.udp.fd;
    this.fds[1] = this.s.tun.fd;
    this.epoch = new WorkerEpoch(init.keyEpochs, init.worker);
    this.posted = init.posted ? new Int32Array(init.posted) : null;
    this.crashAfter = init.worker === 0 ? Number(process.env.XDPWG_TEST_CRASH_WORKER_AFTER_MS) : NaN;
  }

  /** Runs the loop until stopped or fatal; the worker's ports and TUN queue close with it, however it ends. */
  run(): void {
    try {
      this.loop();
    } finally {
      this.epoch.idle();
      for (const x of this.s.xsks) x.port.close();
      this.s.udp.close();
      this.s.tun.close();
      this.waiter.close();
    }
  }

  private loop(): void {
    const s = this.s,
      init = s.init;
    if (init.cpus.length) s.n.setThreadAffinity(init.cpus);
    // Named for ps -T and top -H, and so that thread-roles.ts's lowering of the runtime's helpers
    // spares it.
    s.n.nameThread(workerThreadName(init.worker));
    s.post({ t: 'ready', worker: init.worker, path: 'udp', eventFd: this.waiter.eventFd });
    // One wait and what it woke for per call: V8 optimizes a function by how much of it has run,
    // and this loop, entered once, would otherwise stay in its baseline tier on a quiet tunnel.
    while (!s.stopping) if (!this.iterate()) return;
  }

  /** One wait and the work it found; false when the loop must end (fatal). */
  private iterate(): boolean {
    const s = this.s,
      init = s.init;
    // No key copy survives a loop iteration: idle while blocked, then announce the epoch before touching keypairs.
    this.epoch.idle();
    // Datagrams cut from a GRO message beyond the last burst wait in the port, unseen by poll.
    const udpMore = this.fds[0]! >= 0 && s.udp.rxPending > 0;
    const more = this.sender.tunMore || udpMore;
    // After a burst that moved packets, stay awake a moment for the next (spin.ts).
    const ready = this.waiter.wait(this.fds, 2 + s.xsks.length, more ? 0 : MAX_WAIT_MS, more ? 0 : this.spin);
    this.epoch.enter();
    // One clock read per wake, for every burst of it: a burst takes microseconds, and what the clock
    // stamps (last data sent/received, keypair ages) counts in milliseconds and seconds.
    const now = Date.now();
    if (ready < 0) {
      s.fatal(`wait failed (${ready})`);
      return false;
    }
    this.spin = spinAfter(ready, this.wakeBit, init.spinUs);
    // Messages are drained on the wake bit, and also whenever main posted since the last drain
    // (WorkerPool.posted): a message posted without a wake of its own (withWakesDeferred) is
    // applied before any packet read after this point.
    if (ready & this.wakeBit || (this.posted && Atomics.load(this.posted, 0) !== this.drained)) this.drainControl();
    if (s.stopping) return true;
    // Level-triggered: keep going while any side has work; the wait
    // returns at once when something is still readable.
    this.receiver.tunWritten = 0;
    if (ready & 1 || udpMore) this.receiver.readSocket(now);
    for (let i = 0; i < s.xsks.length; i++) if (ready & (4 << i)) this.receiver.readXsk(s.xsks[i]!, now);
    // What this wake wrote into the TUN may have been answered already (answer-read.ts).
    const answer = (ready & 2) === 0 && !this.sender.tunMore && this.receiver.tunWritten > 0 && this.answerRead.shouldTry();
    // TUN offload: segments of a super packet may wait in native state, unseen by poll.
    let tunForPeers = false;
    if (ready & 2 || this.sender.tunMore || answer) {
      if (!this.sender.send(now)) return false;
      if (answer) this.answerRead.found(this.sender.lastRead);
      tunForPeers = this.sender.forPeers;
    }
    // Activity: a control message, anything from the wire (a flood too: its memory goes back once it
    // ends), TUN packets bound for a peer. Not TUN packets that route nowhere: a fresh interface's
    // own IPv6 router solicitations (fe80:: to ff02::2, `tcpdump` on the interface), sent every few
    // seconds after it comes up, re-armed a quiet worker's release 3-4 s after a tunnel went quiet (idle RSS 82-84 MB instead
    // of 76 five seconds after the last ping, `bench:memory` on the NIC-like veth).
    if ((ready & ~2) !== 0 || udpMore || tunForPeers) this.idleMemory.active(now);
    if (now - this.lastStatsMs >= STATS_INTERVAL_MS) this.everySecond(now);
    return true;
  }

  /** Once a second (waits end at least that often): port counters to the main thread, and the test crash hook. */
  private everySecond(now: number): void {
    const s = this.s,
      init = s.init;
    this.lastStatsMs = now;
    s.post({
      t: 'port-stats',
      worker: init.worker,
      ports: [
        { path: 'udp', stats: s.udp.stats() },
        ...s.xsks.map((x) => ({ path: `af_xdp ${x.name} queue ${init.worker}`, stats: x.port.stats() })),
      ],
      cpuSeconds: s.n.threadCpuSeconds(),
      idleMemory: this.idleMemory.report(),
    });
    this.idleMemory.poll(now);
    if (now >= this.crashAt) throw new Error('test hook XDPWG_TEST_CRASH_WORKER_AFTER_MS: worker 0 crashes on purpose');
  }

  // ------------------------------------------------------------------ control

  private drainControl(): void {
    if (this.posted) {
      // Read before draining: every message counted up to here is in the port's queue already.
      this.drained = Atomics.load(this.posted, 0);
      Atomics.store(this.posted, 1 + this.s.init.worker, this.drained);
    }
    for (;;) {
      const m = receiveMessageOnPort(this.s.init.port);
      if (!m) return;
      this.apply(m.message as ToWorker);
    }
  }

  private peer(slot: number): PeerState {
    let p = this.s.peers[slot];
    if (!p) {
      // Filled up to the slot: an array written far past its end turns into a hash table,
      // and every packet looks its peer up here.
      const peers = this.s.peers;
      while (peers.length < slot) peers.push(undefined);
      p = peers[slot] = new PeerState();
      p.generation = this.s.generationOf(slot);
      p.seenRoam = this.s.roamed.version(slot);
    }
    return p;
  }

  /** A peer in the slot (a new generation: a new peer) or its new endpoint. */
  private setPeer(slot: number, generation: number | undefined, endpoint: Uint8Array | null): void {
    const s = this.s;
    if (this.crashAfter > 0 && this.crashAt === Infinity) this.crashAt = Date.now() + this.crashAfter;
    if (generation !== undefined && generation !== s.generationOf(slot)) {
      s.setGeneration(slot, generation);
      // The writer clears the new peer's counters (PeerCounterSlab): stray writes for the slot's
      // previous peer go too.
      s.counters.clear(slot);
      // A new peer without an endpoint needs no PeerState yet (WorkerState.peers).
      if (!endpoint && !s.peers[slot]) return;
    }
    const p = this.peer(slot);
    p.generation = s.generationOf(slot);
    p.endpoint = endpoint;
    // The main thread's word is newer than any move recorded before it.
    p.seenRoam = s.roamed.version(slot);
    p.outer = this.outerFor(p);
  }

  private removePeer(slot: number): void {
    const p = this.s.peers[slot];
    if (p) for (const kp of [p.current, p.previous, p.next]) if (kp) this.s.byIndex.delete(kp.localIndex);
    this.s.peers[slot] = undefined;
  }

  private apply(msg: ToWorker): void {
    switch (msg.t) {
      case 'peer':
        this.setPeer(msg.slot, msg.generation, msg.endpoint);
        return;
      case 'peer-remove':
        this.removePeer(msg.slot);
        return;
      case 'peers': {
        // PeerBatch: [op, slot, generation] triples, endpoint records in order.
        const { ops, endpoints } = msg;
        let e = 0;
        for (let i = 0; i + 2 < ops.length; i += 3) {
          const op = ops[i]!,
            slot = ops[i + 1]!;
          if (op === PeerBatchOp.remove) {
            this.removePeer(slot);
            continue;
          }
          let endpoint: Uint8Array | null = null;
          if (op === PeerBatchOp.peerWithEndpoint) {
            endpoint = endpoints.slice(e, e + ADDR_RECORD_SIZE);
            e += ADDR_RECORD_SIZE;
          }
          this.setPeer(slot, ops[i + 2]!, endpoint);
        }
        return;
      }
      case 'peer-tables': {
        // Between bursts nothing else writes this slab: copy it whole, then write only the new one.
        const next = new PeerCounterSlab(msg.counters);
        next.view.set(this.s.counters.view.subarray(0, Math.min(this.s.counters.view.length, next.view.length)));
        this.s.counters = next;
        this.s.post({ t: 'peer-tables-taken', worker: this.s.init.worker, counters: msg.counters });
        return;
      }
      case 'peer-route': {
        const p = this.peer(msg.slot);
        p.route = msg.route;
        p.outer = this.outerFor(p);
        return;
      }
      case 'allowed-ips':
        this.s.router.apply(msg.packed);
        return;
      case 'keypairs':
        this.peer(msg.slot).setKeypairs(msg, this.s.byIndex);
        return;
      case 'mtu':
        this.s.mtu = msg.mtu;
        return;
      case 'many':
        for (const m of msg.messages) this.apply(m);
        return;
      case 'listen-port':
        this.s.listenPort = msg.port;
        for (const p of this.s.peers) if (p) p.outer = this.outerFor(p);
        return;
      case 'udp-fd': {
        // Between bursts the worker holds no frames (once its empty TUN frames are back), so the
        // old port can go at once.
        this.s.emptyFrames.release();
        const next = this.s.openSocketPort(msg.fd);
        this.s.udp.close();
        this.s.udp = next;
        this.s.udpBuf = next.frames.bytes;
        if (this.s.init.worker === 0) this.fds[0] = next.fd;
        return;
      }
      case 'xsk-open':
        this.openXsk(msg.ifindex, msg.queues, msg.opts, msg.txPath);
        return;
      case 'xsk-close': {
        // Between bursts the worker holds no frames of the port (once its empty TUN frames are
        // back), so it can go at once.
        const i = this.s.xsks.findIndex((x) => x.ifindex === msg.ifindex);
        if (i < 0) return;
        this.s.emptyFrames.release();
        this.s.xsks[i]!.port.close();
        this.s.xsks.splice(i, 1);
        this.fds.fill(-1, 2);
        this.s.xsks.forEach((x, k) => {
          this.fds[2 + k] = x.port.native.pollFd;
        });
        return;
      }
      case 'capture':
        this.s.capture = msg.buffer ? new CaptureRing(msg.buffer, this.s.init.worker, msg.snaplen) : null;
        return;
      case 'stop':
        this.s.stopping = true;
        return;
    }
  }

  /** AF_XDP headers for a peer: only from a route made for its current endpoint (see routeServes). */
  private outerFor(p: PeerState): RouteHeaders | null {
    return p.route && p.endpoint && routeServes(p.route, p.endpoint) ? new RouteHeaders(p.route, this.s.listenPort) : null;
  }

  /** Opens this worker's AF_XDP port on a device and reports its fd (or why not) to the main thread. */
  private openXsk(ifindex: number, queues: number, opts: Omit<XskPortOptions, 'queue'>, txPath: TxPathSetting): void {
    const w = this.s.init.worker;
    if (this.s.xsks.some((x) => x.ifindex === ifindex)) return;
    if (w >= queues) {
      this.s.post({ t: 'xsk', worker: w, ifindex, fd: null, error: `${opts.ifname} has ${queues} queue(s), this is worker ${w}` });
      return;
    }
    if (this.s.xsks.length >= MAX_XSK_PORTS) {
      this.s.post({ t: 'xsk', worker: w, ifindex, fd: null, error: `at most ${MAX_XSK_PORTS} AF_XDP devices per worker` });
      return;
    }
    try {
      const port = new XdpPort(new this.s.n.XskPort({ ...opts, queue: w }), BURST_SIZE);
      const i = port.native.info();
      const x: XskState = { port, buf: port.frames.bytes, ifindex, name: opts.ifname, bulkMinRun: bulkMinRun(txPath, i.zeroCopy) };
      this.fds[2 + this.s.xsks.length] = port.native.pollFd;
      this.s.xsks.push(x);
      this.s.post({
        t: 'xsk',
        worker: w,
        ifindex,
        fd: port.fd,
        zeroCopy: i.zeroCopy,
        describe: `AF_XDP queue ${w}: ${i.mode} mode, ${i.zeroCopy ? 'zero-copy' : 'copy'}${i.busyPoll ? ', busy poll' : ''}, ${i.frameCount} × ${i.frameSize} B frames`,
      });
    } catch (err) {
      this.s.post({ t: 'xsk', worker: w, ifindex, fd: null, error: (err as Error).message });
    }
  }
}
