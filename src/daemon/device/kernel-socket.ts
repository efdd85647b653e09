/**
 * The device's kernel UDP socket on the listen port (dual-stack): the
 * workers receive from duplicates of it, and the main thread sends its own
 * datagrams (handshakes, cookie replies, staged data, keepalives) on it.
 * It carries wg(8)'s fwmark as SO_MARK.
 *
 * Threading: main thread only. Workers hold their own dup of the fd.
 */
import { native, type NativeUdpPort } from '../../native/binding.js';
import { ADDR_RECORD_SIZE } from '../../datapath/addr-record.js';
import { FRAME_HEADROOM } from '../../native/frames.js';
import { Errno, UapiError } from '../config/device-config.js';
import type { Logger } from '../log.js';

/** SO_RCVBUF / SO_SNDBUF of the UDP socket (wireguard-go's 7 MiB). */
const SOCKET_BUFFER_BYTES = 7 << 20;
/** How long a replaced socket stays open: workers dup the new fd when told, then the old one goes. */
const OLD_SOCKET_GRACE_MS = 500;

export class KernelUdpSocket {
  private udp: NativeUdpPort | undefined;
  private markValue = 0;
  private readonly tx = { desc: new Uint32Array(2), addr: new Uint8Array(ADDR_RECORD_SIZE), frame: new Uint32Array(1) };

  constructor(private readonly log: Logger) {}

  /** The port bound (0 before the first bind). */
  get port(): number {
    return this.udp?.port ?? 0;
  }
  /** The socket in use, for batched sends (datagram-batch.ts); undefined before the first bind. */
  get nativePort(): NativeUdpPort | undefined {
    return this.udp;
  }
  /** The socket's fd (for the workers to dup); -1 before the first bind. */
  get fd(): number {
    return this.udp?.fd ?? -1;
  }
  /** The fwmark on the socket (0: none). */
  get mark(): number {
    return this.markValue;
  }

  /**
   * Binds a new socket on `port` (0: any) and makes it the one in use; the
   * old one closes after a grace period. Returns whether a socket was
   * replaced (the workers must then switch). Failure is EADDRINUSE.
   */
  bind(port: number): boolean {
    const N = native();
    let next: NativeUdpPort;
    try {
      // 7 MiB socket buffers, as wireguard-go sets: under a flood the buffer rides out the
      // moments the receiving worker is not scheduled, instead of dropping a peer's handshake.
      // The fwmark carries over to the new socket, as wireguard-go's rebind keeps it.
      next = new N.UdpPort({
        port,
        frameSize: 4096,
        frameCount: 64,
        rcvBuf: SOCKET_BUFFER_BYTES,
        sndBuf: SOCKET_BUFFER_BYTES,
        mark: this.markValue,
      });
    } catch (err) {
      throw new UapiError(Errno.EADDRINUSE, `cannot listen on UDP port ${port}: ${(err as Error).message}`);
    }
    const old = this.udp;
    this.udp = next;
    // Workers dup the fd when they switch; close ours after they had the chance.
    if (old) setTimeout(() => old.close(), OLD_SOCKET_GRACE_MS).unref();
    // Said once; a rebind (the configured port replacing the one picked at start) says the change.
    this.log.verbose(old ? `UDP listen port changed from ${old.port} to ${next.port}` : `UDP listening on port ${next.port}`);
    return old !== undefined;
  }

  /**
   * SO_MARK on the socket (the workers' duplicates share it). A failure
   * (EPERM) is EADDRINUSE, the code wireguard-go gives "failed to update fwmark".
   */
  setMark(mark: number): void {
    try {
      this.udp?.setMark(mark);
    } catch (err) {
      throw new UapiError(Errno.EADDRINUSE, `failed to update fwmark: ${(err as Error).message}`);
    }
    this.markValue = mark;
  }

  /** Sends one datagram to the address record `addr`; false when it could not be sent. */
  send(addr: Uint8Array, bytes: Uint8Array): boolean {
    const udp = this.udp;
    if (!udp) return false;
    if (udp.allocFrames(this.tx.frame, 1) !== 1) return false;
    const off = this.tx.frame[0]! + FRAME_HEADROOM;
    new Uint8Array(udp.buffer, off, bytes.length).set(bytes);
    this.tx.desc[0] = off;
    this.tx.desc[1] = bytes.length;
    this.tx.addr.set(addr);
    if (udp.txBurst(this.tx.desc, this.tx.addr, 1) !== 1) {
      udp.freeFrames(this.tx.frame, 1);
      return false;
    }
    // Taken but not sent (no route, …): the port zeroed its length and has the frame back.
    return this.tx.desc[1] !== 0;
  }

  close(): void {
    this.udp?.close();
  }
}
