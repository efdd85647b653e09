/**
 * Load generator for bench/echo: blasts 64-byte UDP datagrams from an AF_XDP
 * port (our own txBurst, so the generator is not the bottleneck a Python or
 * dgram client would be) and counts the replies that come back to its source
 * port through its own XDP filter. Runs inside the client namespace.
 *
 *   node dist/bench/echo-gen.js DEV SRC_MAC DST_MAC SRC_IP DST_IP DST_PORT SECONDS WARMUP_SECONDS [SIZE]
 * Prints one JSON line: { sent, replies, seconds, pps }.
 */
import { openXdpFilter } from '../src/native/xdp-filter.js';
import { XdpPort } from '../src/native/port.js';
import { DescBurst, FrameList } from '../src/native/frames.js';
import { buildUdpFrame, parseMac } from '../src/packet/index.js';
import { isIP } from 'node:net';

const [dev, srcMac, dstMac, srcIp, dstIp, dstPortS, secondsS, warmupS, sizeS] = process.argv.slice(2);
if (!dev || !srcMac || !dstMac || !srcIp || !dstIp || !dstPortS || !secondsS || !warmupS) {
  process.stderr.write('usage: echo-gen DEV SRC_MAC DST_MAC SRC_IP DST_IP DST_PORT SECONDS WARMUP [SIZE]\n');
  process.exit(2);
}
const SRC_PORT = 40000;
const BURST = 64;
const size = Number(sizeS ?? 64);

function ipBytes(ip: string): Uint8Array {
  if (isIP(ip) === 4) return Uint8Array.from(ip.split('.').map(Number));
  throw new RangeError(`echo-gen: IPv4 only, got ${ip}`);
}

const filter = openXdpFilter({ ifname: dev, mode: 'auto', ports: [SRC_PORT] });
const port = XdpPort.open({ ifname: dev, queue: 0, mode: 'auto', inhibitProgLoad: true });
filter.bindQueue(0, port.fd);
const bytes = port.frames.bytes;
const template = new Uint8Array(128);
const tlen = buildUdpFrame(
  template,
  0,
  {
    dstMac: parseMac(dstMac),
    srcMac: parseMac(srcMac),
    srcIp: ipBytes(srcIp),
    dstIp: ipBytes(dstIp),
    srcPort: SRC_PORT,
    dstPort: Number(dstPortS),
  },
  size,
);
const tpl = template.subarray(0, tlen);

const alloc = new Uint32Array(BURST);
const tx = new DescBurst(BURST);
const rx = new DescBurst(BURST);
const free = new FrameList(BURST);
let sent = 0,
  replies = 0,
  counted = 0;
const start = Date.now();
const countFrom = start + Number(warmupS) * 1000;
const end = countFrom + Number(secondsS) * 1000;
let counting = false;
let loops = 0;
for (;;) {
  if ((++loops & 15) === 0) {
    const now = Date.now();
    if (!counting && now >= countFrom) {
      counting = true;
      counted = 0;
    }
    if (now >= end) break;
  }
  const n = port.allocFrames(alloc, BURST);
  for (let i = 0; i < n; i++) {
    const off = alloc[i]! + port.frames.headroom;
    bytes.set(tpl, off);
    tx.desc[2 * i] = off;
    tx.desc[2 * i + 1] = tlen;
  }
  const t = n ? port.txBurst(tx.desc, n) : 0;
  sent += t;
  if (t < n) {
    free.clear();
    for (let i = t; i < n; i++) free.push(alloc[i]!);
    port.freeFrames(free.offsets, free.count);
  }
  const r = port.rxBurst(rx.desc, BURST);
  if (r) {
    free.clear();
    for (let i = 0; i < r; i++) free.push(rx.desc[2 * i]!);
    port.freeFrames(free.offsets, r);
    replies += r;
    if (counting) counted += r;
  }
}
const seconds = Number(secondsS);
process.stdout.write(JSON.stringify({ sent, replies, counted, seconds, pps: Math.round(counted / seconds), stats: port.stats() }) + '\n');
port.close();
filter.close();
