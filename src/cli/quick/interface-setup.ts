/**
 * What `xdpwg up` does around the device, in wg-quick(8)'s order and with
 * its semantics: addresses, MTU (the file's, else the endpoints' route MTU
 * minus 80), link up, DNS, then a route per AllowedIPs prefix (longest
 * first) as `Table =` says — main, a fixed table, none, or a default route
 * through fwmark policy routing (full-tunnel.ts). What it changes beyond
 * the interface is journaled for undoing (undo-journal.ts). It also knows
 * what is live, for SaveConfig.
 *
 * Threading: main thread.
 */
import { native } from '../../native/binding.js';
import type { Device } from '../../daemon/device.js';
import type { ConfigFile, InterfaceSection } from '../../daemon/config-file.js';
import { formatIP, formatPrefix, parsePrefix, type IpPrefix } from '../../packet/ip-prefix.js';
import type { Endpoint } from '../../packet/endpoint.js';
import { addDefaultRoute, pickFullTunnelTable } from './full-tunnel.js';
import { applyDns, liveDns, type DnsManager } from './dns-config.js';
import { queryCommand } from './run-command.js';
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
  private readonly fullTunnelFamilies = new Set<4 | 6>();
  private dns: { manager: DnsManager; servers: string[]; search: string[] } | undefined;
  private autoMtu = 0;

  constructor(
    private readonly ifname: string,
    private readonly ifindex: number,
    private readonly table: TableSetting,
    private readonly device: Device,
    private readonly journal: UndoJournal,
  ) {}

  /** The fwmark a reload must keep when the file sets none: the full tunnel's. */
  get fwmark(): number | undefined { return this.fullTunnelTable; }

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

  /** Routes for these prefixes, as Table = says. */
  addRoutes(prefixes: IpPrefix[]): void {
    if (this.table.kind === 'off') return;
    const nl = native();
    for (const r of prefixes) {
      const dst = formatPrefix(r);
      if (this.table.kind === 'fixed') {
        process.stderr.write(`[#] ip -${r.family} route add ${dst} dev ${this.ifname} table ${this.table.text}\n`);
        nl.routeAdd({ dst, ifindex: this.ifindex, table: this.table.id, replace: true });
      } else if (isDefault(r)) {
        this.addFullTunnel(r.family);
      } else {
        process.stderr.write(`[#] ip -${r.family} route add ${dst} dev ${this.ifname}\n`);
        nl.routeAdd({ dst, ifindex: this.ifindex, replace: true });
      }
    }
  }

  /** Removes the routes of prefixes no peer has any more (a reload). A full tunnel's rules stay until down. */
  removeRoutes(prefixes: IpPrefix[]): void {
    if (this.table.kind === 'off') return;
    const nl = native();
    for (const r of prefixes) {
      const table = this.table.kind === 'fixed' ? this.table.id : isDefault(r) ? this.fullTunnelTable : undefined;
      try { nl.routeDel({ dst: formatPrefix(r), ifindex: this.ifindex, table }); } catch { /* already gone */ }
    }
  }

  private addFullTunnel(family: 4 | 6): void {
    if (this.fullTunnelFamilies.has(family)) return;
    if (this.fullTunnelTable === undefined) {
      const current = this.device.getSnapshot().fwmark;
      this.fullTunnelTable = pickFullTunnelTable(current);
      if (!current) {
        process.stderr.write(`[#] wg set ${this.ifname} fwmark ${this.fullTunnelTable}\n`);
        this.device.applySet([{ kind: 'fwmark', fwmark: this.fullTunnelTable }]);
      }
    }
    const addresses = native().addrList(this.ifindex).filter((a) => a.family === family).map((a) => a.address);
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
    const addresses = nl.addrList(this.ifindex).filter((a) => a.scope !== RT_SCOPE_LINK)
      .map((a) => parsePrefix(a.cidr)).filter((p): p is IpPrefix => p !== null);
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
