/**
 * The device's handle on its data plane: the worker pool and the AF_XDP
 * paths. Device.create starts both after the device's parts exist (the
 * workers need the bound kernel socket); until then, and after close,
 * messages to the workers go nowhere and every traffic counter reads zero.
 *
 * Threading: main thread only.
 */
import type { WorkerPool } from '../../datapath/worker-pool.js';
import { AllowedIpsChanges, PeerBatch, type ToWorker } from '../../datapath/worker-messages.js';
import { readPeerTraffic, type PeerCounterSlab, type PeerTraffic } from '../../datapath/peer-counters.js';
import type { XdpPaths } from '../xdp/xdp-paths.js';

export class DataPlaneLink {
  pool: WorkerPool | undefined;
  xdp: XdpPaths | undefined;

  /** Peer changes held while batching (PeerBatch), and allowed-IPs changes not yet told (peer-set.ts). */
  private readonly peerBatch = new PeerBatch();
  readonly allowedChanges = new AllowedIpsChanges();
  private batching = 0;

  /**
   * Tells every worker (a structured-clone message; nothing before the
   * workers start). Peer changes held by a batch go first, so the workers
   * see every change in the order it was made.
   */
  broadcast(m: ToWorker): void {
    if (this.peerBatch.length > 0) this.flushPeers();
    this.pool?.broadcast(m);
  }

  /**
   * Runs fn with peer changes held and the workers' wakes held, then tells
   * the workers all of them: a few messages and one wake for a whole UAPI
   * apply chunk instead of two messages and a wake per peer. The
   * allowed-IPs changes go after the peer changes (a new peer exists
   * before routes name it; a removed one is gone before its routes go,
   * and packets routed to its slot meanwhile find no peer).
   */
  batch(fn: () => void): void {
    this.batching++;
    const run = (): void => {
      try {
        fn();
      } finally {
        if (--this.batching === 0) this.flush();
      }
    };
    if (this.pool) this.pool.withWakesHeld(run);
    else run();
  }

  /** Records a peer (new generation or new endpoint) for the workers: now, or at the end of the batch. */
  peer(slot: number, generation: number, endpoint: Uint8Array | null): void {
    if (this.batching === 0) {
      this.broadcast({ t: 'peer', slot, generation, endpoint });
      return;
    }
    this.peerBatch.peer(slot, generation, endpoint);
  }

  /** Records that the slot's peer is gone: now, or at the end of the batch. */
  removePeer(slot: number): void {
    if (this.batching === 0) {
      this.broadcast({ t: 'peer-remove', slot });
      return;
    }
    this.peerBatch.remove(slot);
  }

  /** Tells the workers the held peer changes, then the allowed-IPs changes; true when there were allowed-IPs changes. */
  flush(): boolean {
    if (this.peerBatch.length > 0) this.flushPeers();
    if (this.allowedChanges.length === 0) return false;
    const packed = this.allowedChanges.take();
    this.pool?.broadcast({ t: 'allowed-ips', packed });
    return true;
  }

  private flushPeers(): void {
    const m = this.peerBatch.take();
    this.pool?.broadcast(m);
  }

  /** Makes the workers' per-peer tables hold `slots` slots (they grow by doubling; WorkerPool). */
  ensurePeerCapacity(slots: number): void {
    this.pool?.ensurePeerCapacity(slots);
  }

  /** Zeroes a slot's counters for a new peer. */
  clearPeerSlot(slot: number): void {
    this.pool?.clearPeerSlot(slot);
  }

  /** The workers' per-peer counter slabs (one per worker; none before the start). */
  get peerSlabs(): readonly PeerCounterSlab[] {
    return this.pool?.peerSlabs ?? [];
  }

  /** One peer slot's traffic, summed over the workers. */
  traffic(slot: number): PeerTraffic {
    return readPeerTraffic(this.peerSlabs, slot);
  }

  /** Handshake messages the workers have queued for the main thread and it has not handled yet. */
  get handshakeBacklog(): number {
    return this.pool ? Atomics.load(this.pool.handshakeBacklog, 0) : 0;
  }

  /** Number of workers (0 before the start). */
  get workers(): number {
    return this.pool?.size ?? 0;
  }
}
