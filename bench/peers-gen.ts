/**
 * The many-peers benchmark's generator (bench/active-peers.ts runs it inside
 * the generator's namespace): N WireGuard peers that cost the machine almost
 * nothing while they all send to one xdpwg at once.
 *
 *   node dist/bench/peers-gen.js CONFIG_JSON
 *
 * Talks JSON lines with its parent:
 * 1. Generates N static keys and prints {"publicKeys": [...]}, for the parent
 *    to configure on the device under test.
 * 2. On "handshake": handshakes every peer as the initiator (Noise_IKpsk2
 *    with MAC1, this project's src/protocol), peer i from socket i mod S
 *    (source port srcBase + i mod S: S flows an RSS hash spreads over the
 *    device's queues; each peer's endpoint is its socket). At most `window`
 *    handshakes are in flight so the responder is not put under load (one
 *    source address would then be rate-limited); unanswered initiations
 *    are retried, cookie replies honoured. Prints {"handshaked": N, "ms"}.
 * 3. On "seal ROUNDS FILE": seals ROUNDS transport messages per peer,
 *    continuing each peer's counter from the last seal (the device's replay
 *    window accepts each exactly once, so every run is real work for it),
 *    each an IPv4/UDP packet of `innerSize` bytes from the peer's inner
 *    address to `innerDst`, and writes them to FILE as (u32 length LE, u32
 *    socket LE, message) records for bench/native/replay-gen.c replay-socks.
 *    Order: round by round (every peer's r-th message before any peer's
 *    (r+1)-th: all peers send at once), within a round by socket (a run of
 *    one socket's peers goes in one sendmmsg). Prints {"sealed": count, "ms"}.
 * 4. On "exit" or the end of stdin: exits.
 */
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';
import { openSync, writeSync, closeSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { generateKeyPair, type X25519KeyPair as KeyPair } from '../src/crypto/x25519.js';
import { Handshake, beginSession, consumeResponse, createInitiation, type IndexAllocator } from '../src/protocol/noise.js';
import { CookieGenerator } from '../src/protocol/cookie.js';
import { Keypair } from '../src/protocol/keypair.js';
import { DataBurst, DataTransport } from '../src/protocol/transport.js';
import { nativeAeadBurst } from '../src/crypto/aead-burst.js';
import { systemClock } from '../src/protocol/clock.js';
import { innerPacket } from './generator-io.js';

export interface PeersGenConfig {
  target: string;
  port: number;
  /** Source port of socket 0; socket s binds srcBase + s. */
  srcBase: number;
  sockets: number;
  peers: number;
  responderPublicKey: string;
  innerSize: number;
  innerDst: string;
  /** Handshakes in flight at most. */
  window: number;
}

/** Peer i's inner address: 10.60.0.0/16 onward, the /32 the device allows for it. */
export function innerAddress(i: number): string {
  const a = i + 1;
  return `10.${60 + (a >> 16)}.${(a >> 8) & 255}.${a & 255}`;
}

async function handshakeAll(c: PeersGenConfig, keys: KeyPair[], responder: Uint8Array): Promise<Keypair[]> {
  const N = keys.length;
  const socks: dgram.Socket[] = [];
  for (let s = 0; s < c.sockets; s++) {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((r) => sock.bind(c.srcBase + s, r));
    socks.push(sock);
  }
  let nextIndex = 1;
  const byIndex = new Map<number, number>();
  const indices: IndexAllocator<Handshake<number>> = { insert: () => nextIndex++, remove: () => true };
  const hs: Array<Handshake<number>> = [];
  const gens = keys.map(() => new CookieGenerator(responder, systemClock));
  const sentAt = new Float64Array(N).fill(NaN);
  const out: Array<Keypair | undefined> = new Array(N).fill(undefined);
  let done = 0,
    inFlight = 0,
    started = 0;
  const initiate = (i: number): void => {
    hs[i] ??= new Handshake(i, keys[i]!, responder);
    const msg = createInitiation(hs[i]!, indices, systemClock);
    if (!msg) throw new Error(`peer ${i}: no initiation`);
    byIndex.set(hs[i]!.localIndex!, i);
    gens[i]!.addMacs(msg);
    sentAt[i] = performance.now();
    socks[i % c.sockets]!.send(msg, c.port, c.target);
  };
  const fill = (): void => {
    while (inFlight < c.window && started < N) {
      inFlight++;
      initiate(started++);
    }
  };
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const retry = setInterval(() => {
      const now = performance.now();
      for (let i = 0; i < started; i++) if (!out[i] && now - sentAt[i]! >= 1000) initiate(i);
      if (now - t0 > 120_000) finish(new Error(`only ${done} of ${N} handshakes completed in 120 s`));
    }, 100);
    const finish = (err?: Error): void => {
      clearInterval(retry);
      if (err) reject(err);
      else resolve();
    };
    const onMessage = (msg: Buffer): void => {
      const m = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
      if (m[0] === 2 && m.length === 92) {
        const r = consumeResponse<number>(m, (idx) => {
          const i = byIndex.get(idx);
          return i === undefined ? undefined : hs[i];
        });
        if (typeof r === 'string') return;
        const i = r.peer;
        if (out[i]) return;
        const tk = beginSession(r, systemClock);
        if (!tk) return;
        out[i] = new Keypair(tk);
        inFlight--;
        if (++done === N) finish();
        else fill();
      } else if (m[0] === 3 && m.length === 64) {
        const i = byIndex.get(new DataView(m.buffer, m.byteOffset).getUint32(4, true));
        if (i !== undefined && !out[i] && gens[i]!.consumeReply(m) === 'ok') initiate(i);
      }
    };
    for (const s of socks) s.on('message', onMessage);
    fill();
  });
  for (const s of socks) s.close();
  return out as Keypair[];
}

/** Seals `rounds` messages per peer into `file` (records as the file comment says); returns how many. */
function seal(c: PeersGenConfig, kps: Keypair[], rounds: number, file: string): number {
  const N = kps.length;
  const S = c.sockets;
  // Peers grouped by socket: a round lists socket 0's peers, then socket 1's, …
  const order: number[] = [];
  for (let s = 0; s < S; s++) for (let i = s; i < N; i += S) order.push(i);
  const inners = Array.from({ length: N }, (_, i) => innerPacket(c.innerSize, innerAddress(i), c.innerDst));
  const transport = new DataTransport(nativeAeadBurst());
  const SLOT = 16 + c.innerSize + 16 + 32;
  const B = 64;
  const buf = new Uint8Array(B * SLOT);
  const rec = new Uint8Array(B * (SLOT + 8));
  const rv = new DataView(rec.buffer);
  const burst = new DataBurst(B);
  const fd = openSync(file, 'w');
  let total = 0;
  try {
    const all = rounds * N;
    for (let k = 0; k < all;) {
      const n = Math.min(B, all - k);
      burst.reset(buf);
      for (let j = 0; j < n; j++) {
        const i = order[(k + j) % N]!;
        buf.set(inners[i]!, j * SLOT + 16);
        burst.add(kps[i]!.shared, j * SLOT + 16, c.innerSize);
      }
      if (transport.sealBurst(burst, 1420) !== n) throw new Error('seal refused');
      let at = 0;
      for (let j = 0; j < n; j++) {
        const len = burst.result[j]!;
        rv.setUint32(at, len, true);
        rv.setUint32(at + 4, order[(k + j) % N]! % S, true);
        rec.set(buf.subarray(j * SLOT, j * SLOT + len), at + 8);
        at += 8 + len;
      }
      writeSync(fd, rec, 0, at);
      k += n;
      total += n;
    }
  } finally {
    closeSync(fd);
  }
  return total;
}

async function main(): Promise<void> {
  const c = JSON.parse(process.argv[2]!) as PeersGenConfig;
  const keys = Array.from({ length: c.peers }, () => generateKeyPair());
  process.stdout.write(JSON.stringify({ publicKeys: keys.map((k) => Buffer.from(k.publicKey).toString('base64')) }) + '\n');
  const responder = new Uint8Array(Buffer.from(c.responderPublicKey, 'base64'));
  let kps: Keypair[] = [];
  for await (const line of createInterface({ input: process.stdin })) {
    const [cmd, a, b] = line.trim().split(' ');
    const t0 = performance.now();
    if (cmd === 'handshake') {
      kps = await handshakeAll(c, keys, responder);
      process.stdout.write(JSON.stringify({ handshaked: kps.length, ms: Math.round(performance.now() - t0) }) + '\n');
    } else if (cmd === 'seal') {
      if (kps.length !== c.peers) throw new Error('seal before handshake');
      const sealed = seal(c, kps, Number(a), b!);
      process.stdout.write(JSON.stringify({ sealed, ms: Math.round(performance.now() - t0) }) + '\n');
    } else if (cmd === 'exit') break;
    else throw new Error(`unknown command ${line}`);
  }
  process.exit(0);
}

// Run as a program; bench/active-peers.ts imports innerAddress only.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  main().catch((err: Error) => {
    process.stderr.write(`peers-gen: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });
