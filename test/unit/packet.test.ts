/**
 * Packet helpers: checksums against a naive RFC 1071 reference on seeded
 * random input, build -> parse round trips, the echo turn-around, and every
 * malformed-input class returning its drop reason (never throwing).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Ipv4Template,
  OuterHeaders,
  UdpFrame,
  buildUdpFrame,
  finish,
  ipv4ChecksumOk,
  parseUdpFrame,
  setIpv4Checksum,
  sumBytes,
  turnAround,
  udpChecksumOkV4,
  udpChecksumOkV6,
  updateChecksum16,
  type UdpFrameSpec,
} from '../../src/packet/index.js';
import { DROP_REASON_LIST, type DropReason } from '../../src/packet/drop-reasons.js';

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Naive RFC 1071: add 16-bit words with end-around carry after every add. */
function naiveChecksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) {
    s += (b[i]! << 8) | (i + 1 < b.length ? b[i + 1]! : 0);
    s = (s & 0xffff) + (s >>> 16);
  }
  return ~s & 0xffff;
}

const v4spec: UdpFrameSpec = {
  dstMac: Uint8Array.of(2, 0, 0, 0, 0, 1),
  srcMac: Uint8Array.of(2, 0, 0, 0, 0, 2),
  srcIp: Uint8Array.of(10, 0, 0, 2),
  dstIp: Uint8Array.of(10, 0, 0, 1),
  srcPort: 40000,
  dstPort: 51820,
};
const v6spec: UdpFrameSpec = {
  ...v4spec,
  srcIp: Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0xfd : i === 15 ? 2 : 0)),
  dstIp: Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0xfd : i === 15 ? 1 : 0)),
};

function frameWith(spec: UdpFrameSpec, payload: Uint8Array): { buf: Uint8Array; len: number } {
  const buf = new Uint8Array(2048);
  const hl = spec.srcIp.length === 16 ? 62 : 42;
  buf.set(payload, hl);
  return { buf, len: buildUdpFrame(buf, 0, spec, payload.length) };
}

test('checksum: RFC 1071 worked example and naive reference on random data', () => {
  assert.equal(finish(sumBytes(Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7), 0, 8)), ~0xddf2 & 0xffff);
  const r = rng(1);
  for (let k = 0; k < 500; k++) {
    const len = Math.floor(r() * 1500);
    const b = Uint8Array.from({ length: len }, () => Math.floor(r() * 256));
    assert.equal(finish(sumBytes(b, 0, len)), naiveChecksum(b), `len ${len}`);
  }
  // Every alignment of start and length inside a larger buffer, and inside a
  // view that does not start at the buffer's beginning (the word loop's path).
  const big = Uint8Array.from({ length: 4096 }, () => Math.floor(r() * 256));
  for (const view of [big, big.subarray(3), big.subarray(6)]) {
    for (let k = 0; k < 400; k++) {
      const off = Math.floor(r() * 64);
      const len = Math.floor(r() * 2000);
      assert.equal(finish(sumBytes(view, off, len)), naiveChecksum(view.slice(off, off + len)), `off ${off} len ${len}`);
    }
  }
  // Sums chain: a running sum over pieces equals the sum of the whole (even-length pieces).
  const whole = big.subarray(0, 1500);
  assert.equal(finish(sumBytes(whole, 700, 800, sumBytes(whole, 0, 700))), naiveChecksum(whole));
});

test('checksum: incremental update (RFC 1624) equals recomputation', () => {
  const r = rng(2);
  for (let k = 0; k < 500; k++) {
    const h = Uint8Array.from({ length: 20 }, () => Math.floor(r() * 256));
    setIpv4Checksum(h, 0, 20);
    const old = (h[10]! << 8) | h[11]!;
    const w = 2 * Math.floor(r() * 5); // a word before the checksum field
    const oldWord = (h[w]! << 8) | h[w + 1]!;
    const newWord = Math.floor(r() * 65536);
    h[w] = newWord >>> 8;
    h[w + 1] = newWord & 0xff;
    const inc = updateChecksum16(old, oldWord, newWord);
    setIpv4Checksum(h, 0, 20);
    // 0x0000 and 0xffff are the same ones' complement number.
    const full = (h[10]! << 8) | h[11]!;
    assert.ok(inc === full || ((inc | full) === 0xffff && (inc & full) === 0), `${inc} vs ${full}`);
  }
});

test('Ipv4Template writes a header whose checksum verifies, for any length and id', () => {
  const t = new Ipv4Template(v4spec.srcIp, v4spec.dstIp);
  const b = new Uint8Array(20);
  const r = rng(3);
  for (let k = 0; k < 200; k++) {
    t.write(b, 0, 28 + Math.floor(r() * 1400), Math.floor(r() * 65536));
    assert.ok(ipv4ChecksumOk(b, 0, 20));
    assert.equal(naiveChecksum(b), 0);
  }
});

for (const [name, spec] of [
  ['IPv4', v4spec],
  ['IPv6', v6spec],
] as const) {
  test(`${name}: build -> parse round trip, checksum valid, turnAround swaps and keeps checksums valid`, () => {
    const r = rng(4);
    const f = new UdpFrame();
    for (const size of [0, 1, 63, 64, 1400]) {
      const payload = Uint8Array.from({ length: size }, () => Math.floor(r() * 256));
      const { buf, len } = frameWith(spec, payload);
      assert.equal(parseUdpFrame(buf, 0, len, f), null);
      assert.equal(f.family, name === 'IPv6' ? 6 : 4);
      assert.equal(f.payloadLength, size);
      assert.deepEqual(buf.subarray(f.payload, f.payload + size), payload);
      assert.equal(f.srcPort, 40000);
      assert.equal(f.dstPort, 51820);
      const ok = f.family === 4 ? udpChecksumOkV4 : udpChecksumOkV6;
      assert.ok(ok(buf, f.l3, f.l4, f.udpLength));
      // A checksum left as the sender's partial sum is replaced by a full one.
      buf[f.l4 + 6] = 0x12;
      buf[f.l4 + 7] = 0x34;
      const replyLen = turnAround(buf, 0, f);
      assert.equal(replyLen, len);
      const g = new UdpFrame();
      assert.equal(parseUdpFrame(buf, 0, replyLen, g), null);
      assert.equal(g.srcPort, 51820);
      assert.equal(g.dstPort, 40000);
      assert.deepEqual(buf.subarray(0, 6), spec.srcMac);
      assert.ok(ok(buf, g.l3, g.l4, g.udpLength));
      if (g.family === 4) assert.ok(ipv4ChecksumOk(buf, g.l3, 20));
      assert.deepEqual(buf.subarray(g.payload, g.payload + size), payload);
    }
  });
}

test('Ethernet padding after the datagram is ignored (IP length rules)', () => {
  const { buf, len } = frameWith(v4spec, new Uint8Array(4));
  const f = new UdpFrame();
  assert.equal(parseUdpFrame(buf, 0, 60, f), null);
  assert.equal(f.frameLength, len);
});

test('bad input returns its drop reason', () => {
  const f = new UdpFrame();
  const v4 = (): { buf: Uint8Array; len: number } => frameWith(v4spec, new Uint8Array(10));
  const v6 = (): { buf: Uint8Array; len: number } => frameWith(v6spec, new Uint8Array(10));
  const cases: [string, () => [Uint8Array, number], DropReason][] = [
    ['empty', () => [new Uint8Array(0), 0], 'outer-runt'],
    ['13-byte runt', () => [v4().buf, 13], 'outer-runt'],
    ['IPv4 header cut', () => [v4().buf, 14 + 19], 'outer-runt'],
    [
      'ARP',
      () => {
        const x = v4();
        x.buf[12] = 0x08;
        x.buf[13] = 0x06;
        return [x.buf, x.len];
      },
      'outer-ethertype',
    ],
    [
      'IPv4 version nibble 6',
      () => {
        const x = v4();
        x.buf[14] = 0x65;
        return [x.buf, x.len];
      },
      'outer-ip-version',
    ],
    [
      'IHL 4',
      () => {
        const x = v4();
        x.buf[14] = 0x44;
        return [x.buf, x.len];
      },
      'outer-ipv4-header-length',
    ],
    [
      'IHL 15 beyond frame',
      () => {
        const x = v4();
        x.buf[14] = 0x4f;
        return [x.buf, 14 + 40];
      },
      'outer-ipv4-header-length',
    ],
    [
      'IPv4 options',
      () => {
        const x = v4();
        x.buf[14] = 0x46;
        return [x.buf, x.len];
      },
      'outer-ipv4-options',
    ],
    [
      'IPv4 total length beyond frame',
      () => {
        const x = v4();
        x.buf[16] = 0x05;
        return [x.buf, x.len];
      },
      'outer-ip-length',
    ],
    [
      'IPv4 total length below header',
      () => {
        const x = v4();
        x.buf[16] = 0;
        x.buf[17] = 12;
        return [x.buf, x.len];
      },
      'outer-ip-length',
    ],
    [
      'IPv4 total length leaves no UDP header',
      () => {
        const x = v4();
        x.buf[16] = 0;
        x.buf[17] = 24;
        return [x.buf, x.len];
      },
      'outer-runt',
    ],
    [
      'IPv4 MF',
      () => {
        const x = v4();
        x.buf[20] = 0x20;
        return [x.buf, x.len];
      },
      'outer-fragment',
    ],
    [
      'IPv4 fragment offset',
      () => {
        const x = v4();
        x.buf[21] = 0x01;
        return [x.buf, x.len];
      },
      'outer-fragment',
    ],
    [
      'IPv4 TCP',
      () => {
        const x = v4();
        x.buf[23] = 6;
        return [x.buf, x.len];
      },
      'outer-protocol',
    ],
    [
      'UDP length 7',
      () => {
        const x = v4();
        x.buf[38] = 0;
        x.buf[39] = 7;
        return [x.buf, x.len];
      },
      'outer-udp-length',
    ],
    [
      'UDP length beyond IP payload',
      () => {
        const x = v4();
        x.buf[38] = 1;
        return [x.buf, x.len];
      },
      'outer-udp-length',
    ],
    ['IPv6 header cut', () => [v6().buf, 14 + 39], 'outer-runt'],
    [
      'IPv6 payload length beyond frame',
      () => {
        const x = v6();
        x.buf[18] = 0x03;
        return [x.buf, x.len];
      },
      'outer-ip-length',
    ],
    [
      'IPv6 extension header',
      () => {
        const x = v6();
        x.buf[20] = 0;
        return [x.buf, x.len];
      },
      'outer-protocol',
    ],
    [
      'IPv6 fragment header',
      () => {
        const x = v6();
        x.buf[20] = 44;
        return [x.buf, x.len];
      },
      'outer-protocol',
    ],
    [
      'IPv6 payload shorter than UDP header',
      () => {
        const x = v6();
        x.buf[18] = 0;
        x.buf[19] = 4;
        return [x.buf, x.len];
      },
      'outer-runt',
    ],
  ];
  for (const [name, make, want] of cases) {
    const [buf, len] = make();
    assert.equal(parseUdpFrame(buf, 0, len, f), want, name);
  }
  const x = v4();
  x.buf[14] = 0x46;
  assert.equal(
    parseUdpFrame(x.buf, 0, x.len, f, { allowIpv4Options: true }),
    'outer-udp-length',
    'options accepted when allowed: the UDP header is then read 4 bytes later',
  );
});

test('random and truncated frames never throw', () => {
  const r = rng(5);
  const f = new UdpFrame();
  const known = new Set<string | null>([null, ...DROP_REASON_LIST.filter((r) => r.startsWith('outer-'))]);
  for (let k = 0; k < 5000; k++) {
    const base = frameWith(k & 1 ? v6spec : v4spec, new Uint8Array(Math.floor(r() * 100))).buf;
    // Flip a few bytes in the headers and cut the frame anywhere.
    for (let j = 0; j < 3; j++) base[Math.floor(r() * 70)] = Math.floor(r() * 256);
    const len = Math.floor(r() * 180);
    const reason = parseUdpFrame(base, 0, len, f);
    assert.ok(known.has(reason));
    if (reason === null) assert.ok(f.frameLength <= len && f.payload + f.payloadLength <= len);
  }
});

test('OuterHeaders (precomputed) equals buildUdpFrame byte for byte, IPv4 and IPv6', () => {
  const r = rng(6);
  for (const spec of [v4spec, v6spec]) {
    const outer = new OuterHeaders({ ...spec }, true);
    for (const size of [0, 1, 32, 148, 1420]) {
      const payload = Uint8Array.from({ length: size }, () => Math.floor(r() * 256));
      const want = frameWith(spec, payload);
      const got = new Uint8Array(2048);
      got.set(payload, outer.length);
      assert.equal(outer.write(got, 0, size), want.len);
      assert.deepEqual(
        got.subarray(0, want.len),
        want.buf.subarray(0, want.len),
        `${spec.srcIp.length === 16 ? 'IPv6' : 'IPv4'} ${size} B`,
      );
    }
  }
  // Without the optional IPv4 UDP checksum the field is zero and the frame still parses.
  const plain = new OuterHeaders(v4spec, false);
  const b = new Uint8Array(256);
  const len = plain.write(b, 0, 20, 7);
  const f = new UdpFrame();
  assert.equal(parseUdpFrame(b, 0, len, f), null);
  assert.equal((b[f.l4 + 6]! << 8) | b[f.l4 + 7]!, 0);
  assert.ok(ipv4ChecksumOk(b, f.l3, 20));
  assert.throws(() => new OuterHeaders({ ...v4spec, dstIp: v6spec.dstIp }), RangeError);
});
