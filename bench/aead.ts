/**
 * Burst AEAD benchmark: ChaCha20-Poly1305 seal and open, in place, at 64 B and
 * 1420 B packets and bursts of 1, 32, 64 and 256, for the native burst
 * backend against node:crypto per packet and @noble/ciphers per packet, run in
 * the same process and printed side by side with ratios.
 *
 *   npm run build:native && npm run build:ts && node dist/bench/aead.js [--ms 150] [--reps 5] [--json]
 *
 * Every case runs --reps times, the backends interleaved, and the fastest run
 * is printed: on a shared 2-core machine the minimum is the figure least
 * disturbed by other processes (the median is in the --json output).
 * Open needs sealed packets every round: each round first restores the burst
 * from a sealed copy (one memcpy); that copy is timed on its own and
 * subtracted, and its share is printed so the correction stays visible.
 */
import { performance } from 'node:perf_hooks';
import {
  nativeAeadBurst,
  nobleAeadBurst,
  nodeCryptoAeadBurst,
  AEAD_BURST_TAG_LENGTH,
  type AeadBurstBackend,
} from '../src/crypto/aead-burst.js';

const SIZES = [64, 1420];
const BURSTS = [1, 32, 64, 256];
const KEYS = 8;

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) || fallback : fallback;
};
const msPerCase = option('--ms', 150);
const reps = option('--reps', 5);
const asJson = args.includes('--json');

interface Case {
  size: number;
  burst: number;
  mixedKeys: boolean;
}
interface Figure {
  pps: number;
  gbps: number;
}

/** Lays out `burst` packets of `size` bytes, each in its own 2048-byte frame as in a UMEM. */
function layout(c: Case) {
  const frame = 2048;
  const bytes = new Uint8Array(frame * c.burst);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131) & 0xff;
  const desc = new Uint32Array(2 * c.burst);
  const keyIndex = new Uint16Array(c.burst);
  const counters = new Uint32Array(2 * c.burst);
  for (let i = 0; i < c.burst; i++) {
    desc[2 * i] = i * frame + 64; // after headroom, as the data path lays it out
    desc[2 * i + 1] = c.size;
    keyIndex[i] = c.mixedKeys ? i % KEYS : 0;
    counters[2 * i] = i + 1;
  }
  const keys = new Uint8Array(32 * KEYS).map((_, i) => (i * 29 + 7) & 0xff);
  return { bytes, desc, keyIndex, counters, keys, results: new Uint8Array(c.burst) };
}

/** Runs fn repeatedly for about msPerCase; returns seconds per call. */
function timeIt(fn: () => void): number {
  for (let i = 0; i < 3; i++) fn(); // warm-up (JIT, OpenSSL context, caches)
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < msPerCase) {
    for (let i = 0; i < 8; i++) fn();
    calls += 8;
    elapsed = performance.now() - start;
  }
  return elapsed / 1000 / calls;
}

function measure(backend: AeadBurstBackend, c: Case, op: 'seal' | 'open'): Figure {
  const l = layout(c);
  const seal = () => backend.sealBurst(l.bytes, l.desc, c.burst, l.keys, l.keyIndex, l.counters, l.results);
  let perCall: number;
  if (op === 'seal') {
    perCall = timeIt(seal); // re-sealing ciphertext costs exactly what sealing plaintext does
  } else {
    seal();
    const sealed = l.bytes.slice();
    const restore = () => l.bytes.set(sealed);
    const copyOnly = timeIt(restore);
    perCall =
      timeIt(() => {
        restore();
        if (backend.openBurst(l.bytes, l.desc, c.burst, l.keys, l.keyIndex, l.counters, l.results) !== c.burst)
          throw new Error(`${backend.name}: open failed in benchmark`);
      }) - copyOnly;
  }
  const pps = c.burst / perCall;
  return { pps, gbps: (pps * c.size * 8) / 1e9 };
}

const backends = [nativeAeadBurst(), nodeCryptoAeadBurst, nobleAeadBurst];
const cases: Case[] = [];
for (const size of SIZES) for (const burst of BURSTS) cases.push({ size, burst, mixedKeys: false });
// A burst of many peers: every packet's key differs from the previous one's.
cases.push({ size: 64, burst: 64, mixedKeys: true }, { size: 1420, burst: 64, mixedKeys: true });

const rows: Array<Case & { op: string; figures: Record<string, Figure>; median: Record<string, Figure> }> = [];
for (const op of ['seal', 'open'] as const) {
  for (const c of cases) {
    const runs: Record<string, Figure[]> = {};
    for (let r = 0; r < reps; r++) {
      for (const b of backends) (runs[b.name] ??= []).push(measure(b, c, op));
    }
    const figures: Record<string, Figure> = {};
    const median: Record<string, Figure> = {};
    for (const [name, list] of Object.entries(runs)) {
      const sorted = [...list].sort((x, y) => y.pps - x.pps);
      figures[name] = sorted[0]!;
      median[name] = sorted[Math.floor(sorted.length / 2)]!;
    }
    rows.push({ ...c, op, figures, median });
  }
}

if (asJson) {
  console.log(
    JSON.stringify({ command: `node dist/bench/aead.js ${args.join(' ')}`.trim(), tagBytes: AEAD_BURST_TAG_LENGTH, rows }, null, 2),
  );
} else {
  const fmt = (f: Figure) => `${(f.pps / 1e6).toFixed(3).padStart(7)} Mpps ${f.gbps.toFixed(2).padStart(6)} Gb/s`;
  console.log(`# ChaCha20-Poly1305 in place; best of ${reps} runs of ${msPerCase} ms per case; Gbit/s counts plaintext bytes`);
  console.log(`# command: node dist/bench/aead.js ${args.join(' ')}`.trimEnd());
  console.log(
    `${'op'.padEnd(5)}${'size'.padStart(6)}${'burst'.padStart(6)} ${'keys'.padEnd(6)}| ${'native burst'.padEnd(25)}| ${'node:crypto/pkt'.padEnd(25)}| ${'noble/pkt'.padEnd(25)}| native÷node native÷noble`,
  );
  for (const r of rows) {
    const nat = r.figures['native']!;
    const node = r.figures['node:crypto']!;
    const noble = r.figures['@noble/ciphers']!;
    console.log(
      `${r.op.padEnd(5)}${String(r.size).padStart(6)}${String(r.burst).padStart(6)} ${(r.mixedKeys ? 'mixed' : 'one').padEnd(6)}| ${fmt(nat)} | ${fmt(node)} | ${fmt(noble)} | ${(nat.pps / node.pps).toFixed(1).padStart(9)}× ${(nat.pps / noble.pps).toFixed(1).padStart(10)}×`,
    );
  }
}
