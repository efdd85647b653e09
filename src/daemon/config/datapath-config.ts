/**
 * Datapath settings: an optional JSON-C file beside the wg config
 * (`/etc/wireguard/IFNAME.datapath.jsonc`, or the path in XDPWG_DATAPATH).
 * Every key defaults to "auto"; an unknown key is an error that names it, as
 * an unknown key in a wg config is.
 *
 * {
 *   "afxdp": "auto",          // "auto" | "on" | "off": AF_XDP where it beats the kernel socket (not on virtual devices: src/daemon/xdp/afxdp-choice.ts); "on": wherever a device can take it
 *   "devices": "auto",        // "auto" (the peers' egress devices) or ["eth0", ...]
 *   "mode": "auto",           // XDP attach: "auto" | "native" | "generic"
 *   "zeroCopy": "auto",       // "auto" | true | false
 *   "umemFrames": 4096,       // frames per AF_XDP port (power of two)
 *   "frameSize": 2048,        // 2048 | 4096
 *   "rxRing": 2048, "txRing": 2048, "fillRing": 4096, "compRing": 4096,
 *   "workers": "auto",        // worker threads (= TUN queues); auto: cores, at most 4
 *   "cpus": "auto",           // or [0, 1]: worker i is pinned to cpus[i % n]
 *   "busyPoll": false,
 *   "crypto": "auto",         // "auto" | "native" | "node" | "noble"
 *   "cryptoCrew": "off",      // "off" | "auto" (cores − 1) | 0..64: native threads sharing one burst's AEAD (src/crypto/crypto-crew.ts)
 *   "cryptoCrewMinBurst": 8,  // 2..65535: smaller bursts run on their worker alone
 *   "tunOffload": "auto",     // "auto" | "off": TSO/USO reads and coalesced writes on the TUN
 *   "spinUs": 0,              // 0..10000: after a burst, a worker checks for more this long before it sleeps (src/datapath/spin.ts)
 *   "txPath": "auto",         // "auto" | "afxdp" | "socket": bulk runs by the kernel socket on copy-mode devices (src/datapath/tx-path.ts)
 *   "rxPath": "auto",         // "auto" | "afxdp" | "socket": peers' data messages by AF_XDP or by the kernel socket with GRO (src/datapath/rx-path.ts)
 *   "xdpProgram": "own",      // "own": attach our filter; "device-plugin": take the AF_XDP device plugin's XSKMAP
 *   "devicePluginSocket": "auto", // "auto": /tmp/afxdp_dp/<first device>/afxdp.sock, or a path
 *   "metricsListen": "off"    // "off" or "HOST:PORT": serve Prometheus metrics at http://HOST:PORT/metrics
 * }
 */
import path from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import type { XdpMode } from '../../native/binding.js';
import type { AeadBurstChoice } from '../../crypto/aead-burst.js';
import { CRYPTO_CREW_MAX_THREADS, type CryptoCrewSetting } from '../../crypto/crypto-crew.js';
import { parseListenAddress } from './listen-address.js';
import type { TxPathSetting } from '../../datapath/tx-path.js';
import type { RxPathSetting } from '../../datapath/rx-path.js';
import { DEFAULT_SPIN_US, SPIN_US_MAX } from '../../datapath/spin.js';

export interface DatapathConfig {
  /** Where AF_XDP is used: auto (not on virtual devices, src/daemon/xdp/afxdp-choice.ts), on (every device that takes it), off. */
  afxdp: AfxdpSetting;
  devices: 'auto' | string[];
  mode: XdpMode;
  zeroCopy: 'auto' | boolean;
  umemFrames: number;
  frameSize: 2048 | 4096;
  rxRing: number;
  txRing: number;
  fillRing: number;
  compRing: number;
  workers: 'auto' | number;
  cpus: 'auto' | number[];
  busyPoll: boolean;
  crypto: AeadBurstChoice;
  /** Native threads that share one worker's burst AEAD (src/crypto/crypto-crew.ts). */
  cryptoCrew: CryptoCrewSetting;
  cryptoCrewMinBurst: number;
  tunOffload: 'auto' | 'off';
  /** Microseconds a worker keeps checking for packets after a burst before it sleeps (src/datapath/spin.ts). */
  spinUs: number;
  /** Where messages to peers on an AF_XDP device leave (src/datapath/tx-path.ts). */
  txPath: TxPathSetting;
  /** Where peers' data messages on an AF_XDP device arrive (src/datapath/rx-path.ts). */
  rxPath: RxPathSetting;
  /** Whose XDP program steers frames to our sockets (device-plugin: src/daemon/xdp/device-plugin-client.ts). */
  xdpProgram: 'own' | 'device-plugin';
  devicePluginSocket: 'auto' | string;
  /** The /metrics endpoint's listen address, or off (src/daemon/observe/metrics-server.ts). */
  metricsListen: 'off' | string;
}

export const DEFAULT_DATAPATH: Readonly<DatapathConfig> = {
  afxdp: 'auto',
  devices: 'auto',
  mode: 'auto',
  zeroCopy: 'auto',
  umemFrames: 4096,
  frameSize: 2048,
  rxRing: 2048,
  txRing: 2048,
  fillRing: 4096,
  compRing: 4096,
  workers: 'auto',
  cpus: 'auto',
  busyPoll: false,
  crypto: 'auto',
  cryptoCrew: 'off',
  cryptoCrewMinBurst: 8,
  tunOffload: 'auto',
  spinUs: DEFAULT_SPIN_US,
  txPath: 'auto',
  rxPath: 'auto',
  xdpProgram: 'own',
  devicePluginSocket: 'auto',
  metricsListen: 'off',
};

export class DatapathConfigError extends Error {
  override readonly name = 'DatapathConfigError';
}

/**
 * Blanks // and /* *\/ comments and trailing commas outside strings: JSON-C
 * to JSON. Every removed character becomes a space (newlines stay), so a
 * position in the result is the same position in the file and a parse
 * error can name the file's line and column.
 */
export function stripJsonc(text: string): string {
  let out = '';
  let i = 0;
  const blank = (s: string): string => s.replace(/[^\n]/g, ' ');
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === '/' && text[i + 1] === '/') {
      const start = i;
      while (i < text.length && text[i] !== '\n') i++;
      out += blank(text.slice(start, i));
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 2;
      out += blank(text.slice(i, stop));
      i = stop;
    } else {
      out += c;
      i++;
    }
  }
  return out.replace(/,(\s*[}\]])/g, ' $1');
}

/** "line L, column C" (both from 1) of a character offset in text. */
export function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line}, column ${offset - (before.lastIndexOf('\n') + 1) + 1}`;
}

/** JSON.parse's message with its "at position N" (and any "(line L column C)" it adds) as the file's line and column. */
function describeJsonError(text: string, err: Error): string {
  const m = /\s*in JSON at position (\d+)(?: \(line \d+ column \d+\))?/.exec(err.message);
  if (!m) return err.message;
  return `${lineColumn(text, Number(m[1]))}: ${err.message.slice(0, m.index)}${err.message.slice(m.index + m[0].length)}`;
}

export type AfxdpSetting = 'auto' | 'on' | 'off';
const isAfxdpSetting = (v: unknown): v is AfxdpSetting => v === 'auto' || v === 'on' || v === 'off';

const isPow2 = (n: number): boolean => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

/** Parses and validates a datapath file's text; `file` names it in errors. */
export function parseDatapathConfig(text: string, file: string, defaults: Readonly<DatapathConfig> = DEFAULT_DATAPATH): DatapathConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(stripJsonc(text));
  } catch (err) {
    throw new DatapathConfigError(`${file}: not valid JSON-C: ${describeJsonError(text, err as Error)}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new DatapathConfigError(`${file}: the top level must be an object`);
  const cfg: DatapathConfig = { ...defaults };
  const bad = (key: string, want: string): never => {
    throw new DatapathConfigError(`${file}: "${key}" must be ${want}`);
  };
  const unknown = Object.keys(raw).filter((k) => !(k in DEFAULT_DATAPATH));
  if (unknown.length)
    throw new DatapathConfigError(`${file}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}`);
  for (const [key, v] of Object.entries(raw as Record<string, unknown>)) {
    switch (key) {
      case 'afxdp':
        if (!isAfxdpSetting(v)) bad(key, '"auto", "on" or "off"');
        cfg.afxdp = v as AfxdpSetting;
        break;
      case 'devices':
        if (v !== 'auto' && !(Array.isArray(v) && v.every((d) => typeof d === 'string' && d.length > 0 && d.length < 16)))
          bad(key, '"auto" or a list of interface names');
        cfg.devices = v as 'auto' | string[];
        break;
      case 'mode':
        if (v !== 'auto' && v !== 'native' && v !== 'generic') bad(key, '"auto", "native" or "generic"');
        cfg.mode = v as XdpMode;
        break;
      case 'zeroCopy':
        if (v !== 'auto' && typeof v !== 'boolean') bad(key, '"auto", true or false');
        cfg.zeroCopy = v as 'auto' | boolean;
        break;
      case 'umemFrames':
        if (typeof v !== 'number' || !isPow2(v) || v < 64 || v > 1 << 20) bad(key, 'a power of two from 64 to 1048576');
        cfg.umemFrames = v as number;
        break;
      case 'frameSize':
        if (v !== 2048 && v !== 4096) bad(key, '2048 or 4096');
        cfg.frameSize = v as 2048 | 4096;
        break;
      case 'rxRing':
      case 'txRing':
      case 'fillRing':
      case 'compRing':
        if (typeof v !== 'number' || !isPow2(v) || v < 64 || v > 1 << 16) bad(key, 'a power of two from 64 to 65536');
        cfg[key] = v as number;
        break;
      case 'workers':
        if (v !== 'auto' && !(Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 64)) bad(key, '"auto" or 1..64');
        cfg.workers = v as 'auto' | number;
        break;
      case 'cpus':
        if (v !== 'auto' && !(Array.isArray(v) && v.length > 0 && v.every((c) => Number.isInteger(c) && c >= 0)))
          bad(key, '"auto" or a list of CPU numbers');
        cfg.cpus = v as 'auto' | number[];
        break;
      case 'busyPoll':
        if (typeof v !== 'boolean') bad(key, 'true or false');
        cfg.busyPoll = v as boolean;
        break;
      case 'tunOffload':
        if (v !== 'auto' && v !== 'off') bad(key, '"auto" or "off"');
        cfg.tunOffload = v as 'auto' | 'off';
        break;
      case 'txPath':
        if (v !== 'auto' && v !== 'afxdp' && v !== 'socket') bad(key, '"auto", "afxdp" or "socket"');
        cfg.txPath = v as TxPathSetting;
        break;
      case 'rxPath':
        if (v !== 'auto' && v !== 'afxdp' && v !== 'socket') bad(key, '"auto", "afxdp" or "socket"');
        cfg.rxPath = v as RxPathSetting;
        break;
      case 'xdpProgram':
        if (v !== 'own' && v !== 'device-plugin') bad(key, '"own" or "device-plugin"');
        cfg.xdpProgram = v as 'own' | 'device-plugin';
        break;
      case 'devicePluginSocket':
        if (typeof v !== 'string' || !(v === 'auto' || v.startsWith('/'))) bad(key, '"auto" or an absolute path');
        cfg.devicePluginSocket = v as string;
        break;
      case 'metricsListen':
        if (typeof v !== 'string') bad(key, '"off" or "HOST:PORT"');
        if (v !== 'off') {
          try {
            parseListenAddress(v as string);
          } catch (err) {
            bad(key, `"off" or "HOST:PORT": ${(err as Error).message}`);
          }
        }
        cfg.metricsListen = v as string;
        break;
      case 'cryptoCrew':
        if (v !== 'auto' && v !== 'off' && !(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= CRYPTO_CREW_MAX_THREADS))
          bad(key, `"auto", "off" or 0..${CRYPTO_CREW_MAX_THREADS}`);
        cfg.cryptoCrew = v as CryptoCrewSetting;
        break;
      case 'spinUs':
        if (!(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= SPIN_US_MAX)) bad(key, `0..${SPIN_US_MAX}`);
        cfg.spinUs = v as number;
        break;
      case 'cryptoCrewMinBurst':
        if (!(Number.isInteger(v) && (v as number) >= 2 && (v as number) <= 65535)) bad(key, '2..65535');
        cfg.cryptoCrewMinBurst = v as number;
        break;
      case 'crypto':
        if (!['auto', 'native', 'node', 'noble'].includes(v as string)) bad(key, '"auto", "native", "node" or "noble"');
        cfg.crypto = v as AeadBurstChoice;
        break;
    }
  }
  return cfg;
}

/**
 * The datapath file for an interface: XDPWG_DATAPATH, else DIR/IFNAME.datapath.jsonc
 * if it exists — DIR is the wg config's directory for `xdpwg up FILE` ("beside
 * the wg config"), /etc/wireguard otherwise.
 */
export function loadDatapathConfig(ifname: string, env = process.env, dir = '/etc/wireguard'): { config: DatapathConfig; file?: string } {
  const file = env.XDPWG_DATAPATH || path.join(dir, `${ifname}.datapath.jsonc`);
  // XDPWG_AFXDP changes the default of "afxdp" (a file that sets it wins): the namespace tests run on
  // veths, where "auto" takes the kernel socket, and want the AF_XDP path there (test/helpers/netns.ts).
  const afxdp = env.XDPWG_AFXDP || undefined;
  if (afxdp !== undefined && !isAfxdpSetting(afxdp)) throw new DatapathConfigError(`XDPWG_AFXDP=${afxdp}: expected auto, on or off`);
  const defaults: DatapathConfig = { ...DEFAULT_DATAPATH, afxdp: afxdp ?? DEFAULT_DATAPATH.afxdp };
  if (!env.XDPWG_DATAPATH && !existsSync(file)) return { config: defaults };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new DatapathConfigError(`${file}: ${(err as Error).message}`);
  }
  return { config: parseDatapathConfig(text, file, defaults), file };
}
