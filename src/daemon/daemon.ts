/**
 * One running xdpwg interface: TUN + outer UDP port + workers + device +
 * UAPI socket, and the three ways it ends, as wireguard-go ends: SIGTERM /
 * SIGINT, the TUN device deleted, or the UAPI socket file removed.
 *
 * Threading: main thread; the data path runs in the WorkerPool's threads.
 */
import os from 'node:os';
import { native } from '../native/binding.js';
import { tunQueueSpecs } from '../native/tun.js';
import { parseSpinUs } from '../datapath/spin.js';
import { Device } from './device/device.js';
import type { Logger } from './log.js';
import { UapiServer } from './uapi/server.js';
import { StatsServer } from './observe/stats-server.js';
import { loadDatapathConfig } from './config/datapath-config.js';
import type { MetricsServer } from './observe/metrics-server.js';
import { chooseXdpSteering } from './xdp/xdp-steering.js';
import { lowerHelperThreads, lowerHelpersWanted } from '../native/thread-roles.js';

export interface DaemonOptions {
  ifname: string;
  log: Logger;
  /** Worker threads (= TUN queues); default: one per core, at most 4. */
  workers?: number;
  /**
   * After the TUN exists, keep only the capabilities the data plane needs
   * (DATA_PLANE_CAPABILITIES). `xdpwg up` leaves this off: its PreDown and
   * PostDown hooks run later and expect what wg-quick's hooks get.
   */
  dropCapabilities?: boolean;
  /** HOST:PORT for GET /metrics; overrides the datapath "metricsListen" ('off' turns it off). */
  metricsListen?: string;
  /** Where IFNAME.datapath.jsonc is looked for: the wg config's directory (`xdpwg up FILE`); default /etc/wireguard. */
  configDir?: string;
  /**
   * Runs on SIGTERM/SIGINT before anything closes, while the UAPI socket still
   * answers (`xdpwg up`'s PreDown hooks may run `wg show %i`); its errors are
   * the caller's to report.
   */
  beforeSignalShutdown?: () => Promise<void>;
}

/**
 * What the daemon keeps once its TUN is open — the set systemd/xdpwg@.service
 * grants: CAP_NET_ADMIN (netlink, XDP attach, MTU), CAP_NET_RAW (AF_XDP
 * sockets), CAP_BPF and CAP_PERFMON (loading the filter). Like the unit's
 * LimitMEMLOCK=infinity, RLIMIT_MEMLOCK is lifted first for the UMEM pages
 * (where it cannot be, CAP_IPC_LOCK stays instead); like the unit, a listen
 * port below 1024 set later cannot be bound.
 */
export const DATA_PLANE_CAPABILITIES = { CAP_NET_ADMIN: 12, CAP_NET_RAW: 13, CAP_PERFMON: 38, CAP_BPF: 39 } as const;
/** Kept too when RLIMIT_MEMLOCK cannot be lifted (no CAP_SYS_RESOURCE): the UMEM needs it then. */
const CAP_IPC_LOCK = 14;

export interface RunningDaemon {
  device: Device;
  /** Resolves with the exit status once the daemon has shut down. */
  exited: Promise<number>;
  shutdown(reason: string, status?: number): Promise<void>;
}

function envFd(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const fd = Number(v);
  if (!Number.isInteger(fd) || fd < 0) throw new Error(`${name}=${v} is not a file descriptor number`);
  return fd;
}

/** Creates everything and returns once the TUN and the UAPI socket both exist. */
/** The TUN device; without the right to make one, says what is missing rather than a bare errno. */
function openTun(name: string, queues: number, offload: boolean): ReturnType<ReturnType<typeof native>['tunOpen']> {
  try {
    return native().tunOpen({ name, queues, multiQueue: true, offload });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw err;
    throw new Error(
      `cannot create the TUN device ${name} (${(err as Error).message}): this needs root, or CAP_NET_ADMIN and read-write access to /dev/net/tun`,
    );
  }
}

export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  const n = native();
  const { log } = opts;
  const tunFd = envFd('WG_TUN_FD');
  const uapiFd = envFd('WG_UAPI_FD');
  const { config: datapath, file: datapathFile } = loadDatapathConfig(opts.ifname, process.env, opts.configDir);
  if (datapathFile) log.verbose(`datapath settings from ${datapathFile}`);
  // XDPWG_TX_PATH overrides "txPath" (measurements, and the tests that prove the AF_XDP transmit path).
  const txPathEnv = process.env.XDPWG_TX_PATH;
  if (txPathEnv === 'auto' || txPathEnv === 'afxdp' || txPathEnv === 'socket') datapath.txPath = txPathEnv;
  else if (txPathEnv) throw new Error(`XDPWG_TX_PATH=${txPathEnv}: expected auto, afxdp or socket`);
  // XDPWG_SPIN_US overrides "spinUs" (measurements of the spin's cost and gain).
  if (process.env.XDPWG_SPIN_US !== undefined) datapath.spinUs = parseSpinUs(process.env.XDPWG_SPIN_US);
  // XDPWG_RX_PATH overrides "rxPath" (measurements of the two receive paths).
  const rxPathEnv = process.env.XDPWG_RX_PATH;
  if (rxPathEnv === 'auto' || rxPathEnv === 'afxdp' || rxPathEnv === 'socket') datapath.rxPath = rxPathEnv;
  else if (rxPathEnv) throw new Error(`XDPWG_RX_PATH=${rxPathEnv}: expected auto, afxdp or socket`);
  const fromEnv = Number(process.env.XDPWG_WORKERS);
  const configured = datapath.workers === 'auto' ? undefined : datapath.workers;
  const wanted = opts.workers ?? (fromEnv > 0 ? fromEnv : (configured ?? Math.max(1, Math.min(4, os.availableParallelism()))));
  // TUN offloads (TSO/USO reads cut natively, GRO-style coalesced writes): on unless the
  // datapath config says "tunOffload": "off" or XDPWG_TUN_OFFLOAD=0.
  // An adopted fd (WG_TUN_FD) keeps whatever its opener chose.
  const offload = process.env.XDPWG_TUN_OFFLOAD !== '0' && datapath.tunOffload !== 'off';
  const tun = tunFd !== undefined ? n.tunAdopt(tunFd) : openTun(opts.ifname, wanted, offload);
  log.verbose(`TUN ${tun.name} (ifindex ${tun.ifindex}) with ${tun.fds.length} queue(s); outbound flows pick a queue by ${tun.steering}`);
  log.verbose(tun.vnetHdr ? `TUN offloads: ${tun.offloads.join(' ') || 'none accepted (vnet header only)'}` : 'TUN offloads: off');

  // Under the single-threaded collector (bin/xdpwg), or XDPWG_HELPERS=idle, the runtime's helper threads
  // yield to ours (thread-roles.ts). Now: they are all there is besides this thread, and a thread may lower
  // only threads whose capabilities its own include.
  if (lowerHelpersWanted()) log.verbose(`${lowerHelperThreads()} runtime helper thread(s) moved to SCHED_IDLE`);
  if (opts.dropCapabilities) {
    // The filter's sweep of dead namespaces' lock files needs to see every process's namespace, which
    // the reduced capabilities no longer can (it then removes nothing): sweep once now.
    const swept = n.sweepDeadNamespaceLocks();
    if (swept > 0) log.verbose(`removed ${swept} lock file(s) of network namespaces that are gone from /run/xdpwg`);
    // Before the workers start: threads inherit the caller's capability sets.
    const keep: Record<string, number> = { ...DATA_PLANE_CAPABILITIES };
    // UMEM pages are locked memory: without an unlimited RLIMIT_MEMLOCK only CAP_IPC_LOCK lets them in.
    if (!n.raiseMemlockLimit()) keep.CAP_IPC_LOCK = CAP_IPC_LOCK;
    n.dropCapabilities(Object.values(keep));
    log.verbose(`capabilities reduced to ${Object.keys(keep).join(', ')}`);
  }
  // Before the workers: the device plugin stops listening soon after the pod starts (device-plugin-client.ts).
  const steering = chooseXdpSteering(datapath, log);
  // Flows go only to the TUN queues of workers that can send on AF_XDP (see XdpPaths).
  const onSendingWorkers = (k: number): void => {
    if (tun.steeringMapFd < 0) return;
    try {
      n.tunSteeringSpread(tun.steeringMapFd, k);
    } catch (err) {
      log.error(`TUN steering: ${(err as Error).message}`);
    }
  };
  const device = await Device.create({ ifname: tun.name, tunQueues: tunQueueSpecs(tun), log, datapath, steering, onSendingWorkers });
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((r) => {
    resolveExit = r;
  });
  let closing = false;
  let uapi: UapiServer | undefined;
  let stats: StatsServer | undefined;
  let metrics: MetricsServer | undefined;

  const shutdown = async (reason: string, status = 0): Promise<void> => {
    if (closing) return;
    closing = true;
    log.verbose(`shutting down: ${reason}`);
    uapi?.close();
    stats?.close();
    metrics?.close();
    await device.close();
    if (tun.vnetHdr) {
      const o = n.tunOffloadStats();
      log.verbose(
        `TUN offload: read ${o.readSegments} segments from ${o.readSuperPackets} super packets (${o.readDropped} dropped); ` +
          `wrote ${o.writeGroupedPackets} packets in ${o.writeGroups} coalesced writes, ${o.writeSingles} alone`,
      );
    }
    resolveExit(status);
  };
  device.onFatal = (reason) => {
    log.error(reason);
    void shutdown(reason, reason.includes('gone') ? 0 : 1);
  };

  try {
    uapi = await UapiServer.open({
      interfaceName: tun.name,
      device,
      inheritedFd: uapiFd,
      log,
      onSocketRemoved: () => void shutdown('UAPI socket removed'),
    });
  } catch (err) {
    await device.close();
    throw err;
  }
  stats = await StatsServer.open(
    tun.name,
    () => device.statsSnapshot(),
    (snaplen) => device.openCapture(snaplen),
  );
  const metricsListen = opts.metricsListen ?? datapath.metricsListen;
  if (metricsListen !== 'off') {
    try {
      // Loaded only when metrics are on: prom-client alone is ~12 MB resident (issue 19).
      const { MetricsServer } = await import('./observe/metrics-server.js');
      metrics = await MetricsServer.open(metricsListen, { stats: () => device.statsSnapshot(), uapi: () => device.getSnapshot() });
      log.verbose(`Prometheus metrics at http://${metrics.address}/metrics`);
    } catch (err) {
      // The tunnel matters more than its metrics: keep running, say so loudly.
      log.error(`${(err as Error).message}; running without metrics`);
    }
  }
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      if (closing) return;
      const before = opts.beforeSignalShutdown?.() ?? Promise.resolve();
      void before.catch((err: unknown) => log.error((err as Error).message)).then(() => shutdown(`received ${sig}`));
    });
  }
  log.verbose('device started');
  return { device, exited, shutdown };
}
