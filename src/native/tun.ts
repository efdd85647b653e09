/**
 * TUN devices and queues (native/tun.cc, tun_queue.cc): IFF_TUN | IFF_NO_PI, multi-queue, one
 * non-blocking fd per worker, burst reads and writes into port frames.
 *
 * Offloads (openTun(..., { offload: true }), or an adopted fd opened with
 * IFF_VNET_HDR): the kernel hands us TCP/UDP super packets of up to 64 KiB
 * (TSO/USO) and takes coalesced ones (GRO), each behind a virtio_net_hdr.
 * The burst calls keep their contract: reads still yield one complete IP
 * packet per frame (super packets are cut natively, checksums completed,
 * segments that find no frame wait for the next call) and writes still take
 * one packet per descriptor (consecutive segments of a TCP flow, or
 * consecutive equal-sized datagrams of a UDP flow, go out as one write: a
 * GSO_TCPV4/6 or GSO_UDP_L4 super packet the kernel cuts back into the
 * packets as they were). XDPWG_TUN_UDP_COALESCE=0 in the environment, read
 * once when the addon loads, writes UDP one datagram per write() as before.
 * native/tun_offload.cc holds the packet logic.
 *
 * Each queue is read and written through a TunQueue (openTunQueue), which
 * holds that queue's offload state; a worker makes its own from the
 * TunQueueSpec in its init message (tunQueueSpecs).
 *
 * A read lands where the caller says (normally frameStart + headroom, so the
 * outer headers are written in place in front of it) — see
 * NativeTunQueue.readBurst in binding.ts for the descriptor convention.
 *
 * Deleted device: once the interface is deleted (ip link del, or the
 * namespace goes away) its queues are dead. A Waiter reports them readable
 * (poll says POLLERR), and readBurst/writeBurst then return a negative
 * errno, normally -EBADFD (77). isDeadQueue() tells that apart from 0 = "no
 * packets now".
 *
 * Fds are process-wide numbers owned by whoever opened them (a TunQueue
 * borrows one); the device disappears when its last queue is closed.
 */
import { closeSync } from 'node:fs';
import { constants } from 'node:os';
import { native, type NativeTunQueue, type TunOffloadStats, type TunQueueSet, type TunQueueSpec } from './binding.js';

/** Most packets one burst call moves (the addon's TUN_MAX_BURST). */
export const TUN_MAX_BURST = 256;

/** Options of openTun beyond name and queue count. */
export interface TunOpenOptions {
  /**
   * IFF_VNET_HDR with checksum, TSO and (kernel permitting) USO offloads.
   * The flag belongs to the device: every queue of one device must agree.
   */
  offload?: boolean;
}

/** Opens TUN `name` with `queues` fds (or adds queues to an existing multi-queue device). */
export function openTun(name: string, queues = 1, multiQueue = true, opts: TunOpenOptions = {}): TunQueueSet {
  if (typeof name !== 'string' || name.length > 15 || /[\s/]/.test(name)) {
    throw new TypeError(`tun: name must be an interface name of at most 15 characters, got ${JSON.stringify(name)}`);
  }
  if (!Number.isInteger(queues) || queues < 1 || queues > 256) throw new RangeError(`tun: queues must be 1..256, got ${queues}`);
  if (!multiQueue && queues !== 1) throw new RangeError('tun: more than one queue needs multiQueue');
  return native().tunOpen({ name, queues, multiQueue, offload: opts.offload === true });
}

/**
 * Adopts a TUN fd handed down by a parent (WG_TUN_FD), as wireguard-go does.
 * An fd opened with IFF_VNET_HDR is used with offloads (vnetHdr true).
 */
export function adoptTun(fd: number): TunQueueSet {
  if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`tun: fd must be a non-negative integer, got ${fd}`);
  return native().tunAdopt(fd);
}

/** Closes every queue of a set (the device goes away with the last one). */
export function closeTun(set: TunQueueSet): void {
  for (const fd of set.fds.splice(0)) {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
  }
}

/** One spec per queue of a set, in queue order: what each worker gets to make its TunQueue. */
export function tunQueueSpecs(set: TunQueueSet): TunQueueSpec[] {
  return set.fds.map((fd, queue) => ({ fd, vnetHdr: set.vnetHdr, udpGso: set.udpGso, writerMapFd: set.writerMapFd ?? -1, queue }));
}

/**
 * The burst interface of one queue (in the calling thread). Throws when the
 * fd is not a TUN queue or its IFF_VNET_HDR disagrees with spec.vnetHdr.
 */
export function openTunQueue(spec: TunQueueSpec): NativeTunQueue {
  if (!Number.isInteger(spec.fd) || spec.fd < 0) throw new RangeError(`tun: fd must be a non-negative integer, got ${spec.fd}`);
  return new (native().TunQueue)(spec);
}

/**
 * Linux EBADFD ("file descriptor in bad state"): what a queue of a deleted
 * TUN device returns. node's os.constants.errno does not list it.
 */
export const EBADFD = 77;

/** True when a burst result means the queue is dead (device deleted or fd closed). */
export function isDeadQueue(result: number): boolean {
  return result < 0;
}

/** 'EBADFD' etc. for a negative burst result (logging). */
export function burstErrorName(result: number): string {
  const e = -result;
  if (e === EBADFD) return 'EBADFD';
  for (const [name, v] of Object.entries(constants.errno)) if (v === e) return name;
  return `errno ${e}`;
}

/**
 * Counters of the offload path, process-wide (every TunQueue of every thread
 * adds to them): super packets cut on read, packets coalesced on write
 * (writeUdp*: the UDP share of the write counters).
 */
export function tunOffloadStats(): TunOffloadStats {
  return native().tunOffloadStats();
}

/**
 * The offload read path on memory: `input` is what one read() returned
 * (virtio_net_hdr, then the packet); fills frames per desc like
 * TunQueue.readBurst. Returns segments written, -1 refused, -2 too few frames.
 */
export function tunOffloadSplit(input: Uint8Array, buffer: ArrayBuffer, desc: Uint32Array, max: number): number {
  return native().tunOffloadSplit(input, buffer, desc, max);
}

/**
 * The offload write path on memory: lays out in `out` each write() that
 * TunQueue.writeBurst would make for the burst (outDesc: offset, length; groups:
 * how many of the burst's packets each carries). Returns the write count.
 */
export function tunOffloadCoalesce(
  buffer: ArrayBuffer,
  desc: Uint32Array,
  n: number,
  out: ArrayBuffer,
  outDesc: Uint32Array,
  groups: Uint32Array,
): number {
  return native().tunOffloadCoalesce(buffer, desc, n, out, outDesc, groups);
}

/** Bytes of the virtio_net_hdr in front of each packet on an offload queue. */
export const VNET_HDR_LEN = 10;
