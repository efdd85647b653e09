/**
 * Conversions between the UDP address record the UDP port reads and writes
 * per packet (layout and offsets: src/native/addr-record-layout.ts) and
 * Endpoint.
 */
import type { Endpoint } from '../packet/endpoint.js';
import { UDP_ADDR_RECORD_SIZE as ADDR_RECORD_SIZE, UdpAddrRecord as R } from '../native/addr-record-layout.js';

/** One record's size (addr-record-layout.ts). */
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
    r[R.remoteV4Mapped] = 0xff;
    r[R.remoteV4Mapped + 1] = 0xff;
    r.set(e.address, R.remoteIpv4);
  } else {
    r.set(e.address, R.remoteIp);
  }
  r[R.remotePort] = e.port >> 8;
  r[R.remotePort + 1] = e.port & 0xff;
  r[R.family] = e.family;
  return r;
}

/** The remote end of a record as an Endpoint (what `get=1` reports). */
export function endpointFromAddr(r: Uint8Array): Endpoint {
  const port = (r[R.remotePort]! << 8) | r[R.remotePort + 1]!;
  if (r[R.family] === 4) return { family: 4, address: r.slice(R.remoteIpv4, R.remoteIpv4 + 4), port };
  return { family: 6, address: r.slice(R.remoteIp, R.remoteIp + R.ipBytes), port };
}
