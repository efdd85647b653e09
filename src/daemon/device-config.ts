/**
 * The typed model of one WireGuard device's configuration, and the contract
 * between the control surface (UAPI server, config files, `xdpwg up`) and the
 * device that owns the peers: {@link DeviceControl}.
 *
 * Everything here is plain data plus the parsers/formatters for its two
 * textual leaves, IP prefixes and UDP endpoints, written to accept exactly
 * what wireguard-go accepts on the UAPI (Go's net/netip rules: no leading
 * zeros in IPv4 octets, IPv6 in brackets when a port follows) and to print
 * exactly what it prints (RFC 5952 text, v4-mapped addresses as ::ffff:a.b.c.d).
 *
 * Threading: main thread only (control plane).
 */
import { keyToHex } from '../crypto/encoding.js';
import type { Endpoint } from '../packet/endpoint.js';

// ---------------------------------------------------------------- errors

/** POSIX errno values the UAPI reports (the wire carries them negated, as wireguard-go writes them). */
export const Errno = {
  EIO: 5,
  EINVAL: 22,
  ENOANO: 55, // wireguard-go's "unknown error" code
  EPROTO: 71,
  EADDRINUSE: 98,
} as const;

/**
 * A control-path failure with the errno the UAPI reports for it. `errno` is
 * the positive POSIX number (22 for EINVAL); the protocol writes `errno=-22`,
 * which is what wireguard-go writes and what wg(8) turns back into strerror(22).
 */
export class UapiError extends Error {
  override readonly name = 'UapiError';
  constructor(readonly errno: number, message: string) {
    super(message);
  }
}

// ---------------------------------------------------------------- IP prefixes

/** An IP network prefix: address bytes (4 or 16) and prefix length. */
export interface IpPrefix {
  readonly family: 4 | 6;
  readonly address: Uint8Array;
  readonly bits: number;
}

/** Parses dotted-quad IPv4 strictly (4 octets, 0-255, no leading zeros); null if invalid. */
export function parseIPv4(text: string): Uint8Array | null {
  const out = new Uint8Array(4);
  let octet = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46; // virtual '.' at the end
    if (c >= 48 && c <= 57) {
      if (digits === 1 && value === 0) return null; // leading zero
      value = value * 10 + (c - 48);
      if (value > 255) return null;
      digits++;
    } else if (c === 46) {
      if (digits === 0 || octet > 3) return null;
      out[octet++] = value;
      value = 0;
      digits = 0;
    } else {
      return null;
    }
  }
  return octet === 4 ? out : null;
}

/** Parses RFC 4291 IPv6 text (with '::' and an optional trailing dotted IPv4), no zone; null if invalid. */
export function parseIPv6(text: string): Uint8Array | null {
  const out = new Uint8Array(16);
  let ellipsis = -1; // byte index where '::' sits
  let i = 0;
  let pos = 0; // byte position being filled
  if (text.startsWith('::')) {
    ellipsis = 0;
    i = 2;
    if (text.length === 2) return out;
  } else if (text.startsWith(':')) {
    return null;
  }
  while (i < text.length) {
    if (pos >= 16) return null;
    // Read up to 4 hex digits.
    let value = 0;
    let n = 0;
    const start = i;
    while (i < text.length && n < 5) {
      const c = text.charCodeAt(i);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) break;
      value = value * 16 + d;
      n++;
      i++;
    }
    if (n === 0 || n > 4) return null;
    if (i < text.length && text[i] === '.') {
      // Embedded IPv4 in the last 32 bits.
      if (ellipsis < 0 && pos !== 12) return null;
      if (pos > 12) return null;
      const v4 = parseIPv4(text.slice(start));
      if (!v4) return null;
      out.set(v4, pos);
      pos += 4;
      i = text.length;
      break;
    }
    out[pos++] = value >> 8;
    out[pos++] = value & 0xff;
    if (i === text.length) break;
    if (text[i] !== ':') return null;
    i++;
    if (i < text.length && text[i] === ':') {
      if (ellipsis >= 0) return null;
      ellipsis = pos;
      i++;
      if (i === text.length) break;
    } else if (i === text.length) {
      return null; // trailing single ':'
    }
  }
  if (ellipsis >= 0) {
    const tail = pos - ellipsis;
    if (pos === 16) return null; // '::' must stand for at least one group
    out.copyWithin(16 - tail, ellipsis, pos);
    out.fill(0, ellipsis, 16 - tail);
  } else if (pos !== 16) {
    return null;
  }
  return out;
}

/** Parses an IPv4 or IPv6 address (no zone); null if invalid. */
export function parseIP(text: string): Uint8Array | null {
  return text.includes(':') ? parseIPv6(text) : parseIPv4(text);
}

function formatIPv4(a: Uint8Array, offset = 0): string {
  return `${a[offset]}.${a[offset + 1]}.${a[offset + 2]}.${a[offset + 3]}`;
}

/**
 * Formats an IPv6 address as RFC 5952 text (longest run of ≥2 zero groups
 * collapsed, leftmost on a tie, lowercase). `style` chooses where an IPv4
 * tail is printed dotted: 'go' (wireguard-go, net/netip) only for v4-mapped
 * ::ffff:a.b.c.d; 'libc' (glibc inet_ntop, what wg(8) prints) also for
 * ::a.b.c.d.
 */
export function formatIPv6(a: Uint8Array, style: 'go' | 'libc' = 'go'): string {
  const words = new Array<number>(8);
  for (let i = 0; i < 8; i++) words[i] = (a[2 * i]! << 8) | a[2 * i + 1]!;
  let bestBase = -1, bestLen = 0, curBase = -1, curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      if (curBase < 0) { curBase = i; curLen = 1; } else curLen++;
      if (curLen > bestLen) { bestBase = curBase; bestLen = curLen; }
    } else {
      curBase = -1;
      curLen = 0;
    }
  }
  if (bestLen < 2) bestBase = -1;
  const mapped = bestBase === 0 && bestLen === 5 && words[5] === 0xffff;
  const compat = style === 'libc' && bestBase === 0 && bestLen === 6;
  if (mapped || compat) return `::${mapped ? 'ffff:' : ''}${formatIPv4(a, 12)}`;
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestBase) {
      s += '::';
      i += bestLen - 1;
      continue;
    }
    if (s.length > 0 && !s.endsWith(':')) s += ':';
    s += words[i]!.toString(16);
  }
  return s;
}

/** Formats 4 or 16 address bytes as text (see {@link formatIPv6} for `style`). */
export function formatIP(address: Uint8Array, style: 'go' | 'libc' = 'go'): string {
  return address.length === 4 ? formatIPv4(address) : formatIPv6(address, style);
}

/**
 * Parses "addr/bits" as wireguard-go's UAPI does (netip.ParsePrefix): the
 * length is mandatory, decimal without leading zeros, ≤32 or ≤128. The host
 * part is kept as given; {@link maskPrefix} clears it.
 */
export function parsePrefix(text: string): IpPrefix | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const bitsText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(bitsText)) return null;
  const address = parseIP(text.slice(0, slash));
  if (!address) return null;
  const bits = Number(bitsText);
  if (bits > address.length * 8) return null;
  return { family: address.length === 4 ? 4 : 6, address, bits };
}

/** The prefix with all bits after `bits` cleared (what a routing table stores). */
export function maskPrefix(p: IpPrefix): IpPrefix {
  const address = new Uint8Array(p.address);
  for (let bit = p.bits; bit < address.length * 8; bit++) {
    if ((bit & 7) === 0 && bit + 8 <= address.length * 8) {
      address.fill(0, bit >> 3);
      break;
    }
    address[bit >> 3]! &= ~(0x80 >> (bit & 7));
  }
  return { family: p.family, address, bits: p.bits };
}

/** "addr/bits" text (see {@link formatIPv6} for `style`). */
export function formatPrefix(p: IpPrefix, style: 'go' | 'libc' = 'go'): string {
  return `${formatIP(p.address, style)}/${p.bits}`;
}

/** A key identifying a prefix by value (family, address bytes, length), for maps and sets. */
export function prefixKey(p: IpPrefix): string {
  return `${Buffer.from(p.address.buffer, p.address.byteOffset, p.address.byteLength).toString('hex')}/${p.bits}`;
}

// ---------------------------------------------------------------- endpoints

/** A peer's UDP endpoint: a literal IP address (never a host name) and a port (src/packet/endpoint.ts). */
export type { Endpoint };

/**
 * Parses "a.b.c.d:port" or "[v6]:port" (optionally "[v6%zone]:port") as
 * wireguard-go's UAPI does (netip.ParseAddrPort): IPv6 must be bracketed,
 * IPv4 must not be, port 0-65535 in decimal. Host names are refused here:
 * resolving them is the caller's job (wg(8) resolves before it talks UAPI).
 */
export function parseEndpoint(text: string): Endpoint | null {
  let host: string;
  let portText: string;
  let bracketed = false;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return null;
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    bracketed = true;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return null;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return null; // IPv6 without brackets
  }
  if (!/^[0-9]{1,9}$/.test(portText)) return null; // Go's ParseUint allows leading zeros
  const port = Number(portText);
  if (port > 65535) return null;
  let zone: string | undefined;
  if (bracketed) {
    const pct = host.indexOf('%');
    if (pct >= 0) {
      zone = host.slice(pct + 1);
      host = host.slice(0, pct);
      if (zone === '') return null;
    }
    const address = parseIPv6(host);
    if (!address || host.indexOf(':') < 0) return null;
    return zone === undefined ? { family: 6, address, port } : { family: 6, address, port, zone };
  }
  const address = parseIPv4(host);
  if (!address) return null;
  return { family: 4, address, port };
}

/** "ip:port" or "[ip]:port" text, as wireguard-go's get and wg(8) print it. */
export function formatEndpoint(e: Endpoint, style: 'go' | 'libc' = 'go'): string {
  if (e.family === 4) return `${formatIP(e.address)}:${e.port}`;
  return `[${formatIPv6(e.address, style)}${e.zone !== undefined ? `%${e.zone}` : ''}]:${e.port}`;
}

// ---------------------------------------------------------------- configuration model

/** One peer's configuration (what `wg setconf` can set). */
export interface PeerConfig {
  publicKey: Uint8Array;
  presharedKey?: Uint8Array;
  endpoint?: Endpoint;
  /** Seconds; 0 = off. */
  persistentKeepalive: number;
  allowedIPs: IpPrefix[];
}

/** A device's configuration (what `wg setconf` can set). Peers are keyed by lowercase hex public key. */
export interface DeviceConfig {
  privateKey?: Uint8Array;
  listenPort: number;
  fwmark: number;
  peers: Map<string, PeerConfig>;
}

/** Map key for a public key: its 64 lowercase hex digits. */
export function peerKey(publicKey: Uint8Array): string {
  return keyToHex(publicKey);
}

// ---------------------------------------------------------------- runtime snapshot

/** One peer as `get=1` reports it: configuration plus runtime counters. */
export interface PeerSnapshot {
  publicKey: Uint8Array;
  /** Absent (or all zero) when the peer has no preshared key; get=1 then prints 64 zeros. */
  presharedKey?: Uint8Array;
  /** The current endpoint (configured or learnt from authenticated traffic). */
  endpoint?: Endpoint;
  /** Wall-clock time of the last completed handshake; 0/0 when none yet. */
  lastHandshakeSec: number;
  lastHandshakeNsec: number;
  rxBytes: bigint | number;
  txBytes: bigint | number;
  persistentKeepalive: number;
  /** In the order the device keeps them (wireguard-go: insertion order, a re-inserted prefix moves last), host bits cleared. */
  allowedIPs: Iterable<IpPrefix>;
}

/** The whole device as `get=1` reports it. */
export interface DeviceSnapshot {
  /** Absent when no private key is set. */
  privateKey?: Uint8Array;
  /** The port actually bound (when 0 was asked for, the one the kernel chose); 0 when not listening. */
  listenPort: number;
  fwmark: number;
  peers: Iterable<PeerSnapshot>;
}

// ---------------------------------------------------------------- set operations

/** One change to a peer's allowed IPs, in request order. */
export interface AllowedIPChange {
  prefix: IpPrefix;
  /** `allowed_ip=-prefix`: remove the prefix if this peer owns it (newer wireguard-go, kernel ≥6.16). */
  remove: boolean;
}

/**
 * Everything one `public_key=` block of a set request asks for one peer.
 * Field semantics follow wireguard-go line by line, folded into one record:
 * - `remove`: delete the peer; every other field is then ignored.
 * - `updateOnly`: apply only if the peer already exists; never create it.
 * - `presharedKey` all zero clears it; `persistentKeepalive` 0 turns it off.
 * - `replaceAllowedIPs`: drop the peer's allowed IPs first, then apply `allowedIPs` in order.
 * A later field of the same kind in the block overrides an earlier one.
 * A block whose public key is the device's own public key is ignored (wireguard-go does so).
 */
export interface UapiPeerOp {
  kind: 'peer';
  publicKey: Uint8Array;
  remove: boolean;
  updateOnly: boolean;
  presharedKey?: Uint8Array;
  endpoint?: Endpoint;
  persistentKeepalive?: number;
  replaceAllowedIPs: boolean;
  allowedIPs: AllowedIPChange[];
}

/** One operation of a `set=1` request, applied in order. Device operations always precede peer ones. */
export type UapiSetOp =
  /** All-zero key clears the private key. The device also drops a peer whose public key becomes its own. */
  | { kind: 'private_key'; privateKey: Uint8Array }
  /** Rebind to this port (0 = any); failure to bind is {@link Errno.EADDRINUSE}. */
  | { kind: 'listen_port'; port: number }
  | { kind: 'fwmark'; fwmark: number }
  /** Remove all peers (before the peer blocks that follow). */
  | { kind: 'replace_peers' }
  | UapiPeerOp;

/**
 * What the device implements for the control surface. Calls come from the
 * main thread, one at a time; each call is atomic with respect to others.
 */
export interface DeviceControl {
  /**
   * The current configuration and counters, for `get=1`. The returned value
   * must not change afterwards (copy, don't hand out live views): a large
   * answer is serialized while it drains to a slow client.
   */
  getSnapshot(): DeviceSnapshot;
  /**
   * Applies the operations in order. Throws {@link UapiError} with the errno
   * to report (EINVAL for a value the device refuses, EADDRINUSE when the
   * port cannot be bound); operations before the failing one stay applied,
   * as in wireguard-go.
   */
  applySet(ops: UapiSetOp[]): void;
}
