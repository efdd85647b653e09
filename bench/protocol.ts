/**
 * Protocol benchmark, one core: WireGuard handshakes per second (initiator:
 * create initiation + consume response + derive keys; responder: check MACs,
 * consume initiation, create response, derive keys), the primitives they
 * spend their time in, and ChaCha20-Poly1305 seal/open per packet at 64 B
 * and 1420 B for node:crypto vs @noble/ciphers (plus the native burst backend
 * with a burst of one, when the addon is built), side by side.
 *
 *   npm run build:ts && node dist/bench/protocol.js [--ms 1000] [--json]
 *
 * The batched data-path AEAD is benchmarked in bench/aead.ts.
 */
import { performance } from 'node:perf_hooks';
import nacl from 'tweetnacl';
import {
  generateKeyPair,
  keyPairFromPrivate,
  nodeX25519,
  sharedSecret,
  hash,
  kdf3,
  nodeAead,
  nobleAead,
  counterNonce,
  type AeadBackend,
} from '../src/crypto/index.js';
import { FakeClock } from '../src/protocol/clock.js';
import { IndexTable } from '../src/protocol/index-table.js';
import { Handshake, createInitiation, consumeResponse, beginSession } from '../src/protocol/noise.js';
import { consumeInitiation, createResponse } from '../test/helpers/noise-reference-responder.js';
import { CookieChecker, CookieGenerator, sourceBytes } from '../src/protocol/cookie.js';
import { nativeAeadBurst, type AeadBurstBackend } from '../src/crypto/aead-burst.js';

const args = process.argv.slice(2);
const msPerCase = Number(args[args.indexOf('--ms') + 1] ?? 1000) || 1000;
const asJson = args.includes('--json');
const command = `node dist/bench/protocol.js ${args.join(' ')}`.trim();

/** Runs fn for about msPerCase (after a warm-up); returns calls per second. */
function rate(fn: () => void, ms = msPerCase): number {
  for (let i = 0; i < 20; i++) fn();
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 16; i++) fn();
    calls += 16;
    elapsed = performance.now() - start;
  }
  return calls / (elapsed / 1000);
}

// ---------------------------------------------------------------- handshakes

function benchHandshakes(): { initiatorPerSec: number; responderPerSec: number; fullPerSec: number; count: number } {
  const clock = new FakeClock();
  const a = generateKeyPair();
  const b = generateKeyPair();
  const aIdx = new IndexTable<Handshake<null>>();
  const bIdx = new IndexTable<Handshake<null>>();
  const aToB = new Handshake(null, a, b.publicKey);
  const bToA = new Handshake(null, b, a.publicKey);
  const aGen = new CookieGenerator(b.publicKey, clock);
  const bGen = new CookieGenerator(a.publicKey, clock);
  const aChecker = new CookieChecker(a.publicKey, clock);
  const bChecker = new CookieChecker(b.publicKey, clock);
  const src = sourceBytes('192.0.2.1', 51820);
  let initiatorMs = 0;
  let responderMs = 0;
  let count = 0;
  const one = (): void => {
    clock.advance(25); // past the 20 ms flood guard and one TAI64N whitening step
    const t0 = performance.now();
    const init = createInitiation(aToB, aIdx, clock)!;
    aGen.addMacs(init);
    const t1 = performance.now();
    if (bChecker.validate(init, src, false) !== 'ok') throw new Error('mac1');
    const hs = consumeInitiation(init, b, () => bToA, clock);
    if (typeof hs === 'string') throw new Error(hs);
    const resp = createResponse(hs, bIdx)!;
    bGen.addMacs(resp);
    const kb = beginSession(hs, clock)!;
    bIdx.remove(kb.localIndex);
    const t2 = performance.now();
    if (aChecker.validate(resp, src, false) !== 'ok') throw new Error('mac1');
    if (consumeResponse(resp, (i) => aIdx.get(i)) !== aToB) throw new Error('response');
    const ka = beginSession(aToB, clock)!;
    aIdx.remove(ka.localIndex);
    const t3 = performance.now();
    initiatorMs += t1 - t0 + (t3 - t2);
    responderMs += t2 - t1;
    count++;
  };
  for (let i = 0; i < 20; i++) one();
  initiatorMs = responderMs = 0;
  count = 0;
  const fullPerSec = rate(one);
  return { initiatorPerSec: count / (initiatorMs / 1000), responderPerSec: count / (responderMs / 1000), fullPerSec, count };
}

// ---------------------------------------------------------------- primitives

function benchPrimitives(): Record<string, number> {
  const me = generateKeyPair();
  const them = generateKeyPair().publicKey;
  const naclPriv = me.privateKey;
  const block = new Uint8Array(64);
  const key = new Uint8Array(32).fill(3);
  const meNode = keyPairFromPrivate(naclPriv, nodeX25519);
  return {
    'X25519 DH, native (OpenSSL EVP)': rate(() => {
      sharedSecret(me, them);
    }),
    'X25519 DH, node:crypto': rate(() => {
      sharedSecret(meNode, them);
    }),
    'X25519 DH, tweetnacl': rate(
      () => {
        nacl.scalarMult(naclPriv, them);
      },
      Math.min(msPerCase, 500),
    ),
    'X25519 key generation, native': rate(() => {
      generateKeyPair();
    }),
    'X25519 key generation, node:crypto': rate(() => {
      generateKeyPair(nodeX25519);
    }),
    'BLAKE2s HASH, 64 B': rate(() => {
      hash(block);
    }),
    'KDF3 (7 HMAC-BLAKE2s)': rate(() => {
      kdf3(key, block);
    }),
  };
}

// ---------------------------------------------------------------- per-packet AEAD

interface AeadRow {
  size: number;
  op: 'seal' | 'open';
  perSec: Record<string, number>;
}

function benchAead(): AeadRow[] {
  const key = new Uint8Array(32).fill(7);
  const ad = new Uint8Array(0);
  const rows: AeadRow[] = [];
  let native: AeadBurstBackend | null = null;
  try {
    native = nativeAeadBurst();
  } catch {
    native = null; // addon not built: the column is left out and the reason printed
  }
  for (const size of [64, 1420]) {
    const plain = new Uint8Array(size).fill(1);
    for (const op of ['seal', 'open'] as const) {
      const perSec: Record<string, number> = {};
      for (const backend of [nodeAead, nobleAead] as AeadBackend[]) {
        let counter = 0;
        const sealed = backend.seal(key, counterNonce(0), plain, ad);
        perSec[backend.name] =
          op === 'seal'
            ? rate(() => {
                backend.seal(key, counterNonce(counter++), plain, ad);
              })
            : rate(() => {
                if (!backend.open(key, counterNonce(0), sealed, ad)) throw new Error('open');
              });
      }
      if (native) {
        // A burst of one packet in place, as the data path would call it per packet.
        const buf = new Uint8Array(size + 16);
        const desc = Uint32Array.of(0, size);
        const keyIndex = new Uint16Array(1);
        const counters = new Uint32Array(2);
        const results = new Uint8Array(1);
        native.sealBurst(buf, desc, 1, key, keyIndex, counters, results);
        const sealedBuf = buf.slice();
        perSec['native burst of 1'] =
          op === 'seal'
            ? rate(() => {
                native!.sealBurst(buf, desc, 1, key, keyIndex, counters, results);
              })
            : rate(() => {
                buf.set(sealedBuf);
                native!.openBurst(buf, desc, 1, key, keyIndex, counters, results);
              });
      }
      rows.push({ size, op, perSec });
    }
  }
  return rows;
}

const handshakes = benchHandshakes();
const primitives = benchPrimitives();
const aead = benchAead();

if (asJson) {
  console.log(JSON.stringify({ command, msPerCase, handshakes, primitives, aead }, null, 2));
} else {
  const k = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(1)} k`).padStart(9);
  const us = (n: number): string => `${(1e6 / n).toFixed(1).padStart(7)} µs`;
  console.log(`# ${command}   (one core, ${msPerCase} ms per case)`);
  console.log('\n## handshakes (MACs included, no cookies)');
  console.log(
    `initiator  create initiation + consume response + keys  ${k(handshakes.initiatorPerSec)}/s  ${us(handshakes.initiatorPerSec)}`,
  );
  console.log(
    `responder  consume initiation + create response + keys  ${k(handshakes.responderPerSec)}/s  ${us(handshakes.responderPerSec)}`,
  );
  console.log(`both sides in one thread (full handshake)               ${k(handshakes.fullPerSec)}/s  ${us(handshakes.fullPerSec)}`);
  console.log('\n## primitives');
  for (const [name, r] of Object.entries(primitives)) console.log(`${name.padEnd(40)} ${k(r)}/s  ${us(r)}`);
  console.log("\n## ChaCha20-Poly1305 per packet (allocating API; the data path uses bench/aead.ts's in-place bursts)");
  const names = Object.keys(aead[0]!.perSec);
  console.log(`${'op'.padEnd(5)}${'size'.padStart(6)} | ${names.map((n) => n.padEnd(26)).join('| ')}| node÷noble`);
  for (const r of aead) {
    const cells = names.map((n) => `${k(r.perSec[n]!)}/s ${((r.perSec[n]! * r.size * 8) / 1e9).toFixed(2).padStart(5)} Gb/s `.padEnd(26));
    console.log(
      `${r.op.padEnd(5)}${String(r.size).padStart(6)} | ${cells.join('| ')}| ${(r.perSec['node:crypto']! / r.perSec['@noble/ciphers']!).toFixed(1)}×`,
    );
  }
  if (!names.includes('native burst of 1')) console.log('(native burst backend not loaded: run npm run build:native for that column)');
}
