/**
 * The messages between the main thread (control plane) and the data-plane
 * workers. Rare things travel as messages; per-packet state (send counters,
 * replay windows, traffic counters) lives in SharedArrayBuffers.
 *
 * main → worker goes through a MessagePort that the worker drains
 * synchronously (receiveMessageOnPort) after the main thread signals the
 * worker's eventfd, so a worker blocked in its native wait still sees it.
 * worker → main goes through parentPort (the main event loop).
 */
import type { XskPortOptions } from '../native/binding.js';
import { ADDR_RECORD_SIZE } from './addr-record.js';
import type { TxPathSetting } from './tx-path.js';
import type { IdleReleaseReport } from '../native/idle-memory.js';

/** A UDP endpoint as the UDP port's 40-byte address record (layout: src/native/addr-record-layout.ts). */
export type AddrRecord = Uint8Array;

/** One keypair as a worker needs it: its shared state (keys, counters, window; src/protocol/keypair.ts) and two facts. */
export interface KeypairWire {
  shared: SharedArrayBuffer;
  /** Keypair.serial: a worker keeps its DataKeypair for a keypair it already holds. */
  serial: number;
  /** Date.now() when the keypair was derived. */
  createdMs: number;
  isInitiator: boolean;
}

/** How a worker reaches a peer over AF_XDP: set by the main thread from route-get + neighbour (src/daemon/xdp/xdp-paths.ts). */
export interface PeerRoute {
  ifindex: number;
  family: 4 | 6;
  srcMac: Uint8Array;
  /** The next hop's MAC: the gateway's behind a router, else the peer's. */
  dstMac: Uint8Array;
  srcIp: Uint8Array;
  dstIp: Uint8Array;
  dstPort: number;
  /** The egress device's MTU: a bigger outer packet takes the kernel socket, which can fragment it. */
  mtu: number;
}

export type ToWorker =
  /**
   * A peer in a slot, or its new endpoint. `generation` tells apart the peers a slot held over
   * time: the worker stamps it on what it reports about the slot, so a report about a removed
   * peer cannot land on the next one (the device drops a report whose generation is not current).
   */
  /** A peer's endpoint; generation names a new peer in the slot (absent: the same peer, e.g. XdpPaths forgetting a gone local address). */
  | { t: 'peer'; slot: number; generation?: number; endpoint: AddrRecord | null }
  | { t: 'peer-remove'; slot: number }
  /**
   * Many peer changes of one apply in one message (PeerBatch): 'peer' (with a generation) and
   * 'peer-remove' in order, packed, so 100,000 peers are a few messages, not 200,000.
   */
  | { t: 'peers'; ops: Int32Array; endpoints: Uint8Array }
  /** Changes to the allowed-IPs table, packed and in order (AllowedIpsChanges): a worker applies them to its copy. */
  | { t: 'allowed-ips'; packed: Uint8Array }
  /** This worker's bigger per-peer counter slab: copy the old one into it and write only it from now on (PeerCounterSlab). */
  | { t: 'peer-tables'; counters: SharedArrayBuffer }
  | { t: 'keypairs'; slot: number; current: KeypairWire | null; previous: KeypairWire | null; next: KeypairWire | null }
  | { t: 'mtu'; mtu: number }
  /** The listen port changed: receive from this socket (the worker dups it) and drop the old one. */
  | { t: 'udp-fd'; fd: number }
  /** The peer's AF_XDP route, or null: its packets take the kernel socket. */
  | { t: 'peer-route'; slot: number; route: PeerRoute | null }
  /** Open an AF_XDP port on this device, on the queue numbered like the worker (if the device has it). */
  | { t: 'xsk-open'; ifindex: number; queues: number; opts: Omit<XskPortOptions, 'queue'>; txPath: TxPathSetting }
  /** Close this device's AF_XDP port (a shared UMEM whose anchor went away: src/daemon/xdp/uplink-share.ts). */
  | { t: 'xsk-close'; ifindex: number }
  /** Start (a buffer of captureBufferSize(workers) bytes: copy AF_XDP frames into this worker's ring) or stop (null) a capture. */
  | { t: 'capture'; buffer: SharedArrayBuffer | null; snaplen: number }
  /** The listen port (the source port of frames we build). */
  | { t: 'listen-port'; port: number }
  /** Several of the above, applied in order (WorkerPool.broadcast gathers those made while wakes are held). */
  | { t: 'many'; messages: ToWorker[] }
  | { t: 'stop' };

export type FromWorker =
  | { t: 'ready'; worker: number; path: string; eventFd: number }
  /** The worker took the slab of a 'peer-tables' message (the counters it holds are in it). */
  | { t: 'peer-tables-taken'; worker: number; counters: SharedArrayBuffer }
  /**
   * The handshake messages of one burst (what receive.ts sends): `data` holds them back to back,
   * lengths[k] bytes each; `addrs` their senders' address records (ADDR_RECORD_SIZE bytes each).
   */
  | { t: 'handshakes'; worker: number; data: Uint8Array; lengths: number[]; addrs: Uint8Array }
  /** Outgoing packets for peers without a usable session, as [slot, generation, packet, …] of one burst: main queues them and starts handshakes. */
  | { t: 'stage'; items: Array<number | Uint8Array> }
  /**
   * First data received on responders' "next" keypairs: each becomes current (whitepaper §5.4.6).
   * One message per burst, as [slot, generation, localIndex, …]: when many sessions confirm at
   * once, main rotates them all and tells the workers in one message and one wake.
   */
  | { t: 'confirmed'; items: number[] }
  /** An authenticated packet arrived from a new address: the endpoint roams (whitepaper §2.1). */
  | { t: 'endpoint'; slot: number; generation: number; addr: AddrRecord }
  /** The worker's port counters (CNDP lport_stats_t names), about once a second, one entry per port. */
  | {
      t: 'port-stats';
      worker: number;
      ports: Array<{ path: string; stats: Record<string, number> }>;
      /** the worker thread's CPU time so far */ cpuSeconds?: number;
      /** its idle releases (src/native/idle-memory.ts) */ idleMemory?: IdleReleaseReport;
    }
  /** The worker's AF_XDP port on a device: its fd for the XSKMAP, or why there is none. */
  | { t: 'xsk'; worker: number; ifindex: number; fd: number | null; error?: string; describe?: string; zeroCopy?: boolean }
  /** The worker cannot go on (TUN deleted, port failed). */
  | { t: 'fatal'; worker: number; reason: string };

/** Bytes per packed allowed-IPs change: op, family (4|6), prefix bits, pad, slot (u32 LE), 16 address bytes. */
export const ALLOWED_IP_ENTRY_SIZE = 24;

/** What a packed allowed-IPs change does (AllowedIpsChanges). */
export const enum AllowedIpsOp {
  /** Map the prefix to the slot (replacing its owner). */
  insert = 1,
  /** Remove the prefix, whoever owns it (the main thread already checked the owner). */
  remove = 2,
  /** Remove every prefix of the slot (no address). */
  removeSlot = 3,
}

/**
 * The allowed-IPs changes the main thread made since it last told the
 * workers, packed in order into one growing buffer for a cheap postMessage;
 * the workers replay them on their copies (PeerRouter.apply). A change is
 * recorded only once made on the main thread's table, so the copies stay
 * equal to it.
 */
export class AllowedIpsChanges {
  private buf = new Uint8Array(64 * ALLOWED_IP_ENTRY_SIZE);
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(op: AllowedIpsOp, slot: number, address?: Uint8Array, bits = 0): void {
    if ((this.count + 1) * ALLOWED_IP_ENTRY_SIZE > this.buf.length) {
      const bigger = new Uint8Array(this.buf.length * 2);
      bigger.set(this.buf);
      this.buf = bigger;
    }
    const o = this.count++ * ALLOWED_IP_ENTRY_SIZE;
    const b = this.buf;
    b[o] = op;
    b[o + 1] = address && address.length === 4 ? 4 : 6;
    b[o + 2] = bits;
    b[o + 4] = slot & 0xff;
    b[o + 5] = (slot >>> 8) & 0xff;
    b[o + 6] = (slot >>> 16) & 0xff;
    b[o + 7] = (slot >>> 24) & 0xff;
    if (address) b.set(address, o + 8);
  }

  /** The changes so far, packed (a copy), and forgets them. */
  take(): Uint8Array {
    const out = this.buf.slice(0, this.count * ALLOWED_IP_ENTRY_SIZE);
    this.count = 0;
    if (this.buf.length > 1 << 20) this.buf = new Uint8Array(64 * ALLOWED_IP_ENTRY_SIZE);
    return out;
  }
}

/** Packs [address bytes (4|16), bits, slot] entries as insert changes (a whole table, for tests and tools). */
export function packAllowedIps(entries: Array<[Uint8Array, number, number]>): Uint8Array {
  const c = new AllowedIpsChanges();
  for (const [addr, bits, slot] of entries) c.push(AllowedIpsOp.insert, slot, addr, bits);
  return c.take();
}

/** What a PeerBatch op does. */
export const enum PeerBatchOp {
  /** A peer (new or the same) in the slot, no endpoint known. */
  peer = 1,
  /** A peer in the slot with the next endpoint record of the batch. */
  peerWithEndpoint = 2,
  /** The slot's peer is gone. */
  remove = 3,
}

/**
 * 'peer' and 'peer-remove' changes of one apply, packed in order as
 * [op, slot, generation] triples plus the endpoint records of the ops that
 * carry one; one message per flush instead of one per peer per worker.
 */
export class PeerBatch {
  private ops: number[] = [];
  private endpoints: Uint8Array[] = [];

  get length(): number {
    return this.ops.length / 3;
  }

  peer(slot: number, generation: number, endpoint: Uint8Array | null): void {
    this.ops.push(endpoint ? PeerBatchOp.peerWithEndpoint : PeerBatchOp.peer, slot, generation);
    if (endpoint) this.endpoints.push(endpoint);
  }

  remove(slot: number): void {
    this.ops.push(PeerBatchOp.remove, slot, 0);
  }

  /** The message for the batch so far, and forgets it. */
  take(): Extract<ToWorker, { t: 'peers' }> {
    const ops = Int32Array.from(this.ops);
    const endpoints = new Uint8Array(this.endpoints.length * ADDR_RECORD_SIZE);
    this.endpoints.forEach((e, i) => endpoints.set(e.subarray(0, ADDR_RECORD_SIZE), i * ADDR_RECORD_SIZE));
    this.ops = [];
    this.endpoints = [];
    return { t: 'peers', ops, endpoints };
  }
}
