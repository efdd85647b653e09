/**
 * The typed model of one WireGuard device's configuration, and the contract
 * between the control surface (UAPI server, config files, `xdpwg up`) and the
 * device that owns the peers: {@link DeviceControl}.
 *
 * Everything here is plain data plus the parser/formatter of UDP endpoint
 * text, written to accept exactly what wireguard-go accepts on the UAPI
 * (Go's net/netip rules: IPv6 in brackets when a port follows) and to print
 * exactly what it prints. IP addresses and prefixes as text are
 * src/packet/ip-prefix.ts.
 *
 * Threading: main thread only (control plane).
 */
import { keyToHex } from '../../crypto/encoding.js';
import type { Endpoint } from '../../packet/endpoint.js';
import { formatIP, formatIPv6, parseIPv4, parseIPv6, type IpPrefix } from '../../packet/ip-prefix.js';
import type { PeerSettingValues } from './peer-settings.js';

/** Re-exported for src/daemon/xdp/xdp-paths.ts, which another branch owns: move its import to src/packet/ip-prefix.ts, then drop this. */
export { formatIP, parseIP } from '../../packet/ip-prefix.js';

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
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------- endpoints

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

/** One peer's configuration (what `wg setconf` can set); its settings are those of peer-settings.ts. */
export interface PeerConfig extends PeerSettingValues {
  publicKey: Uint8Array;
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

/**
 * One peer as `get=1` reports it: its settings (peer-settings.ts; what get
 * prints for an unset one is in that table), plus runtime counters.
 */
export interface PeerSnapshot extends PeerSettingValues {
  publicKey: Uint8Array;
  /** Wall-clock time of the last completed handshake; 0/0 when none yet. */
  lastHandshakeSec: number;
  lastHandshakeNsec: number;
  rxBytes: bigint | number;
  txBytes: bigint | number;
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
 * - The settings (peer-settings.ts) present are set; `presharedKey` all zero
 *   clears it, `persistentKeepalive` 0 turns it off.
 * - `replaceAllowedIPs`: drop the peer's allowed IPs first, then apply `allowedIPs` in order.
 * A later field of the same kind in the block overrides an earlier one.
 * A block whose public key is the device's own public key is ignored (wireguard-go does so).
 */
export interface UapiPeerOp extends PeerSettingValues {
  kind: 'peer';
  publicKey: Uint8Array;
  remove: boolean;
  updateOnly: boolean;
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
   * The same state for the UAPI's `get=1` alone, which the server prefers
   * when the device has it: unchanging too, but its `peers` may yield one
   * object refilled for each peer (and its `allowedIPs` one refilled
   * prefix), read whole before the next (serializeUapiGet does), so a
   * million peers cost no object each.
   */
  captureForGet?(): DeviceSnapshot;
  /**
   * captureForGet taken in chunks with turns of the event loop between them,
   * which the server prefers when the device has it (a big device's capture
   * would hold the loop); peers removed meanwhile are left out.
   */
  captureForGetInTurns?(): Promise<DeviceSnapshot>;
  /**
   * The UAPI is at work for a client (a big answer still being written): the
   * device is not idle. Called at the start of a get and between its chunks.
   */
  uapiActive?(): void;
  /**
   * Applies the operations in order. Throws {@link UapiError} with the errno
   * to report (EINVAL for a value the device refuses, EADDRINUSE when the
   * port cannot be bound); operations before the failing one stay applied,
   * as in wireguard-go.
   */
  applySet(ops: UapiSetOp[]): void;
  /**
   * The same, in chunks that yield to the event loop (a big `wg setconf`),
   * one set after the other; rejects as applySet throws. The UAPI server
   * uses it when the device has it.
   */
  applySetChunked?(ops: UapiSetOp[]): Promise<void>;
}
