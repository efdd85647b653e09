/**
 * The text forms of configuration values that more than one surface reads:
 * numbers and keys as the UAPI writes them (decimal, 64 hex digits), as a
 * config file writes them (base64 keys, `host:port` endpoints), and the
 * quoting rule every error message about such text follows. The UAPI
 * protocol (src/daemon/uapi/protocol.ts), the config file (config-file.ts)
 * and the per-peer settings table (peer-settings.ts) share them, so one
 * value has one parser and one wording of its errors.
 */
import { keyFromBase64, keyFromHex } from '../../crypto/encoding.js';
import { parseIP } from '../../packet/ip-prefix.js';
import { Errno, UapiError } from './device-config.js';

// ---------------------------------------------------------------- UAPI

/** A decimal number 0..max as the UAPI writes it (no sign, no spaces); null otherwise. */
export function parseUint(value: string, max: number): number | null {
  if (!/^[0-9]+$/.test(value)) return null;
  const n = Number(value);
  return n <= max ? n : null;
}

/**
 * Offending input as an error message may quote it: errors are logged, and a
 * bad line can be a private or preshared key (pasted in base64, cut short,
 * or a value given to the wrong key). Text with a run of 16 or more base64 or
 * hex characters is described by its length only.
 */
export function quoteInput(text: string): string {
  if (/[A-Za-z0-9+/]{16}/.test(text)) return `(${text.length} characters, not shown: it may be key material)`;
  return JSON.stringify(text.slice(0, 80));
}

/** Why a UAPI key value was refused. Never quoted: a key that is almost right is almost a key. */
export function hexKeyProblem(value: string): string {
  return `not 64 hex digits (got ${value.length} characters)`;
}

/** 64 hex digits → 32 bytes; null when the text is not that. */
export function parseHexKey(value: string): Uint8Array | null {
  try {
    return keyFromHex(value);
  } catch {
    return null;
  }
}

/** 64 hex digits → 32 bytes, or {@link UapiError} EINVAL naming `what`. */
export function hexKey(value: string, what: string): Uint8Array {
  const key = parseHexKey(value);
  if (key === null) throw new UapiError(Errno.EINVAL, `${what}: ${hexKeyProblem(value)}`);
  return key;
}

// ---------------------------------------------------------------- config file

/** How a config-file value reports a problem: `bad(what)` throws the file's error for this line and key. */
export type BadValue = (what: string) => never;

/** A base64 key as `wg genkey` prints it. */
export function parseKeyValue(value: string, bad: BadValue): Uint8Array {
  if (value === '') bad('no key given');
  try {
    return keyFromBase64(value);
  } catch {
    return bad(`\`${value}\` is not a valid key (44 characters of base64 ending in '=', as wg genkey prints)`);
  }
}

/** A decimal number min..max; `what` completes "is not …" in the error. */
export function parseNumber(value: string, min: number, max: number, bad: BadValue, what: string): number {
  if (!/^[0-9]+$/.test(value) || Number(value) < min || Number(value) > max) bad(`\`${value}\` is not ${what}`);
  return Number(value);
}

/**
 * Checks an Endpoint value's shape (host:port or [IPv6]:port, host an IP
 * address or a name) without resolving it: resolution can block and fail,
 * so it is the caller's later step (config-file.ts resolveEndpoints).
 */
export function checkEndpointText(value: string, bad: BadValue): string {
  if (value === '') bad('no endpoint given');
  const split = splitHostPort(value);
  if (!split) bad(`\`${value}\` has no port (write host:port, or [IPv6]:port)`);
  const { host, port } = split!;
  if (!/^[0-9]+$/.test(port) || Number(port) > 65535) bad(`\`${port}\` in \`${value}\` is not a port number 0-65535`);
  if (host === '') bad(`\`${value}\` has no host`);
  if (value.startsWith('[')) {
    if (!parseIP(host.split('%')[0]!) || !host.includes(':')) bad(`\`${host}\` in brackets is not an IPv6 address`);
  } else if (host.includes(':')) {
    bad(`\`${value}\`: an IPv6 endpoint needs brackets, as in [2001:db8::1]:51820`);
  } else if (!parseIP(host) && !/^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?$/.test(host)) {
    bad(`\`${host}\` is neither an IP address nor a host name`);
  }
  return value;
}

/** Splits "host:port" / "[v6]:port" (brackets removed); null when there is no port. */
export function splitHostPort(value: string): { host: string; port: string } | null {
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0 || value[close + 1] !== ':' || close + 2 >= value.length) return null;
    return { host: value.slice(1, close), port: value.slice(close + 2) };
  }
  const colon = value.lastIndexOf(':');
  if (colon < 0 || colon + 1 >= value.length) return null;
  return { host: value.slice(0, colon), port: value.slice(colon + 1) };
}
