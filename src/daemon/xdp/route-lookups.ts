/**
 * The netlink answers a peer's path is computed from (xdp-paths.ts): route-get
 * for an endpoint, the egress link, the next hop's neighbour entry, each
 * asked once per distinct question between two forget() calls.
 *
 * Why: a new endpoint (every peer's first handshake, a roaming peer) made
 * three netlink round trips on the main thread, ~40 µs, right in the
 * handshake path before its response went out; a flood of initiations from
 * many peers behind one address (a NAT, a site, the handshake bench) asked
 * the same three questions each time. XdpPaths forgets the answers at every
 * refresh (once a second) and on fwmark changes, so an answer is never older
 * than the refresh that re-reads every route anyway: how fast a route,
 * gateway or MAC change moves the traffic is unchanged.
 *
 * Threading: main thread (XdpPaths').
 */
import type { NativeBinding } from '../../native/binding.js';

type Netlink = Pick<NativeBinding, 'routeGet' | 'linkInfo' | 'neighGet'>;

/** Whether a neighbour entry gives a MAC frames can be addressed to (not incomplete, failed or absent). */
export function neighbourUsable(n: ReturnType<Netlink['neighGet']>): n is NonNullable<ReturnType<Netlink['neighGet']>> & { mac: string } {
  return !!n && !!n.mac && n.state !== 'incomplete' && n.state !== 'failed' && n.state !== 'none';
}

export class RouteLookups {
  private readonly routes = new Map<string, ReturnType<Netlink['routeGet']>>();
  private readonly links = new Map<number, ReturnType<Netlink['linkInfo']>>();
  private readonly neighbours = new Map<string, ReturnType<Netlink['neighGet']>>();

  constructor(private readonly netlink: () => Netlink) {}

  /** The route to dst for packets with this fwmark (0: unmarked). */
  route(dst: string, mark: number): ReturnType<Netlink['routeGet']> {
    const key = `${mark}/${dst}`;
    if (this.routes.has(key)) return this.routes.get(key)!;
    const rt = this.netlink().routeGet(dst, mark ? { mark } : {});
    this.routes.set(key, rt);
    return rt;
  }

  link(ifindex: number): ReturnType<Netlink['linkInfo']> {
    if (this.links.has(ifindex)) return this.links.get(ifindex)!;
    const l = this.netlink().linkInfo(ifindex);
    this.links.set(ifindex, l);
    return l;
  }

  /**
   * The next hop's neighbour entry. Only a usable answer is kept: an entry not
   * resolved yet is being resolved (the kernel socket's first packets make the
   * kernel ask), and the next look-up, at the peer's next event, must see it
   * resolve rather than wait for the refresh.
   */
  neighbour(ifindex: number, ip: string): ReturnType<Netlink['neighGet']> {
    const key = `${ifindex}/${ip}`;
    const known = this.neighbours.get(key);
    if (known) return known;
    const n = this.netlink().neighGet(ifindex, ip);
    if (neighbourUsable(n)) this.neighbours.set(key, n);
    return n;
  }

  /** Every answer is asked again from now on (a refresh, an fwmark change). */
  forget(): void {
    this.routes.clear();
    this.links.clear();
    this.neighbours.clear();
  }
}
