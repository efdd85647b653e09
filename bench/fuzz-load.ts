/**
 * Hostile load generator: blasts a WireGuard responder with everything a
 * stranger on the internet can send, as fast as one sendmmsg loop goes.
 * Run it inside the attacker's network namespace:
 *
 *   ip netns exec NS node dist/bench/fuzz-load.js --target 10.0.0.1:51820 \
 *       --responder-public BASE64 --seconds 10 [--capture FILE.pcap] [--seed N] \
 *       [--only CLASS,CLASS] [--from 10.0.0.9]
 *
 * It prints one JSON line: per-class datagram counts, the total, the
 * seconds and the rate reached. Classes (see CLASSES below):
 *   random        random bytes, every length 0..1600 (beyond 1472 the kernel fragments)
 *   truncated     each message type (1..4), cut short at a random length
 *   oversized     each message type, with random bytes appended
 *   bit-flipped   a well-formed initiation (valid MAC1) or response with one bit flipped
 *   unknown-index data messages whose receiver index names no session
 *   mac1-garbage  initiations with a valid MAC1 (the responder's public key is
 *                 public, whitepaper §5.4.4) and random bytes inside
 *   replayed      real data messages captured on the wire (--capture), sent again:
 *                 their counters are stale
 *   future-counter captured data messages with the counter moved 2^40 ahead
 *                 (the counter is the AEAD nonce: the tag no longer verifies)
 *   bad-tag       captured data messages with a flipped tag byte
 * The three captured classes need --capture: a pcap (tcpdump -w, Ethernet or
 * Linux cooked link type) holding data messages sent to the target.
 *
 * Every datagram is built before the clock starts (pools of POOL_SIZE per
 * class); the timed loop only copies pool entries into frames and sends 256
 * per native call (the addon's UdpPort, sendmmsg), so the rate is the
 * kernel's, not our generator's.
 */
import { readFileSync } from 'node:fs';
import { native, type NativeUdpPort } from '../src/native/binding.js';
import { writeEndpoint, UDP_MAX_BURST } from '../src/native/udp-port.js';
import { keyFromBase64 } from '../src/crypto/encoding.js';
import { mac } from '../src/crypto/blake2s.js';
import { mac1Key } from '../src/protocol/cookie.js';
import { SeededPrng } from '../test/helpers/seeded-prng.js';

const POOL_SIZE = 2048;
const FRAME_SIZE = 2048;
const INITIATION_SIZE = 148;
const RESPONSE_SIZE = 92;
const COOKIE_REPLY_SIZE = 64;
const DATA_MIN = 32;

export const CLASSES = [
  'random',
  'truncated',
  'oversized',
  'bit-flipped',
  'unknown-index',
  'mac1-garbage',
  'replayed',
  'future-counter',
  'bad-tag',
] as const;
export type HostileClass = (typeof CLASSES)[number];

/** The result line. */
export interface FuzzLoadResult {
  seconds: number;
  sent: number;
  ratePps: number;
  byClass: Partial<Record<HostileClass, number>>;
  /** Data messages found in the capture (0 without --capture). */
  captured: number;
}

/** One UDP datagram read from a capture. */
export interface CapturedDatagram {
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

/** The UDP datagrams (IPv4/IPv6, unfragmented) in a pcap file (Ethernet, Linux cooked or raw IP link type). */
export function udpFromPcap(file: string): CapturedDatagram[] {
  const b = readFileSync(file);
  const le = b.readUInt32LE(0) === 0xa1b2c3d4 || b.readUInt32LE(0) === 0xa1b23c4d;
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const linkType = u32(20);
  const linkHeader = linkType === 1 ? 14 : linkType === 113 ? 16 : linkType === 101 ? 0 : -1;
  if (linkHeader < 0) throw new Error(`${file}: unsupported pcap link type ${linkType}`);
  const out: CapturedDatagram[] = [];
  for (let o = 24; o + 16 <= b.length;) {
    const caplen = u32(o + 8);
    const pkt = b.subarray(o + 16, o + 16 + caplen);
    o += 16 + caplen;
    const ip = linkHeader;
    const version = pkt[ip]! >> 4;
    let proto: number, udp: number;
    if (version === 4) {
      proto = pkt[ip + 9]!;
      udp = ip + (pkt[ip]! & 0x0f) * 4;
    } else if (version === 6) {
      proto = pkt[ip + 6]!;
      udp = ip + 40;
    } else continue;
    if (proto !== 17 || udp + 8 > pkt.length) continue;
    out.push({
      srcPort: (pkt[udp]! << 8) | pkt[udp + 1]!,
      dstPort: (pkt[udp + 2]! << 8) | pkt[udp + 3]!,
      payload: Uint8Array.from(pkt.subarray(udp + 8, udp + ((pkt[udp + 4]! << 8) | pkt[udp + 5]!))),
    });
  }
  return out;
}

/** The WireGuard data messages (type 4) in a pcap file: the UDP payloads. */
export function dataMessagesFromPcap(file: string): Uint8Array[] {
  return udpFromPcap(file)
    .map((d) => d.payload)
    .filter((p) => p.length >= DATA_MIN && p[0] === 4 && p[1] === 0 && p[2] === 0 && p[3] === 0);
}

/** Builds POOL_SIZE datagrams of one class. */
function buildPool(cls: HostileClass, rng: SeededPrng, mac1K: Uint8Array, captured: Uint8Array[]): Uint8Array[] {
  const bytes = (n: number): Uint8Array => {
    const u = new Uint8Array(n);
    for (let i = 0; i < n; i++) u[i] = rng.nextU32() & 0xff;
    return u;
  };
  const header = (type: number, size: number): Uint8Array => {
    const m = bytes(size);
    m[0] = type;
    m[1] = 0;
    m[2] = 0;
    m[3] = 0;
    return m;
  };
  const withMac1 = (m: Uint8Array): Uint8Array => {
    const at = m.length - 32;
    m.set(mac(mac1K, m.subarray(0, at)), at);
    m.fill(0, at + 16, at + 32);
    return m;
  };
  const sizes = [INITIATION_SIZE, RESPONSE_SIZE, COOKIE_REPLY_SIZE, DATA_MIN + 16 * (1 + (rng.nextU32() % 80))];
  const pool: Uint8Array[] = [];
  for (let i = 0; i < POOL_SIZE; i++) {
    const type = 1 + (i % 4);
    switch (cls) {
      case 'random':
        pool.push(bytes(rng.nextU32() % 1601));
        break;
      case 'truncated': {
        const full = header(type, sizes[type - 1]!);
        pool.push(full.subarray(0, rng.nextU32() % (type === 4 ? DATA_MIN : full.length)));
        break;
      }
      // A data message has no fixed size: "oversized" is one past the tunnel MTU (1420 + 32), fragmented on the wire.
      case 'oversized':
        pool.push(header(type, type === 4 ? 1453 + (rng.nextU32() % 150) : sizes[type - 1]! + 1 + (rng.nextU32() % 200)));
        break;
      case 'bit-flipped': {
        const m = withMac1(header(i % 2 === 0 ? 1 : 2, i % 2 === 0 ? INITIATION_SIZE : RESPONSE_SIZE));
        const bit = rng.nextU32() % (m.length * 8);
        m[bit >> 3]! ^= 1 << (bit & 7);
        pool.push(m);
        break;
      }
      case 'unknown-index':
        pool.push(header(4, DATA_MIN + 16 * (rng.nextU32() % 90)));
        break;
      case 'mac1-garbage':
        pool.push(withMac1(header(1, INITIATION_SIZE)));
        break;
      case 'replayed':
        pool.push(captured[i % captured.length]!);
        break;
      case 'future-counter': {
        const m = Uint8Array.from(captured[i % captured.length]!);
        const dv = new DataView(m.buffer);
        dv.setBigUint64(8, dv.getBigUint64(8, true) + (1n << 40n) + BigInt(i), true);
        pool.push(m);
        break;
      }
      case 'bad-tag': {
        const m = Uint8Array.from(captured[i % captured.length]!);
        m[m.length - 1 - (rng.nextU32() % 16)]! ^= 1 + (rng.nextU32() % 255);
        pool.push(m);
        break;
      }
    }
  }
  return pool;
}

/** Sends the classes round-robin for `seconds`; returns the counts. */
export function blast(opts: {
  target: string;
  port: number;
  responderPublic: Uint8Array;
  seconds: number;
  seed: number;
  classes: readonly HostileClass[];
  captured: Uint8Array[];
  from?: string;
}): FuzzLoadResult {
  const rng = new SeededPrng(opts.seed);
  const mac1K = mac1Key(opts.responderPublic);
  const classes = opts.classes.filter((c) => opts.captured.length > 0 || !['replayed', 'future-counter', 'bad-tag'].includes(c));
  if (classes.length === 0) throw new Error('no class to send (the captured classes need --capture with data messages)');
  const pools = classes.map((c) => buildPool(c, rng, mac1K, opts.captured));
  const udp: NativeUdpPort = new (native().UdpPort)({ port: 0, frameSize: FRAME_SIZE, frameCount: 2 * UDP_MAX_BURST, sndBuf: 8 << 20 });
  const buf = new Uint8Array(udp.buffer);
  const frames = new Uint32Array(UDP_MAX_BURST);
  const desc = new Uint32Array(2 * UDP_MAX_BURST);
  const addr = new Uint8Array(40 * UDP_MAX_BURST);
  for (let i = 0; i < UDP_MAX_BURST; i++) writeEndpoint(addr, i, { ip: opts.target, port: opts.port, localIp: opts.from });
  const counts = new Float64Array(classes.length);
  const classOf = new Uint8Array(UDP_MAX_BURST);
  let cursor = 0;
  let sent = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(opts.seconds * 1e9));
  while (process.hrtime.bigint() < end) {
    const got = udp.allocFrames(frames, UDP_MAX_BURST);
    for (let i = 0; i < got; i++, cursor++) {
      const c = cursor % classes.length;
      const pkt = pools[c]![((cursor / classes.length) | 0) % POOL_SIZE]!;
      const off = frames[i]! + udp.headroom;
      buf.set(pkt, off);
      desc[2 * i] = off;
      desc[2 * i + 1] = pkt.length;
      classOf[i] = c;
    }
    const took = udp.txBurst(desc, addr, got);
    for (let i = 0; i < took; i++) {
      const k = classOf[i]!;
      counts[k] = counts[k]! + 1;
    }
    sent += took;
    if (took < got) {
      // Socket buffer full: give the rest back and go on (they count as not sent).
      const rest = new Uint32Array(got - took);
      for (let i = took; i < got; i++) rest[i - took] = desc[2 * i]!;
      udp.freeFrames(rest, rest.length);
      cursor -= got - took;
    }
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  udp.close();
  const byClass: Partial<Record<HostileClass, number>> = {};
  classes.forEach((c, i) => {
    byClass[c] = counts[i]!;
  });
  return { seconds, sent, ratePps: Math.round(sent / seconds), byClass, captured: opts.captured.length };
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

function main(argv: string[]): void {
  const target = arg(argv, '--target');
  const pub = arg(argv, '--responder-public');
  if (!target || !pub) {
    process.stderr.write(
      'Usage: fuzz-load --target IP:PORT --responder-public BASE64 [--seconds S] [--capture FILE] [--seed N] [--only C,C] [--from IP]\n',
    );
    process.exit(2);
  }
  const colon = target.lastIndexOf(':');
  const capture = arg(argv, '--capture');
  const only = arg(argv, '--only');
  const result = blast({
    target: target.slice(0, colon).replace(/^\[|\]$/g, ''),
    port: Number(target.slice(colon + 1)),
    responderPublic: keyFromBase64(pub),
    seconds: Number(arg(argv, '--seconds') ?? 10),
    seed: Number(arg(argv, '--seed') ?? 1),
    classes: only ? (only.split(',') as HostileClass[]) : CLASSES,
    captured: capture ? dataMessagesFromPcap(capture) : [],
    from: arg(argv, '--from'),
  });
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (process.argv[1]?.endsWith('fuzz-load.js')) main(process.argv.slice(2));
