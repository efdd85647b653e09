/**
 * `xdpwg show [IFNAME | all | interfaces] [FIELD]` — what `wg show` prints,
 * read from the daemon's UAPI socket (/var/run/wireguard/IFNAME.sock).
 *
 * The layout, wording, units and colours follow wireguard-tools' show.c for
 * the same data: peers sorted by latest handshake (none last), keys base64,
 * private and preshared keys "(hidden)" unless WG_HIDE_KEYS=never, transfer
 * in B/KiB/MiB/GiB/TiB with two decimals (printf's round-half-even), times
 * as "1 minute, 5 seconds ago", colour only on a terminal or when
 * WG_COLOR_MODE=always. FIELD is one of wg's: public-key, private-key,
 * listen-port, fwmark, peers, preshared-keys, endpoints, allowed-ips,
 * latest-handshakes, transfer, persistent-keepalive, dump.
 */
import { readdirSync, statSync } from 'node:fs';
import { keyToBase64 } from '../crypto/encoding.js';
import { publicKeyOf } from '../crypto/x25519.js';
import type { DeviceSnapshot, PeerSnapshot } from '../daemon/config/device-config.js';
import { PEER_SETTING_LIST, type AnyPeerSetting, type ShowStyle } from '../daemon/config/peer-settings.js';
import { formatPrefix, type IpPrefix } from '../packet/ip-prefix.js';
import { UAPI_SOCKET_DIR, uapiAccepts, uapiGet, uapiSocketPath } from '../daemon/uapi/server.js';

/** The per-peer settings (peer-settings.ts) `wg show` lists after a peer's key and after its transfer. */
const SHOW_AFTER = {
  peer: PEER_SETTING_LIST.filter((s) => s.show.after === 'peer'),
  transfer: PEER_SETTING_LIST.filter((s) => s.show.after === 'transfer'),
} satisfies Record<AnyPeerSetting['show']['after'], AnyPeerSetting[]>;

/** The fields `wg show IFNAME FIELD` accepts, in wg's order. */
export const SHOW_FIELDS: readonly string[] = [
  'public-key',
  'private-key',
  'listen-port',
  'fwmark',
  'peers',
  ...SHOW_AFTER.peer.map((s) => s.show.field),
  'allowed-ips',
  'latest-handshakes',
  'transfer',
  ...SHOW_AFTER.transfer.map((s) => s.show.field),
  'dump',
];

/** A setting's value as FIELD and dump print it. */
function settingText(s: AnyPeerSetting, p: PeerSnapshot): string {
  const value = p[s.name];
  return value !== undefined && !s.isUnset(value) ? s.show.text(value) : s.show.none;
}

/** A snapshot as shown: peers carry their allowed IPs as an array. */
export type ShownDevice = DeviceSnapshot & { peers: (PeerSnapshot & { allowedIPs: IpPrefix[] })[] };

/** Presentation choices for {@link formatPretty} (from the clock and WG_COLOR_MODE / WG_HIDE_KEYS in {@link run}). */
export interface ShowOptions {
  /** Seconds since the epoch ("x seconds ago" is relative to it). */
  now: number;
  color: boolean;
  /** False when WG_HIDE_KEYS=never. */
  hideKeys: boolean;
}

const RESET = '\x1b[0m',
  BOLD = '\x1b[1m',
  RED = '\x1b[31m',
  GREEN = '\x1b[32m',
  YELLOW = '\x1b[33m',
  CYAN = '\x1b[36m';

function hasKey(k: Uint8Array | undefined): k is Uint8Array {
  return k !== undefined && k.some((b) => b !== 0);
}

/** "1 year, 2 days, 3 hours, 4 minutes, 5 seconds" (zero parts omitted), as wg prints durations. */
export function prettyTime(seconds: number, color: boolean): string {
  const c = (s: string): string => (color ? CYAN + s + RESET : s);
  const parts: [number, string][] = [
    [Math.floor(seconds / (365 * 86400)), 'year'],
    [Math.floor((seconds % (365 * 86400)) / 86400), 'day'],
    [Math.floor((seconds % 86400) / 3600), 'hour'],
    [Math.floor((seconds % 3600) / 60), 'minute'],
    [seconds % 60, 'second'],
  ];
  return parts
    .filter(([n]) => n > 0)
    .map(([n, unit]) => `${n} ${c(unit + (n === 1 ? '' : 's'))}`)
    .join(', ');
}

/** n / 2^shift with two decimals, rounded half to even as printf("%.2f") does for an exact tie. */
function fixed2(n: bigint, shift: bigint): string {
  const unit = 1n << shift;
  let q = (n * 100n) / unit;
  const r = (n * 100n) % unit;
  if (2n * r > unit || (2n * r === unit && q % 2n === 1n)) q += 1n;
  return `${q / 100n}.${(q % 100n).toString().padStart(2, '0')}`;
}

/** "512 B", "1.50 KiB", … as wg prints byte counts. */
export function prettyBytes(value: bigint | number, color: boolean): string {
  const b = BigInt(value);
  const c = (s: string): string => (color ? CYAN + s + RESET : s);
  if (b < 1024n) return `${b} ${c('B')}`;
  if (b < 1n << 20n) return `${fixed2(b, 10n)} ${c('KiB')}`;
  if (b < 1n << 30n) return `${fixed2(b, 20n)} ${c('MiB')}`;
  if (b < 1n << 40n) return `${fixed2(b, 30n)} ${c('GiB')}`;
  return `${fixed2(b, 40n)} ${c('TiB')}`;
}

function ago(sec: number, o: ShowOptions): string {
  if (o.now === sec) return 'Now';
  if (o.now < sec) return `(${o.color ? RED : ''}System clock wound backward; connection problems may ensue.${o.color ? RESET : ''})`;
  return `${prettyTime(o.now - sec, o.color)} ago`;
}

/** Peers by latest handshake, newest first, those without one last (wg's order). */
function sortedPeers(device: ShownDevice): ShownDevice['peers'] {
  const time = (p: PeerSnapshot): number => p.lastHandshakeSec * 1e9 + p.lastHandshakeNsec;
  return [...device.peers].sort((a, b) => {
    const ta = time(a),
      tb = time(b);
    if (ta === 0 && tb !== 0) return 1;
    if (tb === 0 && ta !== 0) return -1;
    return tb - ta;
  });
}

/** The pretty `wg show IFNAME` text. */
export function formatPretty(name: string, device: ShownDevice, o: ShowOptions): string {
  const b = (s: string): string => (o.color ? BOLD + s + RESET : s);
  const col = (c: string, s: string): string => (o.color ? c + s + RESET : s);
  const masked = (k: Uint8Array): string => (o.hideKeys ? '(hidden)' : keyToBase64(k));
  const style: ShowStyle = { secretKey: masked, duration: (secs) => prettyTime(secs, o.color) };
  const settingLines = (settings: readonly AnyPeerSetting[], p: PeerSnapshot): string => {
    let lines = '';
    for (const s of settings) {
      const value = p[s.name];
      if (value !== undefined && !s.isUnset(value)) lines += `  ${b(s.show.label)}: ${s.show.pretty(value, style)}\n`;
    }
    return lines;
  };
  let out = o.color ? RESET : '';
  out += `${o.color ? GREEN + BOLD + 'interface' + RESET : 'interface'}: ${col(GREEN, name)}\n`;
  if (hasKey(device.privateKey)) {
    out += `  ${b('public key')}: ${keyToBase64(publicKeyOf(device.privateKey))}\n`;
    out += `  ${b('private key')}: ${masked(device.privateKey)}\n`;
  }
  if (device.listenPort) out += `  ${b('listening port')}: ${device.listenPort}\n`;
  if (device.fwmark) out += `  ${b('fwmark')}: 0x${device.fwmark.toString(16)}\n`;
  const peers = sortedPeers(device);
  if (peers.length > 0) out += '\n';
  peers.forEach((p, i) => {
    out += `${o.color ? YELLOW + BOLD + 'peer' + RESET : 'peer'}: ${col(YELLOW, keyToBase64(p.publicKey))}\n`;
    out += settingLines(SHOW_AFTER.peer, p);
    out += `  ${b('allowed ips')}: `;
    out +=
      p.allowedIPs.length > 0
        ? p.allowedIPs.map((a) => formatPrefix(a, 'libc').replace('/', col(CYAN, '/'))).join(', ') + '\n'
        : '(none)\n';
    if (p.lastHandshakeSec) out += `  ${b('latest handshake')}: ${ago(p.lastHandshakeSec, o)}\n`;
    if (BigInt(p.rxBytes) !== 0n || BigInt(p.txBytes) !== 0n) {
      out += `  ${b('transfer')}: ${prettyBytes(p.rxBytes, o.color)} received, ${prettyBytes(p.txBytes, o.color)} sent\n`;
    }
    out += settingLines(SHOW_AFTER.transfer, p);
    if (i < peers.length - 1) out += '\n';
  });
  return out;
}

/**
 * The machine-readable `wg show IFNAME FIELD` text; `withInterface` prefixes
 * every line with the name and a tab (as `wg show all FIELD` does).
 * Returns null for an unknown field.
 */
export function formatField(name: string, device: ShownDevice, field: string, withInterface: boolean): string | null {
  const pre = withInterface ? `${name}\t` : '';
  const maybeKey = (k: Uint8Array | undefined): string => (hasKey(k) ? keyToBase64(k) : '(none)');
  const allowed = (p: ShownDevice['peers'][number], sep: string): string =>
    p.allowedIPs.length > 0 ? p.allowedIPs.map((a) => formatPrefix(a, 'libc')).join(sep) : '(none)';
  const fwmark = device.fwmark ? `0x${device.fwmark.toString(16)}` : 'off';
  const perPeer = (f: (p: ShownDevice['peers'][number]) => string): string =>
    device.peers.map((p) => `${pre}${keyToBase64(p.publicKey)}\t${f(p)}\n`).join('');
  switch (field) {
    case 'public-key':
      return `${pre}${hasKey(device.privateKey) ? keyToBase64(publicKeyOf(device.privateKey)) : '(none)'}\n`;
    case 'private-key':
      return `${pre}${maybeKey(device.privateKey)}\n`;
    case 'listen-port':
      return `${pre}${device.listenPort}\n`;
    case 'fwmark':
      return `${pre}${fwmark}\n`;
    case 'peers':
      return device.peers.map((p) => `${pre}${keyToBase64(p.publicKey)}\n`).join('');
    case 'allowed-ips':
      return perPeer((p) => allowed(p, ' '));
    case 'latest-handshakes':
      return perPeer((p) => `${p.lastHandshakeSec}`);
    case 'transfer':
      return perPeer((p) => `${p.rxBytes}\t${p.txBytes}`);
    case 'dump': {
      const pub = hasKey(device.privateKey) ? keyToBase64(publicKeyOf(device.privateKey)) : '(none)';
      let out = `${pre}${maybeKey(device.privateKey)}\t${pub}\t${device.listenPort}\t${fwmark}\n`;
      for (const p of device.peers) {
        const columns = [
          keyToBase64(p.publicKey),
          ...SHOW_AFTER.peer.map((s) => settingText(s, p)),
          allowed(p, ','),
          `${p.lastHandshakeSec}`,
          `${p.rxBytes}`,
          `${p.txBytes}`,
          ...SHOW_AFTER.transfer.map((s) => settingText(s, p)),
        ];
        out += `${pre}${columns.join('\t')}\n`;
      }
      return out;
    }
    default: {
      const setting = PEER_SETTING_LIST.find((s) => s.show.field === field);
      return setting ? perPeer((p) => settingText(setting, p)) : null;
    }
  }
}

/** Interfaces whose UAPI socket exists and accepts connections, sorted by name. */
export async function listInterfaces(dir = UAPI_SOCKET_DIR): Promise<string[]> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const candidates = names
    .filter((n) => n.endsWith('.sock') && n.length > 5)
    .map((n) => n.slice(0, -5))
    .sort();
  const alive = await Promise.all(
    candidates.map(async (name) => {
      const p = `${dir}/${name}.sock`;
      try {
        if (!statSync(p).isSocket()) return false;
      } catch {
        return false;
      }
      return uapiAccepts(p);
    }),
  );
  return candidates.filter((_, i) => alive[i]);
}

function usage(): string {
  return `Usage: xdpwg show { <interface> | all | interfaces } [${SHOW_FIELDS.join(' | ')}]\n`;
}

function why(err: unknown, socketPath: string): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return `no UAPI socket at ${socketPath} (is xdpwg running for this interface?)`;
  if (code === 'ECONNREFUSED') return `nothing answers on ${socketPath} (stale socket: the daemon is gone)`;
  if (code === 'EACCES') return `permission denied on ${socketPath} (run as root)`;
  return (err as Error).message;
}

function options(): ShowOptions {
  const mode = process.env.WG_COLOR_MODE;
  return {
    now: Math.floor(Date.now() / 1000),
    color: mode === 'always' ? true : mode === 'never' ? false : process.stdout.isTTY === true,
    hideKeys: process.env.WG_HIDE_KEYS !== 'never',
  };
}

/** Entry point: `xdpwg show …`; returns the exit status. */
export async function run(args: string[]): Promise<number> {
  if (args.length > 2) {
    process.stderr.write(usage());
    return 1;
  }
  const [target, field] = args;
  if (target === '-h' || target === '--help' || target === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  if (field !== undefined && !SHOW_FIELDS.includes(field)) {
    process.stderr.write(`Invalid parameter: \`${field}'\n${usage()}`);
    return 1;
  }
  const o = options();

  if (target === 'interfaces') {
    if (field !== undefined) {
      process.stderr.write(usage());
      return 1;
    }
    const names = await listInterfaces();
    if (names.length > 0) process.stdout.write(names.join(' ') + '\n');
    return 0;
  }

  if (target === undefined || target === 'all') {
    const names = await listInterfaces();
    let status = names.length > 0 ? 1 : 0;
    const blocks: string[] = [];
    for (const name of names) {
      const socketPath = uapiSocketPath(name);
      try {
        const device = await uapiGet(socketPath);
        blocks.push(field !== undefined ? formatField(name, device, field, true)! : formatPretty(name, device, o));
        status = 0;
      } catch (err) {
        process.stderr.write(`Unable to access interface ${name}: ${why(err, socketPath)}\n`);
      }
    }
    process.stdout.write(blocks.join(field !== undefined ? '' : '\n'));
    return status;
  }

  let socketPath: string;
  try {
    socketPath = uapiSocketPath(target);
  } catch (err) {
    process.stderr.write(`Unable to access interface ${target}: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    const device = await uapiGet(socketPath);
    process.stdout.write(field !== undefined ? formatField(target, device, field, false)! : formatPretty(target, device, o));
    return 0;
  } catch (err) {
    process.stderr.write(`Unable to access interface ${target}: ${why(err, socketPath)}\n`);
    return 1;
  }
}
