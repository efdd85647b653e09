/**
 * Which path each peer's outer packets take, and the AF_XDP ports behind it
 * (main thread).
 *
 * For a peer endpoint: route-get gives the egress device, the next hop
 * (gateway or the peer itself) and the preferred source; the neighbour table
 * gives the next hop's MAC. A device that can take XDP (Ethernet, not
 * loopback, not excluded by the datapath config) gets our XDP filter and
 * one AF_XDP port per worker queue; the peer then gets a PeerRoute, and the
 * workers build Ethernet/IP/UDP around its messages themselves. Everything
 * else takes the kernel UDP socket, and the log says why, once per reason:
 * loopback or a device without XDP, an unresolved neighbour (the kernel's
 * ARP/ND, triggered by our kernel-path packets, resolves it; the filter
 * passes ARP/ND), AF_XDP unavailable (no privilege, old kernel).
 *
 * A device whose filter another xdpwg process attached (no libxdp
 * dispatcher to run both) is shared: we join that process's program and,
 * per queue, its UMEM (uplink-share.ts); our own filter offers the same to
 * others. When the owner goes, we close the shared ports and attach a filter
 * of our own.
 *
 * Routes and neighbours are re-read every second and on fwmark changes, so a
 * gateway or MAC change moves the traffic within a second instead of
 * black-holing it; a new endpoint uses what this second's refresh (or an
 * earlier new endpoint) already asked for the same destination
 * (route-lookups.ts), else asks. Lookups carry the device's fwmark, as the
 * kernel socket's SO_MARK packets do.
 *
 * Sticky source, as the kernel socket's IP_PKTINFO: a peer is answered from
 * the local address its packets reached (the address record's local half),
 * as long as that address exists; once it is removed, from the route's
 * preferred source (the peer then roams to it). The local addresses come
 * from netlink address events (LocalAddresses), which also keep every
 * filter's local-address maps current.
 */
import { readdirSync } from 'node:fs';
import { native, type NativeXdpFilter, type XskPortOptions } from '../../native/binding.js';
import { fdPassing } from '../../native/fd-passing.js';
import { openXdpFilter } from '../../native/xdp-filter.js';
import { UdpAddrRecord as R } from '../../native/addr-record-layout.js';
import { formatIP, parseIP } from '../config/device-config.js';
import type { DatapathConfig } from '../config/datapath-config.js';
import { LocalAddresses } from './local-addresses.js';
import { RouteLookups, neighbourUsable } from './route-lookups.js';
import { closeUnusedMaps, type XdpSteering } from './xdp-steering.js';
import { PluginXskMap } from './plugin-xsk-map.js';
import { UplinkShareMember, UplinkShareServer } from './uplink-share.js';
import type { Logger } from '../log.js';
import type { PeerRoute, ToWorker } from '../../datapath/worker-messages.js';
import { describeTxPath } from '../../datapath/tx-path.js';
import { describeRxPath, rxBySocket } from '../../datapath/rx-path.js';
import { afxdpDeclined } from './afxdp-choice.js';

const ARPHRD_ETHER = 1;
/** A peer we sent to within this long… */
const UNANSWERED_SEND_RECENT_MS = 2_000;
/** …and have not heard from for this long after our last send gets its next hop re-resolved. */
const UNANSWERED_AFTER_MS = 1_000;
/**
 * A device none of whose workers could open an AF_XDP port (typically: the
 * queue is bound by another process's AF_XDP socket, and the kernel allows
 * one per queue) is asked again this often, so AF_XDP resumes once that
 * process has gone.
 */
const PORT_RETRY_MS = 5_000;

interface XdpDevice {
  ifindex: number;
  name: string;
  mac: Uint8Array;
  mtu: number;
  queues: number;
  filter: NativeXdpFilter | null;
  /** Workers whose AF_XDP port on this device is bound in the filter. */
  bound: Set<number>;
  /** Why the last worker could not open its port (while none is bound), and when the ports were last asked for. */
  portError?: string;
  portsAskedMs: number;
  /** The worker port options, kept to ask again (see refresh). */
  portOpts?: Omit<XskPortOptions, 'queue'>;
  /** Why this device cannot take AF_XDP (then all its peers use the kernel socket). */
  unusable?: string;
  /** Another xdpwg holds the device (no dispatcher to share it): try again, see refresh. */
  attachBusySinceMs?: number;
  /** Our filter is on the device: other xdpwg processes may join our program and UMEM (uplink-share.ts). */
  share?: UplinkShareServer;
  /** Another xdpwg's filter is on the device and we share its program and UMEM. */
  member?: UplinkShareMember;
  /** The transmit path choice last logged for the device (describeTxPath), to say it once per change. */
  txPathSaid?: string;
  /** The receive path choice (describeRxPath), said once per change; rxPath: where data messages arrive. */
  rxPathSaid?: string;
  rxPath?: 'afxdp' | 'socket';
}

/**
 * The rx queues a device really has (sysfs lists the active ones; netlink
 * reports the allocated count, which for a veth can be higher than what an
 * AF_XDP socket can bind to).
 */
function realRxQueues(name: string, allocated: number): number {
  try {
    const n = readdirSync(`/sys/class/net/${name}/queues`).filter((q) => q.startsWith('rx-')).length;
    return n > 0 ? n : allocated;
  } catch {
    return allocated;
  }
}

/** The first line of an error, short: libbpf appends its whole verifier log (320: room for libxdp's reason, see native/xdp_filter.cc). */
function firstCause(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.split('\n')[0]!.trim();
  return line.length > 320 ? `${line.slice(0, 320)}…` : line;
}

function macBytes(text: string): Uint8Array {
  return Uint8Array.from(text.split(':').map((h) => parseInt(h, 16)));
}

function sameRoute(a: PeerRoute | null, b: PeerRoute | null): boolean {
  if (!a || !b) return a === b;
  return (
    a.ifindex === b.ifindex &&
    a.family === b.family &&
    a.dstPort === b.dstPort &&
    a.mtu === b.mtu &&
    Buffer.compare(a.dstMac, b.dstMac) === 0 &&
    Buffer.compare(a.srcMac, b.srcMac) === 0 &&
    Buffer.compare(a.srcIp, b.srcIp) === 0 &&
    Buffer.compare(a.dstIp, b.dstIp) === 0
  );
}

/** Idle peers whose routes each refresh re-reads besides the active ones (refreshSlots). */
const ROUTE_SWEEP_PER_REFRESH = 256;

export class XdpPaths {
  private readonly devices = new Map<number, XdpDevice>();
  private readonly routes = new Map<number, PeerRoute | null>();
  private readonly endpoints = new Map<number, Uint8Array>();
  /** Where the idle peers' route sweep is (refreshSlots); a Map iterator survives deletions. */
  private sweep: Iterator<number> = this.endpoints.keys();
  private readonly reasons = new Map<number, string>();
  /** Per peer on the AF_XDP path: the next hop whose MAC frames carry. */
  private readonly nextHops = new Map<number, { ifindex: number; ip: string }>();
  private readonly said = new Set<string>();
  private disabled: string | undefined;
  private listenPort = 0;
  private udpFd = -1;
  /** wg(8)'s fwmark: route lookups ask for the routes marked packets take (0 = unmarked). */
  private fwmark = 0;
  /** The netlink answers recompute() uses, asked once per refresh (route-lookups.ts). */
  private readonly lookups = new RouteLookups(native);
  /** How many workers the TUN spreads flows over (updateSendingWorkers). */
  private sendingWorkers: number;
  /** Opened with the first device that gets a filter (a daemon without AF_XDP needs none). */
  private local: LocalAddresses | null = null;

  constructor(
    private readonly config: DatapathConfig,
    private readonly workers: number,
    private readonly log: Logger,
    private readonly broadcast: (msg: ToWorker) => void,
    /** Our filter, or the device plugin's XSK maps (taken over: closed here), or a fallback's reason. */
    readonly steering: XdpSteering = { kind: 'own' },
    /**
     * Told how many workers (0..n-1) can send on AF_XDP on every device in use
     * (0: all of them, or no device has AF_XDP), so the TUN reads flows only on
     * those workers' queues (native/bpf/tun_steering.bpf.c).
     */
    private readonly onSendingWorkers: (n: number) => void = () => {},
  ) {
    this.sendingWorkers = workers;
    if (config.afxdp === 'off') this.disabled = 'AF_XDP is off in the datapath config';
    else if (steering.kind === 'fallback') this.disabled = steering.reason;
  }

  /** Logs a path decision once per distinct text (the log says which path each port takes and why). */
  private sayOnce(text: string): void {
    if (this.said.has(text)) return;
    this.said.add(text);
    this.log.verbose(text);
  }

  /** Per-device summary for `xdpwg stats`. */
  summary(): Array<{
    device: string;
    mode: string;
    queues: number;
    boundWorkers: number[];
    unusable?: string;
    txPath?: string;
    rxPath?: 'afxdp' | 'socket';
    rxPathReason?: string;
  }> {
    return [...this.devices.values()].map((d) => ({
      device: d.name,
      mode: d.filter?.info().mode ?? 'none',
      queues: d.queues,
      boundWorkers: [...d.bound],
      unusable: d.unusable,
      txPath: d.txPathSaid,
      rxPath: d.rxPath,
      rxPathReason: d.rxPathSaid,
    }));
  }

  /** Why a peer takes the kernel path ('' when it takes AF_XDP). */
  reasonFor(slot: number): string {
    return this.reasons.get(slot) ?? 'no endpoint';
  }

  /** port, and udpFd, the kernel socket bound to it (a shared uplink's anchor asks a member for it as proof: uplink-share.ts). */
  setListenPort(port: number, udpFd = -1): void {
    this.listenPort = port;
    this.udpFd = udpFd;
    for (const d of this.devices.values()) {
      try {
        d.filter?.setPorts([port], udpFd);
      } catch (err) {
        this.log.error(`XDP filter on ${d.name}: cannot steer port ${port}: ${(err as Error).message}`);
      }
    }
    for (const slot of this.endpoints.keys()) this.recompute(slot);
  }

  /**
   * The fwmark changed: every peer's route is looked up again with it, so
   * policy routing on the mark (wg-quick's `not fwmark T table T`) decides
   * the egress device of AF_XDP frames exactly as it does for the kernel
   * socket's marked packets.
   */
  setFwmark(mark: number): void {
    this.fwmark = mark;
    this.lookups.forget();
    for (const slot of this.endpoints.keys()) this.recompute(slot);
  }

  /** A peer's endpoint (40-byte address record) changed, or the peer went (null). */
  setEndpoint(slot: number, addr: Uint8Array | null): void {
    if (addr) this.endpoints.set(slot, addr);
    else {
      this.endpoints.delete(slot);
      this.routes.delete(slot);
      this.reasons.delete(slot);
      this.nextHops.delete(slot);
      return;
    }
    this.recompute(slot);
  }

  /**
   * Re-reads every peer's route and neighbour (once a second). A peer on the
   * AF_XDP path that we keep sending to but that has said nothing for a
   * while gets its next hop's neighbour entry sent back to NUD_PROBE: frames
   * we build never confirm the entry to the kernel, so a silently changed
   * next-hop MAC would otherwise stay wrong until the entry ages out; the
   * probe makes the kernel re-resolve it, and the next refresh picks it up.
   */
  refresh(
    traffic: (slot: number) => { lastAuthRxMs: number; lastAnyTxMs: number },
    nowMs = Date.now(),
    active?: ReadonlySet<number>,
  ): void {
    // Re-read: the answers cached since the last refresh (new endpoints in between) go now.
    this.lookups.forget();
    if (this.local?.poll()) {
      const addrs = this.local.addresses();
      for (const d of this.devices.values()) {
        try {
          d.filter?.setLocalAddresses(addrs);
        } catch (err) {
          this.log.error(`XDP filter on ${d.name}: cannot update the local addresses: ${(err as Error).message}`);
        }
      }
    }
    for (const d of this.devices.values()) {
      d.share?.poll();
      if (d.member && !d.member.alive()) this.memberLost(d, nowMs);
      if (d.attachBusySinceMs !== undefined && nowMs - d.attachBusySinceMs >= PORT_RETRY_MS) this.attach(d, nowMs);
      if (d.filter && d.portOpts && d.bound.size === 0 && d.portError && nowMs - d.portsAskedMs >= PORT_RETRY_MS) this.askPorts(d, nowMs);
    }
    for (const slot of this.refreshSlots(active)) {
      this.recompute(slot);
      const hop = this.nextHops.get(slot);
      if (!hop || this.reasons.get(slot) !== '') continue;
      const t = traffic(slot);
      const unanswered = nowMs - t.lastAnyTxMs < UNANSWERED_SEND_RECENT_MS && t.lastAnyTxMs - t.lastAuthRxMs > UNANSWERED_AFTER_MS;
      if (unanswered) {
        try {
          native().neighProbe(hop.ifindex, hop.ip);
        } catch (err) {
          this.log.debug(`neighbour probe of ${hop.ip}: ${(err as Error).message}`);
        }
      }
    }
  }

  /**
   * The peers whose routes a refresh re-reads: without `active`, all; with
   * it, the peers that had traffic since the last refresh, plus the next
   * ROUTE_SWEEP_PER_REFRESH of the others in turn (a route costs three
   * netlink look-ups: 1,000,000 idle peers must not cost them every
   * second, and an idle peer's route is still re-read within
   * peers / ROUTE_SWEEP_PER_REFRESH seconds, and at once when it is active).
   */
  private refreshSlots(active: ReadonlySet<number> | undefined): Iterable<number> {
    if (!active) return [...this.endpoints.keys()];
    const out = new Set<number>();
    for (const slot of active) if (this.endpoints.has(slot)) out.add(slot);
    const n = Math.min(ROUTE_SWEEP_PER_REFRESH, this.endpoints.size);
    for (let i = 0; i < n; i++) {
      let r = this.sweep.next();
      if (r.done) {
        this.sweep = this.endpoints.keys();
        r = this.sweep.next();
        if (r.done) break;
      }
      out.add(r.value);
    }
    return out;
  }

  /** A worker opened (fd) or failed to open (error) its AF_XDP port on a device. */
  workerPort(worker: number, ifindex: number, fd: number | null, error?: string, describe?: string, zeroCopy?: boolean): void {
    const d = this.devices.get(ifindex);
    if (!d || !d.filter) return;
    if (fd === null) {
      d.member?.queueDone(worker);
      d.portError = error;
      this.sayOnce(`${d.name}: worker ${worker} has no AF_XDP port (${error}); its packets to peers on ${d.name} take the kernel socket`);
      return;
    }
    try {
      d.filter.bindQueue(worker, fd);
      d.share?.setXsk(worker, fd);
      d.bound.add(worker);
      d.portError = undefined;
      this.log.verbose(`${d.name}: worker ${worker} ${describe ?? `AF_XDP queue ${worker}`}`);
      if (zeroCopy !== undefined) {
        this.sayTxPath(d, zeroCopy);
        this.applyRxPath(d, zeroCopy);
      }
    } catch (err) {
      this.log.error(`${d.name}: cannot bind worker ${worker}'s AF_XDP socket: ${(err as Error).message}`);
      return;
    }
    // Peers on this device were on the kernel socket until a port existed.
    if (d.bound.size === 1) for (const slot of this.endpoints.keys()) this.recompute(slot);
    this.updateSendingWorkers();
  }

  /** Where data messages to peers on the device leave (src/datapath/tx-path.ts), once per change per device. */
  private sayTxPath(d: XdpDevice, zeroCopy: boolean): void {
    const text = describeTxPath(d.name, this.config.txPath, zeroCopy);
    if (d.txPathSaid === text) return;
    d.txPathSaid = text;
    this.log.verbose(text);
  }

  /**
   * Where peers' data messages on the device arrive (src/datapath/rx-path.ts):
   * the filter passes them to the kernel socket or redirects them to AF_XDP.
   * Only our own filter can pass them (another xdpwg's program or the device
   * plugin's steers as its owner chose). Said once per change per device.
   */
  private applyRxPath(d: XdpDevice, zeroCopy: boolean): void {
    // GRO as the device has it now (a later `ethtool -K` takes effect with the next port bind).
    const dev = { zeroCopy, gro: native().linkGro(d.name) === true, rxWorkers: Math.min(d.queues, this.workers) };
    const bySocket = rxBySocket(this.config.rxPath, dev);
    let cannot: string | undefined;
    if (!d.filter?.setPassData) {
      if (bySocket) cannot = d.member ? "the XDP program is another xdpwg process's" : "the XDP program is the AF_XDP device plugin's";
    } else {
      try {
        d.filter.setPassData(bySocket);
      } catch (err) {
        if (bySocket) cannot = firstCause(err);
      }
    }
    d.rxPath = bySocket && !cannot ? 'socket' : 'afxdp';
    const text = describeRxPath(d.name, this.config.rxPath, dev, cannot);
    if (d.rxPathSaid === text) return;
    d.rxPathSaid = text;
    this.log.verbose(text);
  }

  /**
   * Worker i binds rx queue i, so on a device with fewer queues than workers
   * only the first `bound` workers can send there on AF_XDP: narrow the TUN's
   * flow spread to the fewest any AF_XDP device has (a flow read by another
   * worker would take the kernel socket).
   */
  private updateSendingWorkers(): void {
    let n = this.workers;
    for (const d of this.devices.values()) if (d.filter && d.bound.size > 0) n = Math.min(n, d.bound.size);
    if (n === this.sendingWorkers) return;
    this.sendingWorkers = n;
    this.onSendingWorkers(n === this.workers ? 0 : n);
    if (n < this.workers)
      this.log.verbose(`outbound flows spread over workers 0..${n - 1}, the ones with an AF_XDP port on every device in use`);
    else this.log.verbose(`outbound flows spread over all ${n} workers (each has an AF_XDP port on every device in use)`);
  }

  close(): void {
    for (const d of this.devices.values()) {
      try {
        d.share?.close();
      } catch {
        /* closing on the way out: members see their connection end */
      }
      try {
        d.filter?.close();
      } catch {
        /* detaching on the way out: nothing more to do */
      }
    }
    this.devices.clear();
    this.local?.close();
    this.local = null;
    closeUnusedMaps(this.steering);
  }

  /**
   * A peer's path; `taken` is the log line for a move onto AF_XDP. Each move
   * between the paths is logged once, in both directions (a move back to the
   * kernel socket — a neighbour entry lost, a route changed — says why).
   */
  private setRoute(slot: number, route: PeerRoute | null, reason: string, taken?: string): void {
    this.reasons.set(slot, reason);
    const before = this.routes.get(slot) ?? null;
    // A worker's new peer has no route: telling it "none" for each of 100,000 peers is 100,000 messages.
    if (route === null && !this.routes.has(slot)) {
      this.routes.set(slot, null);
      return;
    }
    if (sameRoute(before, route) && this.routes.has(slot)) return;
    this.routes.set(slot, route);
    // Onto AF_XDP, or a new next hop there (a gateway's MAC changed): said once per change.
    if (route && taken) this.log.verbose(taken);
    else if (!route && before) this.log.verbose(`peer traffic to ${formatIP(before.dstIp)} moves back to the kernel UDP socket: ${reason}`);
    this.broadcast({ t: 'peer-route', slot, route });
  }

  private recompute(slot: number): void {
    const addr = this.endpoints.get(slot);
    if (!addr) return;
    if (this.disabled) {
      this.setRoute(slot, null, this.disabled);
      return;
    }
    const family = addr[R.family] === 4 ? 4 : 6;
    const remote = family === 4 ? addr.subarray(R.remoteIpv4, R.remoteIpv4 + 4) : addr.subarray(R.remoteIp, R.remoteIp + R.ipBytes);
    const remoteText = formatIP(remote);
    const rt = this.lookups.route(remoteText, this.fwmark);
    if (!rt) {
      this.setRoute(slot, null, `no route to ${remoteText}`);
      return;
    }
    if (rt.type === 'local') {
      this.setRoute(slot, null, `${remoteText} is a local address (loopback path)`);
      return;
    }
    const dev = this.device(rt.ifindex);
    const link = dev.unusable ? null : this.lookups.link(rt.ifindex);
    if (link) dev.mtu = link.mtu;
    if (dev.unusable) {
      this.setRoute(slot, null, `${dev.name}: ${dev.unusable}`);
      return;
    }
    if (dev.bound.size === 0) {
      this.setRoute(slot, null, `${dev.name}: no AF_XDP port${dev.portError ? ` (${dev.portError})` : ' yet'}`);
      return;
    }
    const nextHop = rt.gateway ?? remoteText;
    const neigh = this.lookups.neighbour(rt.ifindex, nextHop);
    if (!neighbourUsable(neigh)) {
      this.setRoute(slot, null, `neighbour ${nextHop} on ${dev.name} not resolved yet`);
      return;
    }
    // Sticky source: the local address the peer last reached while it exists, else the route's preferred source.
    const local = family === 4 ? addr.subarray(R.localIpv4, R.localIpv4 + 4) : addr.subarray(R.localIp, R.localIp + R.ipBytes);
    let haveLocal = local.some((b) => b !== 0);
    if (haveLocal && this.local && !this.local.has(local)) {
      // The address the peer reached is gone: forget it in the record, everywhere (as the UDP
      // port does when its sticky source fails), so workers accept the route's source instead.
      const cleared = addr.slice();
      cleared.fill(0, R.localIp, R.localIp + R.ipBytes);
      this.endpoints.set(slot, cleared);
      this.broadcast({ t: 'peer', slot, endpoint: cleared });
      haveLocal = false;
    }
    const src = haveLocal ? local.slice() : rt.prefsrc ? parseIP(rt.prefsrc) : null;
    if (!src) {
      this.setRoute(slot, null, `no source address for ${remoteText} on ${dev.name}`);
      return;
    }
    this.nextHops.set(slot, { ifindex: dev.ifindex, ip: nextHop });
    this.setRoute(
      slot,
      {
        ifindex: dev.ifindex,
        family,
        srcMac: dev.mac,
        dstMac: macBytes(neigh.mac),
        srcIp: src,
        dstIp: remote.slice(),
        dstPort: (addr[R.remotePort]! << 8) | addr[R.remotePort + 1]!,
        mtu: dev.mtu,
      },
      '',
      `peer traffic to ${remoteText} takes AF_XDP on ${dev.name} via ${nextHop} (${neigh.mac})`,
    );
  }

  /** The device record for an ifindex, attaching our filter and asking workers for ports the first time. */
  /** The device plugin's XSK map for a device (ours from now on), or a throw naming why there is none. */
  private pluginMap(ifname: string, ifindex: number): PluginXskMap {
    const maps = this.steering.kind === 'device-plugin' ? this.steering.maps : new Map<string, number>();
    const fd = maps.get(ifname);
    if (fd === undefined) throw new Error(`the AF_XDP device plugin handed us no XSK map for ${ifname}`);
    maps.delete(ifname);
    return new PluginXskMap(ifname, ifindex, fd);
  }

  private device(ifindex: number): XdpDevice {
    let d = this.devices.get(ifindex);
    if (d) return d;
    const n = native();
    const link = n.linkInfo(ifindex);
    d = {
      ifindex,
      name: link?.name ?? `ifindex ${ifindex}`,
      mac: new Uint8Array(6),
      mtu: link?.mtu ?? 1500,
      queues: link ? realRxQueues(link.name, link.numRxQueues) : 1,
      filter: null,
      bound: new Set(),
      portsAskedMs: 0,
    };
    this.devices.set(ifindex, d);
    if (!link) {
      d.unusable = 'device vanished';
      return d;
    }
    if (link.arpType !== ARPHRD_ETHER || !link.mac) {
      d.unusable = 'not an Ethernet device (no XDP path): kernel socket';
      this.sayOnce(`${d.name}: ${d.unusable}`);
      return d;
    }
    if (this.config.devices !== 'auto' && !this.config.devices.includes(link.name)) {
      d.unusable = 'not listed in the datapath config "devices"';
      this.sayOnce(`${d.name}: ${d.unusable}`);
      return d;
    }
    // The AF_XDP device plugin's steering is an explicit choice of AF_XDP: kept on any device.
    const declined = this.steering.kind === 'device-plugin' ? undefined : afxdpDeclined(this.config.afxdp, link.name);
    if (declined) {
      d.unusable = declined;
      this.sayOnce(`${d.name}: ${declined}`);
      return d;
    }
    d.mac = macBytes(link.mac);
    this.attach(d, Date.now());
    return d;
  }

  /** Attaches our filter to the device and asks the workers for their ports. */
  private attach(d: XdpDevice, nowMs: number): void {
    try {
      this.local ??= new LocalAddresses();
      d.filter =
        this.steering.kind === 'device-plugin'
          ? this.pluginMap(d.name, d.ifindex)
          : openXdpFilter({ ifname: d.name, mode: this.config.mode, ports: [this.listenPort] }, this.local.addresses());
    } catch (err) {
      const busy = (err as { code?: string }).code === 'EBUSY';
      if (busy && this.joinShared(d, nowMs)) return;
      d.unusable = `AF_XDP unavailable: ${firstCause(err)}`;
      if (d.attachBusySinceMs === undefined)
        this.log.error(
          `${d.name}: ${d.unusable}; the kernel UDP socket carries its traffic${busy ? ' (trying again every few seconds)' : ''}`,
        );
      d.attachBusySinceMs = busy ? nowMs : undefined;
      return;
    }
    d.unusable = undefined;
    d.attachBusySinceMs = undefined;
    const info = d.filter.info();
    if (info.mode === 'device-plugin')
      this.log.verbose(
        `${d.name}: the AF_XDP device plugin's XDP program steers its frames; our sockets go into its XSK map; ${d.queues} rx queue(s) for ${this.workers} worker(s)`,
      );
    else
      this.log.verbose(
        `${d.name}: XDP filter attached in ${info.mode} mode${info.dispatcher ? ' (libxdp dispatcher)' : ` as the only XDP program (no libxdp dispatcher: ${info.dispatcherError ?? 'unknown'}; a second xdpwg on ${d.name} would join this program and our UMEM)`}${info.replacedStale ? `, replaced ${info.replacedStale} left by a killed process` : ''}; ${d.queues} rx queue(s) for ${this.workers} worker(s)`,
      );
    d.portOpts = this.portOptions(d);
    if (info.mode !== 'device-plugin') this.offerShare(d);
    this.askPorts(d, nowMs);
  }

  private portOptions(d: XdpDevice): Omit<XskPortOptions, 'queue'> {
    return {
      ifname: d.name,
      mode: this.config.mode,
      zeroCopy: this.config.zeroCopy,
      frameSize: this.config.frameSize,
      frameCount: this.config.umemFrames,
      rxSize: this.config.rxRing,
      txSize: this.config.txRing,
      fillSize: this.config.fillRing,
      compSize: this.config.compRing,
      busyPoll: this.config.busyPoll,
      inhibitProgLoad: true,
    };
  }

  /** Our filter is on the device: our ports keep their UMEMs in memfds another xdpwg can join (uplink-share.ts). */
  private offerShare(d: XdpDevice): void {
    const memfds: number[] = [],
      wakeFds: number[] = [];
    try {
      for (let q = 0; q < Math.min(d.queues, this.workers); q++) {
        memfds.push(native().shareMemfd(this.config.frameSize, this.config.umemFrames));
        wakeFds.push(native().shareWakeFd());
      }
      d.share = new UplinkShareServer(d.name, d.ifindex, d.filter!, memfds, wakeFds, this.log);
      d.portOpts = { ...d.portOpts!, share: { memfds, wakeFds } };
    } catch (err) {
      for (const fd of [...memfds, ...wakeFds]) fdPassing().closeFd(fd);
      this.log.error(`${d.name}: other xdpwg processes cannot share our AF_XDP path: ${firstCause(err)}`);
    }
  }

  /** Another xdpwg's filter serves the device: join its program and UMEM; false when it cannot be joined. */
  private joinShared(d: XdpDevice, nowMs: number): boolean {
    let m: UplinkShareMember;
    try {
      m = UplinkShareMember.join(d.name, d.ifindex, this.listenPort, Math.min(d.queues, this.workers), this.udpFd);
    } catch (err) {
      this.sayOnce(`${d.name}: cannot join the other xdpwg's AF_XDP path: ${firstCause(err)}`);
      return false;
    }
    d.filter = m;
    d.member = m;
    d.unusable = undefined;
    d.attachBusySinceMs = undefined;
    d.portOpts = { ...this.portOptions(d), share: { anchorFds: m.anchorFds, memfds: m.memfds, anchorWakeFds: m.wakeFds, slot: m.slot } };
    this.log.verbose(
      `${d.name}: another xdpwg process owns its XDP program; we share that program and its UMEM on ${m.queues} queue(s) as slot ${m.slot}`,
    );
    this.askPorts(d, nowMs);
    return true;
  }

  /**
   * The xdpwg whose program and UMEM we shared closed our connection (it
   * stopped or was killed): nobody fills the shared pool any more. Close our
   * shared ports (peers take the kernel socket meanwhile) and attach a filter
   * of our own, which replaces the dead owner's if it was left behind.
   */
  private memberLost(d: XdpDevice, nowMs: number): void {
    this.log.error(
      `${d.name}: the xdpwg process whose AF_XDP path we shared is gone; closing our shared ports and attaching a filter of our own`,
    );
    this.broadcast({ t: 'xsk-close', ifindex: d.ifindex });
    d.member!.close();
    d.member = undefined;
    d.filter = null;
    d.bound.clear();
    d.portError = 'the xdpwg whose AF_XDP path we shared went away';
    d.portsAskedMs = 0;
    for (const slot of this.endpoints.keys()) this.recompute(slot);
    this.attach(d, nowMs);
  }

  /** Asks every worker to open its AF_XDP port on the device (those that have one ignore it). */
  private askPorts(d: XdpDevice, nowMs: number): void {
    // A retry must not stall the workers' traffic for the bind's EBUSY wait: the next retry comes anyway.
    const retry = d.portsAskedMs !== 0;
    d.portsAskedMs = nowMs;
    this.broadcast({
      t: 'xsk-open',
      ifindex: d.ifindex,
      queues: d.queues,
      opts: retry ? { ...d.portOpts!, busyWaitMs: 0 } : d.portOpts!,
      txPath: this.config.txPath,
    });
  }
}
