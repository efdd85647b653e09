/**
 * UDP coalescing on TUN writes, end to end (h12-a, h12-b): each namespace
 * has an offload TUN (IFF_VNET_HDR); this process is the wire between them
 * (TunQueue readBurst from one, writeBurst to the other, one call per burst).
 * Consecutive datagrams of one flow in a burst go into the receiving kernel
 * as one GSO_UDP_L4 super packet; the kernel must cut it back so that the
 * receiving socket gets every datagram separately, with its own size and
 * its payload intact. Proof: a UDP flood (64 B, 1200 B, sizes changing every
 * few datagrams, and IPv6) arrives complete and byte for byte at a receiver
 * that checks each datagram's sequence number and contents; the counters
 * show UDP super packets of more than one datagram and no refusal.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, requireRoot } from '../helpers/netns.js';
import { closeTun, tunOffloadStats } from '../../src/native/tun.js';
import type { TunOffloadStats, TunQueueSet } from '../../src/native/binding.js';
import { delta, finished, openSide, sleep, wire, type WireCounts } from '../helpers/tun-wire.js';
const A = { ns: 'h12-a', dev: 'h12tuna', v4: '10.112.0.1', v6: 'fd12::1' };
const B = { ns: 'h12-b', dev: 'h12tunb', v4: '10.112.0.2', v6: 'fd12::2' };

const lab = new Lab('h12');
let tunA: TunQueueSet | undefined;
let tunB: TunQueueSet | undefined;

/**
 * Datagram i of a flood: a 4-byte sequence number, then a slice of a fixed
 * pattern that depends on i, so a datagram merged with, cut from or
 * swapped for another cannot pass. Sizes per mode: fixed, or changing
 * every 5 datagrams (groups that end on a shorter or a larger one).
 */
const DATAGRAM_PY = [
  'import socket, sys, time, json',
  'PATTERN = bytes(range(256)) * 8',
  'def size(i, mode):',
  '    if mode == "mixed": return 8 + ((i // 5) * 7919) % 1392',
  '    return int(mode)',
  'def datagram(i, mode):',
  '    n = size(i, mode)',
  '    return i.to_bytes(4, "big") + PATTERN[i % 251 : i % 251 + n - 4]',
].join('\n');

/** Receiver: counts distinct datagrams that are exactly what the sender sent; stops at n or after 2 s of silence. */
const RECEIVER_PY = [
  DATAGRAM_PY,
  'fam, addr, port, n, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]',
  'r = socket.socket(socket.AF_INET6 if fam == "6" else socket.AF_INET, socket.SOCK_DGRAM)',
  'r.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE: the test is not about socket overflow',
  'r.bind((addr, port)); r.settimeout(2)',
  'print("ready", flush=True)',
  'seen, bad, dup = set(), 0, 0',
  'try:',
  '    while len(seen) < n:',
  '        g = r.recv(65536)',
  '        i = int.from_bytes(g[:4], "big") if len(g) >= 4 else -1',
  '        if i < 0 or i >= n or g != datagram(i, mode): bad += 1',
  '        elif i in seen: dup += 1',
  '        else: seen.add(i)',
  'except socket.timeout: pass',
  'print(json.dumps({"received": len(seen), "bad": bad, "dup": dup}), flush=True)',
].join('\n');

/** Sender: n datagrams as fast as Python goes, a short pause every 32 so no queue on the way overflows. */
const SENDER_PY = [
  DATAGRAM_PY,
  'fam, addr, port, n, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]',
  's = socket.socket(socket.AF_INET6 if fam == "6" else socket.AF_INET, socket.SOCK_DGRAM)',
  'for i in range(n):',
  '    s.sendto(datagram(i, mode), (addr, port))',
  '    if i % 32 == 31: time.sleep(0.0005)',
].join('\n');

/** Floods n datagrams from A to B through the wire; returns what the receiver counted and the offload counters. */
async function flood(
  fam: 4 | 6,
  n: number,
  mode: string,
  port: number,
): Promise<{ received: number; bad: number; dup: number; stats: TunOffloadStats; counts: WireCounts }> {
  const dst = fam === 4 ? B.v4 : B.v6;
  const args = [String(fam), dst, String(port), String(n), mode];
  const recv = lab.spawn(B.ns, 'python3', ['-c', RECEIVER_PY, ...args]);
  let ready: () => void;
  const isReady = new Promise<void>((r) => {
    ready = r;
  });
  recv.stdout!.on('data', (d: Buffer) => {
    if (d.toString().includes('ready')) ready();
  });
  const recvDone = finished(recv);
  await Promise.race([isReady, sleep(5000)]);
  const before0 = tunOffloadStats();
  const sendDone = finished(lab.spawn(A.ns, 'python3', ['-c', SENDER_PY, ...args]));
  const counts = await wire(tunA!, tunB!, recvDone);
  const stats = delta(tunOffloadStats(), before0);
  const s = await sendDone;
  assert.equal(s.code, 0, `sender failed: ${s.err}`);
  const r = await recvDone;
  const line = r.out.split('\n').find((l) => l.startsWith('{'));
  assert.ok(line, `receiver said: ${r.out}${r.err}`);
  return { ...(JSON.parse(line) as { received: number; bad: number; dup: number }), stats, counts };
}

before(() => {
  requireRoot();
  lab.ns('a');
  lab.ns('b');
  // Room for a sender's burst while the wire is busy elsewhere: the test is
  // about what reaches the receiver, not about TUN queue overflow.
  tunA = openSide(A, true, 8192);
  tunB = openSide(B, true, 8192);
});
after(() => {
  if (tunA) closeTun(tunA);
  if (tunB) closeTun(tunB);
  lab.cleanup();
});

const cases: Array<{ fam: 4 | 6; mode: string; n: number }> = [
  { fam: 4, mode: '64', n: 20_000 },
  { fam: 4, mode: '1200', n: 8_000 },
  { fam: 4, mode: 'mixed', n: 8_000 },
  { fam: 6, mode: '64', n: 10_000 },
];
let port = 5400;
for (const c of cases) {
  const p = port++;
  test(`UDP/IPv${c.fam} flood of ${c.n} datagrams (${c.mode === 'mixed' ? 'sizes changing every 5' : `${c.mode} B`}): all arrive separately and intact, in coalesced writes`, async () => {
    assert.equal(tunB!.vnetHdr, true);
    // UDP super packets are written only to a device that took USO (linux >= 6.2, which also knows UDP_L4 writes).
    assert.ok(tunB!.offloads.includes('uso4') && tunB!.offloads.includes('uso6'), `offloads taken: ${tunB!.offloads.join(',')}`);
    assert.equal(tunB!.udpGso, true, 'the queues are told they may write UDP_L4');
    const { received, bad, dup, stats, counts } = await flood(c.fam, c.n, c.mode, p);
    assert.equal(bad, 0, 'no datagram arrived altered, merged or cut');
    assert.equal(dup, 0, 'no datagram arrived twice');
    assert.equal(received, c.n, `received ${received} of ${c.n}`);
    assert.equal(counts.refused, 0, 'the receiving TUN refused nothing');
    assert.equal(stats.writeUdpFallbacks, 0, 'the kernel took every UDP super packet');
    assert.ok(stats.writeUdpGroups > 0, `no UDP super packet written: ${JSON.stringify(stats)}`);
    const perGroup = stats.writeUdpGroupedPackets / stats.writeUdpGroups;
    assert.ok(perGroup > 1, `datagrams per UDP super packet ${perGroup}`);
    // Packets per write() over the whole flood (reverse-direction traffic is nil: UDP one way).
    const perWrite = c.n / (stats.writeSingles + stats.writeGroups);
    assert.ok(perWrite > 1, `packets per write ${perWrite.toFixed(2)}`);
    console.log(
      `# IPv${c.fam} ${c.mode}: ${c.n} datagrams in ${stats.writeUdpGroups} UDP super packets ` +
        `(${perGroup.toFixed(1)} each, ${stats.writeUdpGroupedPackets} grouped) + ${stats.writeSingles} single writes: ` +
        `${perWrite.toFixed(1)} packets per write`,
    );
  });
}

test('one UDP_SEGMENT send (USO) is read as segments and written back as one super packet: the receiver gets each datagram', async () => {
  // 40 datagrams of 1000 B: one super packet into the wire (USO read), 40 frames in one burst, one coalesced write.
  const script = [
    'import socket',
    `r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('${B.v4}', 5499)); r.settimeout(3)`,
    'print("ready", flush=True)',
    'got = []',
    'try:',
    '    while len(got) < 40: got.append(r.recv(65536))',
    'except socket.timeout: pass',
    'print(len(got), all(g == bytes((i * 13 + j) % 251 for j in range(1000)) for i, g in enumerate(got)))',
  ].join('\n');
  const recv = lab.spawn(B.ns, 'python3', ['-c', script]);
  const recvDone = finished(recv);
  await new Promise<void>((r) => {
    recv.stdout!.once('data', () => r());
    setTimeout(r, 5000);
  });
  const before0 = tunOffloadStats();
  const send = [
    'import socket',
    's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    's.setsockopt(17, 103, 1000)  # UDP_SEGMENT',
    'data = b"".join(bytes((i * 13 + j) % 251 for j in range(1000)) for i in range(40))',
    `s.sendto(data, ('${B.v4}', 5499))`,
  ].join('\n');
  const sendDone = finished(lab.spawn(A.ns, 'python3', ['-c', send]));
  await wire(tunA!, tunB!, recvDone);
  const s = delta(tunOffloadStats(), before0);
  assert.equal((await sendDone).code, 0);
  const r = await recvDone;
  assert.equal(
    r.out
      .split('\n')
      .find((l) => !l.startsWith('ready'))
      ?.trim(),
    '40 True',
    `receiver: ${r.out}${r.err}`,
  );
  assert.ok(s.writeUdpGroups >= 1 && s.writeUdpGroupedPackets >= 40, `UDP coalescing: ${JSON.stringify(s)}`);
  assert.equal(s.writeUdpFallbacks, 0);
});
