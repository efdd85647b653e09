/**
 * UdpPort benchmark: moving datagrams over loopback between two sockets in
 * one process, at 64 B and 1420 B, with UdpPort bursts (allocFrames +
 * txBurst on one port, rxBurst + freeFrames on the other: four native calls
 * per burst of 64) against node:dgram (one send() and one 'message' event per
 * datagram), windowed the same way so neither loses packets. Prints packets
 * per second and the ratio.
 *
 *   npm run build:native && npm run build:ts && node dist/bench/udp-port.js [--count 200000]
 *
 * Both sides run on the same core pair as everything else on the machine;
 * the best of 3 runs is printed.
 */
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { openUdpPort, UDP_ADDR_RECORD_SIZE, writeEndpoint } from '../src/native/udp-port.js';

const SIZES = [64, 1420];
const BURST = 64;
const args = process.argv.slice(2);
const at = args.indexOf('--count');
const COUNT = at >= 0 ? Number(args[at + 1]) || 200_000 : 200_000;

/** UdpPort → UdpPort over 127.0.0.1; returns packets per second received. */
function udpPortRun(size: number): number {
  const tx = openUdpPort({ port: 0, bindAddress: '127.0.0.1', frameCount: 1024, sndBuf: 4 << 20 });
  const rx = openUdpPort({ port: 0, bindAddress: '127.0.0.1', frameCount: 1024, rcvBuf: 4 << 20 });
  try {
    const frames = new Uint32Array(BURST);
    const desc = new Uint32Array(2 * BURST);
    const addr = new Uint8Array(UDP_ADDR_RECORD_SIZE * BURST);
    for (let i = 0; i < BURST; i++) writeEndpoint(addr, i, { ip: '127.0.0.1', port: rx.port });
    const rdesc = new Uint32Array(2 * BURST);
    const raddr = new Uint8Array(UDP_ADDR_RECORD_SIZE * BURST);
    const rfree = new Uint32Array(BURST);
    let received = 0;
    const t0 = performance.now();
    while (received < COUNT) {
      const n = tx.allocFrames(frames, BURST);
      for (let i = 0; i < n; i++) {
        desc[2 * i] = frames[i]! + tx.headroom;
        desc[2 * i + 1] = size;
      }
      let sent = 0;
      while (sent < n) sent += tx.txBurst(desc.subarray(2 * sent), addr.subarray(UDP_ADDR_RECORD_SIZE * sent), n - sent);
      // Loopback delivers within the send call; read until this burst is in.
      for (let got = 0; got < n;) {
        const m = rx.rxBurst(rdesc, raddr, BURST);
        for (let i = 0; i < m; i++) rfree[i] = rdesc[2 * i]!;
        rx.freeFrames(rfree, m);
        got += m;
        received += m;
        if (m === 0 && rx.stats().imissed > 0) throw new Error('UdpPort run lost datagrams');
      }
    }
    return received / ((performance.now() - t0) / 1000);
  } finally {
    tx.close();
    rx.close();
  }
}

/** node:dgram → node:dgram over 127.0.0.1, the same window of 64; packets per second. */
async function dgramRun(size: number): Promise<number> {
  const tx = dgram.createSocket('udp4');
  const rx = dgram.createSocket('udp4');
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => tx.bind(0, '127.0.0.1', r));
  rx.setRecvBufferSize(4 << 20);
  const port = rx.address().port;
  const payload = Buffer.alloc(size, 7);
  let received = 0,
    inWindow = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const burst = (): void => {
      inWindow = 0;
      for (let i = 0; i < BURST; i++) tx.send(payload, port, '127.0.0.1');
    };
    rx.on('message', () => {
      received++;
      if (received >= COUNT) {
        resolve();
        return;
      }
      if (++inWindow === BURST) burst();
    });
    burst();
  });
  const pps = received / ((performance.now() - t0) / 1000);
  tx.close();
  rx.close();
  return pps;
}

const fmt = (pps: number): string => `${(pps / 1e6).toFixed(3)} Mpps`;
for (const size of SIZES) {
  let best = 0,
    bestDgram = 0;
  for (let rep = 0; rep < 3; rep++) {
    best = Math.max(best, udpPortRun(size));
    bestDgram = Math.max(bestDgram, await dgramRun(size));
  }
  const gbit = (pps: number): string => `${((pps * size * 8) / 1e9).toFixed(2)} Gbit/s payload`;
  console.log(
    `${String(size).padStart(5)} B  UdpPort burst ${BURST}: ${fmt(best)} (${gbit(best)})  node:dgram: ${fmt(bestDgram)} (${gbit(bestDgram)})  ratio ${(best / bestDgram).toFixed(1)}x`,
  );
}
