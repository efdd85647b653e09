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
import type { TxPathSetting } from './tx-path.js';

/** A UDP endpoint as the UDP port's 40-byte address record (see native/udp_port.h). */
export type AddrRecord = Uint8Array;

/** One keypair as a worker needs it: its shared state (keys, counters, window; src/protocol/keypair.ts) and two facts. */
export interface KeypairWire {
  shared: SharedArrayBuffer;
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
  /** Full replacement of the allowed-IPs table, packed (see packAllowedIps): one buffer, not 100k objects. */
  | { t: 'allowed-ips'; packed: Uint8Array }
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
  | { t: 'stop' };

export type FromWorker =
  | { t: 'ready'; worker: number; path: string; eventFd: number }
  /** A handshake message (types 1–3) for the main thread, with the address it came from. */
  | { t: 'handshake'; worker: number; data: Uint8Array; addr: AddrRecord }
  /** Outgoing packets for peers without a usable session, as [slot, generation, packet, …] of one burst: main queues them and starts handshakes. */
  | { t: 'stage'; items: Array<number | Uint8Array> }
  /** First data received on the responder's "next" keypair: it becomes current (whitepaper §5.4.6). */
  | { t: 'confirmed'; slot: number; generation: number; localIndex: number }
  /** An authenticated packet arrived from a new address: the endpoint roams (whitepaper §2.1). */
  | { t: 'endpoint'; slot: number; generation: number; addr: AddrRecord }
  /** The worker's port counters (CNDP lport_stats_t names), about once a second, one entry per port. */
  | { t: 'port-stats'; worker: number; ports: Array<{ path: string; stats: Record<string, number> }>; /** the worker thread's CPU time so far */ cpuSeconds?: number }
  /** The worker's AF_XDP port on a device: its fd for the XSKMAP, or why there is none. */
  | { t: 'xsk'; worker: number; ifindex: number; fd: number | null; error?: string; describe?: string; zeroCopy?: boolean }
  /** The worker cannot go on (TUN deleted, port failed). */
  | { t: 'fatal'; worker: number; reason: string };

/** Bytes per packed allowed-IPs entry: family (4|6), prefix bits, slot (u16 LE), 16 address bytes. */
export const ALLOWED_IP_ENTRY_SIZE = 20;

/** Packs [address bytes (4|16), bits, slot] entries into one buffer for a cheap postMessage. */
export function packAllowedIps(entries: Array<[Uint8Array, number, number]>): Uint8Array {
  const out = new Uint8Array(entries.length * ALLOWED_IP_ENTRY_SIZE);
  entries.forEach(([addr, bits, slot], i) => {
    const o = i * ALLOWED_IP_ENTRY_SIZE;
    out[o] = addr.length === 4 ? 4 : 6;
    out[o + 1] = bits;
    out[o + 2] = slot & 0xff;
    out[o + 3] = slot >> 8;
    out.set(addr, o + 4);
  });
  return out;
}
