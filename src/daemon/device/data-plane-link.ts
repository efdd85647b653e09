/**
 * The device's handle on its data plane: the worker pool and the AF_XDP
 * paths. Device.create starts both after the device's parts exist (the
 * workers need the bound kernel socket); until then, and after close,
 * messages to the workers go nowhere and every traffic counter reads zero.
 *
 * Threading: main thread only.
 */
import type { WorkerPool } from '../../datapath/worker-pool.js';
import type { ToWorker } from '../../datapath/worker-messages.js';
import { readPeerTraffic, type PeerCounterSlab, type PeerTraffic } from '../../datapath/peer-counters.js';
import type { XdpPaths } from '../xdp/xdp-paths.js';

export class DataPlaneLink {
  pool: WorkerPool | undefined;
  xdp: XdpPaths | undefined;

  /** Tells every worker (a structured-clone message; nothing before the workers start). */
  broadcast(m: ToWorker): void {
    this.pool?.broadcast(m);
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
