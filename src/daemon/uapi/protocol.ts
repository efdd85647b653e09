/**
 * The cross-platform userspace API's text protocol
 * (https://www.wireguard.com/xplatform/), as wireguard-go speaks it, without
 * any I/O: `set=1` bodies parsed line by line into {@link UapiSetOp}s, `get=1`
 * answers serialized from a {@link DeviceSnapshot}, and the client side of both.
 *
 * Wire facts (wireguard-go device/uapi.go, wg(8) ipc-uapi.h):
 * - A request is `get=1\n\n` or `set=1\n` + `key=value\n` lines + `\n`.
 *   A connection may carry several requests, one after the other.
 * - Every answer ends with `errno=0\n\n`, or `errno=-N\n\n` with N a POSIX
 *   errno (negative: wg(8) reads the number and sets errno to its negation).
 * - Keys are 64 hex digits; get prints lowercase.
 * - Set keys before the first `public_key=` configure the device
 *   (private_key, listen_port, fwmark, replace_peers); after it, the peer
 *   (update_only, remove, replace_allowed_ips, allowed_ip, protocol_version,
 *   and the settings of src/daemon/config/peer-settings.ts: preshared_key,
 *   endpoint, persistent_keepalive_interval). Unknown keys and bad
 *   values are EINVAL; a line without '=' is EPROTO. The first error ends the
 *   request; what came before it stays applied.
 * - Get prints private_key (if set), listen_port (if nonzero), fwmark (if
 *   nonzero), then per peer: public_key, preshared_key (64 zeros if none),
 *   protocol_version=1, endpoint (if known), last_handshake_time_sec,
 *   last_handshake_time_nsec, tx_bytes, rx_bytes,
 *   persistent_keepalive_interval, then one allowed_ip per prefix. (Where
 *   each setting goes is its `getAfter` in peer-settings.ts.)
 */
import { keyToHex } from '../../crypto/encoding.js';
import { Errno, UapiError, type DeviceSnapshot, type PeerSnapshot, type UapiPeerOp, type UapiSetOp } from '../config/device-config.js';
import { PEER_SETTING_LIST, type AnyPeerSetting } from '../config/peer-settings.js';
import { hexKey, parseUint, quoteInput } from '../config/value-text.js';
import { formatPrefix, parsePrefix, type IpPrefix } from '../../packet/ip-prefix.js';
import { TextChunks } from './text-chunks.js';

/** Longest request line accepted (Go's bufio.Scanner default token limit, which wireguard-go inherits). */
export const UAPI_MAX_LINE = 64 * 1024;

function mustBeTrue(key: string, value: string): void {
  if (value !== 'true') throw new UapiError(Errno.EINVAL, `${key}: invalid value ${quoteInput(value)} (only "true")`);
}

/** The per-peer settings by UAPI key. */
const SETTING_BY_UAPI_KEY = new Map(PEER_SETTING_LIST.map((s) => [s.uapi.key, s]));

/**
 * Incremental parser of one `set=1` body. Feed it each line (without its
 * '\n'; not the blank terminator) with {@link line}; it throws
 * {@link UapiError} at the first bad line. {@link ops} holds everything
 * parsed up to then, so the caller can apply that prefix as wireguard-go does.
 * Cost is one small object per allowed_ip; nothing is buffered but the ops.
 */
export class UapiSetParser {
  readonly ops: UapiSetOp[] = [];
  private peer: UapiPeerOp | null = null;
  /** After remove=true the rest of the block is validated but has no effect. */
  private peerRemoved = false;

  /**
   * Takes the operations that are complete (all but the last, which later
   * lines may still extend), so a big set can be applied while it streams in.
   */
  takeCompleted(): UapiSetOp[] {
    return this.ops.splice(0, Math.max(0, this.ops.length - 1));
  }

  line(text: string): void {
    const eq = text.indexOf('=');
    if (eq < 0) throw new UapiError(Errno.EPROTO, `failed to parse line ${quoteInput(text)}`);
    const key = text.slice(0, eq);
    const value = text.slice(eq + 1);
    if (key === 'public_key') {
      this.peer = {
        kind: 'peer',
        publicKey: hexKey(value, 'public_key'),
        remove: false,
        updateOnly: false,
        replaceAllowedIPs: false,
        allowedIPs: [],
      };
      this.peerRemoved = false;
      this.ops.push(this.peer);
      return;
    }
    if (this.peer === null) this.deviceLine(key, value);
    else this.peerLine(this.peer, key, value);
  }

  private deviceLine(key: string, value: string): void {
    switch (key) {
      case 'private_key':
        this.ops.push({ kind: 'private_key', privateKey: hexKey(value, 'private_key') });
        return;
      case 'listen_port': {
        const port = parseUint(value, 0xffff);
        if (port === null) throw new UapiError(Errno.EINVAL, `listen_port: not a port number: ${quoteInput(value)}`);
        this.ops.push({ kind: 'listen_port', port });
        return;
      }
      case 'fwmark': {
        const fwmark = parseUint(value, 0xffffffff);
        if (fwmark === null) throw new UapiError(Errno.EINVAL, `fwmark: not a 32-bit number: ${quoteInput(value)}`);
        this.ops.push({ kind: 'fwmark', fwmark });
        return;
      }
      case 'replace_peers':
        mustBeTrue(key, value);
        this.ops.push({ kind: 'replace_peers' });
        return;
      default:
        throw new UapiError(Errno.EINVAL, `invalid UAPI device key: ${quoteInput(key)}`);
    }
  }

  private peerLine(peer: UapiPeerOp, key: string, value: string): void {
    const live = !this.peerRemoved;
    switch (key) {
      case 'update_only':
        mustBeTrue(key, value);
        if (live) peer.updateOnly = true;
        return;
      case 'remove':
        mustBeTrue(key, value);
        if (live) {
          peer.remove = true;
          peer.updateOnly = false;
          for (const s of PEER_SETTING_LIST) delete peer[s.name];
          peer.replaceAllowedIPs = false;
          peer.allowedIPs = [];
          this.peerRemoved = true;
        }
        return;
      case 'replace_allowed_ips':
        mustBeTrue(key, value);
        if (live) {
          peer.replaceAllowedIPs = true;
          peer.allowedIPs = [];
        }
        return;
      case 'allowed_ip': {
        const remove = value.startsWith('-');
        const prefix = parsePrefix(remove ? value.slice(1) : value);
        if (!prefix) throw new UapiError(Errno.EINVAL, `allowed_ip: not an IP prefix: ${quoteInput(value)}`);
        if (live) peer.allowedIPs.push({ prefix, remove });
        return;
      }
      case 'protocol_version':
        if (value !== '1') throw new UapiError(Errno.EINVAL, `invalid protocol version: ${quoteInput(value)}`);
        return;
      default: {
        const setting = SETTING_BY_UAPI_KEY.get(key);
        if (!setting) throw new UapiError(Errno.EINVAL, `invalid UAPI peer key: ${quoteInput(key)}`);
        const parsed = setting.uapi.parse(value);
        if (parsed === null) throw new UapiError(Errno.EINVAL, `${key}: ${setting.uapi.problem(value)}`);
        if (live) peer[setting.name] = parsed;
      }
    }
  }
}

/** Parses a whole set body (the lines after `set=1`, up to but excluding the blank line). */
export function parseUapiSet(body: string): UapiSetOp[] {
  const parser = new UapiSetParser();
  for (const line of body.split('\n')) {
    if (line === '') break;
    parser.line(line);
  }
  return parser.ops;
}

/** The `set=1` request (with its blank terminator) that asks for these operations, as wg(8) writes it. */
export function serializeUapiSet(ops: Iterable<UapiSetOp>): string {
  const out: string[] = ['set=1'];
  for (const op of ops) {
    switch (op.kind) {
      case 'private_key':
        out.push(`private_key=${keyToHex(op.privateKey)}`);
        break;
      case 'listen_port':
        out.push(`listen_port=${op.port}`);
        break;
      case 'fwmark':
        out.push(`fwmark=${op.fwmark}`);
        break;
      case 'replace_peers':
        out.push('replace_peers=true');
        break;
      case 'peer':
        out.push(`public_key=${keyToHex(op.publicKey)}`);
        if (op.remove) {
          out.push('remove=true');
          break;
        }
        if (op.updateOnly) out.push('update_only=true');
        for (const s of PEER_SETTING_LIST) {
          const value = op[s.name];
          if (value !== undefined) out.push(`${s.uapi.key}=${s.uapi.format(value)}`);
        }
        if (op.replaceAllowedIPs) out.push('replace_allowed_ips=true');
        for (const a of op.allowedIPs) out.push(`allowed_ip=${a.remove ? '-' : ''}${formatPrefix(a.prefix)}`);
        break;
    }
  }
  return out.join('\n') + '\n\n';
}

/** One setting's `get=1` text, made once: its `key=` and its whole line when unset (null: no line). */
interface GetSettingText {
  setting: AnyPeerSetting;
  keyEq: Buffer;
  unsetLine: Buffer | null;
}

function getSettingTexts(settings: readonly AnyPeerSetting[]): GetSettingText[] {
  return settings.map((s) => ({
    setting: s,
    keyEq: latin1(`${s.uapi.key}=`),
    unsetLine: s.uapi.getUnset === null ? null : latin1(`${s.uapi.key}=${s.uapi.getUnset}\n`),
  }));
}

function latin1(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

/** The fixed parts of every peer's `get=1` lines. */
const GET_TEXT = {
  publicKey: latin1('public_key='),
  protocolVersion: latin1('protocol_version=1\n'),
  handshakeSec: latin1('last_handshake_time_sec='),
  handshakeNsec: latin1('\nlast_handshake_time_nsec='),
  txBytes: latin1('\ntx_bytes='),
  rxBytes: latin1('\nrx_bytes='),
  allowedIp: latin1('allowed_ip='),
};

/** The settings `get=1` prints after each of its fixed per-peer lines. */
const GET_AFTER = {
  public_key: getSettingTexts(PEER_SETTING_LIST.filter((s) => s.uapi.getAfter === 'public_key')),
  protocol_version: getSettingTexts(PEER_SETTING_LIST.filter((s) => s.uapi.getAfter === 'protocol_version')),
  rx_bytes: getSettingTexts(PEER_SETTING_LIST.filter((s) => s.uapi.getAfter === 'rx_bytes')),
} satisfies Record<AnyPeerSetting['uapi']['getAfter'], GetSettingText[]>;

/** The `get=1` lines of these settings of one peer. */
function getLines(out: TextChunks, settings: readonly GetSettingText[], p: PeerSnapshot): void {
  for (const t of settings) {
    const value = p[t.setting.name];
    if (value !== undefined && !t.setting.isUnset(value)) {
      out.bytes(t.keyEq);
      out.text(t.setting.uapi.format(value));
      out.byte(NL);
    } else if (t.unsetLine !== null) out.bytes(t.unsetLine);
  }
}

const NL = 10;

/**
 * The body of a `get=1` answer (without the `errno=` trailer) as latin1
 * bytes, in chunks of about `chunkSize` (text-chunks.ts), made as they are
 * taken: a 130,000-prefix peer or 1,000,000 peers stream without one giant
 * string, and the caller can write one chunk while the next is formatted.
 * Each peer is read whole before the next is taken (a capture's refilled
 * peer object relies on it: DeviceControl.captureForGet).
 * Byte-identical to wireguard-go's for the same state.
 */
export function* serializeUapiGet(s: DeviceSnapshot, chunkSize = 256 * 1024): Generator<Buffer, void, undefined> {
  const out = new TextChunks(chunkSize);
  if (s.privateKey && s.privateKey.some((b) => b !== 0)) {
    out.text('private_key=');
    out.hex(s.privateKey);
    out.byte(NL);
  }
  if (s.listenPort !== 0) {
    out.text('listen_port=');
    out.uint(s.listenPort);
    out.byte(NL);
  }
  if (s.fwmark !== 0) {
    out.text('fwmark=');
    out.uint(s.fwmark);
    out.byte(NL);
  }
  for (const p of s.peers) {
    out.bytes(GET_TEXT.publicKey);
    out.hex(p.publicKey);
    out.byte(NL);
    getLines(out, GET_AFTER.public_key, p);
    out.bytes(GET_TEXT.protocolVersion);
    getLines(out, GET_AFTER.protocol_version, p);
    out.bytes(GET_TEXT.handshakeSec);
    out.uint(p.lastHandshakeSec);
    out.bytes(GET_TEXT.handshakeNsec);
    out.uint(p.lastHandshakeNsec);
    out.bytes(GET_TEXT.txBytes);
    out.uint(p.txBytes);
    out.bytes(GET_TEXT.rxBytes);
    out.uint(p.rxBytes);
    out.byte(NL);
    getLines(out, GET_AFTER.rx_bytes, p);
    for (const a of p.allowedIPs) {
      out.bytes(GET_TEXT.allowedIp);
      if (a.family === 4) out.ipv4(a.address, 0);
      else out.ipv6(a.address);
      out.byte(47); // '/'
      out.uint(a.bits);
      out.byte(NL);
      if (out.hasFull) yield* out.takeFull();
    }
    if (out.hasFull) yield* out.takeFull();
  }
  yield* out.takeRest();
}

/** The trailer of every answer: `errno=0` or `errno=-N`, then the blank line. `errno` is the positive POSIX number. */
export function uapiStatus(errno: number): string {
  return errno === 0 ? 'errno=0\n\n' : `errno=${-Math.abs(errno)}\n\n`;
}

/** A parsed `get=1` answer: the device as reported, and the errno the answer ended with (positive; 0 = success). */
export interface UapiGetResult {
  snapshot: DeviceSnapshot & { peers: (PeerSnapshot & { allowedIPs: IpPrefix[] })[] };
  errno: number;
}

/**
 * Parses a `get=1` answer (the client side, as wg(8) does). Unknown keys are
 * skipped so newer daemons stay readable; malformed known values throw
 * {@link UapiError} EPROTO.
 */
export function parseUapiGet(text: string): UapiGetResult {
  const peers: (PeerSnapshot & { allowedIPs: IpPrefix[] })[] = [];
  const snapshot: UapiGetResult['snapshot'] = { listenPort: 0, fwmark: 0, peers };
  let peer: (PeerSnapshot & { allowedIPs: IpPrefix[] }) | null = null;
  let errno = -1;
  const bad = (line: string): never => {
    throw new UapiError(Errno.EPROTO, `malformed get answer line ${quoteInput(line)}`);
  };
  const num = (line: string, v: string, max: number): number => parseUint(v, max) ?? bad(line);
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (line === '') break;
    const eq = line.indexOf('=');
    if (eq < 0) bad(line);
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'errno') {
      if (!/^-?[0-9]+$/.test(value)) bad(line);
      errno = Math.abs(Number(value));
      continue;
    }
    if (key === 'public_key') {
      peer = { publicKey: hexKey(value, key), lastHandshakeSec: 0, lastHandshakeNsec: 0, rxBytes: 0n, txBytes: 0n, allowedIPs: [] };
      peers.push(peer);
      continue;
    }
    if (peer === null) {
      if (key === 'private_key') snapshot.privateKey = hexKey(value, key);
      else if (key === 'listen_port') snapshot.listenPort = num(line, value, 0xffff);
      else if (key === 'fwmark') snapshot.fwmark = num(line, value, 0xffffffff);
      continue;
    }
    switch (key) {
      case 'last_handshake_time_sec':
        peer.lastHandshakeSec = num(line, value, Number.MAX_SAFE_INTEGER);
        break;
      case 'last_handshake_time_nsec':
        peer.lastHandshakeNsec = num(line, value, 999_999_999);
        break;
      case 'tx_bytes':
        if (!/^[0-9]+$/.test(value)) bad(line);
        peer.txBytes = BigInt(value);
        break;
      case 'rx_bytes':
        if (!/^[0-9]+$/.test(value)) bad(line);
        peer.rxBytes = BigInt(value);
        break;
      case 'allowed_ip':
        peer.allowedIPs.push(parsePrefix(value) ?? bad(line));
        break;
      default: {
        const setting = SETTING_BY_UAPI_KEY.get(key);
        if (!setting) break; // protocol_version and keys from newer daemons
        // What get prints for an unset setting (64 zeros, 0) reads back as unset.
        const parsed = setting.uapi.parse(value) ?? bad(line);
        if (!setting.isUnset(parsed)) peer[setting.name] = parsed;
      }
    }
  }
  if (errno < 0) throw new UapiError(Errno.EPROTO, 'get answer ended without errno=');
  return { snapshot, errno };
}
