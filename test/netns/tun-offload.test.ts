/**
 * TUN offloads end to end (h9-a, h9-b): each namespace has a TUN; this
 * process is the wire between them, moving packets from one queue to the
 * other with TunQueue readBurst/writeBurst (one call per burst). With offload
 * on, the sender's kernel hands us 64 KiB TSO/USO super packets, which must
 * come out of readBurst as ordinary segments the receiver's kernel
 * accepts (it verifies every checksum of a packet written without offload
 * info), and consecutive segments must go into the receiver as coalesced
 * writes. Proof: iperf3 TCP runs, a file crosses over IPv6 with its sha256
 * intact, UDP segmentation (USO) delivers every datagram, and the offload
 * counters show reads cut into many segments and writes carrying many.
 * Last, the daemon adopts an offload TUN fd (WG_TUN_FD) and carries TCP.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import { addPeer, configureInterface, logsOf, ping, startImplementation, twoSides, xdpwgBin } from '../helpers/tunnel-lab.js';
import { adoptTun, burstErrorName, closeTun, openTun, openTunQueue, tunOffloadStats, tunQueueSpecs } from '../../src/native/tun.js';
import { enterNetns } from '../../src/native/netlink.js';
import type { TunOffloadStats, TunQueueSet } from '../../src/native/binding.js';
import { FRAME, HEADROOM, delta, finished, openSide, sleep, wire, type WireCounts } from '../helpers/tun-wire.js';
const A = { ns: 'h9-a', dev: 'h9tuna', v4: '10.91.0.1', v6: 'fd91::1' };
const B = { ns: 'h9-b', dev: 'h9tunb', v4: '10.91.0.2', v6: 'fd91::2' };

const lab = new Lab('h9');
const daemonLab = new Lab('h9d');
let tunA: TunQueueSet | undefined;
let tunB: TunQueueSet | undefined;
const tmpFiles: string[] = [];

/** iperf3 TCP from A to B through the wire; returns the receiver's bits/s and the wire's counts. */
async function iperfThroughWire(seconds: number): Promise<{ bps: number; counts: WireCounts; stats: TunOffloadStats }> {
  const server = lab.spawn(B.ns, 'iperf3', ['-s', '-1', '-B', B.v4, '-p', '5291']);
  const serverDone = finished(server, 40_000);
  await sleep(300);
  const client = lab.spawn(A.ns, 'iperf3', ['-c', B.v4, '-p', '5291', '-t', String(seconds), '-J']);
  const clientDone = finished(client, (seconds + 20) * 1000);
  const before0 = tunOffloadStats();
  const counts = await wire(tunA!, tunB!, Promise.all([clientDone, serverDone]));
  const stats = delta(tunOffloadStats(), before0);
  const c = await clientDone;
  assert.equal(c.code, 0, `iperf3 client failed: ${c.out}${c.err}`);
  const report = JSON.parse(c.out) as { end: { sum_received: { bytes: number; bits_per_second: number } } };
  assert.ok(report.end.sum_received.bytes > 1_000_000, `iperf3 moved only ${report.end.sum_received.bytes} bytes`);
  return { bps: report.end.sum_received.bits_per_second, counts, stats };
}

before(() => {
  requireRoot();
  lab.ns('a');
  lab.ns('b');
});
after(() => {
  if (tunA) closeTun(tunA);
  if (tunB) closeTun(tunB);
  for (const f of tmpFiles) rmSync(f, { force: true });
  lab.cleanup();
  daemonLab.cleanup();
});

test('offload on: IFF_VNET_HDR with checksum and TSO offloads accepted', () => {
  tunA = openSide(A, true);
  assert.equal(tunA.vnetHdr, true);
  for (const o of ['csum', 'tso4', 'tso6']) assert.ok(tunA.offloads.includes(o), `offloads ${tunA.offloads.join(',')} lack ${o}`);
  assert.equal(tunA.udpGso, tunA.offloads.includes('uso4'), 'udpGso says whether the device took USO');
  tunB = openSide(B, false);
  assert.equal(tunB.vnetHdr, false);
  assert.equal(tunB.udpGso, false);
  assert.deepEqual(tunB.offloads, []);
});

test('tunAdopt recognises an offload queue (IFF_VNET_HDR) and a plain one', () => {
  // The device is looked up by name in the calling thread's namespace.
  const inNs = <T>(ns: string, fn: () => T): T => {
    const leave = enterNetns(ns);
    try {
      return fn();
    } finally {
      leave();
    }
  };
  const adopted = inNs(A.ns, () => adoptTun(tunA!.fds[0]!));
  assert.equal(adopted.vnetHdr, true);
  assert.equal(adopted.udpGso, tunA!.udpGso);
  assert.ok(adopted.offloads.includes('tso4'), `adopted offloads: ${adopted.offloads.join(',')}`);
  const plain = inNs(B.ns, () => adoptTun(tunB!.fds[0]!));
  assert.equal(plain.vnetHdr, false);
  assert.deepEqual(plain.offloads, []);
});

test('segments that find no frame wait for the next call: none is lost', () => {
  // One UDP_SEGMENT send of 10 datagrams reaches the TUN as one USO super packet
  // (or, on kernels without USO, as 10 packets); read it 3 frames at a time.
  const send = [
    'import socket',
    's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    's.setsockopt(17, 103, 1200)  # UDP_SEGMENT',
    `s.sendto(bytes(i % 256 for i in range(12000)), ('${B.v4}', 5294))`,
  ].join('\n');
  nsExec(A.ns, 'python3', ['-c', send]);
  const buffer = new ArrayBuffer(3 * FRAME);
  const bytes = new Uint8Array(buffer);
  const desc = new Uint32Array(6);
  const got: number[] = [];
  const seen = new Set<number>();
  const end = Date.now() + 3000;
  // One TunQueue for every call: the segments left over by one read wait in it for the next.
  const queue = openTunQueue(tunQueueSpecs(tunA!)[0]!);
  try {
    while (seen.size < 10 && Date.now() < end) {
      for (let i = 0; i < 3; i++) {
        desc[2 * i] = i * FRAME + HEADROOM;
        desc[2 * i + 1] = FRAME - HEADROOM;
      }
      const n = queue.readBurst(buffer, desc, 3);
      assert.ok(n >= 0, burstErrorName(n));
      if (n > 0) got.push(n);
      for (let i = 0; i < n; i++) {
        const off = desc[2 * i]!,
          len = desc[2 * i + 1]!;
        if (bytes[off]! >> 4 !== 4 || bytes[off + 9] !== 17 || ((bytes[off + 22]! << 8) | bytes[off + 23]!) !== 5294) continue;
        assert.equal(len, 20 + 8 + 1200);
        const first = bytes[off + 28]!; // datagram k starts with byte (k * 1200) % 256
        const k = [...Array(10).keys()].find((j) => (j * 1200) % 256 === first)!;
        for (let j = 0; j < 1200; j += 97) assert.equal(bytes[off + 28 + j], (k * 1200 + j) % 256, `datagram ${k} byte ${j}`);
        seen.add(k);
      }
    }
  } finally {
    queue.close();
  }
  assert.equal(seen.size, 10, `datagrams read in bursts of ${got.join(',')}`);
});

test('TSO super packets are cut into segments the receiving kernel accepts (receiver without offload)', async () => {
  const { bps, counts, stats } = await iperfThroughWire(2);
  assert.ok(stats.readSuperPackets > 10, `only ${stats.readSuperPackets} super packets read`);
  assert.ok(stats.readSegments / stats.readSuperPackets > 4, `segments per super packet ${stats.readSegments}/${stats.readSuperPackets}`);
  assert.ok(counts.maxPerRead > 1, 'reads filled more than one frame');
  assert.equal(counts.refused, 0, 'the receiving TUN refused no segment');
  console.log(
    `# plain receiver: ${(bps / 1e6).toFixed(0)} Mbit/s, ${stats.readSegments} segments from ${stats.readSuperPackets} super packets, ${stats.readSegmentsCarried} carried over`,
  );
});

test('both sides offloaded: segments are coalesced on write; a file crosses over IPv6 intact', async () => {
  closeTun(tunB!);
  tunB = openSide(B, true);
  assert.equal(tunB.vnetHdr, true);
  const { bps, stats } = await iperfThroughWire(2);
  assert.ok(stats.writeGroups > 10, `only ${stats.writeGroups} coalesced writes`);
  assert.ok(
    stats.writeGroupedPackets / stats.writeGroups > 4,
    `packets per coalesced write ${stats.writeGroupedPackets}/${stats.writeGroups}`,
  );
  assert.equal(stats.writeFallbacks, 0, 'the kernel took every super packet we built');
  console.log(
    `# offload both sides: ${(bps / 1e6).toFixed(0)} Mbit/s, ${stats.writeGroupedPackets} packets in ${stats.writeGroups} coalesced writes`,
  );

  const src = `/tmp/h9-offload-src-${process.pid}`,
    dst = `/tmp/h9-offload-dst-${process.pid}`;
  tmpFiles.push(src, dst);
  writeFileSync(src, randomBytes(24 * 1024 * 1024 + 777));
  const recv = lab.spawn(B.ns, 'sh', ['-c', `exec ncat -6 -l --recv-only ${B.v6} 5292 > ${dst}`]);
  const recvDone = finished(recv);
  await sleep(300);
  const send = lab.spawn(A.ns, 'sh', ['-c', `exec ncat -6 --send-only ${B.v6} 5292 < ${src}`]);
  const sendDone = finished(send);
  const before6 = tunOffloadStats();
  await wire(tunA!, tunB!, Promise.all([sendDone, recvDone]));
  const s6 = delta(tunOffloadStats(), before6);
  assert.equal((await sendDone).code, 0);
  assert.equal((await recvDone).code, 0);
  const hash = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');
  assert.equal(hash(dst), hash(src), 'the file arrived byte for byte');
  assert.ok(s6.readSuperPackets > 0 && s6.writeGroups > 0, 'the IPv6 transfer used TSO and coalescing');
});

test('USO: one UDP_SEGMENT send arrives as every datagram, intact', async (t) => {
  if (!tunA!.offloads.includes('uso4')) {
    // Kernels before 6.2 have no USO on TUN; the read path must still deliver (the kernel segments).
    t.diagnostic('kernel refused USO: datagrams are segmented by the kernel');
  }
  const script = [
    'import socket, sys',
    `r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('${B.v4}', 5293)); r.settimeout(5)`,
    'got = []',
    'try:',
    '    while len(got) < 10: got.append(r.recv(4096))',
    'except socket.timeout: pass',
    'print(len(got), all(len(g) == 1000 and g == bytes((i * 7 + j) % 251 for j in range(1000)) for i, g in enumerate(got)))',
  ].join('\n');
  const recv = lab.spawn(B.ns, 'python3', ['-c', script]);
  const recvDone = finished(recv);
  await sleep(400);
  const sendScript = [
    'import socket',
    's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    's.setsockopt(17, 103, 1000)  # UDP_SEGMENT (linux/udp.h): 1000-byte datagrams',
    'data = b"".join(bytes((i * 7 + j) % 251 for j in range(1000)) for i in range(10))',
    `s.sendto(data, ('${B.v4}', 5293))`,
  ].join('\n');
  const before0 = tunOffloadStats();
  const sendDone = finished(lab.spawn(A.ns, 'python3', ['-c', sendScript]));
  await wire(tunA!, tunB!, recvDone);
  const s = delta(tunOffloadStats(), before0);
  const r = await recvDone;
  assert.equal((await sendDone).code, 0, 'the UDP_SEGMENT send succeeded');
  assert.equal(r.out.trim(), '10 True', `receiver: ${r.out}${r.err}`);
  if (tunA!.offloads.includes('uso4')) assert.ok(s.readSuperPackets >= 1 && s.readSegments >= 10, `USO read: ${JSON.stringify(s)}`);
});

test('the daemon adopts an offload TUN fd (WG_TUN_FD), logs its offloads and carries TCP', async () => {
  const { a, b } = twoSides(daemonLab, 'xdpwg', 'xdpwg', 175);
  const leave = enterNetns(a.ns);
  let set: TunQueueSet;
  try {
    set = openTun(a.ifname, 1, false, { offload: true });
  } finally {
    leave();
  }
  // The parent's fd becomes the child's fd 3 (as wg-quick's launcher hands one down).
  const child = daemonLab.spawn(a.ns, xdpwgBin, ['-f', a.ifname], {
    env: { ...process.env, WG_TUN_FD: '3', LOG_LEVEL: 'verbose', WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' },
    stdio: ['ignore', 'pipe', 'pipe', set.fds[0]!],
  });
  a.proc = child;
  for (const s of [child.stdout!, child.stderr!])
    s.on('data', (d: Buffer) => {
      a.log.push(...d.toString().split('\n').filter(Boolean));
    });
  closeTun(set); // the daemon holds its own copy
  await waitFor(`xdpwg to adopt ${a.ifname}`, () => existsSync(`/var/run/wireguard/${a.ifname}.sock`), 15_000);
  await startImplementation(daemonLab, b);
  configureInterface(a);
  configureInterface(b);
  addPeer(a, b, { outer: 4 });
  addPeer(b, a, { outer: 4 });
  assert.ok(ping(a, b.inner4, 3) >= 2, logsOf(a, b));
  assert.ok(
    a.log.some((l) => /TUN offloads: csum tso4 tso6/.test(l)),
    logsOf(a),
  );
  daemonLab.spawn(b.ns, 'iperf3', ['-s', '-1', '-B', b.inner4, '-p', '5295']);
  await waitFor('iperf3 server', () => nsExec(b.ns, 'ss', ['-ltn']).includes(`${b.inner4}:5295`));
  const stdout = nsExec(a.ns, 'iperf3', ['-c', b.inner4, '-p', '5295', '-t', '2', '-J'], { timeoutMs: 30_000 });
  const report = JSON.parse(stdout) as { end: { sum_received: { bytes: number } } };
  assert.ok(report.end.sum_received.bytes > 1_000_000, `iperf3 through the adopted TUN moved ${report.end.sum_received.bytes} bytes`);
});
