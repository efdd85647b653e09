/**
 * UDP coalescing on TUN writes (GSO_UDP_L4), on synthetic bursts (no root):
 * tunOffloadCoalesce lays out the writes TunQueue.writeBurst makes, by the same
 * code. Checked here: which datagrams are grouped (one flow, equal sizes
 * with a shorter last, kernel limits) and, with an independent byte-at-a-time
 * RFC 1071 implementation, every field of the vnet header and the merged
 * headers; then each super packet is cut back the way the kernel's UDP
 * segmentation does (__udp_gso_segment: swap the length in the partial
 * checksum, complete it per datagram) and must give back the datagrams of
 * the burst, payloads intact and checksums valid.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { be16, fold, l4ChecksumValid, pseudoSum, put16, sum16 } from '../helpers/reference-checksum.js';
import { tunOffloadCoalesce, tunOffloadStats, VNET_HDR_LEN } from '../../src/native/tun.js';

const NEEDS_CSUM = 1,
  GSO_UDP_L4 = 5;
const UDP = 17,
  TCP = 6;

// ------------------------------------------------------------ independent checksum

// (from test/helpers/reference-checksum.ts)
function udpChecksumValid(p: Uint8Array, l4: number): boolean {
  return l4ChecksumValid(p, l4, UDP);
}

// ------------------------------------------------------------ synthetic datagrams

interface Flow {
  version: 4 | 6;
  src: number;
  dst: number;
  srcPort: number;
  dstPort: number;
}
interface IpFields {
  ttl?: number;
  tos?: number;
  df?: boolean;
  mf?: boolean;
  id?: number;
  options?: boolean;
  zeroChecksum?: boolean;
  proto?: number;
}

function body(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** One IPv4/IPv6 + UDP datagram with a complete checksum (or none, if asked). */
function datagram(f: Flow, data: Uint8Array, o: IpFields = {}): Uint8Array {
  const ipLen = f.version === 4 ? (o.options ? 24 : 20) : 40;
  const p = new Uint8Array(ipLen + 8 + data.length);
  if (f.version === 4) {
    p[0] = 0x40 | (ipLen / 4);
    p[1] = o.tos ?? 0;
    put16(p, 2, p.length);
    put16(p, 4, o.id ?? 0x2000);
    p[6] = ((o.df ?? true) ? 0x40 : 0) | (o.mf ? 0x20 : 0);
    p[8] = o.ttl ?? 64;
    p[9] = o.proto ?? UDP;
    p.set([10, 0, 0, f.src], 12);
    p.set([10, 0, 0, f.dst], 16);
    if (o.options) p.set([1, 1, 1, 0], 20); // NOP NOP NOP EOL
    put16(p, 10, ~fold(sum16(p, 0, ipLen)) & 0xffff);
  } else {
    p[0] = 0x60 | ((o.tos ?? 0) >> 4);
    p[1] = ((o.tos ?? 0) & 15) << 4;
    put16(p, 4, p.length - 40);
    p[6] = o.proto ?? UDP;
    p[7] = o.ttl ?? 64;
    p[8] = 0xfd;
    p[23] = f.src;
    p[24] = 0xfd;
    p[39] = f.dst;
  }
  put16(p, ipLen, f.srcPort);
  put16(p, ipLen + 2, f.dstPort);
  put16(p, ipLen + 4, p.length - ipLen);
  p.set(data, ipLen + 8);
  let sum = ~fold(pseudoSum(p, f.version, UDP, p.length - ipLen) + sum16(p, ipLen, p.length)) & 0xffff;
  if (sum === 0) sum = 0xffff;
  put16(p, ipLen + 6, o.zeroChecksum ? 0 : sum);
  return p;
}

/** count datagrams of one flow, payloads of size, the last of lastSize; ids consecutive as a sender's kernel makes them. */
function flowOf(f: Flow, count: number, size: number, lastSize = size, o: IpFields = {}): Uint8Array[] {
  return Array.from({ length: count }, (_, i) =>
    datagram(f, body(i === count - 1 ? lastSize : size, f.dstPort * 1000 + i), { ...o, id: 0x2000 + i }),
  );
}

const FRAME = 2048;
/** The writes TunQueue.writeBurst would make for this burst: bytes (vnet header + packet) and how many datagrams each carries. */
function coalesce(packets: Uint8Array[]): Array<{ groups: number; bytes: Uint8Array }> {
  const buffer = new ArrayBuffer(packets.length * FRAME);
  const desc = new Uint32Array(2 * packets.length);
  packets.forEach((p, i) => {
    desc[2 * i] = i * FRAME + 64;
    desc[2 * i + 1] = p.length;
    new Uint8Array(buffer, i * FRAME + 64, p.length).set(p);
  });
  const out = new ArrayBuffer(packets.length * (FRAME + VNET_HDR_LEN));
  const outDesc = new Uint32Array(2 * packets.length);
  const groups = new Uint32Array(packets.length);
  const w = tunOffloadCoalesce(buffer, desc, packets.length, out, outDesc, groups);
  return Array.from({ length: w }, (_, k) => ({ groups: groups[k]!, bytes: new Uint8Array(out, outDesc[2 * k]!, outDesc[2 * k + 1]!) }));
}

/**
 * Checks one super packet's vnet header and merged headers against its
 * members, then cuts it the kernel's way and compares each datagram with
 * the member it came from.
 */
function verifySuperPacket(write: Uint8Array, members: Uint8Array[]): void {
  const dv = new DataView(write.buffer, write.byteOffset, VNET_HDR_LEN);
  const first = members[0]!;
  const version = first[0]! >> 4;
  const ipLen = version === 4 ? 20 : 40;
  const payloadSize = first.length - ipLen - 8;
  assert.equal(write[0], NEEDS_CSUM, 'flags: NEEDS_CSUM');
  assert.equal(write[1], GSO_UDP_L4, 'gso_type: UDP_L4');
  assert.equal(dv.getUint16(2, true), ipLen + 8, 'hdr_len: IP + UDP header');
  assert.equal(dv.getUint16(4, true), payloadSize, "gso_size: the first datagram's payload");
  assert.equal(dv.getUint16(6, true), ipLen, 'csum_start: the UDP header');
  assert.equal(dv.getUint16(8, true), 6, 'csum_offset: the UDP checksum field');
  const sup = write.subarray(VNET_HDR_LEN);
  const totalPayload = members.reduce((s, m) => s + m.length - ipLen - 8, 0);
  assert.equal(sup.length, ipLen + 8 + totalPayload, 'one header, then every payload');
  if (version === 4) {
    assert.equal(be16(sup, 2), sup.length, 'IPv4 total length');
    assert.equal(fold(sum16(sup, 0, 20)), 0xffff, 'IPv4 header checksum');
    for (const o of [1, 6, 7, 8, 9]) assert.equal(sup[o], first[o], `IPv4 header byte ${o} as the first datagram's`);
    assert.deepEqual(sup.subarray(12, 20), first.subarray(12, 20), 'addresses');
  } else {
    assert.equal(be16(sup, 4), sup.length - 40, 'IPv6 payload length');
    assert.deepEqual(sup.subarray(0, 4), first.subarray(0, 4), 'traffic class and flow label');
    assert.deepEqual(sup.subarray(6, 40), first.subarray(6, 40), 'next header, hop limit, addresses');
  }
  assert.deepEqual(sup.subarray(ipLen, ipLen + 4), first.subarray(ipLen, ipLen + 4), 'ports');
  const udpLen = be16(sup, ipLen + 4);
  assert.equal(udpLen, sup.length - ipLen, 'UDP length: the whole super packet');
  const partial = be16(sup, ipLen + 6);
  assert.equal(partial, fold(pseudoSum(sup, version, UDP, udpLen)), 'UDP checksum field: the folded pseudo-header sum (CHECKSUM_PARTIAL)');

  // The kernel's segmentation: each datagram gets gso_size of payload (the
  // last the rest), its own UDP length, the partial sum with the length
  // swapped (one's-complement subtract the old, add the new), then the sum
  // over its UDP header and payload, complemented.
  let at = ipLen + 8;
  members.forEach((m, k) => {
    const n = Math.min(payloadSize, sup.length - at);
    const seg = new Uint8Array(ipLen + 8 + n);
    seg.set(sup.subarray(0, ipLen + 8));
    seg.set(sup.subarray(at, at + n), ipLen + 8);
    at += n;
    if (version === 4) put16(seg, 2, seg.length);
    else put16(seg, 4, seg.length - 40);
    put16(seg, ipLen + 4, 8 + n);
    put16(seg, ipLen + 6, fold(partial + (~udpLen & 0xffff) + 8 + n));
    let csum = ~fold(sum16(seg, ipLen, seg.length)) & 0xffff;
    if (csum === 0) csum = 0xffff;
    put16(seg, ipLen + 6, csum);
    assert.ok(udpChecksumValid(seg, ipLen), `datagram ${k}: UDP checksum valid`);
    assert.equal(seg.length, m.length, `datagram ${k}: length`);
    // Everything but the IPv4 id and header checksum (the kernel numbers ids from the first) is the member's.
    const skip = version === 4 ? new Set([4, 5, 10, 11]) : new Set<number>();
    for (let i = 0; i < seg.length; i++)
      if (!skip.has(i) && seg[i] !== m[i]) assert.fail(`datagram ${k}: byte ${i} is ${seg[i]}, sent ${m[i]}`);
  });
  assert.equal(at, sup.length, 'the payloads are used up exactly');
}

/** Checks that writes carry the burst in order: groups as expected, lone packets unchanged behind a zero header. */
function verifyWrites(packets: Uint8Array[], expectGroups: number[]): void {
  const writes = coalesce(packets);
  assert.deepEqual(
    writes.map((w) => w.groups),
    expectGroups,
  );
  let i = 0;
  for (const w of writes) {
    const members = packets.slice(i, i + w.groups);
    if (w.groups === 1) {
      assert.ok(
        w.bytes.subarray(0, VNET_HDR_LEN).every((x) => x === 0),
        'a lone packet goes with a zero vnet header',
      );
      assert.deepEqual(w.bytes.subarray(VNET_HDR_LEN), members[0], 'a lone packet passes unchanged');
    } else {
      verifySuperPacket(w.bytes, members);
    }
    i += w.groups;
  }
}

const F4: Flow = { version: 4, src: 1, dst: 2, srcPort: 40000, dstPort: 5201 };
const F6: Flow = { ...F4, version: 6 };

// ------------------------------------------------------------ tests

for (const f of [F4, F6]) {
  test(`UDP/IPv${f.version}: a burst of one flow becomes one GSO_UDP_L4 super packet that cuts back into the same datagrams`, () => {
    verifyWrites(flowOf(f, 32, 64), [32]);
    verifyWrites(flowOf(f, 20, 1392), [20]);
    verifyWrites(flowOf(f, 5, 1000, 333), [5]); // a shorter last one belongs to the group
    verifyWrites(flowOf(f, 2, 1), [2]); // one-byte payloads
  });
}

test('UDP coalescing: only the last datagram may be shorter, and none larger than the first', () => {
  const a = flowOf(F4, 3, 500);
  const shorter = datagram(F4, body(200, 9), { id: 0x3000 });
  const again = flowOf(F4, 2, 500);
  // A shorter one closes the group: the next (full-sized) starts a new one.
  verifyWrites([...a, shorter, ...again], [4, 2]);
  // A larger one ends the group and starts its own.
  const larger = flowOf(F4, 3, 600);
  verifyWrites([...a, ...larger], [3, 3]);
  // Two shorter in a row: the second is not part of the first group.
  verifyWrites([...a, shorter, shorter], [4, 1]);
});

test('UDP coalescing: another port, address, TTL, TOS, DF or IP version breaks the group', () => {
  const base = flowOf(F4, 3, 300);
  const variants: Array<[string, Uint8Array]> = [
    ['destination port', datagram({ ...F4, dstPort: 5202 }, body(300, 1))],
    ['source port', datagram({ ...F4, srcPort: 40001 }, body(300, 1))],
    ['source address', datagram({ ...F4, src: 3 }, body(300, 1))],
    ['destination address', datagram({ ...F4, dst: 4 }, body(300, 1))],
    ['TTL', datagram(F4, body(300, 1), { ttl: 63 })],
    ['TOS', datagram(F4, body(300, 1), { tos: 0x10 })],
    ['DF', datagram(F4, body(300, 1), { df: false })],
    ['IP version', datagram(F6, body(300, 1))],
  ];
  for (const [what, odd] of variants) {
    const writes = coalesce([...base, odd, ...base]);
    assert.deepEqual(
      writes.map((w) => w.groups),
      [3, 1, 3],
      `a different ${what}`,
    );
  }
  // Two flows interleaved: nothing to merge.
  const other = flowOf({ ...F4, dstPort: 6000 }, 4, 100);
  const mine = flowOf(F4, 4, 100);
  verifyWrites(
    mine.flatMap((m, i) => [m, other[i]!]),
    [1, 1, 1, 1, 1, 1, 1, 1],
  );
  // IPv6: another flow label or hop limit breaks it too.
  const b6 = flowOf(F6, 2, 300);
  assert.deepEqual(
    coalesce([...b6, datagram(F6, body(300, 2), { ttl: 1 }), ...b6]).map((w) => w.groups),
    [2, 1, 2],
  );
  assert.deepEqual(
    coalesce([...b6, datagram(F6, body(300, 2), { tos: 0xb8 }), ...b6]).map((w) => w.groups),
    [2, 1, 2],
  );
});

test('UDP coalescing: fragments, IPv4 options, zero checksums and bad lengths stand alone', () => {
  const base = flowOf(F4, 2, 300);
  const badUdpLen = datagram(F4, body(300, 3));
  put16(badUdpLen, 24, 300); // UDP length shorter than the datagram (padding the kernel would trim)
  const odd: Array<[string, Uint8Array]> = [
    ['MF set', datagram(F4, body(300, 1), { mf: true })],
    ['IPv4 options', datagram(F4, body(300, 1), { options: true })],
    ['zero UDP checksum', datagram(F4, body(300, 1), { zeroChecksum: true })],
    ['UDP length mismatch', badUdpLen],
    ['empty payload', datagram(F4, new Uint8Array(0))],
  ];
  for (const [what, p] of odd) {
    const writes = coalesce([...base, p, p, ...base]);
    assert.deepEqual(
      writes.map((w) => w.groups),
      [2, 1, 1, 2],
      what,
    );
  }
});

test('UDP coalescing: at most 64 datagrams and 64 KiB per super packet', () => {
  // 64 B datagrams: the segment count limit (UDP_MAX_SEGMENTS) binds first.
  verifyWrites(flowOf(F4, 150, 64), [64, 64, 22]);
  // 1400 B datagrams: 46 make 20 + 8 + 46 * 1400 = 64428 bytes; a 47th would pass 65535.
  const big = flowOf(F4, 50, 1400);
  verifyWrites(big, [46, 4]);
  for (const w of coalesce(big)) assert.ok(w.bytes.length - VNET_HDR_LEN <= 65535);
});

test('TCP and UDP in one burst: each flow is grouped by its own rules', () => {
  // A minimal TCP segment (ACK, no options) of a flow, to sit beside the datagrams.
  const tcp = (seq: number): Uint8Array => {
    const p = new Uint8Array(20 + 20 + 100);
    p[0] = 0x45;
    put16(p, 2, p.length);
    p[6] = 0x40;
    p[8] = 64;
    p[9] = TCP;
    p.set([10, 0, 0, 1, 10, 0, 0, 2], 12);
    put16(p, 10, ~fold(sum16(p, 0, 20)) & 0xffff);
    put16(p, 20, 1);
    put16(p, 22, 2);
    p[24] = seq >>> 24;
    p[25] = (seq >> 16) & 0xff;
    p[26] = (seq >> 8) & 0xff;
    p[27] = seq & 0xff;
    p[32] = 5 << 4;
    p[33] = 0x10;
    put16(p, 34, 100);
    put16(p, 36, ~fold(pseudoSum(p, 4, TCP, p.length - 20) + sum16(p, 20, p.length)) & 0xffff); // only verified segments merge
    return p;
  };
  const udp = flowOf(F4, 3, 100);
  const writes = coalesce([tcp(0), tcp(100), tcp(200), ...udp, tcp(300)]);
  assert.deepEqual(
    writes.map((w) => w.groups),
    [3, 3, 1],
  );
  assert.equal(writes[0]!.bytes[1], 1, 'the TCP group is GSO_TCPV4');
  assert.equal(writes[1]!.bytes[1], GSO_UDP_L4, 'the UDP group is GSO_UDP_L4');
});

test('XDPWG_TUN_UDP_COALESCE=0 turns UDP coalescing off; the UDP counters are exported', () => {
  const stats = tunOffloadStats();
  for (const k of ['writeUdpGroups', 'writeUdpGroupedPackets', 'writeUdpFallbacks'] as const) assert.equal(typeof stats[k], 'number', k);
  // The switch is read once per process: ask a child process.
  const tunJs = fileURLToPath(new URL('../../src/native/tun.js', import.meta.url));
  const script = [
    `import { tunOffloadCoalesce } from ${JSON.stringify(tunJs)};`,
    'const [n, size] = [8, 64 + 28];',
    'const buffer = new ArrayBuffer(n * 2048), desc = new Uint32Array(2 * n), bytes = new Uint8Array(buffer);',
    'const hex = process.argv[1];',
    'for (let i = 0; i < n; i++) { desc[2 * i] = i * 2048; desc[2 * i + 1] = size; bytes.set(Buffer.from(hex, "hex"), i * 2048); }',
    'const groups = new Uint32Array(n);',
    'const w = tunOffloadCoalesce(buffer, desc, n, new ArrayBuffer(n * 2048), new Uint32Array(2 * n), groups);',
    'console.log(Array.from(groups.subarray(0, w)).join(","));',
  ].join('\n');
  const hex = Buffer.from(datagram(F4, body(64, 5))).toString('hex');
  const run = (env: Record<string, string>): string =>
    execFileSync(process.execPath, ['--input-type=module', '-e', script, hex], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    }).trim();
  assert.equal(run({ XDPWG_TUN_UDP_COALESCE: '0' }), '1,1,1,1,1,1,1,1', 'off: one write per datagram');
  assert.equal(run({ XDPWG_TUN_UDP_COALESCE: '1' }), '8', 'on: one write for the burst');
});
