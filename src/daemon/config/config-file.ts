/**
 * The wg-quick configuration file: parse, validate, serialize.
 *
 * Format (wg(8) "CONFIGURATION FILE FORMAT" and wg-quick(8)): INI-like
 * sections [Interface] and [Peer]; `Key = Value` lines; keys are
 * case-insensitive; '#' starts a comment anywhere on a line; blank lines are
 * ignored. wg(8) keys are PrivateKey, ListenPort, FwMark (interface) and
 * PublicKey, PresharedKey, AllowedIPs, Endpoint, PersistentKeepalive (peer).
 * wg-quick adds Address, DNS, MTU, Table, PreUp, PostUp, PreDown, PostDown and
 * SaveConfig to [Interface]. As in wg(8), whitespace inside the value of a
 * wg(8) key is insignificant ("10.0.0.1/32, 10.0.0.2/32"), unknown keys are
 * errors, and AllowedIPs/Address/DNS may repeat and hold comma lists. Unlike
 * wg(8), a repeated single-valued key is an error rather than last-wins: it is
 * almost always a copy-paste mistake.
 *
 * Every problem is a {@link ConfigError} naming the file, the line and what
 * is wrong; the CLI prints its message without a stack trace.
 *
 * Endpoints keep their text (host names included): resolving them is the
 * caller's job ({@link resolveEndpoints}), because it can block and fail.
 */
import { lookup } from 'node:dns/promises';
import { keyToBase64 } from '../../crypto/encoding.js';
import {
  parseEndpoint,
  peerKey,
  type DeviceConfig,
  type DeviceSnapshot,
  type PeerConfig,
  type UapiPeerOp,
  type UapiSetOp,
} from './device-config.js';
import { PEER_SETTING_LIST, setPeerSetting, type AnyPeerSetting, type PeerSettingFileValues } from './peer-settings.js';
import { parseKeyValue, parseNumber, splitHostPort, type BadValue } from './value-text.js';
import { formatPrefix, parseIP, parsePrefix, type IpPrefix } from '../../packet/ip-prefix.js';
import type { Endpoint } from '../../packet/endpoint.js';

/** A problem in a configuration file, located by file and 1-based line number (0 = the file as a whole). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly problem: string,
  ) {
    super(line > 0 ? `${file}:${line}: ${problem}` : `${file}: ${problem}`);
  }
}

/** The [Interface] section. Absent optional values were not in the file. */
export interface InterfaceSection {
  /** Line of the [Interface] header; 0 when the file has none. */
  line: number;
  privateKey?: Uint8Array;
  listenPort?: number;
  fwmark?: number;
  /** wg-quick: addresses for the interface, host bits kept (10.0.0.1/24). */
  addresses: IpPrefix[];
  /** wg-quick: DNS servers (IP address text). */
  dns: string[];
  /** wg-quick: DNS search domains (the non-IP entries of DNS =). */
  dnsSearch: string[];
  /** wg-quick: interface MTU. */
  mtu?: number;
  /** wg-quick: routing table: 'off', 'auto', a number or a table name. */
  table?: string;
  preUp: string[];
  postUp: string[];
  preDown: string[];
  postDown: string[];
  saveConfig: boolean;
}

/** One [Peer] section: its settings (peer-settings.ts) as the file gives them, and its structure. */
export interface PeerSection extends PeerSettingFileValues {
  /** Line of the [Peer] header. */
  line: number;
  publicKey: Uint8Array;
  /** Host bits kept as written (wg warns about them, the device clears them). */
  allowedIPs: IpPrefix[];
  /** Line of the Endpoint key, for resolution errors. */
  endpointLine?: number;
}

/** A parsed configuration file. */
export interface ConfigFile {
  /** The name used in error messages. */
  path: string;
  interface: InterfaceSection;
  peers: PeerSection[];
}

/** 'wg-quick' accepts wg-quick's keys too; 'setconf' only wg(8)'s (the `wg setconf` subset). */
export type ConfigDialect = 'wg-quick' | 'setconf';

type Section = 'none' | 'interface' | 'peer';

const WG_INTERFACE_KEYS = ['PrivateKey', 'ListenPort', 'FwMark'] as const;
const WG_QUICK_KEYS = ['Address', 'DNS', 'MTU', 'Table', 'PreUp', 'PostUp', 'PreDown', 'PostDown', 'SaveConfig'] as const;
const PEER_KEYS: readonly string[] = ['PublicKey', 'AllowedIPs', ...PEER_SETTING_LIST.map((s) => s.file.key)];
/** The per-peer settings by their key as written (canonical case). */
const SETTING_BY_FILE_KEY = new Map(PEER_SETTING_LIST.map((s) => [s.file.key, s]));
/** Keys that may appear more than once (their values accumulate). */
const REPEATABLE = new Set(['address', 'dns', 'allowedips', 'preup', 'postup', 'predown', 'postdown']);

const canonicalName = new Map<string, string>([...WG_INTERFACE_KEYS, ...WG_QUICK_KEYS, ...PEER_KEYS].map((k) => [k.toLowerCase(), k]));

function emptyInterface(): InterfaceSection {
  return { line: 0, addresses: [], dns: [], dnsSearch: [], preUp: [], postUp: [], preDown: [], postDown: [], saveConfig: false };
}

/**
 * Parses a configuration file's text. `path` is only used in messages.
 * Throws {@link ConfigError} at the first problem.
 */
export function parseConfig(text: string, path: string, dialect: ConfigDialect = 'wg-quick'): ConfigFile {
  const file: ConfigFile = { path, interface: emptyInterface(), peers: [] };
  let section: Section = 'none';
  let peer: (Partial<PeerSection> & { line: number; allowedIPs: IpPrefix[] }) | null = null;
  let seen = new Map<string, number>(); // key (lowercase) → line where it was set, per section
  const fail = (line: number, problem: string): never => {
    throw new ConfigError(path, line, problem);
  };

  const finishPeer = (): void => {
    if (!peer) return;
    if (!peer.publicKey) fail(peer.line, '[Peer] has no PublicKey');
    file.peers.push(peer as PeerSection);
    peer = null;
  };

  let lineNo = 0;
  let start = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a UTF-8 byte-order mark from a Windows editor
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo++;
    let raw = text.slice(start, end);
    start = end + 1;
    if (raw.endsWith('\r')) raw = raw.slice(0, -1);
    const hash = raw.indexOf('#');
    const line = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (line === '') {
      if (end === text.length) break;
      continue;
    }

    if (line.startsWith('[')) {
      const name = line.replace(/\s+/g, '').toLowerCase();
      if (name === '[interface]') {
        if (file.interface.line > 0) fail(lineNo, `second [Interface] section (the first is on line ${file.interface.line})`);
        finishPeer();
        section = 'interface';
        file.interface.line = lineNo;
      } else if (name === '[peer]') {
        finishPeer();
        section = 'peer';
        peer = { line: lineNo, allowedIPs: [] };
      } else {
        fail(lineNo, `unknown section ${line}; expected [Interface] or [Peer]`);
      }
      seen = new Map();
      continue;
    }

    const eq = line.indexOf('=');
    if (eq < 0) fail(lineNo, `expected "Key = Value", got \`${line}\``);
    const keyText = line.slice(0, eq).trim();
    const rawValue = line.slice(eq + 1).trim();
    const lower = keyText.toLowerCase();
    const key = canonicalName.get(lower);
    if (section === 'none') fail(lineNo, `\`${keyText}\` is outside any section; put it under [Interface] or [Peer]`);
    if (key === undefined) {
      fail(lineNo, `unknown key \`${keyText}\` in [${section === 'interface' ? 'Interface' : 'Peer'}]`);
    }
    const isPeerKey = PEER_KEYS.includes(key!);
    if (section === 'peer' && !isPeerKey) fail(lineNo, `\`${key}\` belongs in [Interface], not [Peer]`);
    if (section === 'interface' && isPeerKey) fail(lineNo, `\`${key}\` belongs in [Peer], not [Interface]`);
    if (dialect === 'setconf' && (WG_QUICK_KEYS as readonly string[]).includes(key!)) {
      fail(lineNo, `\`${key}\` is a wg-quick key, not understood by wg setconf (use the wg-quick format)`);
    }
    if (!REPEATABLE.has(lower)) {
      const first = seen.get(lower);
      if (first !== undefined) fail(lineNo, `duplicate \`${key}\` (already set on line ${first})`);
    }
    seen.set(lower, lineNo);

    // wg(8) ignores all whitespace in a line; hooks keep theirs.
    const compact = rawValue.replace(/\s+/g, '');
    const bad = (what: string): never => fail(lineNo, `${key}: ${what}`);
    switch (key) {
      case 'PrivateKey':
        file.interface.privateKey = parseKeyValue(compact, bad);
        break;
      case 'ListenPort':
        file.interface.listenPort = parseNumber(compact, 0, 65535, bad, 'a port number 0-65535');
        break;
      case 'FwMark':
        file.interface.fwmark = parseFwmark(compact, bad);
        break;
      case 'Address':
        for (const item of splitList(compact)) file.interface.addresses.push(parseAddress(item, bad));
        break;
      case 'DNS':
        for (const item of splitList(compact)) {
          if (parseIP(item)) file.interface.dns.push(item);
          else if (/^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?$/.test(item)) file.interface.dnsSearch.push(item);
          else bad(`\`${item}\` is neither an IP address nor a search domain`);
        }
        break;
      case 'MTU':
        file.interface.mtu = parseNumber(compact, 68, 65535, bad, 'an MTU 68-65535');
        break;
      case 'Table':
        if (
          !/^(off|auto|[0-9]{1,10}|[A-Za-z_][A-Za-z0-9_-]*)$/.test(compact) ||
          (/^[0-9]+$/.test(compact) && Number(compact) > 0xffffffff)
        ) {
          bad(`\`${rawValue}\` is not off, auto, a table number or a table name`);
        }
        file.interface.table = compact;
        break;
      case 'PreUp':
        file.interface.preUp.push(rawValue);
        break;
      case 'PostUp':
        file.interface.postUp.push(rawValue);
        break;
      case 'PreDown':
        file.interface.preDown.push(rawValue);
        break;
      case 'PostDown':
        file.interface.postDown.push(rawValue);
        break;
      case 'SaveConfig':
        if (!/^(true|false)$/i.test(compact)) bad(`\`${rawValue}\` is neither true nor false`);
        file.interface.saveConfig = compact.toLowerCase() === 'true';
        break;
      case 'PublicKey':
        peer!.publicKey = parseKeyValue(compact, bad);
        break;
      case 'AllowedIPs':
        for (const item of splitList(compact)) peer!.allowedIPs.push(parseAllowedIP(item, bad));
        break;
      default: {
        // A per-peer setting (peer-settings.ts).
        const setting = SETTING_BY_FILE_KEY.get(key!)!;
        peer![setting.name] = setting.file.parse(compact, bad);
        // The endpoint's one special case: a host name is resolved later, and that error points here.
        if (setting.name === 'endpoint') peer!.endpointLine = lineNo;
      }
    }
    if (end === text.length) break;
  }
  finishPeer();
  return file;
}

function splitList(compact: string): string[] {
  if (compact === '') return [];
  return compact.split(',').filter((s) => s !== '');
}

function parseFwmark(value: string, bad: BadValue): number {
  if (value.toLowerCase() === 'off') return 0;
  const n = /^0x[0-9a-fA-F]+$/.test(value) ? parseInt(value.slice(2), 16) : /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 0 && n <= 0xffffffff)) bad(`\`${value}\` is neither off nor 0-0xffffffff`);
  return n;
}

function parseAllowedIP(item: string, bad: BadValue): IpPrefix {
  return parsePrefix(item, 'wg-config') ?? bad(`\`${item}\` is not an IP prefix (address/length, length ≤32 for IPv4, ≤128 for IPv6)`);
}

function parseAddress(item: string, bad: BadValue): IpPrefix {
  return parsePrefix(item, 'wg-config') ?? bad(`\`${item}\` is not an interface address (address or address/length)`);
}

// ---------------------------------------------------------------- serializing

/**
 * Writes a configuration file. 'setconf' writes what `wg showconf` prints
 * (wg(8) keys only, in its order); 'wg-quick' puts wg-quick's keys first, as
 * wg-quick's SaveConfig does.
 */
export function serializeConfig(file: ConfigFile, dialect: ConfigDialect = 'wg-quick'): string {
  const out: string[] = ['[Interface]'];
  const i = file.interface;
  if (dialect === 'wg-quick') {
    if (i.addresses.length > 0) out.push(`Address = ${i.addresses.map((p) => formatPrefix(p)).join(', ')}`);
    if (i.dns.length + i.dnsSearch.length > 0) out.push(`DNS = ${[...i.dns, ...i.dnsSearch].join(', ')}`);
    if (i.mtu !== undefined) out.push(`MTU = ${i.mtu}`);
    if (i.table !== undefined) out.push(`Table = ${i.table}`);
    for (const [name, list] of [
      ['PreUp', i.preUp],
      ['PostUp', i.postUp],
      ['PreDown', i.preDown],
      ['PostDown', i.postDown],
    ] as const) {
      for (const cmd of list) out.push(`${name} = ${cmd}`);
    }
    if (i.saveConfig) out.push('SaveConfig = true');
  }
  if (i.listenPort !== undefined && i.listenPort !== 0) out.push(`ListenPort = ${i.listenPort}`);
  if (i.fwmark !== undefined && i.fwmark !== 0) out.push(`FwMark = 0x${i.fwmark.toString(16)}`);
  if (i.privateKey) out.push(`PrivateKey = ${keyToBase64(i.privateKey)}`);
  for (const p of file.peers) {
    out.push('', '[Peer]', `PublicKey = ${keyToBase64(p.publicKey)}`);
    pushSettings(out, FILE_AFTER.PublicKey, p);
    if (p.allowedIPs.length > 0) out.push(`AllowedIPs = ${p.allowedIPs.map((a) => formatPrefix(a, 'libc')).join(', ')}`);
    pushSettings(out, FILE_AFTER.AllowedIPs, p);
  }
  return out.join('\n') + '\n';
}

/** The settings each structural [Peer] line is followed by, in `wg showconf`'s layout. */
const FILE_AFTER = {
  PublicKey: PEER_SETTING_LIST.filter((s) => s.file.after === 'PublicKey'),
  AllowedIPs: PEER_SETTING_LIST.filter((s) => s.file.after === 'AllowedIPs'),
} satisfies Record<AnyPeerSetting['file']['after'], AnyPeerSetting[]>;

function pushSettings(out: string[], settings: readonly AnyPeerSetting[], p: PeerSection): void {
  for (const s of settings) {
    const value = p[s.name];
    const text = value === undefined ? null : s.file.format(value);
    if (text !== null) out.push(`${s.file.key} = ${text}`);
  }
}

/** A configuration file (setconf subset) describing a device snapshot, as `wg showconf` does. */
export function configFromSnapshot(snapshot: DeviceSnapshot, path = '(device)'): ConfigFile {
  const file: ConfigFile = { path, interface: emptyInterface(), peers: [] };
  if (snapshot.privateKey && snapshot.privateKey.some((b) => b !== 0)) file.interface.privateKey = snapshot.privateKey;
  if (snapshot.listenPort) file.interface.listenPort = snapshot.listenPort;
  if (snapshot.fwmark) file.interface.fwmark = snapshot.fwmark;
  for (const p of snapshot.peers) {
    const section: PeerSection = { line: 0, publicKey: p.publicKey, allowedIPs: [...p.allowedIPs] };
    for (const s of PEER_SETTING_LIST) {
      const value = p[s.name];
      if (value !== undefined && !s.isUnset(value)) section[s.name] = s.file.fromValue(value);
    }
    file.peers.push(section);
  }
  return file;
}

// ---------------------------------------------------------------- to the device

/** Why one peer's host-name Endpoint did not resolve. */
export interface UnresolvedEndpoint {
  peer: PeerSection;
  host: string;
  port: string;
  error: ConfigError;
}

/** One host name:port through the system resolver (getaddrinfo, as wg(8)). Throws when it does not resolve. */
export async function resolveHostEndpoint(host: string, port: string): Promise<Endpoint> {
  const { address } = await lookup(host);
  const ep = parseEndpoint(address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);
  if (!ep) throw new Error(`resolver returned ${address}`);
  return ep;
}

/**
 * Resolves every peer's Endpoint that can be: literals at once, names
 * through the system resolver. Names that fail are returned, not thrown,
 * for a caller that retries them (xdpwg up at boot).
 */
export async function resolveEndpointsPartly(
  file: ConfigFile,
): Promise<{ resolved: Map<PeerSection, Endpoint>; unresolved: UnresolvedEndpoint[] }> {
  const resolved = new Map<PeerSection, Endpoint>();
  const unresolved: UnresolvedEndpoint[] = [];
  await Promise.all(
    file.peers.map(async (p) => {
      if (p.endpoint === undefined) return;
      const literal = parseEndpoint(p.endpoint);
      if (literal) {
        resolved.set(p, literal);
        return;
      }
      const { host, port } = splitHostPort(p.endpoint)!;
      try {
        resolved.set(p, await resolveHostEndpoint(host, port));
      } catch (err) {
        unresolved.push({
          peer: p,
          host,
          port,
          error: new ConfigError(file.path, p.endpointLine ?? p.line, `Endpoint: cannot resolve \`${host}\`: ${(err as Error).message}`),
        });
      }
    }),
  );
  return { resolved, unresolved };
}

/**
 * Resolves every peer's Endpoint (names through the system resolver, as wg(8)
 * does with getaddrinfo). Returns the resolved endpoint per peer section.
 * Throws {@link ConfigError} on the Endpoint line when a name does not resolve.
 */
export async function resolveEndpoints(file: ConfigFile): Promise<Map<PeerSection, Endpoint>> {
  const { resolved, unresolved } = await resolveEndpointsPartly(file);
  if (unresolved.length > 0) throw unresolved[0]!.error;
  return resolved;
}

/**
 * The device configuration a file describes. Endpoints come from `resolved`
 * (see {@link resolveEndpoints}); a literal endpoint needs no resolution.
 * A host-name endpoint missing from `resolved` is a {@link ConfigError}, or,
 * with `unresolved: 'omit'`, leaves that peer without an endpoint (until a
 * later resolution sets it).
 */
export function toDeviceConfig(
  file: ConfigFile,
  resolved: Map<PeerSection, Endpoint> = new Map(),
  unresolved: 'error' | 'omit' = 'error',
): DeviceConfig {
  const config: DeviceConfig = {
    listenPort: file.interface.listenPort ?? 0,
    fwmark: file.interface.fwmark ?? 0,
    peers: new Map(),
  };
  if (file.interface.privateKey) config.privateKey = file.interface.privateKey;
  for (const p of file.peers) {
    const peer: PeerConfig = { publicKey: p.publicKey, allowedIPs: [...p.allowedIPs] };
    for (const s of PEER_SETTING_LIST) {
      const given = p[s.name];
      if (given === undefined) continue;
      // The endpoint's one special case: a host name's address comes from `resolved`
      // (and only an endpoint's toValue gives null: a host name nobody resolved).
      const value = (s.name === 'endpoint' ? resolved.get(p) : undefined) ?? s.file.toValue(given);
      if (value !== null) peer[s.name] = value;
      else if (unresolved === 'error')
        throw new ConfigError(file.path, p.endpointLine ?? p.line, `Endpoint: \`${p.endpoint}\` is a host name that was not resolved`);
    }
    const key = peerKey(p.publicKey);
    const existing = config.peers.get(key);
    if (existing) {
      // wg(8) applies a repeated peer as a second update of the same peer: what it gives wins.
      existing.allowedIPs.push(...peer.allowedIPs);
      for (const s of PEER_SETTING_LIST) if (peer[s.name] !== undefined) setPeerSetting(existing, s.name, peer[s.name]);
    } else {
      config.peers.set(key, peer);
    }
  }
  return config;
}

const ZERO_KEY = new Uint8Array(32);

/** One peer as wg(8) sends it: every setting, the unset ones as their clearing value (so syncconf clears them). */
function peerOp(p: PeerConfig): UapiPeerOp {
  const op: UapiPeerOp = {
    kind: 'peer',
    publicKey: p.publicKey,
    remove: false,
    updateOnly: false,
    replaceAllowedIPs: true,
    allowedIPs: p.allowedIPs.map((prefix) => ({ prefix, remove: false })),
  };
  for (const s of PEER_SETTING_LIST) {
    const value = p[s.name] ?? s.uapi.clear;
    if (value !== undefined) op[s.name] = value;
  }
  return op;
}

/**
 * What `wg setconf` sends: the device replaced by this configuration (all
 * peers removed first, so sessions restart).
 */
export function setconfOps(config: DeviceConfig): UapiSetOp[] {
  const ops: UapiSetOp[] = [
    { kind: 'private_key', privateKey: config.privateKey ?? ZERO_KEY },
    { kind: 'listen_port', port: config.listenPort },
    { kind: 'fwmark', fwmark: config.fwmark },
    { kind: 'replace_peers' },
  ];
  for (const p of config.peers.values()) ops.push(peerOp(p));
  return ops;
}

/**
 * What `wg syncconf` sends: only the difference. Peers absent from `next`
 * are removed; the others are updated in place (their sessions survive);
 * unchanged device settings are not touched (no rebind).
 */
export function syncconfOps(current: DeviceSnapshot, next: DeviceConfig): UapiSetOp[] {
  const ops: UapiSetOp[] = [];
  const nextKey = next.privateKey ?? ZERO_KEY;
  const curKey = current.privateKey ?? ZERO_KEY;
  if (Buffer.compare(nextKey, curKey) !== 0) ops.push({ kind: 'private_key', privateKey: nextKey });
  if (next.listenPort !== 0 && next.listenPort !== current.listenPort) ops.push({ kind: 'listen_port', port: next.listenPort });
  if (next.fwmark !== current.fwmark) ops.push({ kind: 'fwmark', fwmark: next.fwmark });
  for (const p of current.peers) {
    if (!next.peers.has(peerKey(p.publicKey))) {
      ops.push({ kind: 'peer', publicKey: p.publicKey, remove: true, updateOnly: false, replaceAllowedIPs: false, allowedIPs: [] });
    }
  }
  for (const p of next.peers.values()) ops.push(peerOp(p));
  return ops;
}
