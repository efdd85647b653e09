/**
 * The UDP address record's layout is named once in TypeScript
 * (src/native/addr-record-layout.ts) and checked against the addon's own
 * (addrRecordLayout, native/udp_addr_record.h) when the addon loads: the built
 * addon agrees, a differing or missing layout throws naming the fields, and
 * the Endpoint conversions (addr-record.ts) agree with the UDP port's record
 * writer (udp-port.ts) byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../../src/native/binding.js';
import { UDP_ADDR_RECORD_SIZE, UdpAddrRecord, checkAddrRecordLayout } from '../../src/native/addr-record-layout.js';
import { addrFromEndpoint, endpointFromAddr } from '../../src/datapath/addr-record.js';
import { readEndpoint, writeEndpoint } from '../../src/native/udp-port.js';

test('the built addon exports the layout the TypeScript names', () => {
  const layout = native().addrRecordLayout;
  assert.deepEqual(layout, {
    size: UDP_ADDR_RECORD_SIZE,
    remoteIp: UdpAddrRecord.remoteIp,
    remotePort: UdpAddrRecord.remotePort,
    family: UdpAddrRecord.family,
    localIp: UdpAddrRecord.localIp,
    ifindex: UdpAddrRecord.ifindex,
  });
  assert.equal(native().UDP_ADDR_RECORD_SIZE, UDP_ADDR_RECORD_SIZE);
  checkAddrRecordLayout(layout);
});

test('a layout that differs, or none (an older addon), throws naming what differs', () => {
  const good = { ...native().addrRecordLayout };
  assert.throws(
    () => checkAddrRecordLayout({ ...good, ifindex: 40, size: 44 }, '/x/xdpwg.node'),
    /\/x\/xdpwg\.node and the TypeScript disagree on the UDP address record layout \(size: 44 in the addon, 40 in .*; ifindex: 40 in the addon, 36 in .*\).*npm run build/,
  );
  assert.throws(() => checkAddrRecordLayout(undefined), /size: undefined in the addon, 40/);
});

test('addr-record.ts and udp-port.ts write the same record for the same endpoint', () => {
  for (const [ip, address, family] of [
    ['192.0.2.7', Uint8Array.of(192, 0, 2, 7), 4],
    ['2001:db8::5', Uint8Array.of(0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5), 6],
  ] as const) {
    const viaPort = new Uint8Array(UDP_ADDR_RECORD_SIZE);
    writeEndpoint(viaPort, 0, { ip, port: 51820 });
    const viaEndpoint = addrFromEndpoint({ family, address, port: 51820 });
    assert.deepEqual(viaEndpoint, viaPort, ip);
    const back = endpointFromAddr(viaPort);
    assert.deepEqual([back.family, [...back.address], back.port], [family, [...address], 51820]);
    assert.equal(readEndpoint(viaEndpoint, 0).ip, ip);
  }
});
