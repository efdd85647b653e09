/**
 * The crypto crew benchmark's peer (bench/crypto-crew.ts runs it inside the
 * generator's namespace): a WireGuard peer that costs the machine almost
 * nothing while it drives one xdpwg peer flat out.
 *
 *   node dist/bench/crew-gen.js CONFIG_JSON
 *
 * 1. Generates a static key and prints {"publicKey"} for the parent to
 *    configure on the device under test; waits for a line on stdin.
 * 2. Handshakes as the initiator from `bindPort` (Noise_IKpsk2 with MAC1,
 *    this project's own src/protocol), so the device holds a session whose
 *    receive key the generator knows.
 * 3. Seals `count` transport messages in advance, counters 0, 1, 2, … (the
 *    first one confirms the session on the device), each an IPv4/UDP packet
 *    of `innerSize` bytes from `innerSrc` to `innerDst`, and writes them to
 *    `file` as (u32 length LE, message) records for bench/native/replay-gen.c,
 *    which replays them at a set rate: the device's replay window accepts
 *    each exactly once, so every message is real work for it.
 * 4. Prints {"ready": true, "sealMs"} and exits (the device keeps the session).
 */
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';
import { openSync, writeSync, closeSync } from 'node:fs';
import { generateKeyPair } from '../src/crypto/x25519.js';
import { Handshake, beginSession, consumeResponse, createInitiation, type IndexAllocator } from '../src/protocol/noise.js';
import { CookieGenerator } from '../src/protocol/cookie.js';
import { Keypair } from '../src/protocol/keypair.js';
import { DataBurst, DataTransport } from '../src/protocol/transport.js';
import { nativeAeadBurst } from '../src/crypto/aead-burst.js';
import { systemClock } from '../src/protocol/clock.js';
import { innerPacket } from './generator-io.js';

export interface CrewGenConfig {
  target: string;
  port: number;
  bindPort: number;
  responderPublicKey: string;
  count: number;
  innerSize: number;
  innerSrc: string;
  innerDst: string;
  file: string;
}

async function main(): Promise<void> {
  const c = JSON.parse(process.argv[2]!) as CrewGenConfig;
  const keys = generateKeyPair();
  process.stdout.write(JSON.stringify({ publicKey: Buffer.from(keys.publicKey).toString('base64') }) + '\n');
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((r) => lines.once('line', () => r()));
  lines.close();

  const responder = new Uint8Array(Buffer.from(c.responderPublicKey, 'base64'));
  const hs = new Handshake(0, keys, responder);
  let index = 0;
  const indices: IndexAllocator<Handshake<number>> = { insert: () => (index = 0x1234_5678), remove: () => true };
  const init = createInitiation(hs, indices, systemClock);
  if (!init) throw new Error('no initiation');
  new CookieGenerator(responder, systemClock).addMacs(init);
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(c.bindPort, r));
  const response = await new Promise<Buffer>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no handshake response in 5 s')), 5000);
    sock.once('message', (m) => (clearTimeout(t), resolve(m)));
    sock.send(init, c.port, c.target);
  });
  const got = consumeResponse(new Uint8Array(response), (i) => (i === index ? hs : undefined));
  if (typeof got === 'string') throw new Error(`handshake response refused: ${got}`);
  const tk = beginSession(hs, systemClock)!;
  const kp = new Keypair(tk);
  sock.close();

  // Seal in bursts of 64 into one buffer, then append the records.
  const t0 = performance.now();
  const inner = innerPacket(c.innerSize, c.innerSrc, c.innerDst);
  const transport = new DataTransport(nativeAeadBurst());
  const SLOT = 16 + c.innerSize + 16 + 32;
  const B = 64;
  const buf = new Uint8Array(B * SLOT);
  const rec = new Uint8Array(B * (SLOT + 4));
  const burst = new DataBurst(B);
  const fd = openSync(c.file, 'w');
  for (let done = 0; done < c.count;) {
    const n = Math.min(B, c.count - done);
    burst.reset(buf);
    for (let i = 0; i < n; i++) {
      buf.set(inner, i * SLOT + 16);
      burst.add(kp.shared, i * SLOT + 16, c.innerSize);
    }
    if (transport.sealBurst(burst, 1420) !== n) throw new Error('seal refused');
    let at = 0;
    for (let i = 0; i < n; i++) {
      const len = burst.result[i]!;
      new DataView(rec.buffer).setUint32(at, len, true);
      rec.set(buf.subarray(i * SLOT, i * SLOT + len), at + 4);
      at += 4 + len;
    }
    writeSync(fd, rec, 0, at);
    done += n;
  }
  closeSync(fd);
  process.stdout.write(JSON.stringify({ ready: true, sealMs: performance.now() - t0 }) + '\n');
}

main().catch((err: Error) => {
  process.stderr.write(`crew-gen: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
