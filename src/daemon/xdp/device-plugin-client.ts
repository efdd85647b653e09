/**
 * The client side of the AF_XDP device plugin's Unix-socket protocol
 * (intel/afxdp-plugins-for-kubernetes, handshake version 0.1), with which a
 * pod takes the XSKMAP of each device the plugin gave it, so that the pod
 * needs no privilege to load XDP programs.
 *
 * The plugin, on Allocate, loads libxdp's default XSK program on each device
 * of the pool and serves ONE connection on a SOCK_SEQPACKET socket that it
 * mounts into the pod at /tmp/afxdp_dp/<device>/afxdp.sock (the same socket
 * under every device of the container). It stops listening after its UDS
 * timeout (30 s by default) and drops an idle connection after as long, so
 * the daemon talks to it once, at start-up. Messages are plain text, one per
 * packet, at most 64 bytes:
 *
 *   → "/connect, <pod name>"      ← "/host_ok" | "/host_nak" | "/error"
 *   → "/version"                  ← "0.1"
 *   → "/xsk_map_fd, <device>"     ← "/fd_ack" + the map fd (SCM_RIGHTS) | "/fd_nak"
 *   → "/fin"                      ← "/fin_ack"
 *   (any unknown request          ← "/nak")
 *
 * The pod name is the hostname (Kubernetes sets a pod's hostname to its
 * name); the plugin checks it against the kubelet's pod-resources API.
 *
 * Threading: main thread, synchronous, every reply awaited at most
 * `timeoutMs`: a plugin that never answers delays start-up by that, never more.
 */
import os from 'node:os';
import path from 'node:path';
import { BPF_MAP_TYPE_XSKMAP, fdPassing, type SeqpacketMessage } from '../../native/fd-passing.js';

/** The protocol's words, as the plugin's constants define them. */
export const PLUGIN_HANDSHAKE = {
  version: '0.1',
  requestVersion: '/version',
  requestConnect: '/connect',
  responseHostOk: '/host_ok',
  responseHostNak: '/host_nak',
  requestXskMapFd: '/xsk_map_fd',
  responseFdAck: '/fd_ack',
  responseFdNak: '/fd_nak',
  requestFin: '/fin',
  responseFinAck: '/fin_ack',
  responseBadRequest: '/nak',
  responseError: '/error',
} as const;

/** Where the plugin mounts its socket in the pod, per device. */
export const PLUGIN_POD_DIR = '/tmp/afxdp_dp';
export const PLUGIN_SOCKET_NAME = 'afxdp.sock';
/** The environment variables the plugin sets in the pod: AFXDP_DEVICES_<POOL>="dev1 dev2". */
export const PLUGIN_DEVICES_ENV_PREFIX = 'AFXDP_DEVICES_';
/** Per reply. The plugin answers at once; this only bounds a wedged or absent one. */
export const PLUGIN_REPLY_TIMEOUT_MS = 2_000;

export function pluginSocketFor(device: string): string {
  return path.join(PLUGIN_POD_DIR, device, PLUGIN_SOCKET_NAME);
}

/** The devices the plugin handed this pod, from its AFXDP_DEVICES_* variables. */
export function pluginDevicesFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith(PLUGIN_DEVICES_ENV_PREFIX) && v) out.push(...v.split(/\s+/).filter(Boolean));
  }
  return [...new Set(out)];
}

export class DevicePluginError extends Error {
  override readonly name = 'DevicePluginError';
}

export interface XskMapGrant {
  /** The plugin's handshake version ("0.1"). */
  version: string;
  /** Device name → XSKMAP fd (ours to close). */
  maps: Map<string, number>;
  /** Every message sent and received, in order ("→ …" / "← …"), for the log at debug level. */
  transcript: string[];
}

export interface XskMapRequest {
  socketPath: string;
  devices: string[];
  podName?: string;
  timeoutMs?: number;
}

/** Printable and short: what a garbage answer looked like, for the error message. */
function quote(text: string): string {
  const shown = text.length > 64 ? `${text.slice(0, 64)}…` : text;
  return JSON.stringify(shown);
}

const CLOSED_MID_HANDSHAKE = 'the plugin closed the connection mid-handshake';
/**
 * Whether a send or receive failed because the plugin hung up: EPIPE on send,
 * or ECONNRESET when it closed with our request unread (the kernel then resets
 * rather than ends the connection). Said like an orderly close before the answer.
 */
const hungUp = (e: NodeJS.ErrnoException): boolean => e.code === 'EPIPE' || e.code === 'ECONNRESET';

/**
 * Runs the handshake and returns one XSKMAP fd per device. Throws a
 * DevicePluginError naming the socket, the step and what came back (or did
 * not) when anything is off; no fd is left open then.
 */
export function requestXskMaps(req: XskMapRequest): XskMapGrant {
  const n = fdPassing();
  const timeout = req.timeoutMs ?? PLUGIN_REPLY_TIMEOUT_MS;
  const podName = req.podName ?? os.hostname();
  const transcript: string[] = [];
  const maps = new Map<string, number>();
  const fail = (step: string, problem: string): never => {
    throw new DevicePluginError(`AF_XDP device plugin at ${req.socketPath}: ${step}: ${problem}`);
  };
  if (req.devices.length === 0) fail('no devices', 'name them in the datapath "devices" or let the plugin set AFXDP_DEVICES_<POOL>');
  let sock = -1;
  try {
    try {
      sock = n.seqpacketConnect(req.socketPath, timeout);
    } catch (err) {
      fail('connect', (err as Error).message);
    }
    /** Sends one request and returns the reply, or throws saying what went wrong. */
    const ask = (request: string): SeqpacketMessage => {
      transcript.push(`→ ${request}`);
      try {
        n.seqpacketSend(sock, request, -1, timeout);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        fail(`sending ${quote(request)}`, hungUp(e) ? CLOSED_MID_HANDSHAKE : e.message);
      }
      let reply: SeqpacketMessage;
      try {
        reply = n.seqpacketRecv(sock, timeout);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        return fail(
          `after ${quote(request)}`,
          hungUp(e) ? CLOSED_MID_HANDSHAKE : e.code === 'ETIMEDOUT' ? `no answer within ${timeout} ms` : e.message,
        );
      }
      // JSON-quoted: a garbage answer may hold line breaks, and this goes into one log line.
      transcript.push(`← ${JSON.stringify(reply.text)}${reply.fd >= 0 ? ' [fd]' : ''}`);
      if (reply.closed) fail(`after ${quote(request)}`, CLOSED_MID_HANDSHAKE);
      if (reply.truncated) {
        if (reply.fd >= 0) n.closeFd(reply.fd);
        fail(`after ${quote(request)}`, `an answer longer than any the protocol has: ${quote(reply.text)}`);
      }
      return reply;
    };
    /** A reply that must carry no fd and be one of `expected`. */
    const expect = (request: string, reply: SeqpacketMessage, expected: string[]): string => {
      if (reply.fd >= 0) {
        n.closeFd(reply.fd);
        fail(`after ${quote(request)}`, `a file descriptor came with ${quote(reply.text)}`);
      }
      if (!expected.includes(reply.text))
        fail(`after ${quote(request)}`, `answered ${quote(reply.text)} where ${expected.map(quote).join(' or ')} was expected`);
      return reply.text;
    };

    const connect = `${PLUGIN_HANDSHAKE.requestConnect}, ${podName}`;
    const hello = expect(connect, ask(connect), [
      PLUGIN_HANDSHAKE.responseHostOk,
      PLUGIN_HANDSHAKE.responseHostNak,
      PLUGIN_HANDSHAKE.responseError,
    ]);
    if (hello !== PLUGIN_HANDSHAKE.responseHostOk)
      fail(
        'connect',
        `the plugin refused pod ${quote(podName)} (${hello}): is the pod's hostname its name, and does it hold the plugin's resource?`,
      );

    const version = expect(PLUGIN_HANDSHAKE.requestVersion, ask(PLUGIN_HANDSHAKE.requestVersion), [PLUGIN_HANDSHAKE.version]);

    for (const device of req.devices) {
      const request = `${PLUGIN_HANDSHAKE.requestXskMapFd}, ${device}`;
      const reply = ask(request);
      if (reply.text === PLUGIN_HANDSHAKE.responseFdAck && reply.fd >= 0) {
        maps.set(device, reply.fd);
        let info;
        try {
          info = n.bpfMapInfo(reply.fd);
        } catch (err) {
          fail(`after ${quote(request)}`, (err as Error).message);
        }
        if (info!.type !== BPF_MAP_TYPE_XSKMAP)
          fail(`after ${quote(request)}`, `the fd is a BPF map of type ${info!.type}, not an XSKMAP (${BPF_MAP_TYPE_XSKMAP})`);
        continue;
      }
      if (reply.fd >= 0) n.closeFd(reply.fd);
      if (reply.text === PLUGIN_HANDSHAKE.responseFdAck) fail(`after ${quote(request)}`, '"/fd_ack" came without a file descriptor');
      if (reply.text === PLUGIN_HANDSHAKE.responseFdNak)
        fail(`after ${quote(request)}`, `the plugin has no XSK map for ${device} (not in this pod's allocation)`);
      fail(`after ${quote(request)}`, `answered ${quote(reply.text)} where "/fd_ack" or "/fd_nak" was expected`);
    }

    expect(PLUGIN_HANDSHAKE.requestFin, ask(PLUGIN_HANDSHAKE.requestFin), [PLUGIN_HANDSHAKE.responseFinAck]);
    return { version, maps, transcript };
  } catch (err) {
    for (const fd of maps.values()) n.closeFd(fd);
    if (err instanceof DevicePluginError) {
      err.message += ` (exchange: ${transcript.join(' ') || 'none'})`;
    }
    throw err;
  } finally {
    if (sock >= 0) n.closeFd(sock);
  }
}
