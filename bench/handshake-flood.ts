/**
 * Handshake load from one namespace, two modes. Run inside the namespace:
 *
 *   flood  Valid-MAC1 initiations (garbage inside, whitepaper §5.4.4: MAC1
 *          needs only the responder's public key) from many source addresses
 *          at the highest rate one sendmmsg loop reaches. Like a determined
 *          attacker it reads the cookie replies (§5.4.7) and from then on
 *          sends MAC2-valid initiations from that source, so the responder's
 *          per-source rate limit (§5.3) is what stops them.
 *
 *     ip netns exec NS node dist/bench/handshake-flood.js flood --target IP:PORT \
 *         --responder-public B64 --sources 10.0.8.1,10.0.8.2,... --seconds 10
 *
 *   peers  Real peers: for each private key in --keys (a JSON array of base64
 *          keys), a full Noise_IKpsk2 handshake (initiation, response), then
 *          one ICMP echo request through the new session to --ping (from the
 *          peer's --inner address, the i-th of a list) and the echo reply
 *          back. Handshake latency = initiation sent → response consumed;
 *          round trip = echo sent → echo reply decrypted. Unanswered
 *          initiations are retried every --retry-ms (honouring cookies).
 *
 *     ip netns exec NS node dist/bench/handshake-flood.js peers --target IP:PORT \
 *         --responder-public B64 --keys FILE --inner 10.0.100.1,... --ping 10.0.1.1
 *
 * Each prints one JSON line (FloodResult or PeersResult).
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { native, type NativeUdpPort } from '../src/native/binding.js';
import { writeEndpoint, readEndpoint, UDP_MAX_BURST } from '../src/native/udp-port.js';
import { keyFromBase64 } from '../src/crypto/encoding.js';
import { keyPairFromPrivate } from '../src/crypto/x25519.js';
import { mac } from '../src/crypto/blake2s.js';
import { aeadOpen, aeadSeal, xaeadOpen } from '../src/crypto/aead.js';
import { cookieKey, mac1Key, CookieGenerator } from '../src/protocol/cookie.js';
import {
  Handshake,
  beginSession,
  consumeResponse,
  createInitiation,
  type IndexAllocator,
  type TransportKeys,
} from '../src/protocol/noise.js';
import { systemClock } from '../src/protocol/clock.js';

const INITIATION_SIZE = 148;
const MAC1_AT = 116;
const MAC2_AT = 132;
const FRAME_SIZE = 2048;

// ------------------------------------------------------------------ flood

/** What flood mode reports. */
export interface FloodResult {
  seconds: number;
  sent: number;
  ratePps: number;
  sources: number;
  /** Initiations sent with a MAC2 made from a cookie the responder gave us. */
  sentWithMac2: number;
  cookieReplies: number;
  /** Sources that got a cookie. */
  sourcesWithCookie: number;
}

/** Floods; `sources` must be addresses of this namespace (the replies come back to them). */
export function flood(opts: {
  target: string;
  port: number;
  responderPublic: Uint8Array;
  sources: string[];
  seconds: number;
}): FloodResult {
  const mac1K = mac1Key(opts.responderPublic);
  const cookieK = cookieKey(opts.responderPublic);
  const S = opts.sources.length;
  const udp: NativeUdpPort = new (native().UdpPort)({
    port: 0,
    frameSize: FRAME_SIZE,
    frameCount: 4 * UDP_MAX_BURST,
    sndBuf: 8 << 20,
    rcvBuf: 8 << 20,
  });
  const buf = new Uint8Array(udp.buffer);
  const frames = new Uint32Array(UDP_MAX_BURST);
  const desc = new Uint32Array(2 * UDP_MAX_BURST);
  const addr = new Uint8Array(40 * UDP_MAX_BURST);
  const rxDesc = new Uint32Array(2 * UDP_MAX_BURST);
  const rxAddr = new Uint8Array(40 * UDP_MAX_BURST);
  const sourceIndex = new Map(opts.sources.map((s, i) => [s, i]));
  // One address record per source, copied per packet (parsing addresses per packet would cost the rate).
  const records = opts.sources.map((s) => {
    const r = new Uint8Array(40);
    writeEndpoint(r, 0, { ip: opts.target, port: opts.port, localIp: s });
    return r;
  });
  // Per source: POOL initiations (random inside, distinct sender indices) with MAC1, and MAC2
  // once we hold a cookie for that source; rebuilt only when a cookie arrives, so the timed loop
  // only copies bytes and the rate is the socket's.
  const POOL = 8;
  const pools = opts.sources.map(() => new Uint8Array(POOL * INITIATION_SIZE));
  const cookies: Array<Uint8Array | null> = opts.sources.map(() => null);
  const build = (s: number): void => {
    const pool = pools[s]!;
    crypto.getRandomValues(pool);
    for (let j = 0; j < POOL; j++) {
      const m = pool.subarray(j * INITIATION_SIZE, (j + 1) * INITIATION_SIZE);
      m.set([1, 0, 0, 0]);
      new DataView(m.buffer, m.byteOffset).setUint32(4, s * POOL + j, true);
      m.set(mac(mac1K, m.subarray(0, MAC1_AT)), MAC1_AT);
      const cookie = cookies[s];
      if (cookie) m.set(mac(cookie, m.subarray(0, MAC2_AT)), MAC2_AT);
      else m.fill(0, MAC2_AT, INITIATION_SIZE);
    }
  };
  for (let s = 0; s < S; s++) build(s);
  let seq = 0,
    sent = 0,
    withMac2 = 0,
    cookieReplies = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(opts.seconds * 1e9));
  while (process.hrtime.bigint() < end) {
    const got = udp.allocFrames(frames, UDP_MAX_BURST);
    for (let i = 0; i < got; i++) {
      const s = (seq + i) % S;
      const j = (((seq + i) / S) | 0) % POOL;
      const off = frames[i]! + udp.headroom;
      buf.set(pools[s]!.subarray(j * INITIATION_SIZE, (j + 1) * INITIATION_SIZE), off);
      desc[2 * i] = off;
      desc[2 * i + 1] = INITIATION_SIZE;
      addr.set(records[s]!, 40 * i);
    }
    const took = udp.txBurst(desc, addr, got);
    if (took < got) {
      const rest = new Uint32Array(got - took);
      for (let i = took; i < got; i++) rest[i - took] = desc[2 * i]!;
      udp.freeFrames(rest, rest.length);
    }
    for (let i = 0; i < took; i++) if (cookies[(seq + i) % S]) withMac2++;
    seq += took;
    sent += took;
    // Cookie replies: the receiver index names the pool entry, whose MAC1 is the cookie's AD.
    const n = udp.rxBurst(rxDesc, rxAddr, UDP_MAX_BURST);
    for (let i = 0; i < n; i++) {
      const off = rxDesc[2 * i]!,
        len = rxDesc[2 * i + 1]!;
      if (len !== 64 || buf[off] !== 3) continue;
      cookieReplies++;
      const reply = buf.subarray(off, off + 64);
      const k = new DataView(reply.buffer, reply.byteOffset).getUint32(4, true);
      const s = sourceIndex.get(readEndpoint(rxAddr, i).localIp);
      if (s === undefined || Math.floor(k / POOL) !== s || cookies[s]) continue;
      const sentMsg = pools[s]!.subarray((k % POOL) * INITIATION_SIZE, ((k % POOL) + 1) * INITIATION_SIZE);
      const c = xaeadOpen(cookieK, reply.subarray(8, 32), reply.subarray(32, 64), sentMsg.subarray(MAC1_AT, MAC1_AT + 16));
      if (c) {
        cookies[s] = c;
        build(s);
      }
    }
    if (n > 0) {
      const f = new Uint32Array(n);
      for (let i = 0; i < n; i++) f[i] = rxDesc[2 * i]!;
      udp.freeFrames(f, n);
    }
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  udp.close();
  return {
    seconds,
    sent,
    ratePps: Math.round(sent / seconds),
    sources: S,
    sentWithMac2: withMac2,
    cookieReplies,
    sourcesWithCookie: cookies.filter(Boolean).length,
  };
}

// ------------------------------------------------------------------ peers

/** What peers mode reports. */
export interface PeersResult {
  peers: number;
  completed: number;
  /** Peers whose echo reply came back through the tunnel. */
  echoed: number;
  handshakeMs: { min: number; median: number; p95: number; max: number };
  echoRttMs: { min: number; median: number; p95: number; max: number };
  initiationsSent: number;
  cookieReplies: number;
  elapsedMs: number;
}

function ipv4(s: string): number[] {
  return s.split('.').map(Number);
}

function checksum(b: Uint8Array, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i += 2) sum += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An IPv4 ICMP echo request, 36 bytes, padded to 48 (a multiple of 16, whitepaper §5.4.6). */
function echoRequest(src: string, dst: string, id: number): Uint8Array {
  const p = new Uint8Array(48);
  p.set([0x45, 0, 0, 36, 0, 0, 0x40, 0, 64, 1, 0, 0, ...ipv4(src), ...ipv4(dst)]);
  const ip = checksum(p, 0, 20);
  p[10] = ip >> 8;
  p[11] = ip & 0xff;
  p.set([8, 0, 0, 0, id >> 8, id & 0xff, 0, 1, 0x78, 0x64, 0x70, 0x77, 0x67, 0x72, 0x6c, 0x21], 20);
  const ic = checksum(p, 20, 36);
  p[22] = ic >> 8;
  p[23] = ic & 0xff;
  return p;
}

function summary(xs: number[]): { min: number; median: number; p95: number; max: number } {
  if (xs.length === 0) return { min: NaN, median: NaN, p95: NaN, max: NaN };
  const s = [...xs].sort((x, y) => x - y);
  const at = (q: number): number => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 100) / 100;
  return { min: at(0), median: at(0.5), p95: at(0.95), max: at(1) };
}

/** Runs the peers; resolves when every peer echoed or timeoutMs passed. */
export async function peers(opts: {
  target: string;
  port: number;
  responderPublic: Uint8Array;
  privateKeys: Uint8Array[];
  inner: string[];
  ping: string;
  from?: string;
  retryMs: number;
  timeoutMs: number;
}): Promise<PeersResult> {
  const N = opts.privateKeys.length;
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind({ address: opts.from, port: 0 }, r));
  let next = 1;
  const byIndex = new Map<number, number>();
  const indices: IndexAllocator<Handshake<number>> = { insert: () => next++, remove: () => true };
  const hs = opts.privateKeys.map((k, i) => new Handshake(i, keyPairFromPrivate(k), opts.responderPublic));
  const gens = opts.privateKeys.map(() => new CookieGenerator(opts.responderPublic, systemClock));
  const sentAt = new Float64Array(N);
  const firstSentAt = new Float64Array(N).fill(NaN);
  const hsMs = new Float64Array(N).fill(NaN);
  const echoSentAt = new Float64Array(N);
  const echoMs = new Float64Array(N).fill(NaN);
  const keys: Array<TransportKeys | null> = new Array(N).fill(null);
  let initiationsSent = 0,
    cookieReplies = 0,
    echoed = 0;
  const t0 = performance.now();

  const initiate = (i: number): void => {
    const msg = createInitiation(hs[i]!, indices, systemClock);
    if (!msg) return;
    byIndex.set(hs[i]!.localIndex!, i);
    gens[i]!.addMacs(msg);
    sentAt[i] = performance.now();
    if (Number.isNaN(firstSentAt[i]!)) firstSentAt[i] = sentAt[i]!;
    initiationsSent++;
    sock.send(msg, opts.port, opts.target);
  };
  const sendEcho = (i: number): void => {
    const k = keys[i]!;
    const plain = echoRequest(opts.inner[i]!, opts.ping, i);
    const msg = new Uint8Array(16 + plain.length + 16);
    const dv = new DataView(msg.buffer);
    dv.setUint32(0, 4, true);
    dv.setUint32(4, k.remoteIndex, true);
    msg.set(aeadSeal(k.sendKey, 0n, plain, new Uint8Array(0)), 16);
    echoSentAt[i] = performance.now();
    sock.send(msg, opts.port, opts.target);
  };
  const keepalivesSent: Array<Promise<void>> = [];
  // A real peer answers data with a keepalive when it has nothing to send back (whitepaper §6.5, after
  // KEEPALIVE_TIMEOUT; here at once). Without it the responder, having sent the echo reply and heard
  // nothing more, would start handshakes to these peers 15 s later and retry them for 90 s (§6.4):
  // what is measured after the peers exit (bench/scale.ts's idle CPU) must be an idle tunnel, not that.
  const sendKeepalive = (i: number): void => {
    const k = keys[i]!;
    const msg = new Uint8Array(32);
    const dv = new DataView(msg.buffer);
    dv.setUint32(0, 4, true);
    dv.setUint32(4, k.remoteIndex, true);
    dv.setBigUint64(8, 1n, true);
    msg.set(aeadSeal(k.sendKey, 1n, new Uint8Array(0), new Uint8Array(0)), 16);
    keepalivesSent.push(new Promise((r) => sock.send(msg, opts.port, opts.target, () => r())));
  };

  const done = new Promise<void>((resolve) => {
    sock.on('message', (msg: Buffer) => {
      const m = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
      const dv = new DataView(m.buffer, m.byteOffset, m.length);
      if (m[0] === 2 && m.length === 92) {
        const r = consumeResponse<number>(m, (idx) => {
          const i = byIndex.get(idx);
          return i === undefined ? undefined : hs[i];
        });
        if (typeof r === 'string') return;
        const i = r.peer;
        const k = beginSession(r, systemClock);
        if (!k || keys[i]) return;
        keys[i] = k;
        byIndex.set(k.localIndex, i);
        hsMs[i] = performance.now() - firstSentAt[i]!;
        sendEcho(i);
      } else if (m[0] === 3 && m.length === 64) {
        cookieReplies++;
        const i = byIndex.get(dv.getUint32(4, true));
        if (i !== undefined && gens[i]!.consumeReply(m) === 'ok' && !keys[i]) initiate(i);
      } else if (m[0] === 4 && m.length >= 32) {
        const i = byIndex.get(dv.getUint32(4, true));
        if (i === undefined || !keys[i] || !Number.isNaN(echoMs[i]!)) return;
        const plain = aeadOpen(keys[i]!.receiveKey, dv.getBigUint64(8, true), m.subarray(16), new Uint8Array(0));
        if (plain && plain.length >= 28 && plain[9] === 1 && plain[20] === 0) {
          echoMs[i] = performance.now() - echoSentAt[i]!;
          sendKeepalive(i);
          if (++echoed === N) resolve();
        }
      }
    });
  });
  for (let i = 0; i < N; i++) initiate(i);
  const retry = setInterval(() => {
    const now = performance.now();
    for (let i = 0; i < N; i++) {
      if (!keys[i] && now - sentAt[i]! >= opts.retryMs) initiate(i);
      else if (keys[i] && Number.isNaN(echoMs[i]!) && now - echoSentAt[i]! >= opts.retryMs) sendEcho(i);
    }
  }, 100);
  await Promise.race([done, new Promise((r) => setTimeout(r, opts.timeoutMs))]);
  clearInterval(retry);
  await Promise.all(keepalivesSent);
  sock.close();
  const ok = (xs: Float64Array): number[] => [...xs].filter((x) => !Number.isNaN(x));
  return {
    peers: N,
    completed: ok(hsMs).length,
    echoed,
    handshakeMs: summary(ok(hsMs)),
    echoRttMs: summary(ok(echoMs)),
    initiationsSent,
    cookieReplies,
    elapsedMs: Math.round(performance.now() - t0),
  };
}

// ------------------------------------------------------------------ CLI

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(argv: string[]): Promise<void> {
  const mode = argv[0];
  const target = arg(argv, '--target');
  const pub = arg(argv, '--responder-public');
  if ((mode !== 'flood' && mode !== 'peers') || !target || !pub) {
    process.stderr.write('Usage: handshake-flood flood|peers --target IP:PORT --responder-public B64 ...\n');
    process.exit(2);
  }
  const colon = target.lastIndexOf(':');
  const host = target.slice(0, colon),
    port = Number(target.slice(colon + 1));
  const responderPublic = keyFromBase64(pub);
  if (mode === 'flood') {
    const sources = (arg(argv, '--sources') ?? '').split(',').filter(Boolean);
    if (sources.length === 0) throw new Error('--sources: at least one local address');
    process.stdout.write(
      JSON.stringify(flood({ target: host, port, responderPublic, sources, seconds: Number(arg(argv, '--seconds') ?? 10) })) + '\n',
    );
  } else {
    const privateKeys = (JSON.parse(readFileSync(arg(argv, '--keys')!, 'utf8')) as string[]).map(keyFromBase64);
    const inner = (arg(argv, '--inner') ?? '').split(',');
    if (inner.length !== privateKeys.length) throw new Error(`--inner has ${inner.length} addresses for ${privateKeys.length} keys`);
    const result = await peers({
      target: host,
      port,
      responderPublic,
      privateKeys,
      inner,
      ping: arg(argv, '--ping')!,
      from: arg(argv, '--from'),
      retryMs: Number(arg(argv, '--retry-ms') ?? 1000),
      timeoutMs: Number(arg(argv, '--timeout-ms') ?? 20_000),
    });
    process.stdout.write(JSON.stringify(result) + '\n');
  }
}

if (process.argv[1]?.endsWith('handshake-flood.js')) await main(process.argv.slice(2));
