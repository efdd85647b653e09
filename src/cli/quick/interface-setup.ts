/**
 * What `xdpwg up` does around the device, in wg-quick(8)'s order and with
 * its semantics: addresses, MTU (the file's, else the endpoints' route MTU
 * minus 80), link up, DNS, then a route per AllowedIPs prefix (longest
 * first) as `Table =` says — main, a fixed table, none, or a default route
 * through fwmark policy routing (full-tunnel.ts). What it changes beyond
 * the interface is journaled for undoing (undo-journal.ts). It also knows
 * what is live, for SaveConfig.
 *
 * Routes are added, never replaced (add-route.ts): a route that is already
 * there belongs to someone else — a LAN's connected route, another VPN's
 * table — and taking it over would cut that network off, for good once the
 * TUN and the route with it go. As wg-quick, a prefix the main table
 * already routes through this interface (the connected route of its own
 * Address) is skipped, and any other existing route fails the set-up.
 *
 * Threading: main thread.
 */
import { native } from '../../native/binding.js';
import type { Device } from '../../daemon/device/device.js';
import type { ConfigFile, InterfaceSection } from '../../daemon/config/config-file.js';
import { formatIP, formatPrefix, parsePrefix, type IpPrefix } from '../../packet/ip-prefix.js';
import type { Endpoint } from '../../packet/endpoint.js';
import { addDefaultRoute, pickFullTunnelTable } from './full-tunnel.js';
import { applyDns, liveDns, type DnsManager } from './dns-config.js';
import { queryCommand } from './run-command.js';
import { addRoute } from './add-route.js';
import type { TableSetting } from './route-table.js';
import type { UndoJournal } from './undo-journal.js';

/** wg-quick's overhead allowance: IPv6 40 + UDP 8 + WireGuard 32, rounded as wg-quick rounds it. */
const TUNNEL_OVERHEAD = 80;
/** The largest MTU chosen automatically: the device's frames are sized for 1420-byte inner packets. */
const MAX_AUTO_MTU = 1420;
const RT_SCOPE_LINK = 253;

/** AllowedIPs of every peer, once each, longest prefix first (wg-quick's `sort -nr -k 2 -t /`). */
export function routedPrefixes(cfg: ConfigFile): IpPrefix[] {
  const seen = new Map<string, IpPrefix>();
  for (const p of cfg.peers) for (const a of p.allowedIPs) seen.set(formatPrefix(a), a);
  return [...seen.values()].sort((x, y) => y.bits - x.bits);
}

const isDefault = (p: IpPrefix): boolean => p.bits === 0;

export class InterfaceSetup {
  /** Table and fwmark of the full tunnel, once a default route went through the tunnel. */
  private fullTunnelTable: number | undefined;
  /** Families whose full-tunnel policy rules and firewall are in place (they stay until down). */
  private readonly fullTunnelFamilies = new Set<4 | 6>();
  private dns: { manager: DnsManager; servers: string[]; search: string[] } | undefined;
  private autoMtu = 0;
  /** The prefixes whose routes this process added (formatPrefix), so a reload removes only those. */
  private readonly ownRoutes = new Set<string>();

  constructor(
    private readonly ifname: string,
    private readonly ifindex: number,
    private readonly table: TableSetting,
    private readonly device: Device,
    private readonly journal: UndoJournal,
  ) {}

  /** The fwmark a reload must keep when the file sets none: the full tunnel's. */
  get fwmark(): number | undefined {
    return this.fullTunnelTable;
  }

  /** Addresses, MTU, up. `endpoints`: the peers' resolved endpoints, for the automatic MTU. */
  configureLink(cfg: ConfigFile, endpoints: Endpoint[]): void {
    const nl = native();
    for (const a of cfg.interface.addresses) {
      process.stderr.write(`[#] ip address add ${formatPrefix(a)} dev ${this.ifname}\n`);
      nl.addrAdd(this.ifindex, formatPrefix(a), { noDad: a.family === 6 });
    }
    this.autoMtu = automaticMtu(endpoints);
    const mtu = cfg.interface.mtu ?? this.autoMtu;
    process.stderr.write(`[#] ip link set mtu ${mtu} up dev ${this.ifname}\n`);
    nl.linkSetMtu(this.ifindex, mtu);
    nl.linkSetUp(this.ifindex, true);
  }

  /** DNS = through resolvconf or resolved (the manager was chosen before anything changed). */
  configureDns(cfg: ConfigFile, manager: DnsManager): void {
    const { dns: servers, dnsSearch: search } = cfg.interface;
    this.journal.record({ kind: 'dns', via: manager.via, name: manager.name });
    applyDns(manager, servers, search);
    this.dns = { manager, servers, search };
  }

  /**
   * Routes for these prefixes, as Table = says; returns those it added.
   * All or nothing: when one cannot be added (a route to it exists), the
   * ones added before it are removed again and the error is thrown.
   */
  addRoutes(prefixes: IpPrefix[]): IpPrefix[] {
    if (this.table.kind === 'off') return [];
    const added: IpPrefix[] = [];
    try {
      for (const r of prefixes) {
        const dst = formatPrefix(r);
        if (this.table.kind === 'fixed') {
          process.stderr.write(`[#] ip -${r.family} route add ${dst} dev ${this.ifname} table ${this.table.text}\n`);
          addRoute({ dst, family: r.family, ifindex: this.ifindex, ifname: this.ifname, table: this.table.id, tableName: this.table.text });
        } else if (isDefault(r)) {
          this.addFullTunnel(r.family);
        } else {
          // wg-quick's `[[ -n $(ip route show dev IF match PREFIX) ]] ||`: already routed through us.
          if (this.routedHere(r)) continue;
          process.stderr.write(`[#] ip -${r.family} route add ${dst} dev ${this.ifname}\n`);
          addRoute({ dst, family: r.family, ifindex: this.ifindex, ifname: this.ifname });
        }
        added.push(r);
        this.ownRoutes.add(dst);
      }
    } catch (err) {
      this.removeRoutes(added);
      throw err;
    }
    return added;
  }

  /** True when a route of the main table through this interface covers r (`ip route show dev IF match r`). */
  private routedHere(r: IpPrefix): boolean {
    const out = queryCommand('ip', [`-${r.family}`, 'route', 'show', 'dev', this.ifname, 'match', formatPrefix(r)]);
    return (out ?? '').trim() !== '';
  }

  /**
   * Removes the routes of prefixes no peer has any more (a reload), those
   * this process added only: a skipped prefix's route (the interface's
   * connected route) is not ours to delete. A full tunnel's rules stay until down.
   */
  removeRoutes(prefixes: IpPrefix[]): void {
    if (this.table.kind === 'off') return;
    const nl = native();
    for (const r of prefixes) {
      const dst = formatPrefix(r);
      if (!this.ownRoutes.delete(dst)) continue;
      const table = this.table.kind === 'fixed' ? this.table.id : isDefault(r) ? this.fullTunnelTable : undefined;
      try {
        nl.routeDel({ dst, ifindex: this.ifindex, table });
      } catch {
        /* already gone */
      }
    }
  }

  private addFullTunnel(family: 4 | 6): void {
    if (this.fullTunnelTable === undefined) {
      const current = this.device.getSnapshot().fwmark;
      this.fullTunnelTable = pickFullTunnelTable(current);
      if (!current) {
        process.stderr.write(`[#] wg set ${this.ifname} fwmark ${this.fullTunnelTable}\n`);
        this.device.applySet([{ kind: 'fwmark', fwmark: this.fullTunnelTable }]);
      }
    }
    const dst = family === 4 ? '0.0.0.0/0' : '::/0';
    if (this.fullTunnelFamilies.has(family)) {
      // The rules and firewall of this family are in place (a reload removed and re-adds the route): the route only.
      process.stderr.write(`[#] ip -${family} route add ${dst} dev ${this.ifname} table ${this.fullTunnelTable}\n`);
      addRoute({ dst, family, ifindex: this.ifindex, ifname: this.ifname, table: this.fullTunnelTable });
      return;
    }
    const addresses = native()
      .addrList(this.ifindex)
      .filter((a) => a.family === family)
      .map((a) => a.address);
    addDefaultRoute({ ifname: this.ifname, ifindex: this.ifindex, family, table: this.fullTunnelTable, addresses }, this.journal);
    this.fullTunnelFamilies.add(family);
  }

  /**
   * The [Interface] section SaveConfig writes: the file's, with the live
   * addresses, the live MTU (when the file had one or it was changed from
   * the automatic one) and the DNS entries in force.
   */
  liveInterface(file: InterfaceSection): InterfaceSection {
    const nl = native();
    const addresses = nl
      .addrList(this.ifindex)
      .filter((a) => a.scope !== RT_SCOPE_LINK)
      .map((a) => parsePrefix(a.cidr))
      .filter((p): p is IpPrefix => p !== null);
    const mtu = nl.linkInfo(this.ifindex)?.mtu;
    const live: InterfaceSection = { ...file, addresses };
    if (mtu !== undefined && (file.mtu !== undefined || mtu !== this.autoMtu)) live.mtu = mtu;
    if (this.dns) {
      const d = liveDns(this.dns.manager, this.dns);
      live.dns = d.servers;
      live.dnsSearch = d.search;
    }
    return live;
  }
}

/**
 * wg-quick's MTU when the file has none: the largest MTU of the devices the
 * endpoints are routed through, else of the default route's device, else
 * 1500; minus 80; here also at most 1420.
 */
export function automaticMtu(endpoints: Endpoint[]): number {
  const nl = native();
  let mtu = 0;
  for (const e of endpoints) {
    const rt = nl.routeGet(formatIP(e.address));
    const dev = rt ? nl.linkInfo(rt.ifindex) : null;
    if (dev && dev.mtu > mtu) mtu = dev.mtu;
  }
  if (mtu === 0) {
    const line = (queryCommand('ip', ['-4', 'route', 'show', 'default']) ?? '').split('\n')[0] ?? '';
    const routeMtu = /\bmtu (\d+)/.exec(line);
    const dev = /\bdev (\S+)/.exec(line);
    if (routeMtu) mtu = Number(routeMtu[1]);
    else if (dev) mtu = nl.linkInfo(dev[1]!)?.mtu ?? 0;
  }
  return Math.min((mtu || 1500) - TUNNEL_OVERHEAD, MAX_AUTO_MTU);
}
