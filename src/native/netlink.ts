/**
 * Netlink (native/netlink.cc): link, address, route and neighbour state for
 * IPv4 and IPv6 over raw NETLINK_ROUTE sockets, and a monitor of changes.
 *
 * The daemon learns the outer path from the kernel rather than doing ARP/ND
 * itself (docs/DESIGN.md "netlink"): routeGet(peer) gives the interface, gateway
 * and preferred source; neighGet(ifindex, gateway ?? peer) gives the next
 * hop's MAC. When the neighbour is not resolved yet, sending one packet
 * through the kernel (the UDP port) makes the kernel resolve it.
 *
 * Errors: control-path calls throw an Error whose message names the call and
 * its arguments, the errno and the kernel's own explanation when it gives
 * one; err.code is the errno name ('EEXIST', 'ENODEV', ...). Absence is not
 * an error: linkInfo, routeGet and neighGet return null.
 *
 * Namespaces: requests act in the network namespace of the calling thread.
 * enterNetns() moves the calling thread (used by tests and by a daemon that
 * keeps its UDP socket in another namespace than its TUN, as WireGuard can).
 */
import { closeSync } from 'node:fs';
import {
  native,
  type AddrInfo,
  type LinkInfo,
  type NativeNetlinkMonitor,
  type NeighInfo,
  type NetlinkEvent,
  type NetlinkGroup,
  type RouteLookup,
  type RouteSpec,
} from './binding.js';

export type { AddrInfo, LinkInfo, NeighInfo, NetlinkEvent, NetlinkGroup, RouteLookup, RouteSpec };

/** Link by name or ifindex; null when there is no such link. */
export function linkInfo(nameOrIndex: string | number): LinkInfo | null {
  return native().linkInfo(nameOrIndex);
}
/** Sets a link administratively up or down. */
export function linkSetUp(ifindex: number, up: boolean): void {
  native().linkSetUp(ifindex, up);
}
/** Sets a link's MTU. */
export function linkSetMtu(ifindex: number, mtu: number): void {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new RangeError(`linkSetMtu: mtu must be 68..65535, got ${mtu}`);
  native().linkSetMtu(ifindex, mtu);
}
/** Adds 'addr/len'. noDad skips IPv6 duplicate address detection (usable at once). */
export function addrAdd(ifindex: number, cidr: string, opts: { noDad?: boolean } = {}): void {
  native().addrAdd(ifindex, cidr, opts);
}
/** Removes 'addr/len'. */
export function addrDel(ifindex: number, cidr: string): void {
  native().addrDel(ifindex, cidr);
}
/** Addresses of one link, or of all links. */
export function addrList(ifindex?: number): AddrInfo[] {
  return native().addrList(ifindex);
}

/** IFA_F_DADFAILED, IFA_F_TENTATIVE (linux/if_addr.h): the kernel neither accepts for nor sends from these. */
const IFA_F_DADFAILED = 0x08;
const IFA_F_TENTATIVE = 0x40;

/** The addresses of a dump (default: every link's) that packets can be sent to and from, as bytes (4 or 16). */
export function usableAddresses(list: AddrInfo[] = addrList()): Uint8Array[] {
  return list.filter((a) => (a.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) === 0 && a.bytes).map((a) => a.bytes);
}
/** Adds a route (EEXIST unless replace). */
export function routeAdd(route: RouteSpec): void {
  native().routeAdd(route);
}
/** Deletes a route (ESRCH when there is none). */
export function routeDel(route: RouteSpec): void {
  native().routeDel(route);
}
/** The kernel's route to dst (as `ip route get`); null when unreachable. mark: the fwmark the packets will carry. */
export function routeGet(dst: string, opts: { oif?: number; mark?: number; src?: string } = {}): RouteLookup | null {
  return native().routeGet(dst, opts);
}
/** The neighbour entry for ip on ifindex; null when the kernel has none. */
export function neighGet(ifindex: number, ip: string): NeighInfo | null {
  return native().neighGet(ifindex, ip);
}

/**
 * Change events on the given groups. Put `fd` in a Waiter (or poll it) and
 * call read() when it is readable. 'overrun' events mean some were lost.
 * The socket is closed with close() or when the owning thread ends.
 */
export class NetlinkMonitor {
  readonly native: NativeNetlinkMonitor;
  constructor(groups: NetlinkGroup[]) {
    this.native = new (native().NetlinkMonitor)(groups);
  }
  get fd(): number {
    return this.native.fd;
  }
  read(): NetlinkEvent[] {
    return this.native.read();
  }
  close(): void {
    this.native.close();
  }
}

/**
 * Moves the CALLING THREAD into a network namespace: a name under
 * /var/run/netns or a path (/proc/PID/ns/net). Returns a function that moves
 * it back. Everything this thread then opens (sockets, TUN devices, netlink
 * requests, worker threads it starts) belongs to that namespace.
 */
export function enterNetns(nameOrPath: string): () => void {
  const path = nameOrPath.includes('/') ? nameOrPath : `/var/run/netns/${nameOrPath}`;
  const prev = native().netnsEnter(path);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    try {
      native().netnsEnter(`/proc/self/fd/${prev}`);
    } finally {
      closeSync(prev);
    }
  };
}
