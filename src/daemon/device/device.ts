/**
 * The device: the control plane of one WireGuard interface (main thread).
 * This file assembles its parts and runs them:
 *
 *   peer-set.ts          the peers, their slots, allowed IPs and endpoints
 *   handshake-path.ts    identity, handshake messages in and out, keypairs
 *   main-thread-send.ts  staged packets and keepalives sent by the main thread
 *   kernel-socket.ts     the kernel UDP socket on the listen port
 *   data-plane-link.ts   the worker pool and AF_XDP paths, as the parts reach them
 *   uapi/apply.ts        the UAPI get/set applied to those parts (uapi/: the UAPI)
 *   device-stats.ts      what `xdpwg stats` shows
 *
 * and owns the rest: starting and stopping the workers, what they report
 * (worker-messages.ts FromWorker), the timer tick (whitepaper §6), the
 * TUN's MTU, and `xdpwg capture`.
 *
 * Threading: main thread only.
 */
import { TunMtuWatch } from './tun-mtu.js';
import { KeyRetirement } from '../../protocol/key-retirement.js';
import { systemClock, type Clock } from '../../protocol/clock.js';
import { HANDSHAKE_QUEUE_CAPACITY } from '../../protocol/constants.js';
import { DataTransport } from '../../protocol/transport.js';
import { dataAeadBackend } from '../../crypto/aead-burst.js';
import { startCryptoCrew, stopCryptoCrew } from '../../crypto/crypto-crew.js';
import { native, type TunQueueSpec } from '../../native/binding.js';
import { DaemonActivity, IdleMemoryRelease } from '../../native/idle-memory.js';
import { WorkerPool } from '../../datapath/worker-pool.js';
import type { FromWorker } from '../../datapath/worker-messages.js';
import type { DeviceControl, DeviceSnapshot, UapiSetOp } from '../config/device-config.js';
import type { Logger } from '../log.js';
import type { DatapathConfig } from '../config/datapath-config.js';
import { XdpPaths } from '../xdp/xdp-paths.js';
import { applyTrafficStamps } from './traffic-events.js';
import type { XdpSteering } from '../xdp/xdp-steering.js';
import { CaptureSession } from '../observe/capture-session.js';
import { DataPlaneLink } from './data-plane-link.js';
import { KernelUdpSocket } from './kernel-socket.js';
import { MainThreadSend } from './main-thread-send.js';
import { HandshakePath } from '../handshake/handshake-path.js';
import { PeerSet, MAX_PEERS } from './peer-set.js';
import { UapiApply } from '../uapi/apply.js';
import { DeviceStatsBook, type DeviceStats } from '../observe/device-stats.js';
import type { Peer } from './peer.js';
import { TimerQueue } from './timer-queue.js';
import { FRAME_HEADROOM } from '../../native/frames.js';
import { ADDR_RECORD_SIZE } from '../../datapath/addr-record.js';

const TICK_MS = 100;
/** How often (in ticks) peers' routes and neighbours are re-read. */
const ROUTE_CHECK_TICKS = 10;
/** UDP frames of 64 KiB + headroom let any TUN MTU up to 65535 through the socket path. */
const FRAME_SIZE = 65536 + FRAME_HEADROOM;
const FRAME_COUNT = 256;

export interface DeviceOptions {
  ifname: string;
  /** The TUN queues, one worker each (tunQueueSpecs). */
  tunQueues: TunQueueSpec[];
  log: Logger;
  datapath: DatapathConfig;
  clock?: Clock;
  /** Our XDP filter (default) or the AF_XDP device plugin's maps (src/daemon/xdp/xdp-steering.ts). */
  steering?: XdpSteering;
  /** Told how many leading workers can send on AF_XDP everywhere (0: all); see XdpPaths. */
  onSendingWorkers?: (n: number) => void;
}

export class Device implements DeviceControl {
  onFatal: (reason: string) => void = () => {};
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly link = new DataPlaneLink();
  private readonly socket: KernelUdpSocket;
  private readonly peers: PeerSet;
  private readonly send: MainThreadSend;
  private readonly handshakes: HandshakePath;
  private readonly uapi: UapiApply;
  private readonly stats: DeviceStatsBook;
  /** Zeroes retired keys once no worker can be reading them (src/protocol/key-retirement.ts). */
  private readonly retirement: KeyRetirement;
  private ticker: NodeJS.Timeout | undefined;
  /** Slots with traffic since the last route refresh (XdpPaths.refresh re-reads their routes). */
  private readonly activeSlots = new Set<number>();
  /** Every peer's timers by deadline: the tick visits only the due ones. */
  private readonly timerQueue = new TimerQueue();
  private ticks = 0;
  /** Gives the main thread's spare memory back once the device has gone quiet (native/idle-memory.ts). */
  private readonly idleMemory: IdleMemoryRelease;
  /** When each of the daemon's threads last had activity: a release waits for all to be quiet. */
  private readonly daemonActivity: DaemonActivity;
  /** A worker touched some peer's slot since the last tick (visitSlot). */
  private trafficSeen = false;
  /** The TUN's MTU, from link events (tun-mtu.ts). */
  private readonly mtuWatch: TunMtuWatch;
  private closed = false;
  /** The running `xdpwg capture`, if any. */
  private capture: CaptureSession | undefined;

  private constructor(private readonly opts: DeviceOptions) {
    this.clock = opts.clock ?? systemClock;
    this.daemonActivity = DaemonActivity.create(1 + opts.tunQueues.length);
    this.idleMemory = new IdleMemoryRelease(() => native().releaseIdleMemory(), this.clock.now(), this.daemonActivity);
    this.log = opts.log;
    this.retirement = new KeyRetirement(opts.tunQueues.length);
    const aead = dataAeadBackend(opts.datapath.crypto);
    this.log.verbose(`data-path AEAD: ${aead.backend.name} (${aead.reason})`);
    const crew = startCryptoCrew(opts.datapath.cryptoCrew, aead.backend.name, opts.datapath.cryptoCrewMinBurst);
    this.log.verbose(`crypto crew: ${crew.threads} thread(s) (${crew.reason})`);
    this.socket = new KernelUdpSocket(this.log);
    this.mtuWatch = new TunMtuWatch(opts.ifname);
    this.peers = new PeerSet(this.link);
    this.send = new MainThreadSend(this.socket, new DataTransport(aead.backend), this.clock, () => this.handshakes.identity !== undefined);
    this.send.mtu = this.mtuWatch.mtu;
    this.handshakes = new HandshakePath({
      clock: this.clock,
      log: this.log,
      peers: this.peers,
      socket: this.socket,
      send: this.send,
      link: this.link,
      retirement: this.retirement,
    });
    this.handshakes.scheduler = this.timerQueue;
    this.uapi = new UapiApply({
      log: this.log,
      socket: this.socket,
      peers: this.peers,
      handshakes: this.handshakes,
      link: this.link,
      listen: (port) => this.listen(port),
    });
    this.stats = new DeviceStatsBook({
      ifname: opts.ifname,
      listenPort: () => this.socket.port,
      link: this.link,
      peers: this.peers,
      handshakes: this.handshakes,
      mainIdleMemory: () => this.idleMemory.report(),
    });
  }

  /** Creates the device, binds a UDP port (random until listen_port is set) and starts the workers. */
  static async create(opts: DeviceOptions): Promise<Device> {
    const d = new Device(opts);
    d.listen(0);
    d.link.xdp = new XdpPaths(
      opts.datapath,
      opts.tunQueues.length,
      d.log,
      (m) => d.link.broadcast(m),
      opts.steering,
      opts.onSendingWorkers,
    );
    d.link.pool = await WorkerPool.start({
      tunQueues: opts.tunQueues,
      udpFd: d.socket.fd,
      mtu: d.mtuWatch.mtu,
      maxPeers: MAX_PEERS,
      frameSize: FRAME_SIZE,
      frameCount: FRAME_COUNT,
      handshakeBacklogMax: HANDSHAKE_QUEUE_CAPACITY,
      keyEpochs: d.retirement.buffer,
      cookieSecret: d.handshakes.cookieSecret.buffer,
      crypto: opts.datapath.crypto,
      cpus: opts.datapath.cpus === 'auto' ? [] : opts.datapath.cpus,
      spinUs: opts.datapath.spinUs,
      daemonActivity: { buffer: d.daemonActivity.buffer, baseMs: d.daemonActivity.baseMs },
      onMessage: (m) => d.fromWorker(m),
      onExit: (_worker, reason) => d.onFatal(`data path ${reason}; exiting so the service manager restarts us`),
    });
    try {
      await d.handshakes.startCrypto();
    } catch (err) {
      await d.close();
      throw err;
    }
    d.link.broadcast({ t: 'listen-port', port: d.socket.port });
    d.link.xdp.setListenPort(d.socket.port, d.socket.fd);
    d.ticker = setInterval(() => d.tick(), TICK_MS);
    d.ticker.unref();
    return d;
  }

  get name(): string {
    return this.opts.ifname;
  }

  /** Binds the kernel socket on `port` (0: any); a rebind moves the workers and the AF_XDP filter to it. */
  private listen(port: number): void {
    if (!this.socket.bind(port)) return;
    this.link.broadcast({ t: 'udp-fd', fd: this.socket.fd });
    this.link.broadcast({ t: 'listen-port', port: this.socket.port });
    this.link.xdp?.setListenPort(this.socket.port, this.socket.fd);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    this.mtuWatch.close();
    // Detached before it stops: the peers removed below have no worker to tell (a wake per
    // removed peer made a daemon with 1,000,000 peers take ~9 s to exit).
    const pool = this.link.pool;
    this.link.pool = undefined;
    await pool?.stop();
    await this.handshakes.stopCrypto();
    this.link.xdp?.close();
    for (const p of this.peers.values()) this.uapi.removePeer(p);
    stopCryptoCrew(); // after the workers: no burst is in flight
    this.retirement.zeroAllAfterWorkersStopped();
    this.socket.close();
  }

  // ------------------------------------------------------------------ UAPI (uapi/apply.ts)

  getSnapshot(): DeviceSnapshot {
    return this.uapi.getSnapshot();
  }

  captureForGet(): DeviceSnapshot {
    return this.uapi.captureForGet();
  }

  captureForGetInTurns(): Promise<DeviceSnapshot> {
    return this.uapi.captureForGetInTurns(undefined, () => this.uapiActive());
  }

  /**
   * A get being answered is activity: without it the idle release (a full
   * compacting collection, ~0.7 s of this thread at 1,000,000 peers) fell
   * in the middle of the `wg show dump` that follows a big `wg setconf`,
   * 3 s after the set's last chunk.
   */
  uapiActive(): void {
    this.idleMemory.active(this.clock.now());
  }

  applySet(ops: UapiSetOp[]): void {
    this.idleMemory.active(this.clock.now());
    this.uapi.applySet(ops);
  }

  applySetChunked(ops: UapiSetOp[]): Promise<void> {
    this.idleMemory.active(this.clock.now());
    return this.uapi.applySetChunked(ops);
  }

  // ------------------------------------------------------------------ messages from workers

  private fromWorker(m: FromWorker): void {
    // The workers' once-a-second counters are not activity; everything else they send is.
    if (m.t !== 'port-stats') this.idleMemory.active(this.clock.now());
    switch (m.t) {
      case 'handshakes': {
        // Views into the burst's buffers: the handshake path copies what it keeps past its answer.
        let at = 0;
        for (let k = 0; k < m.lengths.length; k++) {
          const len = m.lengths[k]!;
          this.handshakes.receive(m.data.subarray(at, at + len), m.addrs.subarray(k * ADDR_RECORD_SIZE, (k + 1) * ADDR_RECORD_SIZE));
          at += len;
        }
        return;
      }
      case 'stage': {
        const touched = new Set<Peer>();
        for (let i = 0; i + 2 < m.items.length; i += 3) {
          const peer = this.peers.peerOf(m.items[i] as number, m.items[i + 1] as number);
          if (!peer) continue;
          peer.staged.push(m.items[i + 2] as Uint8Array);
          touched.add(peer);
        }
        for (const peer of touched) {
          // A session may have formed between the worker's look and now.
          if (peer.keypairs.sendable(this.clock.now())) this.send.flushStaged(peer);
          else peer.timers.requestHandshake();
        }
        return;
      }
      case 'confirmed': {
        // One rotation message and one wake per worker for the whole burst (DataPlaneLink.batch):
        // a thousand sessions confirming at once, each told on its own, stalled the workers'
        // receive long enough to overflow their AF_XDP rings.
        const items = m.items;
        this.link.batch(() => {
          for (let i = 0; i + 2 < items.length; i += 3) {
            const peer = this.peers.peerOf(items[i]!, items[i + 1]!);
            if (peer) this.handshakes.confirmed(peer, items[i + 2]!);
          }
        });
        return;
      }
      case 'endpoint': {
        const peer = this.peers.peerOf(m.slot, m.generation);
        if (peer) this.peers.setEndpoint(peer, m.addr);
        return;
      }
      case 'xsk':
        this.link.xdp?.workerPort(m.worker, m.ifindex, m.fd, m.error, m.describe, m.zeroCopy);
        return;
      case 'port-stats':
        this.stats.record(m);
        return;
      case 'fatal':
        this.onFatal(m.reason);
        return;
      case 'ready':
        return;
    }
  }

  // ------------------------------------------------------------------ timers (whitepaper §6)

  /**
   * Every TICK_MS: turn the traffic stamps of the slots the workers touched
   * into timer events (SlotActivity), then fire the timers that are due
   * (TimerQueue). The cost follows the activity, not the peer count.
   */
  private tick(): void {
    const pool = this.link.pool;
    if (pool) for (const a of pool.activity) a.drain(this.visitSlot);
    const now = this.clock.now();
    // Initiations with the crypto crew count as activity: the memory a flood
    // used is given back by the release once it is over.
    if (this.trafficSeen || this.handshakes.cryptoBusy) {
      this.trafficSeen = false;
      this.idleMemory.active(now);
    }
    this.timerQueue.runDue(now);
    this.peers.publishAllowedIpsIfChanged();
    this.retirement.reap();
    // Every tick: a bigger MTU must switch the workers to big frames before big packets come.
    this.followMtu();
    if (++this.ticks % ROUTE_CHECK_TICKS === 0) {
      // Routes and neighbours change under us (gateway MAC, roaming): re-read them.
      this.link.xdp?.refresh((slot) => this.link.traffic(slot), Date.now(), this.activeSlots);
      this.activeSlots.clear();
    }
    this.idleMemory.poll(now);
  }

  /** A slot a worker touched: its traffic stamps become timer events (one function, made once). */
  private readonly visitSlot = (slot: number): void => {
    const peer = this.peers.atSlot(slot);
    this.activeSlots.add(slot);
    this.trafficSeen = true;
    if (peer) applyTrafficStamps(peer, this.link.traffic(slot), peer.timers, peer.keypairs.current);
  };

  /** A new TUN MTU goes to the workers and the main thread's sender at once (tun-mtu.ts). */
  private followMtu(): void {
    const mtu = this.mtuWatch.poll();
    if (mtu === null) return;
    this.send.mtu = mtu;
    this.link.broadcast({ t: 'mtu', mtu });
  }

  // ------------------------------------------------------------------ observing

  /**
   * Starts copying the AF_XDP path's frames (both directions) for `xdpwg
   * capture`; one capture at a time. The caller drains the session and
   * closes it.
   */
  openCapture(snaplen: number): CaptureSession {
    const pool = this.link.pool;
    if (!pool) throw new Error('capture: the data plane is not running');
    if (this.capture) throw new Error('capture: another capture is running on this interface');
    const session = new CaptureSession(
      pool.size,
      snaplen,
      (m) => this.link.broadcast(m),
      (lost) => {
        if (lost > 0) this.log.error(`capture: ${lost} frame(s) not captured (the reader fell behind)`);
        if (this.capture === session) this.capture = undefined;
      },
    );
    this.capture = session;
    return session;
  }

  /** What `xdpwg stats` shows (device-stats.ts). */
  statsSnapshot(): DeviceStats {
    return this.stats.snapshot();
  }
}
