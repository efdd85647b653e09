/**
 * UdpPort in network namespaces: an echo loop on the port in h2-a answers a
 * plain node:dgram client running in a worker thread in h2-b (IPv4 and IPv6
 * on one dual-stack socket, 64 B and 1400 B, 10,000 datagrams each: every
 * reply byte-exact, counters exact); sticky source (the reply leaves from the
 * address the client reached, not the kernel's first choice); fallback to
 * the kernel's choice once that address is deleted; jumbo and truncated
 * datagrams; UDP GSO groups, and what a refused group teaches (per
 * destination, for gsoLearnTtlMs).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import type { NativeUdpPort, UdpPortStats } from '../../src/native/binding.js';
import { copyRecord, openUdpPort, readEndpoint, UDP_ADDR_RECORD_SIZE, writeEndpoint } from '../../src/native/udp-port.js';
import { Waiter } from '../../src/native/waiter.js';
import { addrDel, enterNetns, linkInfo } from '../../src/native/netlink.js';

const NS_A = 'h2-a';
const NS_B = 'h2-b';
const BURST = 64;
const COUNT = 10_000;
/** Datagrams in flight from the client: small enough that no socket queue overflows. */
const WINDOW = 32;

const A4 = '10.77.0.1',
  A4_FAR = '10.77.0.160',
  B4 = '10.77.0.2';
// The kernel's own source choice is A4 / A6 (see the address order in
// before()); a reply from the FAR address proves the sticky source was used.
const A6 = 'fd77::1',
  A6_FAR = 'fd77::a0',
  B6 = 'fd77::2';

interface ClientJob {
  ns: string;
  server: string;
  port: number;
  size: number;
  count: number;
  window: number;
  flag: Int32Array;
}
interface ClientResult {
  received: number;
  bad: string[];
  from: string[];
}

/** Byte j of datagram seq: easy to check, different for every datagram. */
function fill(buf: Buffer, seq: number): void {
  buf.writeUInt32BE(seq, 0);
  for (let j = 4; j < buf.length; j++) buf[j] = (seq * 7 + j) & 0xff;
}

/** Worker side: a plain kernel UDP client in ns, windowed so nothing is lost to queue overflow. */
async function runClient(job: ClientJob): Promise<ClientResult> {
  enterNetns(job.ns);
  const sock = dgram.createSocket(job.server.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((resolve) => sock.bind(0, resolve));
  sock.setRecvBufferSize(4 << 20);
  const bad: string[] = [];
  const from = new Set<string>();
  const seen = new Uint8Array(job.count);
  let next = 0,
    received = 0;
  const expect = Buffer.alloc(job.size);
  const send = (): void => {
    const b = Buffer.alloc(job.size);
    fill(b, next++);
    sock.send(b, job.port, job.server);
  };
  const done = new Promise<void>((resolve) => {
    let idle = setTimeout(resolve, 5000);
    sock.on('message', (msg, rinfo) => {
      from.add(`${rinfo.address}:${rinfo.port}`);
      const seq = msg.length >= 4 ? msg.readUInt32BE(0) : -1;
      fill(expect, seq);
      if (msg.length !== job.size || seq < 0 || seq >= job.count || seen[seq] || !msg.equals(expect)) {
        if (bad.length < 5) bad.push(`seq ${seq} len ${msg.length}`);
      } else {
        seen[seq] = 1;
      }
      received++;
      if (next < job.count) send();
      clearTimeout(idle);
      if (received === job.count) resolve();
      else idle = setTimeout(resolve, 5000);
    });
  });
  for (let i = 0; i < job.window && next < job.count; i++) send();
  await done;
  sock.close();
  return { received, bad, from: [...from] };
}

if (!isMainThread) {
  const job = workerData as ClientJob;
  runClient(job)
    .then(
      (r) => parentPort!.postMessage(r),
      (e: Error) => parentPort!.postMessage({ received: 0, bad: [`client: ${e.message}`], from: [] }),
    )
    .finally(() => {
      Atomics.store(job.flag, 0, 1);
    });
}

/** Counter difference after - before for the named counters. */
function delta(after: UdpPortStats, before: UdpPortStats, keys: (keyof UdpPortStats)[]): Record<string, number> {
  return Object.fromEntries(keys.map((k) => [k, (after[k] as number) - (before[k] as number)]));
}

/**
 * The echo loop: wait on the port's fd, receive a burst, send every datagram
 * back to where it came from, from where it arrived (the rx address records
 * are the tx records as they are). Runs until the client sets flag.
 */
function echoUntil(port: NativeUdpPort, waiter: Waiter, flag: Int32Array, deadlineMs: number): void {
  const desc = new Uint32Array(2 * BURST);
  const addr = new Uint8Array(UDP_ADDR_RECORD_SIZE * BURST);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const end = Date.now() + deadlineMs;
  while (Atomics.load(flag, 0) === 0) {
    if (Date.now() > end) throw new Error('echo loop: client did not finish in time');
    if (waiter.wait(20) === 0) continue;
    const n = port.rxBurst(desc, addr, BURST);
    let sent = 0;
    while (sent < n) {
      const t = port.txBurst(desc.subarray(2 * sent), addr.subarray(UDP_ADDR_RECORD_SIZE * sent), n - sent);
      sent += t;
      if (t === 0) Atomics.wait(nap, 0, 0, 1); // socket buffer full: let the kernel drain it
    }
  }
}

if (isMainThread) {
  const lab = new Lab('h2');
  let leave: (() => void) | undefined;
  let server: NativeUdpPort;
  let waiter: Waiter;

  before(() => {
    requireRoot();
    lab.ns('a');
    lab.ns('b');
    // Order matters for the kernel's default source: IPv4 prefers the first
    // (primary) address of the subnet; IPv6 ties on prefix (capped at /64)
    // and then prefers the most recently added, so fd77::1 goes last.
    lab.veth(
      { ns: NS_A, dev: 'h2a0', addrs: [`${A4}/24`, `${A4_FAR}/24`, `${A6_FAR}/64`, `${A6}/64`] },
      { ns: NS_B, dev: 'h2b0', addrs: [`${B4}/24`, `${B6}/64`] },
    );
    leave = enterNetns(NS_A);
    server = openUdpPort({ port: 0, rcvBuf: 4 << 20, sndBuf: 4 << 20 });
    waiter = new Waiter([server.fd]);
  });
  after(() => {
    server?.close();
    waiter?.close();
    leave?.();
    lab.cleanup();
  });

  for (const [family, target] of [
    ['IPv4', A4],
    ['IPv6', A6],
  ] as const) {
    for (const size of [64, 1400]) {
      test(`echo ${COUNT} x ${size} B over ${family}: every reply exact, stats exact`, async () => {
        const flag = new Int32Array(new SharedArrayBuffer(4));
        const job: ClientJob = { ns: NS_B, server: target, port: server.port, size, count: COUNT, window: WINDOW, flag };
        const before = server.stats();
        const worker = new Worker(new URL(import.meta.url), { workerData: job });
        const reply = once(worker, 'message');
        try {
          echoUntil(server, waiter, flag, 30_000);
        } finally {
          Atomics.store(flag, 0, 1);
        }
        const [result] = (await reply) as [ClientResult];
        await worker.terminate();
        assert.deepEqual(result.bad, []);
        assert.equal(result.received, COUNT);
        assert.deepEqual(result.from, [`${target}:${server.port}`]);
        const d = delta(server.stats(), before, [
          'ipackets',
          'opackets',
          'ibytes',
          'obytes',
          'ierrors',
          'oerrors',
          'rx_invalid',
          'tx_invalid',
          'tx_src_fallback',
          'free_invalid',
        ]);
        assert.deepEqual(d, {
          ipackets: COUNT,
          opackets: COUNT,
          ibytes: COUNT * size,
          obytes: COUNT * size,
          ierrors: 0,
          oerrors: 0,
          rx_invalid: 0,
          tx_invalid: 0,
          tx_src_fallback: 0,
          free_invalid: 0,
        });
        assert.equal(server.stats().frames_free, server.info().frameCount, 'every frame back in the pool');
      });
    }
  }

  /** A client port in h2-b (a kernel socket like any other; no source is ever set on its sends). */
  function clientPort(): NativeUdpPort {
    const back = enterNetns(NS_B);
    try {
      return openUdpPort({ port: 0 });
    } finally {
      back();
    }
  }

  /** Sends one datagram from client to [dst]:server.port; returns its payload. */
  function clientSend(client: NativeUdpPort, dst: string, tag: number): Uint8Array {
    const out = new Uint32Array(1);
    assert.equal(client.allocFrames(out, 1), 1);
    const at = out[0]! + client.headroom;
    const body = new Uint8Array(client.buffer, at, 100);
    body.fill(tag);
    const addr = new Uint8Array(UDP_ADDR_RECORD_SIZE);
    writeEndpoint(addr, 0, { ip: dst, port: server.port });
    assert.equal(client.txBurst(new Uint32Array([at, 100]), addr, 1), 1);
    return body.slice();
  }

  /** Receives exactly one datagram on port (waiting up to 2 s); returns its record and frees the frame. */
  function recvOne(port: NativeUdpPort, addr: Uint8Array): { len: number; data: Uint8Array; desc: Uint32Array } {
    const w = new Waiter([port.fd]);
    try {
      const desc = new Uint32Array(2);
      const end = Date.now() + 2000;
      while (Date.now() < end) {
        w.wait(100);
        if (port.rxBurst(desc, addr, 1) === 1) {
          const data = new Uint8Array(port.buffer, desc[0]!, desc[1]!).slice();
          return { len: desc[1]!, data, desc };
        }
      }
      throw new Error('no datagram within 2 s');
    } finally {
      w.close();
    }
  }

  for (const [family, near, far, client4or6] of [
    ['IPv4', A4, A4_FAR, B4],
    ['IPv6', A6, A6_FAR, B6],
  ] as const) {
    test(`sticky source over ${family}: the reply leaves from the address the client reached (${far}), not the kernel's ${near}`, () => {
      const client = clientPort();
      try {
        const serverAddr = new Uint8Array(UDP_ADDR_RECORD_SIZE);
        const clientAddr = new Uint8Array(UDP_ADDR_RECORD_SIZE);
        const sent = clientSend(client, far, 0x5a);
        const got = recvOne(server, serverAddr);
        assert.deepEqual(got.data, sent);
        const ep = readEndpoint(serverAddr, 0);
        assert.equal(ep.localIp, far, 'rx records the local address the packet reached');
        assert.equal(ep.ip, client4or6);
        assert.equal(ep.family, family === 'IPv4' ? 4 : 6);
        assert.equal(ep.ifindex, linkInfo('h2a0')!.ifindex);
        assert.equal(server.txBurst(got.desc, serverAddr, 1), 1);
        recvOne(client, clientAddr);
        assert.equal(readEndpoint(clientAddr, 0).ip, far, 'reply came from the sticky source');

        // Control: with the source cleared the kernel picks `near`, so the
        // sticky result above is not the kernel's default.
        clientSend(client, far, 0x5b);
        const again = recvOne(server, serverAddr);
        const copy = new Uint8Array(UDP_ADDR_RECORD_SIZE);
        copyRecord(serverAddr, 0, copy, 0);
        writeEndpoint(copy, 0, { ip: ep.ip, port: ep.port });
        assert.equal(server.txBurst(again.desc, copy, 1), 1);
        recvOne(client, clientAddr);
        assert.equal(readEndpoint(clientAddr, 0).ip, near, 'kernel default source differs');
      } finally {
        client.close();
      }
    });
  }

  for (const [family, near, far, prefix] of [
    ['IPv4', A4, A4_FAR, 24],
    ['IPv6', A6, A6_FAR, 64],
  ] as const) {
    test(`source fallback over ${family}: once ${far} is deleted, the reply leaves from the kernel's choice and is counted`, () => {
      const client = clientPort();
      try {
        const serverAddr = new Uint8Array(UDP_ADDR_RECORD_SIZE);
        const clientAddr = new Uint8Array(UDP_ADDR_RECORD_SIZE);
        const sent = clientSend(client, far, 0x33);
        const got = recvOne(server, serverAddr);
        assert.equal(readEndpoint(serverAddr, 0).localIp, far);
        addrDel(linkInfo('h2a0')!.ifindex, `${far}/${prefix}`);
        const before = server.stats();
        assert.equal(server.txBurst(got.desc, serverAddr, 1), 1);
        const d = delta(server.stats(), before, ['opackets', 'tx_src_fallback', 'oerrors']);
        assert.deepEqual(d, { opackets: 1, tx_src_fallback: 1, oerrors: 0 });
        assert.equal(readEndpoint(serverAddr, 0).localIp, '', "the stale source is cleared in the caller's record");
        const reply = recvOne(client, clientAddr);
        assert.deepEqual(reply.data, sent);
        assert.equal(readEndpoint(clientAddr, 0).ip, near);
      } finally {
        client.close();
      }
    });
  }

  test('jumbo: a 60000 B datagram arrives whole in a 65536+headroom frame; a 2048 B-frame port drops it as truncated', () => {
    const big = openUdpPort({ port: 0, frameSize: 65536 + 128, frameCount: 8 });
    const small = openUdpPort({ port: 0, frameCount: 8 });
    try {
      const body = new Uint8Array(60000);
      for (let i = 0; i < body.length; i++) body[i] = (i * 13) & 0xff;
      const addr = new Uint8Array(UDP_ADDR_RECORD_SIZE);
      for (const dst of [big, small]) {
        const out = new Uint32Array(1);
        assert.equal(big.allocFrames(out, 1), 1);
        new Uint8Array(big.buffer, out[0]! + big.headroom, body.length).set(body);
        writeEndpoint(addr, 0, { ip: A4, port: dst.port });
        assert.equal(big.txBurst(new Uint32Array([out[0]! + big.headroom, body.length]), addr, 1), 1);
      }
      assert.equal(big.stats().obytes, 2 * body.length);
      const got = recvOne(big, addr);
      assert.equal(got.len, body.length);
      assert.deepEqual(got.data, body);
      const w = new Waiter([small.fd]);
      try {
        assert.notEqual(w.wait(2000), 0);
      } finally {
        w.close();
      }
      assert.equal(small.rxBurst(new Uint32Array(2), addr, 1), 0);
      const s = small.stats();
      assert.deepEqual([s.rx_truncated, s.rx_invalid, s.ipackets, s.frames_free], [1, 1, 0, 8]);
    } finally {
      big.close();
      small.close();
    }
  });

  /** Sends `sizes.length` datagrams from `from` (the server) to [dst]:to.port in one txBurst; datagram i is filled from i. */
  function sendBurst(to: NativeUdpPort, dst: string, sizes: number[], from: NativeUdpPort = server): void {
    const server = from;
    const frames = new Uint32Array(sizes.length);
    assert.equal(server.allocFrames(frames, sizes.length), sizes.length);
    const desc = new Uint32Array(2 * sizes.length);
    const addr = new Uint8Array(UDP_ADDR_RECORD_SIZE * sizes.length);
    sizes.forEach((size, i) => {
      const body = Buffer.alloc(size);
      fill(body, i);
      new Uint8Array(server.buffer, frames[i]! + server.headroom, size).set(body);
      desc[2 * i] = frames[i]! + server.headroom;
      desc[2 * i + 1] = size;
      writeEndpoint(addr, i, { ip: dst, port: to.port });
    });
    assert.equal(server.txBurst(desc, addr, sizes.length), sizes.length, 'the whole burst was taken');
  }

  /** Receives `count` datagrams on port (2 s deadline), checking datagram i against fill(i), in order. */
  function receiveInOrder(port: NativeUdpPort, sizes: number[]): void {
    const w = new Waiter([port.fd]);
    const desc = new Uint32Array(2 * BURST);
    const addr = new Uint8Array(UDP_ADDR_RECORD_SIZE * BURST);
    let got = 0;
    const end = Date.now() + 2000;
    try {
      while (got < sizes.length) {
        if (Date.now() > end) throw new Error(`received ${got} of ${sizes.length} datagrams within 2 s`);
        w.wait(100);
        const n = port.rxBurst(desc, addr, BURST);
        for (let i = 0; i < n; i++, got++) {
          const data = Buffer.from(new Uint8Array(port.buffer, desc[2 * i]!, desc[2 * i + 1]!));
          const expect = Buffer.alloc(sizes[got]!);
          fill(expect, got);
          assert.ok(data.equals(expect), `datagram ${got} (${data.length} B) arrives whole and in order`);
        }
        port.freeFrames(
          desc.filter((_, j) => j % 2 === 0 && j < 2 * n),
          n,
        );
      }
    } finally {
      w.close();
    }
  }

  test('UDP GSO: a burst to one destination leaves in few messages, every datagram whole and in order; oversized segments fall back to one by one', () => {
    const client = clientPort();
    try {
      // 64 full segments and a shorter last one, then the same to IPv6: two groups at least.
      const sizes = [...Array.from({ length: 40 }, () => 1400), 700];
      for (const dst of [B4, B6]) {
        const before = server.stats();
        sendBurst(client, dst, sizes);
        receiveInOrder(client, sizes);
        const d = delta(server.stats(), before, ['opackets', 'oerrors', 'tx_gso_sends', 'tx_gso_datagrams', 'tx_gso_fallback']);
        assert.equal(d.opackets, sizes.length);
        assert.equal(d.oerrors, 0);
        assert.equal(d.tx_gso_fallback, 0);
        assert.ok(d.tx_gso_sends! >= 1 && d.tx_gso_datagrams === sizes.length, `grouped into GSO sends: ${JSON.stringify(d)}`);
      }
      // Segments above the veth's 1500 B MTU: the kernel refuses the group; each goes alone (IP-fragmented).
      const big = Array.from({ length: 8 }, () => 1800); // fits the 2048 B frames (headroom 128)
      const before = server.stats();
      sendBurst(client, B4, big);
      receiveInOrder(client, big);
      const d = delta(server.stats(), before, ['opackets', 'oerrors', 'tx_gso_fallback']);
      assert.deepEqual(d, { opackets: big.length, oerrors: 0, tx_gso_fallback: 1 });
      // Learned: segments that large are no longer grouped on this port.
      const again = server.stats();
      sendBurst(client, B4, big);
      receiveInOrder(client, big);
      assert.equal(delta(server.stats(), again, ['tx_gso_fallback']).tx_gso_fallback, 0);
      assert.equal(server.stats().frames_free, server.info().frameCount, 'every frame back in the pool');
    } finally {
      client.close();
    }
  });

  test("UDP GSO learns per destination: one peer's small path MTU leaves full-size groups to the others, and the lesson expires", async () => {
    // A second address on h2-b, reached from h2-a over a route with a locked 600 B MTU:
    // 1400 B segments exceed that path only.
    const SMALL = '10.77.0.3';
    nsExec(NS_B, 'ip', ['addr', 'add', `${SMALL}/32`, 'dev', 'h2b0']);
    nsExec(NS_A, 'ip', ['route', 'add', `${SMALL}/32`, 'dev', 'h2a0', 'mtu', 'lock', '600']);
    const TTL = 1500;
    const port = openUdpPort({ port: 0, sndBuf: 4 << 20, gsoLearnTtlMs: TTL });
    const client = clientPort();
    const keys: (keyof UdpPortStats)[] = ['opackets', 'oerrors', 'tx_gso_sends', 'tx_gso_datagrams', 'tx_gso_fallback', 'tx_gso_learned'];
    const sizes = Array.from({ length: 20 }, () => 1400);
    /** One burst to dst, received whole and in order; the counter deltas it caused. */
    const burst = (dst: string): Record<string, number> => {
      const before = port.stats();
      sendBurst(client, dst, sizes, port);
      receiveInOrder(client, sizes);
      return delta(port.stats(), before, keys);
    };
    try {
      // The group to the small path is refused, sent one by one (fragmented), and taught a limit.
      const learnedAt = Date.now(); // at most this early (the port's coarse clock may lag a few ms)
      assert.deepEqual(burst(SMALL), {
        opackets: 20,
        oerrors: 0,
        tx_gso_sends: 0,
        tx_gso_datagrams: 0,
        tx_gso_fallback: 1,
        tx_gso_learned: 1,
      });
      // The other destination still gets full-size groups.
      const other = burst(B4);
      assert.equal(other.tx_gso_datagrams, 20, `full-size groups to ${B4}: ${JSON.stringify(other)}`);
      assert.deepEqual([other.opackets, other.oerrors, other.tx_gso_fallback, other.tx_gso_learned], [20, 0, 0, 0]);
      // The small path, again before the lesson expires: not grouped, nothing refused.
      assert.deepEqual(burst(SMALL), {
        opackets: 20,
        oerrors: 0,
        tx_gso_sends: 0,
        tx_gso_datagrams: 0,
        tx_gso_fallback: 0,
        tx_gso_learned: 0,
      });
      assert.ok(Date.now() - learnedAt < TTL, "the checks above ran within the lesson's lifetime");
      // After the TTL the full size is tried again: refused once more (and learned again).
      const retried = await waitFor(
        'a full-size group to the small path is tried again',
        () => {
          const d = burst(SMALL);
          return d.tx_gso_fallback === 1 ? d : null;
        },
        TTL + 5000,
        50,
      );
      assert.ok(Date.now() - learnedAt >= TTL - 20, "not before the TTL (less the coarse clock's tick)");
      assert.deepEqual(retried, { opackets: 20, oerrors: 0, tx_gso_sends: 0, tx_gso_datagrams: 0, tx_gso_fallback: 1, tx_gso_learned: 1 });
      assert.equal(port.stats().frames_free, port.info().frameCount, 'every frame back in the pool');
    } finally {
      client.close();
      port.close();
      nsExec(NS_A, 'ip', ['route', 'del', `${SMALL}/32`]);
      nsExec(NS_B, 'ip', ['addr', 'del', `${SMALL}/32`, 'dev', 'h2b0']);
    }
  });

  test('txBurst: a datagram taken but not sent (no route, invalid) has its length zeroed, so the caller counts only what left', () => {
    const NOWHERE = '10.77.0.4';
    nsExec(NS_A, 'ip', ['route', 'add', 'unreachable', `${NOWHERE}/32`]);
    const client = clientPort();
    try {
      const frames = new Uint32Array(2);
      assert.equal(server.allocFrames(frames, 2), 2);
      const desc = new Uint32Array([frames[0]! + server.headroom, 100, frames[1]! + server.headroom, 200, 12345678, 300]);
      const addr = new Uint8Array(UDP_ADDR_RECORD_SIZE * 3);
      writeEndpoint(addr, 0, { ip: NOWHERE, port: client.port });
      writeEndpoint(addr, 1, { ip: B4, port: client.port });
      writeEndpoint(addr, 2, { ip: B4, port: client.port });
      const before = server.stats();
      assert.equal(server.txBurst(desc, addr, 3), 3, 'all taken');
      assert.deepEqual([desc[1], desc[3], desc[5]], [0, 200, 0], 'unreachable and invalid: zeroed; sent: kept');
      assert.deepEqual(delta(server.stats(), before, ['opackets', 'oerrors', 'tx_no_route', 'tx_invalid']), {
        opackets: 1,
        oerrors: 1,
        tx_no_route: 1,
        tx_invalid: 1,
      });
      assert.equal(recvOne(client, new Uint8Array(UDP_ADDR_RECORD_SIZE)).data.length, 200);
      assert.equal(server.stats().frames_free, server.info().frameCount, 'every frame back in the pool');
    } finally {
      client.close();
      nsExec(NS_A, 'ip', ['route', 'del', 'unreachable', `${NOWHERE}/32`]);
    }
  });

  test('txBurstFrom: datagrams in another buffer (as the UMEM) leave grouped by UDP GSO, whole and in order; the pool is untouched; outside the buffer: zeroed', () => {
    const client = clientPort();
    try {
      // An external buffer laid out like a UMEM: one datagram every 2048 B, at an offset inside a view.
      const backing = new ArrayBuffer(64 * 2048 + 4096);
      const src = new Uint8Array(backing, 4096, 64 * 2048);
      const sizes = [...Array.from({ length: 30 }, () => 1400), 500];
      const n = sizes.length + 1;
      const desc = new Uint32Array(2 * n);
      const addr = new Uint8Array(UDP_ADDR_RECORD_SIZE * n);
      sizes.forEach((size, i) => {
        const b = Buffer.alloc(size);
        fill(b, i);
        src.set(b, i * 2048 + 100);
        desc[2 * i] = i * 2048 + 100;
        desc[2 * i + 1] = size;
        writeEndpoint(addr, i, { ip: B4, port: client.port });
      });
      // The last one runs past the end of src: invalid, zeroed, nothing sent.
      desc[2 * sizes.length] = src.length - 10;
      desc[2 * sizes.length + 1] = 100;
      writeEndpoint(addr, sizes.length, { ip: B4, port: client.port });
      const before = server.stats();
      assert.equal(server.txBurstFrom(src, desc, addr, n), n, 'all taken');
      assert.equal(desc[2 * sizes.length + 1], 0, 'outside the buffer: zeroed');
      receiveInOrder(client, sizes);
      const d = delta(server.stats(), before, [
        'opackets',
        'oerrors',
        'tx_invalid',
        'tx_gso_datagrams',
        'tx_bulk_via_socket_bursts',
        'tx_bulk_via_socket_bytes',
      ]);
      assert.deepEqual(d, {
        opackets: sizes.length,
        oerrors: 0,
        tx_invalid: 1,
        tx_gso_datagrams: sizes.length,
        tx_bulk_via_socket_bursts: 1,
        tx_bulk_via_socket_bytes: sizes.reduce((t, x) => t + x, 0),
      });
      assert.equal(server.stats().frames_free, server.info().frameCount, "the port's own pool untouched");
    } finally {
      client.close();
    }
  });

  test("imissed: datagrams the socket queue had no room for are counted (the socket's sk_drops), exactly", () => {
    const small = openUdpPort({ port: 0, frameCount: 256, rcvBuf: 8192 });
    try {
      const sent = 200;
      const frames = new Uint32Array(sent);
      const desc = new Uint32Array(2 * sent);
      const addr = new Uint8Array(UDP_ADDR_RECORD_SIZE * sent);
      let k = 0;
      while (k < sent) {
        const got = server.allocFrames(frames.subarray(k), Math.min(64, sent - k));
        for (let i = k; i < k + got; i++) {
          desc[2 * i] = frames[i]! + server.headroom;
          desc[2 * i + 1] = 1000;
          writeEndpoint(addr, i, { ip: A4, port: small.port });
        }
        k += got;
      }
      for (let off = 0; off < sent;) off += server.txBurst(desc.subarray(2 * off), addr.subarray(UDP_ADDR_RECORD_SIZE * off), sent - off);
      let received = 0;
      const rdesc = new Uint32Array(2 * 64);
      const raddr = new Uint8Array(UDP_ADDR_RECORD_SIZE * 64);
      for (let n; (n = small.rxBurst(rdesc, raddr, 64)) > 0;) {
        received += n;
        const offs = new Uint32Array(n);
        for (let i = 0; i < n; i++) offs[i] = rdesc[2 * i]!;
        small.freeFrames(offs, n);
      }
      const s = small.stats();
      assert.ok(received > 0 && received < sent, `received ${received}`);
      assert.equal(s.ipackets, received);
      assert.equal(s.imissed, sent - received);
    } finally {
      small.close();
    }
  });

  test('adopt: a bound socket handed in by fd keeps its port and receives; the caller keeps its own descriptor', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(0, A4, resolve));
    // node:dgram has no public fd accessor; its handle's fd is what a parent process would pass.
    const fd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
    const adopted = openUdpPort({ fd });
    try {
      assert.equal(adopted.port, sock.address().port);
      assert.equal(adopted.info().family, 4);
      const addr = new Uint8Array(UDP_ADDR_RECORD_SIZE);
      const out = new Uint32Array(1);
      assert.equal(server.allocFrames(out, 1), 1);
      new Uint8Array(server.buffer, out[0]! + server.headroom, 10).fill(9);
      writeEndpoint(addr, 0, { ip: A4, port: adopted.port });
      assert.equal(server.txBurst(new Uint32Array([out[0]! + server.headroom, 10]), addr, 1), 1);
      const got = recvOne(adopted, addr);
      assert.deepEqual(got.data, new Uint8Array(10).fill(9));
      assert.equal(readEndpoint(addr, 0).localIp, A4);
      // The port has its own duplicate: closing it leaves node's socket working.
      adopted.close();
      const echoed = new Promise<Buffer>((resolve) => sock.once('message', resolve));
      writeEndpoint(addr, 0, { ip: A4, port: sock.address().port });
      assert.equal(server.allocFrames(out, 1), 1);
      new Uint8Array(server.buffer, out[0]! + server.headroom, 3).set([1, 2, 3]);
      assert.equal(server.txBurst(new Uint32Array([out[0]! + server.headroom, 3]), addr, 1), 1);
      assert.deepEqual([...(await echoed)], [1, 2, 3]);
    } finally {
      adopted.close();
      sock.close();
    }
  });

  test('reusePort: several ports (one per worker) share a UDP port; without it the second bind is refused', () => {
    const first = openUdpPort({ port: 0, reusePort: true, frameCount: 4 });
    const second = openUdpPort({ port: first.port, reusePort: true, frameCount: 4 });
    try {
      assert.equal(second.port, first.port);
      assert.throws(
        () => openUdpPort({ port: first.port, frameCount: 4 }),
        (e: Error & { code?: string }) => e.code === 'EADDRINUSE',
      );
    } finally {
      first.close();
      second.close();
    }
  });

  test('frames: alloc/free round trip, double free refused and counted; closed port and bad options throw', () => {
    const p = openUdpPort({ port: 0, frameCount: 4 });
    try {
      const out = new Uint32Array(8);
      assert.equal(p.allocFrames(out, 8), 4);
      assert.equal(p.allocFrames(out, 1), 0);
      p.freeFrames(out, 4);
      p.freeFrames(out, 1);
      assert.equal(p.stats().free_invalid, 1);
      assert.equal(p.stats().frames_free, 4);
    } finally {
      p.close();
    }
    assert.equal(p.fd, -1);
    assert.throws(() => p.rxBurst(new Uint32Array(2), new Uint8Array(40), 1), /closed/);
    assert.throws(() => openUdpPort({ port: 70000 }), RangeError);
    assert.throws(() => openUdpPort({ port: 0, frameSize: 100 }), RangeError);
  });
}
