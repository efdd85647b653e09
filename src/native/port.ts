/**
 * Port: one burst interface over both packet paths (docs/DESIGN.md "port").
 *
 *  - 'af_xdp': an XskPort. Buffers hold whole Ethernet frames; there is no
 *    address array (the addresses are in the frame).
 *  - 'udp':    a UdpPort (kernel socket, recvmmsg/sendmmsg). Buffers hold
 *    UDP payloads; every packet has a 40-byte address record in `addr`
 *    (layout in src/native/binding.ts), filled by rxBurst, read by txBurst.
 *
 * Threading: a Port belongs to the thread that opened it.
 */
import type { NativeUdpPort, NativeUdpPortOptions, NativeXskPort, PortStats, XskPortOptions } from './binding.js';
import { native } from './binding.js';
import { FrameViews, BURST_SIZE } from './frames.js';
import { describeXskPort, openXskPort } from './xsk-port.js';

/** Bytes per address record of a UDP port burst. */
import { UDP_ADDR_RECORD_SIZE as ADDR_RECORD_SIZE } from './udp-port.js';
export { ADDR_RECORD_SIZE };

/** The common burst interface. */
export interface Port {
  readonly kind: 'af_xdp' | 'udp';
  /** Views over the packet buffer. */
  readonly frames: FrameViews;
  readonly fd: number;
  /** Address records for the last rx burst / the next tx burst (udp only; null for af_xdp). */
  readonly addr: Uint8Array | null;
  /** Most packets per burst this port's desc/addr arrays were sized for. */
  readonly burst: number;
  rxBurst(desc: Uint32Array, max: number): number;
  txBurst(desc: Uint32Array, n: number): number;
  allocFrames(out: Uint32Array, n: number): number;
  freeFrames(offsets: Uint32Array, n: number): void;
  stats(): PortStats;
  describe(): string;
  close(): void;
}

/** A Port over an AF_XDP socket. */
export class XdpPort implements Port {
  readonly kind = 'af_xdp' as const;
  readonly frames: FrameViews;
  readonly addr = null;
  constructor(
    readonly native: NativeXskPort,
    readonly burst = BURST_SIZE,
  ) {
    this.frames = new FrameViews(native.umem, native.frameSize, native.headroom);
  }
  /** Opens an XskPort on (ifname, queue). */
  static open(opts: XskPortOptions, burst = BURST_SIZE): XdpPort {
    return new XdpPort(openXskPort(opts), burst);
  }
  get fd(): number {
    return this.native.fd;
  }
  rxBurst(desc: Uint32Array, max: number): number {
    return this.native.rxBurst(desc, max);
  }
  txBurst(desc: Uint32Array, n: number): number {
    return this.native.txBurst(desc, n);
  }
  allocFrames(out: Uint32Array, n: number): number {
    return this.native.allocFrames(out, n);
  }
  freeFrames(offsets: Uint32Array, n: number): void {
    this.native.freeFrames(offsets, n);
  }
  /** Blocks up to timeoutMs for received packets (when no Waiter is used). */
  poll(timeoutMs: number): boolean {
    return this.native.poll(timeoutMs);
  }
  stats(): PortStats {
    return this.native.stats();
  }
  describe(): string {
    return describeXskPort(this.native);
  }
  close(): void {
    this.native.close();
  }
}

/** A Port over a kernel UDP socket; `addr` carries one record per packet. */
export class SocketPort implements Port {
  readonly kind = 'udp' as const;
  readonly frames: FrameViews;
  readonly addr: Uint8Array;
  constructor(
    readonly native: NativeUdpPort,
    readonly burst = BURST_SIZE,
  ) {
    this.frames = new FrameViews(native.buffer, native.frameSize, native.headroom);
    this.addr = new Uint8Array(burst * ADDR_RECORD_SIZE);
  }
  /** Opens a UdpPort; throws a clear Error when the addon has none yet. */
  static open(opts: NativeUdpPortOptions, burst = BURST_SIZE): SocketPort {
    return new SocketPort(new (native().UdpPort)(opts), burst);
  }
  get fd(): number {
    return this.native.fd;
  }
  /** The bound UDP port. */
  get port(): number {
    return this.native.port;
  }
  rxBurst(desc: Uint32Array, max: number): number {
    const m = Math.min(max, this.burst);
    const got = this.native.rxBurst(desc, this.addr, m);
    // Datagrams cut from a GRO message wait in the port only when they did not fit the burst
    // (native/udp_gro.cc): after a burst that was not full, none wait.
    this.fullBurst = got > 0 && got === m;
    return got;
  }
  /** Whether the last rxBurst filled its burst: only then can datagrams be waiting (rxPending). */
  private fullBurst = false;
  /**
   * Datagrams already received (cut from a GRO message) that the next rxBurst returns: the fd's poll does not show them.
   * Asked of the addon only after a full burst: a worker reads this on every wait, and a native call per
   * wait is glue a one-packet wake pays for nothing (`perf` of an idle ping).
   */
  get rxPending(): number {
    return this.fullBurst ? this.native.rxPending : 0;
  }
  txBurst(desc: Uint32Array, n: number): number {
    return this.native.txBurst(desc, this.addr, Math.min(n, this.burst));
  }
  /** Datagrams in another buffer (an AF_XDP UMEM), with their own address records: sent in the call, nothing to free here. */
  txBurstFrom(src: Uint8Array, desc: Uint32Array, addr: Uint8Array, n: number): number {
    return this.native.txBurstFrom(src, desc, addr, Math.min(n, this.burst));
  }
  allocFrames(out: Uint32Array, n: number): number {
    return this.native.allocFrames(out, n);
  }
  freeFrames(offsets: Uint32Array, n: number): void {
    this.native.freeFrames(offsets, n);
  }
  stats(): PortStats {
    return this.native.stats();
  }
  describe(): string {
    const i = this.native.info();
    return `udp socket port ${i.port} (kernel path, ${i.dualStack ? 'dual-stack' : `IPv${i.family}`}, ${i.frameCount} frames of ${i.frameSize} B)`;
  }
  close(): void {
    this.native.close();
  }
}
