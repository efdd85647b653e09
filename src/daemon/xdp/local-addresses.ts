/**
 * The network namespace's usable local addresses, kept current from netlink
 * address events (main thread only).
 *
 * Two users need the same set: the XDP filter steers only UDP addressed to
 * one of them (a router's forwarded WireGuard traffic is not ours), and a
 * peer's sticky source address (the one it sent to) is only kept while it
 * is one of them. Every event, and an overrun, re-reads the whole list: the
 * list is short and the events rare, and a re-read cannot drift.
 */
import { NetlinkMonitor, usableAddresses } from '../../native/netlink.js';
import { formatIP } from '../../packet/ip-prefix.js';

export class LocalAddresses {
  private readonly monitor: NetlinkMonitor;
  private texts = new Set<string>();
  private list: Uint8Array[] = [];

  constructor() {
    // Subscribe before the first dump, so no change between them is missed.
    this.monitor = new NetlinkMonitor(['addr']);
    this.reload();
  }

  /** The current addresses, 4 or 16 bytes each (a fresh array; callers may keep it). */
  addresses(): Uint8Array[] {
    return this.list.slice();
  }

  /** True when ip (4 or 16 bytes) is a usable local address now. */
  has(ip: Uint8Array): boolean {
    return this.texts.has(formatIP(ip));
  }

  /** Takes the queued address events; true when the set changed. */
  poll(): boolean {
    if (this.monitor.read().length === 0) return false;
    return this.reload();
  }

  close(): void {
    this.monitor.close();
  }

  private reload(): boolean {
    const list = usableAddresses();
    const texts = new Set(list.map((a) => formatIP(a)));
    const changed = texts.size !== this.texts.size || [...texts].some((t) => !this.texts.has(t));
    this.texts = texts;
    this.list = list;
    return changed;
  }
}
