/**
 * One `xdpwg capture` in the daemon (main thread): makes the workers'
 * capture rings, tells the workers to fill them, drains them into pcap
 * records (libpcap's classic format, link type Ethernet: the AF_XDP path's
 * frames are whole Ethernet frames), and stops the workers on close().
 */
import { CaptureRing, captureBufferSize, type CapturedFrame } from '../../datapath/capture-ring.js';
import type { ToWorker } from '../../datapath/worker-messages.js';
import type { Socket } from 'node:net';

/** LINKTYPE_ETHERNET (tcpdump.org link-layer header types). */
const LINKTYPE_ETHERNET = 1;
/** Microsecond-resolution pcap magic, written in host order as libpcap does; readers detect the order. */
const PCAP_MAGIC = 0xa1b2c3d4;
/** Longest frame the AF_XDP path handles (a frame of the largest UMEM), the default and largest snaplen. */
export const CAPTURE_SNAPLEN_MAX = 4096;

/** The 24-byte pcap file header. */
export function pcapFileHeader(snaplen: number): Buffer {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(PCAP_MAGIC, 0);
  h.writeUInt16LE(2, 4); // version 2.4
  h.writeUInt16LE(4, 6);
  h.writeInt32LE(0, 8); // thiszone
  h.writeUInt32LE(0, 12); // sigfigs
  h.writeUInt32LE(snaplen, 16);
  h.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  return h;
}

/** One pcap record: 16-byte header (seconds, microseconds, captured and original length) and the bytes. */
export function pcapRecord(f: CapturedFrame): Buffer {
  const r = Buffer.alloc(16 + f.bytes.length);
  const us = Math.round(f.timeMs * 1000);
  r.writeUInt32LE(Math.floor(us / 1e6), 0);
  r.writeUInt32LE(us % 1e6, 4);
  r.writeUInt32LE(f.bytes.length, 8);
  r.writeUInt32LE(f.originalLength, 12);
  r.set(f.bytes, 16);
  return r;
}

export class CaptureSession {
  private readonly rings: CaptureRing[];
  private closed = false;

  constructor(
    workers: number,
    readonly snaplen: number,
    private readonly broadcast: (msg: ToWorker) => void,
    private readonly onClose: (lost: number) => void = () => {},
  ) {
    if (!Number.isInteger(snaplen) || snaplen < 64 || snaplen > CAPTURE_SNAPLEN_MAX)
      throw new RangeError(`capture: snaplen must be 64..${CAPTURE_SNAPLEN_MAX}, got ${snaplen}`);
    const buffer = new SharedArrayBuffer(captureBufferSize(workers));
    this.rings = Array.from({ length: workers }, (_, w) => new CaptureRing(buffer, w, snaplen));
    broadcast({ t: 'capture', buffer, snaplen });
  }

  /** Every frame captured since the last call, in time order across workers. */
  drain(): CapturedFrame[] {
    return this.rings.flatMap((r) => r.drain()).sort((a, b) => a.timeMs - b.timeMs);
  }

  /** Frames the workers could not fit into their rings (the reader fell behind). */
  lost(): number {
    return this.rings.reduce((n, r) => n + r.lost(), 0);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.broadcast({ t: 'capture', buffer: null, snaplen: 0 });
    this.onClose(this.lost());
  }
}

/** How often a capture's rings are drained: 1 MiB per worker holds ~700 full frames, 50 ms of ~14 k frames/s. */
const DRAIN_INTERVAL_MS = 50;
/**
 * Bytes queued towards a slow reader (a pipe, a full disk) beyond which the
 * rings are left undrained: the workers then count what does not fit as lost
 * instead of the daemon buffering without bound.
 */
export const CAPTURE_BACKLOG_MAX = 4 << 20;

/** What streamCapture needs of its client socket. */
export type CaptureSink = Pick<Socket, 'write' | 'end' | 'on' | 'writableLength'>;

/**
 * Streams a session to a client socket as a pcap file: header, then records
 * as they come, until `count` frames (0: until the client goes), then ends
 * the socket. The session is closed however the stream ends. While more than
 * CAPTURE_BACKLOG_MAX bytes wait for the client, nothing is drained.
 */
export function streamCapture(sock: CaptureSink, session: CaptureSession, count: number): void {
  let sent = 0;
  const stop = (): void => {
    clearInterval(timer);
    session.close();
  };
  const timer = setInterval(() => {
    if (sock.writableLength > CAPTURE_BACKLOG_MAX) return;
    for (const f of session.drain()) {
      sock.write(pcapRecord(f));
      if (count > 0 && ++sent >= count) {
        stop();
        sock.end();
        return;
      }
    }
  }, DRAIN_INTERVAL_MS);
  sock.on('close', stop);
  sock.on('error', stop);
  sock.write(pcapFileHeader(session.snaplen));
}
