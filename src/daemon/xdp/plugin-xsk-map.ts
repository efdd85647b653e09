/**
 * A device whose XDP program the AF_XDP device plugin owns: instead of our
 * filter, the plugin's XSKMAP (received over its Unix socket, see
 * device-plugin-client.ts). It stands in for NativeXdpFilter in XdpPaths:
 * workers' sockets go into the map at their queue, and nothing is attached
 * or detached here. The plugin's program picks no ports: every frame of a
 * queue with a socket comes to us (non-WireGuard frames are counted as
 * rx-bad-outer-* drops), so ARP/ND replies on such a device never reach the
 * kernel: give the next hop a permanent neighbour entry.
 *
 * Threading: main thread (as XdpPaths).
 */
import type { NativeXdpFilter } from '../../native/binding.js';
import { fdPassing } from '../../native/fd-passing.js';

export class PluginXskMap implements NativeXdpFilter {
  private mapFd: number;
  private readonly bound = new Set<number>();

  constructor(
    private readonly ifname: string,
    private readonly ifindex: number,
    mapFd: number,
  ) {
    this.mapFd = mapFd;
  }

  bindQueue(queue: number, xskFd: number): void {
    if (this.mapFd < 0) throw new Error(`${this.ifname}: the device plugin's XSK map is closed`);
    fdPassing().xskMapSet(this.mapFd, queue, xskFd);
    this.bound.add(queue);
  }

  unbindQueue(queue: number): void {
    if (this.mapFd < 0) return;
    fdPassing().xskMapDelete(this.mapFd, queue);
    this.bound.delete(queue);
  }

  /** The plugin's program steers by queue, not port: nothing to do. */
  setPorts(_ports: number[]): void {}

  /** Nor by destination address: forwarded traffic on such a queue comes to us too (counted as rx-bad-outer-port). */
  setLocalAddresses(_addrs: Uint8Array[]): void {}

  info(): ReturnType<NativeXdpFilter['info']> {
    return {
      ifname: this.ifname,
      ifindex: this.ifindex,
      mode: this.mapFd < 0 ? 'none' : 'device-plugin',
      dispatcher: false,
      replacedStale: 0,
      programId: 0,
    };
  }

  /** Takes our sockets out of the map (the plugin's program then passes their queues' frames to the kernel) and closes the fd. */
  close(): void {
    if (this.mapFd < 0) return;
    for (const q of [...this.bound]) {
      try {
        this.unbindQueue(q);
      } catch {
        /* the map may be gone with its device: nothing to undo */
      }
    }
    fdPassing().closeFd(this.mapFd);
    this.mapFd = -1;
  }
}
