/**
 * UdpPort with UDP GRO ("gro": true) in a network namespace: datagrams sent
 * as one UDP GSO message over loopback reach the receiving socket as one
 * coalesced message (the kernel keeps the GSO skb whole for a socket with
 * UDP_GRO), and rxBurst hands JS each datagram whole, in order, from the
 * sender's address — the last one shorter, more datagrams than one burst
 * takes (the rest come in the next), and the counters say how many were
 * coalesced. A port without the option receives the same datagrams one
 * message each.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, requireRoot, waitFor } from '../helpers/netns.js';
import type { NativeUdpPort } from '../../src/native/binding.js';
import { openUdpPort, readEndpoint, UDP_ADDR_RECORD_SIZE, writeEndpoint } from '../../src/native/udp-port.js';
import { enterNetns } from '../../src/native/netlink.js';
import { FRAME_HEADROOM } from '../../src/native/frames.js';

const lab = new Lab('gro');
let leave: (() => void) | undefined;

before(() => {
  requireRoot();
  leave = enterNetns(lab.ns('a'));
});
after(() => {
  leave?.();
  lab.cleanup();
});

function fill(buf: Uint8Array, seq: number): void {
  for (let j = 0; j < buf.length; j++) buf[j] = (seq * 13 + j) & 0xff;
}

/** One txBurst of datagrams of these sizes to 127.0.0.1:port (the port groups them by UDP GSO). */
function sendBurst(from: NativeUdpPort, port: number, sizes: number[]): void {
  const frames = new Uint32Array(sizes.length);
  assert.equal(from.allocFrames(frames, sizes.length), sizes.length);
  const desc = new Uint32Array(2 * sizes.length);
  const addr = new Uint8Array(UDP_ADDR_RECORD_SIZE * sizes.length);
  sizes.forEach((size, i) => {
    desc[2 * i] = frames[i]! + from.headroom;
    desc[2 * i + 1] = size;
    fill(new Uint8Array(from.buffer, desc[2 * i]!, size), i);
    writeEndpoint(addr, i, { ip: '127.0.0.1', port });
  });
  assert.equal(from.txBurst(desc, addr, sizes.length), sizes.length);
}

/** Receives sizes.length datagrams in bursts of at most `burst`; checks each (bytes, order, sender). */
async function receiveAll(port: NativeUdpPort, sizes: number[], senderPort: number, burst: number, coalesced = false): Promise<number[]> {
  const desc = new Uint32Array(2 * burst);
  const addr = new Uint8Array(UDP_ADDR_RECORD_SIZE * burst);
  const perBurst: number[] = [];
  let got = 0;
  await waitFor(
    `${sizes.length} datagrams`,
    () => {
      const n = port.rxBurst(desc, addr, burst);
      if (n > 0) perBurst.push(n);
      // What the port holds beyond this burst: the rest of the coalesced message (poll does not see it).
      if (n > 0 && coalesced) assert.equal(port.rxPending, Math.max(0, sizes.length - got - n));
      // Only a full burst leaves datagrams waiting: SocketPort.rxPending asks the addon only then.
      if (n < burst) assert.equal(port.rxPending, 0, `nothing waits after a burst of ${n} < ${burst}`);
      for (let i = 0; i < n; i++, got++) {
        const data = new Uint8Array(port.buffer, desc[2 * i]!, desc[2 * i + 1]!);
        const expect = new Uint8Array(sizes[got] ?? 0);
        fill(expect, got);
        assert.deepEqual(Buffer.from(data), Buffer.from(expect), `datagram ${got} (${data.length} B) whole and in order`);
        assert.equal(readEndpoint(addr, i).port, senderPort, 'from the sender');
      }
      port.freeFrames(
        desc.filter((_, j) => j % 2 === 0 && j < 2 * n),
        n,
      );
      return got >= sizes.length ? true : null;
    },
    5_000,
    10,
  );
  assert.equal(got, sizes.length);
  return perBurst;
}

test('UDP GRO: a coalesced message becomes its datagrams (the last shorter), whole, in order, over several bursts; counted', async () => {
  const rx = openUdpPort({ port: 0, gro: true, rcvBuf: 4 << 20 });
  const tx = openUdpPort({ port: 0, sndBuf: 4 << 20 });
  try {
    assert.equal(rx.info().gro, true, 'the kernel offers UDP_GRO');
    // 40 full segments and a short last one: one GSO message, one coalesced receive.
    const sizes = [...Array.from({ length: 40 }, () => 1400), 333];
    sendBurst(tx, rx.port, sizes);
    const before = rx.stats();
    // Bursts of 16: the coalesced message holds more than one burst takes.
    const bursts = await receiveAll(rx, sizes, tx.port, 16, true);
    const s = rx.stats();
    assert.equal(s.rx_gro_receives - before.rx_gro_receives, 1, 'one coalesced message');
    assert.equal(s.rx_gro_datagrams - before.rx_gro_datagrams, sizes.length);
    assert.equal(s.ipackets, sizes.length);
    assert.equal(
      s.ibytes,
      sizes.reduce((t, x) => t + x, 0),
    );
    assert.deepEqual(bursts, [16, 16, 9], 'the rest of the message waits for the next bursts');
    assert.equal(rx.rxPending, 0);
    assert.equal(s.rx_gro_invalid + s.rx_gro_no_frames + s.rx_invalid, 0);
    assert.equal(s.frames_free, rx.info().frameCount, 'every frame back in the pool');
    // A datagram sent alone still arrives as one.
    sendBurst(tx, rx.port, [100]);
    await receiveAll(rx, [100], tx.port, 16);
    assert.equal(rx.stats().rx_gro_receives, 1);
  } finally {
    rx.close();
    tx.close();
  }
});

test('UDP GRO: more datagrams than the port has frames: the rest are dropped and counted, nothing leaks', async () => {
  const rx = openUdpPort({ port: 0, gro: true, rcvBuf: 4 << 20, frameCount: 8 });
  const tx = openUdpPort({ port: 0, sndBuf: 4 << 20 });
  try {
    sendBurst(
      tx,
      rx.port,
      Array.from({ length: 20 }, () => 1000),
    );
    const desc = new Uint32Array(2 * 64);
    const addr = new Uint8Array(UDP_ADDR_RECORD_SIZE * 64);
    const n = await waitFor('a burst', () => rx.rxBurst(desc, addr, 64) || null, 5_000, 10);
    assert.equal(n, 8, 'as many datagrams as frames');
    rx.freeFrames(
      desc.filter((_, j) => j % 2 === 0 && j < 2 * n),
      n,
    );
    const s = rx.stats();
    assert.equal(s.rx_gro_no_frames, 12);
    assert.equal(s.rx_gro_datagrams, 20);
    assert.equal(s.frames_free, 8);
  } finally {
    rx.close();
    tx.close();
  }
});

test('UDP GRO with 64 KiB frames: only the landing part of a message enters its frame; jumbo datagrams (coalesced and alone) come out whole', async () => {
  // The daemon's socket ports have 64 KiB frames (any MTU); a message lands at
  // most kUdpGroLanding bytes in its frame and the rest in its spill slice, so
  // datagrams longer than that are put back together from both.
  const big = 65536 + FRAME_HEADROOM;
  const rx = openUdpPort({ port: 0, gro: true, rcvBuf: 8 << 20, frameSize: big, frameCount: 256 });
  const tx = openUdpPort({ port: 0, sndBuf: 8 << 20, frameSize: big, frameCount: 64 });
  try {
    // Coalesced jumbo segments (each longer than the landing), the last shorter.
    const jumbo = [9000, 9000, 9000, 9000, 4321];
    sendBurst(tx, rx.port, jumbo);
    await receiveAll(rx, jumbo, tx.port, 64, true);
    // Coalesced ordinary datagrams: the first stays in the landing part, the rest are cut from frame and spill.
    const ordinary = [...Array.from({ length: 30 }, () => 1452), 77];
    sendBurst(tx, rx.port, ordinary);
    await receiveAll(rx, ordinary, tx.port, 64, true);
    // Datagrams sent one per message, longer than the landing, one of them the largest UDP allows.
    for (const size of [2049, 30000, 65507]) {
      sendBurst(tx, rx.port, [size]);
      await receiveAll(rx, [size], tx.port, 64);
    }
    const s = rx.stats();
    assert.equal(s.rx_gro_invalid + s.rx_gro_no_frames + s.rx_invalid + s.rx_truncated, 0, 'nothing dropped');
    assert.equal(s.frames_free, rx.info().frameCount, 'every frame back in the pool');
    // Quiet with every frame in the pool: the pages can go, and the port works on after.
    const held = new Uint32Array(1);
    assert.equal(rx.allocFrames(held, 1), 1);
    assert.equal(rx.releaseIdle(), false, 'a frame held by JS: nothing dropped');
    rx.freeFrames(held, 1);
    assert.equal(rx.releaseIdle(), true, 'every frame free: the pages are dropped');
    sendBurst(tx, rx.port, jumbo);
    await receiveAll(rx, jumbo, tx.port, 64, true);
  } finally {
    rx.close();
    tx.close();
  }
});

test('without "gro": the same GSO send arrives one datagram per message, nothing counted as coalesced', async () => {
  const rx = openUdpPort({ port: 0, rcvBuf: 4 << 20 });
  const tx = openUdpPort({ port: 0, sndBuf: 4 << 20 });
  try {
    assert.equal(rx.info().gro, false);
    const sizes = [...Array.from({ length: 10 }, () => 1400), 50];
    sendBurst(tx, rx.port, sizes);
    await receiveAll(rx, sizes, tx.port, 64);
    assert.equal(rx.stats().rx_gro_receives, 0);
  } finally {
    rx.close();
    tx.close();
  }
});
