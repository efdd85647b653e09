/**
 * Whose XDP program steers our UDP port's frames into the workers' AF_XDP
 * sockets, chosen once at start-up from the datapath "xdpProgram" setting:
 *
 * - "own" (default): XdpPaths attaches our filter (native/bpf) per device.
 * - "device-plugin": the AF_XDP device plugin for Kubernetes loaded its
 *   program on the pod's devices; we take each device's XSKMAP over the
 *   plugin's socket (device-plugin-client.ts) and load nothing, so the pod
 *   needs neither CAP_BPF nor CAP_PERFMON. When that handshake fails, the
 *   log says why and that the kernel UDP socket carries everything
 *   ("fallback"): loading our own program instead would fight the plugin's.
 */
import { fdPassing } from '../../native/fd-passing.js';
import type { DatapathConfig } from '../config/datapath-config.js';
import { pluginDevicesFromEnv, pluginSocketFor, requestXskMaps } from './device-plugin-client.js';
import type { Logger } from '../log.js';

export type XdpSteering =
  | { kind: 'own' }
  | { kind: 'device-plugin'; socket: string; version: string; maps: Map<string, number> }
  | { kind: 'fallback'; reason: string };

/** Runs the device-plugin handshake when the config asks for it. */
export function chooseXdpSteering(config: DatapathConfig, log: Logger, env: NodeJS.ProcessEnv = process.env): XdpSteering {
  if (config.xdpProgram !== 'device-plugin') return { kind: 'own' };
  if (config.afxdp === 'off') return { kind: 'fallback', reason: 'AF_XDP is off in the datapath config' };
  const devices = config.devices === 'auto' ? pluginDevicesFromEnv(env) : config.devices;
  const socket =
    config.devicePluginSocket !== 'auto'
      ? config.devicePluginSocket
      : devices[0]
        ? pluginSocketFor(devices[0])
        : '(no device: set "devices" or AFXDP_DEVICES_<POOL>)';
  try {
    const grant = requestXskMaps({ socketPath: socket, devices });
    log.debug(`device plugin exchange: ${grant.transcript.join(' ')}`);
    log.verbose(
      `XDP program: the AF_XDP device plugin's (handshake ${grant.version} over ${socket}); XSK maps for ${[...grant.maps.keys()].join(', ')}`,
    );
    return { kind: 'device-plugin', socket, version: grant.version, maps: grant.maps };
  } catch (err) {
    const reason = `device-plugin handshake failed: ${(err as Error).message}`;
    log.error(`${reason}; falling back to the kernel UDP socket for all peers (no AF_XDP)`);
    return { kind: 'fallback', reason };
  }
}

/** One line for `xdpwg stats` and the metrics: which mode is in use. */
export function describeXdpSteering(s: XdpSteering): string {
  switch (s.kind) {
    case 'own':
      return 'own';
    case 'device-plugin':
      return 'device-plugin';
    case 'fallback':
      return 'kernel-fallback';
  }
}

/** Closes map fds nobody took (devices no peer routed through). */
export function closeUnusedMaps(s: XdpSteering): void {
  if (s.kind !== 'device-plugin') return;
  for (const fd of s.maps.values()) fdPassing().closeFd(fd);
  s.maps.clear();
}
