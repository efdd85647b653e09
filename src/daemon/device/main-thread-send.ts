/**
 * Data the main thread sends itself, on the kernel socket: packets that
 * waited for a session (staged by the workers while a handshake ran) and
 * keepalives. Everything else the workers send.
 *
 * Threading: main thread only.
 */
import type { Clock } from '../../protocol/clock.js';
import type { DataTransport } from '../../protocol/transport.js';
import type { KernelUdpSocket } from './kernel-socket.js';
import type { Peer } from './peer.js';

export class MainThreadSend {
  /** The TUN's MTU: padding must not exceed it (whitepaper §5.4.6); the device follows the link. */
  mtu = 1420;

  /**
   * @param canHandshake whether a handshake can start at all (the device has a private key)
   */
  constructor(
    private readonly socket: KernelUdpSocket,
    private readonly transport: DataTransport,
    private readonly clock: Clock,
    private readonly canHandshake: () => boolean,
  ) {}

  /** Sends what waited for the peer's session. */
  flushStaged(peer: Peer): void {
    const packets = peer.staged.drain();
    if (packets.length > 0) this.sendData(peer, packets);
  }

  /** A keepalive: an empty data message; with no session yet it waits for one, so it asks for a handshake. */
  sendKeepalive(peer: Peer): void {
    if (peer.keypairs.sendable(this.clock.now())) {
      this.sendData(peer, [new Uint8Array(0)]);
    } else if (this.canHandshake() && peer.endpointAddr) {
      if (peer.staged.length === 0) peer.staged.push(new Uint8Array(0));
      peer.timers.requestHandshake();
    }
  }

  /** Encrypts and sends data packets (staged ones, or one empty keepalive) with the peer's current keypair. */
  private sendData(peer: Peer, packets: Uint8Array[]): void {
    const kp = peer.keypairs.sendable(this.clock.now());
    if (!kp || !peer.endpointAddr) return;
    let data = false;
    for (const plain of packets) {
      // Header room before the plaintext, padding and tag room after it.
      const buf = new Uint8Array(16 + plain.length + 15 + 16);
      buf.set(plain, 16);
      const len = this.transport.seal(kp.shared, buf, 16, plain.length, this.mtu);
      if (len < 0) continue;
      if (this.socket.send(peer.endpointAddr, buf.subarray(0, len))) peer.controlTxBytes += len;
      data ||= plain.length > 0;
    }
    const t = peer.timers;
    if (data) t.dataSent();
    t.anyAuthenticatedPacketSent();
    t.anyAuthenticatedPacketTraversal();
    t.transportMessageSent(kp);
  }
}
