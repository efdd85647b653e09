/**
 * Frame views: how TypeScript looks at a port's buffer (the UMEM of an
 * XskPort, the frame area of a UdpPort) and at the descriptor arrays that
 * bursts move. Packets are read and written where they lie; nothing here
 * copies a packet.
 */

/** Packets per burst: one native call, and one pass of a worker's receive or send path, moves up to this many. */
export const BURST_SIZE = 64;

/**
 * Bytes every frame keeps in front of its packet, where the outer headers
 * are written in place: Ethernet 14 + IPv6 40 + UDP 8 + WireGuard data
 * header 16 = 78 at most (udp-port.ts MIN_HEADROOM), rounded up to 128 (the
 * addon's kUdpDefaultHeadroom).
 */
export const FRAME_HEADROOM = 128;

/** Byte-level views over one port buffer, made once per port. */
export class FrameViews {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  constructor(
    readonly buffer: ArrayBuffer,
    readonly frameSize: number,
    readonly headroom: number,
  ) {
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
  }
  /** Start of the frame that holds byte offset off. */
  frameStart(off: number): number {
    return off - (off % this.frameSize);
  }
  /** Where a packet built into the frame starting at frame should begin (after the headroom). */
  dataStart(frame: number): number {
    return frame + this.headroom;
  }
  /** Bytes available from off to the end of its frame. */
  room(off: number): number {
    return this.frameSize - (off % this.frameSize);
  }
}

/**
 * A descriptor array for bursts: desc[2i] = offset, desc[2i+1] = length
 * (the contract in src/native/binding.ts), with the count kept beside it.
 */
export class DescBurst {
  readonly desc: Uint32Array;
  count = 0;
  constructor(readonly capacity = BURST_SIZE) {
    this.desc = new Uint32Array(capacity * 2);
  }
  offset(i: number): number {
    return this.desc[2 * i]!;
  }
  length(i: number): number {
    return this.desc[2 * i + 1]!;
  }
  /** Appends a packet; false when full. */
  push(offset: number, length: number): boolean {
    if (this.count >= this.capacity) return false;
    this.desc[2 * this.count] = offset;
    this.desc[2 * this.count + 1] = length;
    this.count++;
    return true;
  }
  clear(): void {
    this.count = 0;
  }
}

/** Offsets of frames to hand back with freeFrames(), collected over a burst. */
export class FrameList {
  readonly offsets: Uint32Array;
  count = 0;
  constructor(readonly capacity = BURST_SIZE) {
    this.offsets = new Uint32Array(capacity);
  }
  push(offset: number): void {
    this.offsets[this.count++] = offset;
  }
  clear(): void {
    this.count = 0;
  }
}
