/**
 * The 40-byte UDP address record the UDP port reads and writes per packet
 * (native/udp_port.h): 0..15 remote IP (IPv4 as ::ffff:a.b.c.d), 16..17
 * remote port big-endian, 18 family (4|6), 20..35 local IP (sticky source),
 * 36..39 local ifindex (LE). Conversions to and from Endpoint live here.
 */
import type { Endpoint } from '../packet/endpoint.js';

/** One record's size: the UDP port's own constant (src/native/udp-port.ts). */
import { UDP_ADDR_RECORD_SIZE as ADDR_RECORD_SIZE } from '../native/udp-port.js';
export { ADDR_RECORD_SIZE };

/** True when a and the record at b[bOffset…] name the same remote and the same local address. */
export function addrEquals(a: Uint8Array, b: Uint8Array, bOffset = 0): boolean {
  for (let i = 0; i < ADDR_RECORD_SIZE; i++) if (a[i] !== b[bOffset + i]) return false;
  return true;
}

/** A record that sends to the endpoint from whatever source the kernel picks. */
export function addrFromEndpoint(e: Endpoint): Uint8Array {
  const r = new Uint8Array(ADDR_RECORD_SIZE);
  if (e.family === 4) {
    r[10] = 0xff; r[11] = 0xff;
    r.set(e.address, 12);
  } else {
    r.set(e.address, 0);
  }
  r[16] = e.port >> 8;
  r[17] = e.port & 0xff;
  r[18] = e.family;
  return r;
}

/** The remote end of a record as an Endpoint (what `get=1` reports). */
export function endpointFromAddr(r: Uint8Array): Endpoint {
  const port = (r[16]! << 8) | r[17]!;
  if (r[18] === 4) return { family: 4, address: r.slice(12, 16), port };
  return { family: 6, address: r.slice(0, 16), port };
}
