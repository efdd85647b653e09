/**
 * The TUN's MTU, followed from netlink link events: `ip link set IF mtu N`
 * at runtime must reach the workers before packets of the new size do, and
 * padding must never exceed it (whitepaper §5.4.6).
 *
 * The device asks once per timer tick; the answer costs one non-blocking
 * read of the event socket, and a link query only when a link changed (or
 * events were lost). A TUN moved to another namespace is no longer seen
 * here: the last MTU stays in force.
 *
 * Threading: main thread only.
 */
import { linkInfo, NetlinkMonitor } from '../../native/netlink.js';

/** What wireguard-go and wg-quick give a tunnel when nothing says otherwise. */
export const DEFAULT_TUN_MTU = 1420;

export class TunMtuWatch {
  private readonly monitor: NetlinkMonitor;
  private current: number;

  constructor(private readonly ifname: string) {
    // Subscribe before the first read, so no change between them is missed.
    this.monitor = new NetlinkMonitor(['link']);
    this.current = linkInfo(ifname)?.mtu ?? DEFAULT_TUN_MTU;
  }

  get mtu(): number {
    return this.current;
  }

  /** The new MTU when it changed since the last call, else null. */
  poll(): number | null {
    const events = this.monitor.read();
    if (events.length === 0) return null;
    const ours = events.some((e) => e.type !== 'link' || e.name === this.ifname);
    if (!ours) return null;
    const mtu = linkInfo(this.ifname)?.mtu;
    if (mtu === undefined || mtu === this.current) return null;
    this.current = mtu;
    return mtu;
  }

  close(): void {
    this.monitor.close();
  }
}
