/**
 * Frames the AF_XDP path receives and sends, copied for `xdpwg capture`:
 * one ring per worker in one SharedArrayBuffer, which exists only while a
 * capture runs (no capture: no ring, and the worker's only cost is a null
 * check per burst).
 *
 * Threading: each ring has one writer, its worker (write), and one reader,
 * the main thread (drain). The writer owns `head`, the reader owns `tail`;
 * each publishes its own index with Atomics.store after the bytes it
 * covers are written (writer) or consumed (reader), and reads the other's
 * with Atomics.load. A record that does not fit in the free space is not
 * written and counted in `lost` (writer-owned): a capture never slows the
 * data path down.
 *
 * Record: u32 captured length, u32 original length, f64 time (ms since
 * the epoch), then the captured bytes, padded to 8.
 */

/** Bytes of each worker's ring data area. */
export const CAPTURE_RING_BYTES = 1 << 20;
/** Int32 slots before each ring's data: head, tail, lost, (pad). */
const HEADER_INTS = 4;
const HEADER_BYTES = HEADER_INTS * 4;
const RECORD_HEADER = 16;
const HEAD = 0,
  TAIL = 1,
  LOST = 2;

export function captureBufferSize(workers: number): number {
  return workers * (HEADER_BYTES + CAPTURE_RING_BYTES);
}

export interface CapturedFrame {
  timeMs: number;
  originalLength: number;
  bytes: Uint8Array;
}

export class CaptureRing {
  private readonly ctl: Int32Array;
  private readonly data: Uint8Array;
  private readonly view: DataView;

  /** The ring of `worker` inside a buffer made for captureBufferSize(workers) bytes. */
  constructor(
    sab: SharedArrayBuffer,
    worker: number,
    readonly snaplen: number,
  ) {
    const base = worker * (HEADER_BYTES + CAPTURE_RING_BYTES);
    if (base + HEADER_BYTES + CAPTURE_RING_BYTES > sab.byteLength)
      throw new RangeError(`CaptureRing: no ring for worker ${worker} in ${sab.byteLength} bytes`);
    this.ctl = new Int32Array(sab, base, HEADER_INTS);
    this.data = new Uint8Array(sab, base + HEADER_BYTES, CAPTURE_RING_BYTES);
    this.view = new DataView(sab, base + HEADER_BYTES, CAPTURE_RING_BYTES);
  }

  /** Worker: copies buf[off, off+len) (at most snaplen bytes of it). Never throws. */
  write(buf: Uint8Array, off: number, len: number, timeMs: number): void {
    const cap = Math.min(len, this.snaplen);
    if (cap <= 0) return;
    const size = RECORD_HEADER + ((cap + 7) & ~7);
    const head = this.ctl[HEAD]!; // only this thread writes head
    const tail = Atomics.load(this.ctl, TAIL);
    const used = (head - tail + CAPTURE_RING_BYTES) % CAPTURE_RING_BYTES;
    // A record never wraps: when the end is too near, a zero length there says "continue at 0"
    // and the bytes up to the end count as used. Sizes are multiples of 8, so is the room left.
    const toEnd = CAPTURE_RING_BYTES - head;
    const consumed = toEnd >= size ? size : toEnd + size;
    // Strictly less: head === tail must keep meaning "empty".
    if (used + consumed >= CAPTURE_RING_BYTES) {
      Atomics.add(this.ctl, LOST, 1);
      return;
    }
    let at = head;
    if (toEnd < size) {
      this.view.setUint32(at, 0, true);
      at = 0;
    }
    this.view.setUint32(at, cap, true);
    this.view.setUint32(at + 4, len, true);
    this.view.setFloat64(at + 8, timeMs, true);
    this.data.set(buf.subarray(off, off + cap), at + RECORD_HEADER);
    Atomics.store(this.ctl, HEAD, (at + size) % CAPTURE_RING_BYTES);
  }

  /** Main thread: every complete record written so far, oldest first (copies). */
  drain(): CapturedFrame[] {
    const out: CapturedFrame[] = [];
    const head = Atomics.load(this.ctl, HEAD);
    let tail = this.ctl[TAIL]!; // only this thread writes tail
    while (tail !== head) {
      if (CAPTURE_RING_BYTES - tail < RECORD_HEADER || this.view.getUint32(tail, true) === 0) {
        tail = 0;
        continue;
      }
      const cap = this.view.getUint32(tail, true);
      out.push({
        originalLength: this.view.getUint32(tail + 4, true),
        timeMs: this.view.getFloat64(tail + 8, true),
        bytes: this.data.slice(tail + RECORD_HEADER, tail + RECORD_HEADER + cap),
      });
      tail = (tail + RECORD_HEADER + ((cap + 7) & ~7)) % CAPTURE_RING_BYTES;
    }
    Atomics.store(this.ctl, TAIL, tail);
    return out;
  }

  /** Records the writer could not fit. */
  lost(): number {
    return Atomics.load(this.ctl, LOST);
  }
}
