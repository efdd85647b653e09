/**
 * TUN offload packet logic on synthetic packets (no root): the native
 * split (tunOffloadSplit: what TunQueue.readBurst does with one read of a TSO/USO
 * super packet) and coalesce (tunOffloadCoalesce: the writes TunQueue.writeBurst
 * makes) run the same code as the burst calls. Every header field and
 * checksum is checked here with an independent, byte-at-a-time RFC 1071
 * implementation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { be16, be32, fold, ipv4HeaderValid, l4ChecksumValid, pseudoSum, put16, put32, sum16 } from '../helpers/reference-checksum.js';
import { tunOffloadCoalesce, tunOffloadSplit, VNET_HDR_LEN } from '../../src/native/tun.js';
import { SeededPrng } from '../helpers/seeded-prng.js';

const NEEDS_CSUM = 1;
const GSO_TCPV4 = 1,
  GSO_UDP = 3,
  GSO_TCPV6 = 4,
  GSO_UDP_L4 = 5,
  GSO_ECN = 0x80;
const FIN = 0x01,
  SYN = 0x02,
  PSH = 0x08,
  ACK = 0x10,
  CWR = 0x80;
const TCP = 6,
  UDP = 17;

// ------------------------------------------------------------ independent checksum

// (from test/helpers/reference-checksum.ts)

// ------------------------------------------------------------ synthetic packets

/** Deterministic payload bytes. */
function payload(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

interface Flow {
  version: 4 | 6;
  proto: number;
  srcPort: number;
  dstPort: number;
  src: number;
  dst: number;
}
const TS_OPTIONS = Uint8Array.of(1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78); // NOP NOP timestamps (RFC 7323)

/**
 * One IP + TCP/UDP packet. For TCP the header has timestamp options; the
 * L4 checksum field is filled as the kernel leaves a CHECKSUM_PARTIAL packet
 * (folded pseudo-header sum) when partial, else with the full checksum.
 */
function packet(
  f: Flow,
  body: Uint8Array,
  o: { seq?: number; ack?: number; flags?: number; id?: number; partial?: boolean; options?: Uint8Array } = {},
): Uint8Array {
  const ipLen = f.version === 4 ? 20 : 40;
  const options = f.proto === TCP ? (o.options ?? TS_OPTIONS) : new Uint8Array(0);
  const l4Hdr = f.proto === TCP ? 20 + options.length : 8;
  const p = new Uint8Array(ipLen + l4Hdr + body.length);
  if (f.version === 4) {
    p[0] = 0x45;
    p[1] = 0x02;
    put16(p, 2, p.length);
    put16(p, 4, o.id ?? 0x1000);
    p[6] = 0x40;
    p[8] = 64;
    p[9] = f.proto;
    p.set([10, 0, 0, f.src], 12);
    p.set([10, 0, 0, f.dst], 16);
    put16(p, 10, ~fold(sum16(p, 0, 20)) & 0xffff);
  } else {
    p[0] = 0x60;
    p[1] = 0x01;
    p[2] = 0x23;
    p[3] = 0x45;
    put16(p, 4, p.length - 40);
    p[6] = f.proto;
    p[7] = 64;
    p[8] = 0xfd;
    p[23] = f.src;
    p[24] = 0xfd;
    p[39] = f.dst;
  }
  const l4 = ipLen;
  put16(p, l4, f.srcPort);
  put16(p, l4 + 2, f.dstPort);
  if (f.proto === TCP) {
    put32(p, l4 + 4, o.seq ?? 1000);
    put32(p, l4 + 8, o.ack ?? 77777);
    p[l4 + 12] = (l4Hdr / 4) << 4;
    p[l4 + 13] = o.flags ?? ACK;
    put16(p, l4 + 14, 501);
    p.set(options, l4 + 20);
  } else {
    put16(p, l4 + 4, p.length - l4);
  }
  p.set(body, l4 + l4Hdr);
  const at = l4 + (f.proto === TCP ? 16 : 6);
  const pseudo = pseudoSum(p, f.version, f.proto, p.length - l4);
  put16(p, at, o.partial ? fold(pseudo) : ~fold(pseudo + sum16(p, l4, p.length)) & 0xffff);
  return p;
}

function vnet(
  h: { flags: number; gsoType: number; hdrLen: number; gsoSize: number; csumStart: number; csumOffset: number },
  p: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(VNET_HDR_LEN + p.length);
  const dv = new DataView(out.buffer);
  out[0] = h.flags;
  out[1] = h.gsoType;
  dv.setUint16(2, h.hdrLen, true);
  dv.setUint16(4, h.gsoSize, true);
  dv.setUint16(6, h.csumStart, true);
  dv.setUint16(8, h.csumOffset, true);
  out.set(p, VNET_HDR_LEN);
  return out;
}

const FRAME = 2048;
function frames(n: number): { buffer: ArrayBuffer; desc: Uint32Array } {
  const buffer = new ArrayBuffer(n * FRAME);
  const desc = new Uint32Array(2 * n);
  for (let i = 0; i < n; i++) {
    desc[2 * i] = i * FRAME + 64;
    desc[2 * i + 1] = FRAME - 64;
  }
  return { buffer, desc };
}
function frameAt(f: { buffer: ArrayBuffer; desc: Uint32Array }, i: number): Uint8Array {
  return new Uint8Array(f.buffer, f.desc[2 * i]!, f.desc[2 * i + 1]!);
}

// ------------------------------------------------------------ split

for (const version of [4, 6] as const) {
  test(`split TCP/IPv${version}: ${version === 4 ? 'ids, ' : ''}lengths, sequence numbers, flags and checksums of every segment`, () => {
    const f: Flow = { version, proto: TCP, srcPort: 40000, dstPort: 5201, src: 1, dst: 2 };
    const mss = 1388,
      body = payload(mss * 7 + 500, version);
    const seq0 = 0xfffff000; // wraps inside the burst
    const sup = packet(f, body, { seq: seq0, flags: ACK | PSH | FIN | CWR, id: 0xfffe, partial: true });
    const ipLen = version === 4 ? 20 : 40,
      hdrLen = ipLen + 32;
    const input = vnet(
      {
        flags: NEEDS_CSUM,
        gsoType: (version === 4 ? GSO_TCPV4 : GSO_TCPV6) | GSO_ECN,
        hdrLen,
        gsoSize: mss,
        csumStart: ipLen,
        csumOffset: 16,
      },
      sup,
    );
    const fr = frames(16);
    const n = tunOffloadSplit(input, fr.buffer, fr.desc, 16);
    assert.equal(n, 8);
    for (let i = 0; i < n; i++) {
      const s = frameAt(fr, i);
      const last: boolean = i === n - 1;
      const plen: number = last ? 500 : mss;
      assert.equal(s.length, hdrLen + plen, `segment ${i} length`);
      if (version === 4) {
        assert.equal(be16(s, 2), s.length, 'IPv4 total length');
        assert.equal(be16(s, 4), (0xfffe + i) & 0xffff, 'IPv4 id advances per segment');
        assert.ok(ipv4HeaderValid(s), `IPv4 header checksum of segment ${i}`);
      } else {
        assert.equal(be16(s, 4), s.length - 40, 'IPv6 payload length');
      }
      assert.equal(be32(s, ipLen + 4), (seq0 + i * mss) >>> 0, `sequence number of segment ${i}`);
      const flags = s[ipLen + 13]!;
      assert.equal(flags & ACK, ACK);
      assert.equal(flags & (FIN | PSH), last ? FIN | PSH : 0, `FIN/PSH on segment ${i}`);
      assert.equal(flags & CWR, i === 0 ? CWR : 0, `CWR on segment ${i}`);
      assert.deepEqual(s.subarray(ipLen + 20, hdrLen), TS_OPTIONS, 'options repeated');
      assert.deepEqual(s.subarray(hdrLen), body.subarray(i * mss, i * mss + plen), `payload of segment ${i}`);
      assert.ok(l4ChecksumValid(s, ipLen, TCP), `TCP checksum of segment ${i}`);
    }
  });

  test(`split UDP/IPv${version} (USO): datagram lengths and checksums`, () => {
    const f: Flow = { version, proto: UDP, srcPort: 5000, dstPort: 6000, src: 3, dst: 4 };
    const size = 1000,
      body = payload(size * 4 + 1, 9 + version);
    const sup = packet(f, body, { partial: true });
    const ipLen = version === 4 ? 20 : 40;
    const input = vnet({ flags: NEEDS_CSUM, gsoType: GSO_UDP_L4, hdrLen: ipLen + 8, gsoSize: size, csumStart: ipLen, csumOffset: 6 }, sup);
    const fr = frames(8);
    const n = tunOffloadSplit(input, fr.buffer, fr.desc, 8);
    assert.equal(n, 5);
    for (let i = 0; i < n; i++) {
      const s = frameAt(fr, i);
      const plen: number = i === n - 1 ? 1 : size;
      assert.equal(s.length, ipLen + 8 + plen);
      assert.equal(be16(s, ipLen + 4), 8 + plen, 'UDP length');
      assert.notEqual(be16(s, ipLen + 6), 0, 'UDP checksum present');
      assert.ok(l4ChecksumValid(s, ipLen, UDP), `UDP checksum of datagram ${i}`);
      assert.deepEqual(s.subarray(ipLen + 8), body.subarray(i * size, i * size + plen));
      if (version === 4) assert.ok(ipv4HeaderValid(s));
    }
  });
}

test('a plain packet with a partial checksum (NEEDS_CSUM) gets it completed', () => {
  for (const [version, proto] of [
    [4, TCP],
    [6, TCP],
    [4, UDP],
    [6, UDP],
  ] as const) {
    const f: Flow = { version, proto, srcPort: 1234, dstPort: 4321, src: 5, dst: 6 };
    const p = packet(f, payload(333, proto + version), { partial: true });
    const ipLen = version === 4 ? 20 : 40;
    assert.ok(!l4ChecksumValid(p, ipLen, proto), 'the input checksum is only partial');
    const input = vnet({ flags: NEEDS_CSUM, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: ipLen, csumOffset: proto === TCP ? 16 : 6 }, p);
    const fr = frames(2);
    assert.equal(tunOffloadSplit(input, fr.buffer, fr.desc, 2), 1);
    const out = frameAt(fr, 0);
    assert.equal(out.length, p.length);
    assert.ok(l4ChecksumValid(out, ipLen, proto), `IPv${version} proto ${proto}`);
  }
});

test('split refuses what it cannot cut and never cuts short', () => {
  const f: Flow = { version: 4, proto: TCP, srcPort: 1, dstPort: 2, src: 1, dst: 2 };
  const sup = packet(f, payload(5000, 1), { partial: true });
  const hdr = { flags: NEEDS_CSUM, gsoType: GSO_TCPV4, hdrLen: 52, gsoSize: 1000, csumStart: 20, csumOffset: 16 };
  const fr = frames(8);
  assert.equal(tunOffloadSplit(vnet({ ...hdr, gsoType: GSO_UDP }, sup), fr.buffer, fr.desc, 8), -1, 'UFO is not enabled, so refused');
  assert.equal(tunOffloadSplit(vnet({ ...hdr, gsoType: GSO_TCPV6 }, sup), fr.buffer, fr.desc, 8), -1, 'type disagrees with the IP version');
  assert.equal(tunOffloadSplit(vnet({ ...hdr, csumStart: 4000 }, sup), fr.buffer, fr.desc, 8), -1, 'L4 header outside the packet');
  const cut = sup.slice(0, sup.length - 1);
  assert.equal(tunOffloadSplit(vnet(hdr, cut), fr.buffer, fr.desc, 8), -1, 'IP length disagrees with the read');
  assert.equal(tunOffloadSplit(vnet(hdr, sup), fr.buffer, fr.desc, 4), -2, '5 segments do not fit 4 frames');
  assert.equal(tunOffloadSplit(vnet(hdr, sup), fr.buffer, fr.desc, 8), 5);
});

// ------------------------------------------------------------ coalesce

/** Lays packets into frames as a burst for tunOffloadCoalesce. */
function burst(packets: Uint8Array[]): { buffer: ArrayBuffer; desc: Uint32Array } {
  const fr = frames(packets.length);
  packets.forEach((p, i) => {
    new Uint8Array(fr.buffer, fr.desc[2 * i]!, p.length).set(p);
    fr.desc[2 * i + 1] = p.length;
  });
  return fr;
}
function coalesce(packets: Uint8Array[]): Array<{ groups: number; bytes: Uint8Array }> {
  const b = burst(packets);
  const out = new ArrayBuffer(packets.length * (FRAME + VNET_HDR_LEN) + 70_000);
  const outDesc = new Uint32Array(2 * packets.length);
  const groups = new Uint32Array(packets.length);
  const w = tunOffloadCoalesce(b.buffer, b.desc, packets.length, out, outDesc, groups);
  return Array.from({ length: w }, (_, k) => ({ groups: groups[k]!, bytes: new Uint8Array(out, outDesc[2 * k]!, outDesc[2 * k + 1]!) }));
}

/** Segments of one flow: count full ones of mss then a last of lastLen. */
function segments(
  f: Flow,
  count: number,
  mss: number,
  lastLen: number,
  seq0: number,
  flagsOfLast = ACK | PSH,
): { segs: Uint8Array[]; body: Uint8Array } {
  const body = payload(mss * (count - 1) + lastLen, seq0);
  const segs: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const part = body.subarray(i * mss, i === count - 1 ? body.length : (i + 1) * mss);
    segs.push(packet(f, part, { seq: (seq0 + i * mss) >>> 0, id: 100 + i, flags: i === count - 1 ? flagsOfLast : ACK }));
  }
  return { segs, body };
}

for (const version of [4, 6] as const) {
  test(`coalesce TCP/IPv${version}: one super packet with a correct vnet header, headers and partial checksum`, () => {
    const f: Flow = { version, proto: TCP, srcPort: 5201, dstPort: 40000, src: 2, dst: 1 };
    const mss = 1388;
    const { segs, body } = segments(f, 20, mss, 600, 0xffffff00);
    const writes = coalesce(segs);
    assert.equal(writes.length, 1);
    assert.equal(writes[0]!.groups, 20);
    const w = writes[0]!.bytes;
    const dv = new DataView(w.buffer, w.byteOffset);
    const ipLen = version === 4 ? 20 : 40,
      hdrLen = ipLen + 32;
    assert.equal(w[0], NEEDS_CSUM);
    assert.equal(w[1], version === 4 ? GSO_TCPV4 : GSO_TCPV6);
    assert.equal(dv.getUint16(2, true), hdrLen, 'hdr_len');
    assert.equal(dv.getUint16(4, true), mss, 'gso_size');
    assert.equal(dv.getUint16(6, true), ipLen, 'csum_start');
    assert.equal(dv.getUint16(8, true), 16, 'csum_offset');
    const p = w.subarray(VNET_HDR_LEN);
    assert.equal(p.length, hdrLen + body.length);
    if (version === 4) {
      assert.equal(be16(p, 2), p.length);
      assert.ok(ipv4HeaderValid(p));
    } else {
      assert.equal(be16(p, 4), p.length - 40);
    }
    assert.equal(be32(p, ipLen + 4), 0xffffff00, 'first sequence number');
    assert.equal(p[ipLen + 13], ACK | PSH, 'PSH of the last segment kept');
    assert.deepEqual(p.subarray(hdrLen), body, 'payloads in order');
    assert.equal(be16(p, ipLen + 16), fold(pseudoSum(p, version, TCP, p.length - ipLen)), 'checksum field holds the pseudo-header sum');
    // Completing it as the kernel would gives a valid checksum.
    const done = p.slice();
    put16(done, ipLen + 16, ~fold(sum16(done, ipLen, done.length)) & 0xffff);
    assert.ok(l4ChecksumValid(done, ipLen, TCP));
  });
}

test('coalesce keeps apart what GRO keeps apart, and keeps order', () => {
  const a: Flow = { version: 4, proto: TCP, srcPort: 1000, dstPort: 2000, src: 1, dst: 2 };
  const b: Flow = { ...a, srcPort: 1001 };
  const mss = 1000;
  const sa = segments(a, 6, mss, mss, 5000).segs;
  const sb = segments(b, 2, mss, mss, 9000).segs;
  const gap = packet(a, payload(mss, 1), { seq: 5000 + 7 * mss }); // skips one segment
  const syn = packet(a, payload(10, 2), { seq: 1, flags: SYN | ACK });
  const otherAck = packet(a, payload(mss, 3), { seq: 5000 + 8 * mss, ack: 1 });
  const otherOpts = packet(a, payload(mss, 4), {
    seq: 5000 + 8 * mss,
    options: Uint8Array.of(1, 1, 8, 10, 0, 0, 0x12, 0x35, 0, 0, 0x56, 0x78),
  });
  const short = segments(a, 3, mss, mss, 70000).segs;
  short[1] = packet(a, payload(500, 5), { seq: 70000 + mss }); // a short one in the middle ends the group
  short[2] = packet(a, payload(mss, 6), { seq: 70000 + mss + 500 });
  const pshMid = segments(a, 2, mss, mss, 90000, ACK | PSH).segs.concat(packet(a, payload(mss, 7), { seq: 90000 + 2 * mss }));
  const ack = packet(a, new Uint8Array(0), { seq: 123 }); // no payload
  const list = [...sa.slice(0, 3), sb[0]!, ...sa.slice(3), sb[1]!, gap, syn, otherAck, otherOpts, ...short, ...pshMid, ack];
  const writes = coalesce(list);
  assert.deepEqual(
    writes.map((w) => w.groups),
    [3, 1, 3, 1, 1, 1, 1, 1, 2, 1, 2, 1, 1],
  );
  // Every packet's bytes reach the kernel exactly once, in the burst's order.
  const payloads = writes.reduce((s, w) => s + w.bytes.length - VNET_HDR_LEN, 0);
  assert.ok(payloads <= list.reduce((s, p) => s + p.length, 0));
  const singles = writes.filter((w) => w.groups === 1);
  for (const s of singles) {
    assert.ok(
      s.bytes.subarray(0, VNET_HDR_LEN).every((x) => x === 0),
      'a lone packet goes with a zero vnet header',
    );
  }
  assert.deepEqual(writes[1]!.bytes.subarray(VNET_HDR_LEN), sb[0], 'the other flow passes unchanged');
});

test('coalesce stops at 64 KiB and skips zero-length descriptors', () => {
  const f: Flow = { version: 4, proto: TCP, srcPort: 1, dstPort: 2, src: 1, dst: 2 };
  const mss = 1448;
  const { segs } = segments(f, 60, mss, mss, 1);
  const writes = coalesce(segs);
  for (const w of writes) assert.ok(w.bytes.length - VNET_HDR_LEN <= 65535, 'IPv4 total length limit');
  assert.equal(
    writes.reduce((s, w) => s + w.groups, 0),
    60,
  );
  assert.ok(writes.length >= 2 && writes[0]!.groups >= 40);
  const b = burst(segs.slice(0, 3));
  b.desc[3] = 0; // the second packet was dropped by the caller
  const out = new ArrayBuffer(10_000);
  const outDesc = new Uint32Array(6),
    groups = new Uint32Array(3);
  assert.equal(tunOffloadCoalesce(b.buffer, b.desc, 3, out, outDesc, groups), 2);
  assert.deepEqual(Array.from(groups.subarray(0, 2)), [1, 1], 'a hole in the sequence: no merge across it');
});

test('damaged input: split and coalesce refuse or cut within bounds, never emit a wrong segment', () => {
  const prng = new SeededPrng(0x7e57);
  const f4: Flow = { version: 4, proto: TCP, srcPort: 1, dstPort: 2, src: 1, dst: 2 };
  const f6: Flow = { ...f4, version: 6 };
  const fr = frames(64);
  let cut = 0,
    refused = 0;
  for (let round = 0; round < 3000; round++) {
    const f = round & 1 ? f6 : f4;
    const ipLen = f.version === 4 ? 20 : 40;
    const sup = packet(f, payload(1 + prng.below(9000), round), { partial: true });
    const hdr = {
      flags: prng.below(4) === 0 ? prng.below(256) : NEEDS_CSUM,
      gsoType: prng.below(4) === 0 ? prng.below(256) : f.version === 4 ? GSO_TCPV4 : GSO_TCPV6,
      hdrLen: prng.below(200),
      gsoSize: prng.below(4) === 0 ? prng.below(70_000) & 0xffff : 1 + prng.below(1400),
      csumStart: prng.below(4) === 0 ? prng.below(300) : ipLen,
      csumOffset: prng.below(4) === 0 ? prng.below(40) : 16,
    };
    // Flip a few bytes of the headers (lengths, versions, data offset...).
    for (let k = prng.below(3); k > 0; k--) sup[prng.below(Math.min(sup.length, 80))] = prng.below(256);
    const input = vnet(hdr, sup);
    for (let i = 0; i < 64; i++) {
      fr.desc[2 * i] = i * FRAME + 64;
      fr.desc[2 * i + 1] = FRAME - 64;
    }
    const n = tunOffloadSplit(input, fr.buffer, fr.desc, 64);
    if (n < 0) {
      refused++;
      continue;
    }
    if (hdr.gsoType === 0) continue; // plain packets pass as they are (checksum completed or not)
    cut++;
    // Whatever was accepted came out as packets whose lengths fit their frames and add up.
    let payloadSum = 0;
    for (let i = 0; i < n; i++) {
      const len = fr.desc[2 * i + 1]!;
      assert.ok(len > 0 && len <= FRAME - 64);
      const s = frameAt(fr, i);
      const l4 = hdr.csumStart;
      const l4Hdr = (hdr.gsoType & 0x7f) === GSO_UDP_L4 ? 8 : (s[l4 + 12]! >> 4) * 4;
      payloadSum += len - l4 - l4Hdr;
      assert.ok(l4ChecksumValid(s, l4, (hdr.gsoType & 0x7f) === GSO_UDP_L4 ? UDP : TCP), 'every emitted segment has a valid checksum');
    }
    const l4Hdr0 = (hdr.gsoType & 0x7f) === GSO_UDP_L4 ? 8 : (sup[hdr.csumStart + 12]! >> 4) * 4;
    assert.equal(payloadSum, sup.length - hdr.csumStart - l4Hdr0, 'segments carry exactly the payload');
  }
  assert.ok(refused > 100 && cut > 100, `refused ${refused}, cut ${cut}`);
  // Coalescing damaged segments: every write stays within what was given.
  const list: Uint8Array[] = [];
  for (let i = 0; i < 64; i++) {
    const p = packet(f4, payload(prng.below(1400), i), {
      seq: 1000 + 100 * prng.below(3) * i,
      flags: prng.below(3) === 0 ? prng.below(256) : ACK,
    });
    for (let k = prng.below(3); k > 0; k--) p[prng.below(Math.min(p.length, 60))] = prng.below(256);
    list.push(p);
  }
  const writes = coalesce(list);
  assert.equal(
    writes.reduce((s, w) => s + w.groups, 0),
    list.filter((p) => p.length > 0).length,
  );
  for (const w of writes) assert.ok(w.bytes.length <= VNET_HDR_LEN + 65535);
});

test('coalescing never merges a segment whose checksum is wrong: it is written alone, for the kernel to check', () => {
  for (const version of [4, 6] as const) {
    for (const proto of [TCP, UDP]) {
      const f: Flow = { version, proto, srcPort: 7000, dstPort: 8000, src: 5, dst: 6 };
      const mss = 1000;
      const segs =
        proto === TCP
          ? segments(f, 4, mss, mss, 3000, ACK).segs
          : [0, 1, 2, 3].map((i) => packet(f, payload(mss, 40 + i), { id: 200 + i }));
      const ipLen = version === 4 ? 20 : 40;
      const what = `${proto === TCP ? 'TCP' : 'UDP'}/IPv${version}`;
      assert.deepEqual(
        coalesce(segs).map((w) => w.groups),
        [4],
        `${what}: intact segments merge`,
      );
      // A payload bit flipped in transit (past the AEAD, e.g. corrupted before it was sealed) in segment 2.
      const damaged = segs.map((s) => s.slice());
      damaged[2]![damaged[2]!.length - 7]! ^= 0x10;
      assert.ok(!l4ChecksumValid(damaged[2]!, ipLen, proto));
      const writes = coalesce(damaged);
      assert.deepEqual(
        writes.map((w) => w.groups),
        [2, 1, 1],
        `${what}: the damaged segment stands alone`,
      );
      assert.deepEqual(
        writes[1]!.bytes.subarray(VNET_HDR_LEN),
        damaged[2],
        `${what}: unchanged, with its wrong checksum, and no NEEDS_CSUM`,
      );
      assert.ok(writes[1]!.bytes.subarray(0, VNET_HDR_LEN).every((x) => x === 0));
      if (version === 4) {
        // A damaged IPv4 header checksum keeps the packet out of a group too.
        const badHeader = segs.map((s) => s.slice());
        badHeader[0]![10]! ^= 0x01;
        assert.deepEqual(
          coalesce(badHeader).map((w) => w.groups),
          [1, 3],
          `${what}: a bad header checksum stands alone`,
        );
      }
    }
  }
});
