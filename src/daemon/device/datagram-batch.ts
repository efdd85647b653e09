/**
 * Datagrams the main thread sends on the kernel UDP socket, gathered during
 * one task and sent with one txBurst (sendmmsg) at its end (a microtask).
 * Under a handshake flood the responses of one batch of results went out
 * with a syscall each, ~60 µs of main thread per handshake; now a batch of
 * them costs one.
 *
 * Order: every send first calls beforeSend, which the device points at
 * WorkerPool.releaseHeldWake: a response never leaves before the keypair it
 * announces was posted to the workers and counted (WorkerPool.posted), so a
 * worker applies it before it reads the peer's answer.
 *
 * Threading: main thread.
 */
import type { NativeUdpPort } from '../../native/binding.js';
import { ADDR_RECORD_SIZE } from '../../datapath/addr-record.js';

/** Datagrams per txBurst at most; the socket's frame pool is small (the device's port has 64 frames). */
const BATCH_MAX = 32;

export class DatagramBatch {
  private readonly desc = new Uint32Array(2 * BATCH_MAX);
  private readonly addr = new Uint8Array(ADDR_RECORD_SIZE * BATCH_MAX);
  private readonly frame = new Uint32Array(1);
  private readonly unsent = new Uint32Array(BATCH_MAX);
  private readonly done: Array<((sent: boolean) => void) | undefined> = [];
  private port: NativeUdpPort | undefined;
  private n = 0;
  private flushScheduled = false;

  /**
   * `headroom`: bytes left free before each datagram in its frame (as the
   * port's other senders do); `beforeSend` runs before each txBurst.
   */
  constructor(
    private readonly headroom: number,
    private readonly beforeSend: () => void = () => {},
  ) {}

  /**
   * Queues bytes to addr (an address record) on udp; onSent learns whether
   * it went out. A datagram that finds no free frame even after flushing is
   * reported unsent at once.
   */
  push(udp: NativeUdpPort, addr: Uint8Array, bytes: Uint8Array, onSent?: (sent: boolean) => void): void {
    if (this.n > 0 && (this.n === BATCH_MAX || udp !== this.port)) this.flush();
    if (udp.allocFrames(this.frame, 1) !== 1) {
      this.flush();
      if (udp.allocFrames(this.frame, 1) !== 1) {
        onSent?.(false);
        return;
      }
    }
    const off = this.frame[0]! + this.headroom;
    new Uint8Array(udp.buffer, off, bytes.length).set(bytes);
    this.desc[2 * this.n] = off;
    this.desc[2 * this.n + 1] = bytes.length;
    this.addr.set(addr.subarray(0, ADDR_RECORD_SIZE), ADDR_RECORD_SIZE * this.n);
    this.done[this.n] = onSent;
    this.port = udp;
    this.n++;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  /** Sends what is queued now. */
  flush(): void {
    const udp = this.port;
    const n = this.n;
    if (!udp || n === 0) return;
    this.n = 0;
    this.beforeSend();
    const sent = udp.txBurst(this.desc, this.addr, n);
    if (sent < n) {
      // txBurst keeps the frames it sent; the rest come back to the pool.
      for (let i = sent; i < n; i++) this.unsent[i - sent] = this.desc[2 * i]! - this.headroom;
      udp.freeFrames(this.unsent, n - sent);
    }
    for (let i = 0; i < n; i++) {
      const cb = this.done[i];
      this.done[i] = undefined;
      // Taken but not sent (no route, …): the port zeroed its length.
      cb?.(i < sent && this.desc[2 * i + 1] !== 0);
    }
  }
}
