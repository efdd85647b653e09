/**
 * The AF_XDP path's per-route outer headers (src/datapath/outer-frame.ts):
 * the frames RouteHeaders writes parse back, carry what the route says (IPv4
 * without DF and without UDP checksum, IPv6 as buildUdpFrame builds it), and
 * the address record made from a received frame is served by its route.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteHeaders, recordFromFrame, routeServes } from '../../src/datapath/outer-frame.js';
import type { PeerRoute } from '../../src/datapath/worker-messages.js';
import { UdpFrame, buildUdpFrame, ipv4ChecksumOk, parseUdpFrame } from '../../src/packet/index.js';
import { UDP_ADDR_RECORD_SIZE } from '../../src/native/udp-port.js';

const mac = (x: number): Uint8Array => Uint8Array.of(2, 0, 0, 0, 0, x);
const v4: PeerRoute = {
  ifindex: 3,
  family: 4,
  srcMac: mac(1),
  dstMac: mac(2),
  srcIp: Uint8Array.of(10, 0, 0, 1),
  dstIp: Uint8Array.of(10, 0, 0, 2),
  dstPort: 51821,
  mtu: 1500,
};
const v6: PeerRoute = {
  ...v4,
  family: 6,
  srcIp: Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0xfd : i)),
  dstIp: Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0xfd : 100 + i)),
};

/** A frame with a message of `size` bytes at `msgOff`; returns [frame start, frame length]. */
function frame(h: RouteHeaders, buf: Uint8Array, msgOff: number, size: number): [number, number] {
  for (let i = 0; i < size; i++) buf[msgOff + i] = (i * 7) & 0xff;
  return [h.write(buf, msgOff, size), h.length + size];
}

test('IPv4: parses back, no DF, UDP checksum 0, identification counts up, MTU bound', () => {
  const h = new RouteHeaders(v4, 51820);
  assert.equal(h.length, 42);
  assert.equal(h.maxMessage, 1500 - 28);
  const buf = new Uint8Array(2048),
    f = new UdpFrame();
  const [start, len] = frame(h, buf, 128, 148);
  assert.equal(start, 128 - 42);
  assert.equal(parseUdpFrame(buf, start, len, f), null);
  assert.ok(ipv4ChecksumOk(buf, f.l3, 20));
  assert.equal(buf[f.l3 + 6]! & 0x40, 0, 'DF clear');
  assert.equal((buf[f.l4 + 6]! << 8) | buf[f.l4 + 7]!, 0, 'no UDP checksum');
  assert.deepEqual([f.srcPort, f.dstPort, f.payload, f.payloadLength], [51820, 51821, 128, 148]);
  const id1 = (buf[f.l3 + 4]! << 8) | buf[f.l3 + 5]!;
  frame(h, buf, 128, 148);
  assert.equal((buf[f.l3 + 4]! << 8) | buf[f.l3 + 5]!, id1 + 1);
});

test('IPv6: byte for byte what buildUdpFrame builds', () => {
  const h = new RouteHeaders(v6, 51820);
  for (const size of [32, 148, 1420]) {
    const buf = new Uint8Array(2048),
      want = new Uint8Array(2048);
    const [start, len] = frame(h, buf, 128, size);
    want.set(buf.subarray(128, 128 + size), 62);
    const wantLen = buildUdpFrame(want, 0, { ...v6, srcPort: 51820 }, size);
    assert.equal(len, wantLen);
    assert.deepEqual(buf.subarray(start, start + len), want.subarray(0, wantLen), `${size} B`);
  }
});

test('the record of a received frame is served by the route back to its sender, not by another', () => {
  for (const route of [v4, v6]) {
    // A frame from the peer to us: the reverse of the route.
    const back: PeerRoute = { ...route, srcIp: route.dstIp, dstIp: route.srcIp, dstPort: 51820 };
    const buf = new Uint8Array(512),
      f = new UdpFrame();
    const [start, len] = frame(new RouteHeaders(back, route.dstPort), buf, 128, 32);
    assert.equal(parseUdpFrame(buf, start, len, f), null);
    const rec = new Uint8Array(UDP_ADDR_RECORD_SIZE * 2);
    recordFromFrame(buf, f, 3, rec, UDP_ADDR_RECORD_SIZE);
    const r = rec.subarray(UDP_ADDR_RECORD_SIZE);
    assert.equal(routeServes(route, r), true, `IPv${route.family}`);
    assert.equal(routeServes({ ...route, dstPort: 1 }, r), false);
    assert.equal(routeServes({ ...route, srcIp: route.dstIp }, r), false, 'another local address');
  }
});
