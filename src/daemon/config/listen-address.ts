/**
 * A TCP listen address as operators write it: "127.0.0.1:9586",
 * "[::1]:9586", ":9586" or "0.0.0.0:9586" (all IPv4), "[::]:9586" (all).
 */
import { isIP } from 'node:net';

export interface ListenAddress {
  host: string | undefined;
  port: number;
}

/** Parses `text`; throws a RangeError that quotes it when it is not HOST:PORT. */
export function parseListenAddress(text: string): ListenAddress {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]*)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  const host = m ? (m[1] ?? m[2] ?? '') : '';
  if (!m || port < 1 || port > 65535 || (host !== '' && isIP(host) === 0) || (m[1] !== undefined && isIP(host) !== 6)) {
    throw new RangeError(`"${text}" is not a listen address (HOST:PORT with an IPv4 address, [IPv6]:PORT or :PORT; port 1-65535)`);
  }
  return { host: host === '' ? undefined : host, port };
}

export function formatListenAddress(a: ListenAddress): string {
  return `${a.host === undefined ? '' : a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}
