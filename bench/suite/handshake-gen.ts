/**
 * Handshake load generator, run by handshake.ts inside the initiator's
 * namespace: many fresh peers, each sending valid handshake initiations
 * (Noise_IKpsk2 message A with MAC1, whitepaper §5.4.2 and §5.4.4) to a
 * responder over UDP, and counting the responses that come back.
 *
 * Protocol with the parent, one JSON line each way:
 *   1. argv[2] is a JSON {@link GeneratorConfig}.
 *   2. We generate the peers' keys and precompute every initiation (so the
 *      generator's own crypto is not in the timed part), then print
 *      {"publicKeys": [...]} for the parent to configure on the responder.
 *   3. The parent writes a line on stdin; we send and print {"result": ...}.
 *
 * Initiations go round-robin over the peers, so one peer's initiations are
 * `peers` sends apart: far more than the 20 ms a responder requires between
 * two accepted initiations of one peer (whitepaper §5.1, flood protection).
 * Timestamps come from a clock that advances 1 ms per initiation, so they
 * strictly increase per peer as §5.1 demands.
 *
 * Closed loop: at most `window` initiations are outstanding. The window is
 * kept below 1/8 (128) of the 1024-entry handshake queue at which wireguard-go and
 * xdpwg declare themselves "under load" (§5.3: then they answer with cookie
 * replies and rate-limit per source), so what is measured is the full
 * handshake, initiation consumed and response created. Cookie replies, if
 * any come, are counted separately; an initiation unanswered after
 * LOST_AFTER_MS counts as lost and frees its window slot.
 */
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';
import { generateKeyPair } from '../../src/crypto/x25519.js';
import { Handshake, createInitiation, type IndexAllocator } from '../../src/protocol/noise.js';
import { CookieGenerator } from '../../src/protocol/cookie.js';
import {
  Initiation,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_RESPONSE,
  RESPONSE_SIZE,
  COOKIE_REPLY_SIZE,
  CookieReply,
  Response,
  readU32,
} from '../../src/protocol/wire.js';
import type { Clock } from '../../src/protocol/clock.js';

/** What the parent asks for. */
export interface GeneratorConfig {
  /** Responder's outer IPv4 address and UDP port. */
  target: string;
  port: number;
  /** Responder's static public key, base64. */
  responderPublicKey: string;
  /** Number of fresh peers. */
  peers: number;
  /** Initiations to send in total. */
  count: number;
  /** Initiations outstanding at once. */
  window: number;
  /** Give up after this long even if initiations remain. */
  timeoutMs: number;
}

/** What the generator reports. */
export interface GeneratorResult {
  sent: number;
  responses: number;
  cookieReplies: number;
  lost: number;
  /** From the first send to the last response, ms. */
  elapsedMs: number;
  /** responses per second over elapsedMs. */
  handshakesPerSecond: number;
  /** Time spent precomputing the initiations, ms (not part of the measurement). */
  precomputeMs: number;
}

/** An initiation unanswered this long is counted lost. */
const LOST_AFTER_MS = 1000;

function precompute(config: GeneratorConfig): { messages: Uint8Array[]; publicKeys: string[] } {
  const responder = new Uint8Array(Buffer.from(config.responderPublicKey, 'base64'));
  let tick = Date.now();
  const clock: Clock = { now: () => tick };
  let nextIndex = 1;
  const indices: IndexAllocator<Handshake<number>> = { insert: () => nextIndex++, remove: () => true };
  const handshakes: Handshake<number>[] = [];
  const publicKeys: string[] = [];
  for (let p = 0; p < config.peers; p++) {
    const keys = generateKeyPair();
    handshakes.push(new Handshake(p, keys, responder));
    publicKeys.push(Buffer.from(keys.publicKey).toString('base64'));
  }
  const macs = new CookieGenerator(responder, clock);
  const messages: Uint8Array[] = [];
  for (let i = 0; i < config.count; i++) {
    tick += 1;
    const msg = createInitiation(handshakes[i % config.peers]!, indices, clock);
    if (!msg) throw new Error('createInitiation refused a freshly generated peer key');
    macs.addMacs(msg);
    messages.push(msg);
  }
  return { messages, publicKeys };
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2]!) as GeneratorConfig;
  const t0 = performance.now();
  const { messages, publicKeys } = precompute(config);
  const precomputeMs = performance.now() - t0;
  process.stdout.write(JSON.stringify({ publicKeys }) + '\n');
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => lines.once('line', () => resolve()));
  lines.close();

  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, resolve));
  const outstanding = new Map<number, number>();
  let next = 0;
  let responses = 0;
  let cookieReplies = 0;
  let lost = 0;
  let firstSend = 0;
  let lastAnswer = 0;
  let finish!: () => void;
  const done = new Promise<void>((r) => {
    finish = r;
  });

  const refill = (): void => {
    while (outstanding.size < config.window && next < messages.length) {
      const msg = messages[next++]!;
      const now = performance.now();
      if (firstSend === 0) firstSend = now;
      outstanding.set(readU32(msg, Initiation.sender), now);
      socket.send(msg, config.port, config.target);
    }
    if (outstanding.size === 0 && next >= messages.length) finish();
  };
  socket.on('message', (buf) => {
    let receiver: number;
    if (buf.length === RESPONSE_SIZE && buf[0] === MESSAGE_RESPONSE) receiver = readU32(buf, Response.receiver);
    else if (buf.length === COOKIE_REPLY_SIZE && buf[0] === MESSAGE_COOKIE_REPLY) receiver = readU32(buf, CookieReply.receiver);
    else return;
    if (!outstanding.delete(receiver)) return;
    if (buf[0] === MESSAGE_RESPONSE) {
      responses++;
      lastAnswer = performance.now();
    } else cookieReplies++;
    refill();
  });
  const expiry = setInterval(() => {
    const now = performance.now();
    for (const [index, sentAt] of outstanding)
      if (now - sentAt > LOST_AFTER_MS) {
        outstanding.delete(index);
        lost++;
      }
    refill();
  }, 50);
  const deadline = setTimeout(finish, config.timeoutMs);
  refill();
  await done;
  clearInterval(expiry);
  clearTimeout(deadline);
  socket.close();
  const elapsedMs = lastAnswer > firstSend ? lastAnswer - firstSend : NaN;
  const result: GeneratorResult = {
    sent: next,
    responses,
    cookieReplies,
    lost: lost + outstanding.size,
    elapsedMs,
    handshakesPerSecond: responses / (elapsedMs / 1000),
    precomputeMs,
  };
  process.stdout.write(JSON.stringify({ result }) + '\n');
}

main().catch((err: Error) => {
  process.stderr.write(`handshake-gen: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
