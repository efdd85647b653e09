/**
 * The wire format: exact sizes and offsets, a naive reference classifier
 * compared with classify(), and a seeded fuzz of every parser and every
 * function that reads hostile bytes (parsers, MAC checks, handshake
 * consumers, cookie replies): truncated, oversized and mutated input must
 * never throw, and every drop is counted under its reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair } from '../../src/crypto/index.js';
import { FakeClock } from '../../src/protocol/clock.js';
import { IndexTable } from '../../src/protocol/index-table.js';
import { Handshake, createInitiation, consumeResponse } from '../../src/protocol/noise.js';
import { consumeInitiation, createResponse } from '../helpers/noise-reference-responder.js';
import { CookieChecker, CookieGenerator, sourceBytes } from '../../src/protocol/cookie.js';
import { parseMessage, parseInitiation, parseResponse, parseCookieReply, parseData, readU64, writeU64 } from '../helpers/wire-parsers.js';
import {
  classify,
  paddedLength,
  readU32,
  writeU32,
  Initiation,
  Response,
  CookieReply,
  Data,
  INITIATION_SIZE,
  RESPONSE_SIZE,
  COOKIE_REPLY_SIZE,
  DATA_MIN_SIZE,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_DATA,
} from '../../src/protocol/wire.js';
import type { DropReason } from '../../src/packet/drop-reasons.js';

/** mulberry32: a small seeded PRNG so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The reference: the whitepaper's table, written as plainly as possible. */
function naiveClassify(buf: Uint8Array): number | DropReason {
  if (buf.length < 4) return 'short';
  const type = buf[0]! + buf[1]! * 256 + buf[2]! * 65536 + buf[3]! * 16777216;
  const sizes: Record<number, number> = { 1: 148, 2: 92, 3: 64 };
  if (type === 4) return buf.length >= 32 ? 4 : 'short';
  const size = sizes[type];
  if (size === undefined) return 'unknown-type';
  if (buf.length === size) return type;
  return buf.length < size ? 'truncated' : 'oversized';
}

test('message layout constants: sizes and offsets add up (whitepaper §5.4)', () => {
  assert.equal(Initiation.ephemeral + 32, Initiation.encryptedStatic);
  assert.equal(Initiation.encryptedStatic + 48, Initiation.encryptedTimestamp);
  assert.equal(Initiation.encryptedTimestamp + 28, Initiation.mac1);
  assert.equal(Initiation.mac2 + 16, INITIATION_SIZE);
  assert.equal(Response.ephemeral + 32, Response.encryptedNothing);
  assert.equal(Response.encryptedNothing + 16, Response.mac1);
  assert.equal(Response.mac2 + 16, RESPONSE_SIZE);
  assert.equal(CookieReply.nonce + 24, CookieReply.encryptedCookie);
  assert.equal(CookieReply.encryptedCookie + 32, COOKIE_REPLY_SIZE);
  assert.equal(Data.payload + 16, DATA_MIN_SIZE);
  assert.deepEqual([INITIATION_SIZE, RESPONSE_SIZE, COOKIE_REPLY_SIZE, DATA_MIN_SIZE], [148, 92, 64, 32]);
});

test('classify: every length 0..200 of every type 0..6, and reserved bytes', () => {
  for (let type = 0; type <= 6; type++) {
    for (let len = 0; len <= 200; len++) {
      const buf = new Uint8Array(len);
      if (len >= 4) writeU32(buf, 0, type);
      assert.equal(classify(buf), naiveClassify(buf), `type ${type} length ${len}`);
    }
  }
  for (const reserved of [1, 2, 3]) {
    const buf = new Uint8Array(INITIATION_SIZE);
    buf[0] = MESSAGE_INITIATION;
    buf[reserved] = 1;
    assert.equal(classify(buf), 'unknown-type', `reserved byte ${reserved}`);
  }
  const big = new Uint8Array(100);
  writeU32(big, 0, MESSAGE_INITIATION);
  assert.equal(classify(big, 148), MESSAGE_INITIATION, 'an explicit length (a frame in a larger buffer)');
});

test('little-endian fields and the data counter', () => {
  const buf = new Uint8Array(DATA_MIN_SIZE);
  writeU32(buf, 0, MESSAGE_DATA);
  writeU32(buf, Data.receiver, 0xdeadbeef);
  writeU64(buf, Data.counter, 0x0123456789abcdefn);
  assert.deepEqual([...buf.subarray(4, 16)], [0xef, 0xbe, 0xad, 0xde, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01]);
  const d = parseData(buf);
  assert.ok(typeof d !== 'string');
  assert.equal(d.receiver, 0xdeadbeef);
  assert.equal(d.counter, 0x0123456789abcdefn);
  assert.equal(readU64(buf, Data.counter), 0x0123456789abcdefn);
  assert.equal(d.payload.length, 16);
  assert.equal(readU32(buf, Data.receiver), 0xdeadbeef);
});

test('padding: to a multiple of 16, never past the MTU', () => {
  assert.equal(paddedLength(0, 1420), 0);
  assert.equal(paddedLength(1, 1420), 16);
  assert.equal(paddedLength(16, 1420), 16);
  assert.equal(paddedLength(17, 1420), 32);
  assert.equal(paddedLength(1419, 1420), 1420);
  assert.equal(paddedLength(1420, 1420), 1420);
  assert.equal(paddedLength(1415, 1418), 1418);
});

test('parsers return the fields of real messages and reject every other length', () => {
  const clock = new FakeClock();
  const a = generateKeyPair();
  const b = generateKeyPair();
  const indices = new IndexTable<Handshake<null>>();
  const aToB = new Handshake(null, a, b.publicKey);
  const init = createInitiation(aToB, indices, clock)!;
  const p = parseInitiation(init);
  assert.ok(typeof p !== 'string');
  assert.equal(p.sender, aToB.localIndex);
  assert.equal(p.ephemeral.length, 32);
  assert.equal(p.encryptedStatic.length, 48);
  assert.equal(p.encryptedTimestamp.length, 28);
  assert.equal(p.mac1.length, 16);
  assert.equal(p.mac2.length, 16);
  const parsers: [(b: Uint8Array) => unknown, number][] = [
    [parseInitiation, MESSAGE_INITIATION],
    [parseResponse, MESSAGE_RESPONSE],
    [parseCookieReply, MESSAGE_COOKIE_REPLY],
  ];
  for (const [parse, type] of parsers) {
    const size = { 1: INITIATION_SIZE, 2: RESPONSE_SIZE, 3: COOKIE_REPLY_SIZE }[type]!;
    for (let len = 0; len < 300; len++) {
      const buf = new Uint8Array(len);
      if (len >= 4) writeU32(buf, 0, type);
      const r = parse(buf);
      if (len === size) assert.equal(typeof r, 'object');
      else assert.equal(r, len < 4 ? 'short' : len < size ? 'truncated' : 'oversized', `type ${type} length ${len}`);
    }
  }
  assert.equal(parseResponse(init), 'unknown-type');
  assert.equal(parseMessage(init) !== null && typeof parseMessage(init), 'object');
});

test('fuzz: 20,000 seeded truncated / oversized / mutated messages never throw; drops are counted by reason', () => {
  const rand = prng(0x5eed_0003);
  const int = (n: number): number => Math.floor(rand() * n);
  const clockA = new FakeClock();
  const clockB = new FakeClock();
  const a = generateKeyPair();
  const b = generateKeyPair();
  const aIdx = new IndexTable<Handshake<string>>();
  const bIdx = new IndexTable<Handshake<string>>();
  const aToB = new Handshake('b', a, b.publicKey);
  const bToA = new Handshake('a', b, a.publicKey);
  const aGen = new CookieGenerator(b.publicKey, clockA);
  const bGen = new CookieGenerator(a.publicKey, clockB);
  const bChecker = new CookieChecker(b.publicKey, clockB);
  const aChecker = new CookieChecker(a.publicKey, clockA);
  const src = sourceBytes('203.0.113.9', 4500);

  // Genuine specimens of each type, to mutate.
  const init = createInitiation(aToB, aIdx, clockA)!;
  aGen.addMacs(init);
  assert.equal(
    consumeInitiation(init, b, () => bToA, clockB),
    bToA,
  );
  const resp = createResponse(bToA, bIdx)!;
  bGen.addMacs(resp);
  const cookie = bChecker.createReply(init, src)!;
  const data = new Uint8Array(DATA_MIN_SIZE + 64);
  writeU32(data, 0, MESSAGE_DATA);
  const specimens = [init, resp, cookie, data];

  // Verdicts by reason, as a daemon would count them.
  const drops = new Map<DropReason, number>();
  const count = (r: DropReason): void => {
    drops.set(r, (drops.get(r) ?? 0) + 1);
  };
  const outcomes = new Map<string, number>();
  const note = (o: string): void => {
    outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
  };
  const CASES = 20_000;
  for (let i = 0; i < CASES; i++) {
    const base = specimens[int(specimens.length)]!;
    let buf: Uint8Array;
    switch (int(5)) {
      case 0:
        buf = base.slice(0, int(base.length));
        break; // truncated
      case 1:
        buf = new Uint8Array(base.length + 1 + int(64));
        buf.set(base);
        break; // oversized
      case 2: {
        buf = Uint8Array.from(base);
        const n = 1 + int(8);
        for (let k = 0; k < n; k++) buf[int(buf.length)] = int(256);
        break;
      }
      case 3: {
        buf = Uint8Array.from(base);
        buf[int(4)] = int(8);
        break;
      } // type / reserved bytes
      default: {
        buf = new Uint8Array(int(200));
        for (let k = 0; k < buf.length; k++) buf[k] = int(256);
        if (buf.length >= 4 && rand() < 0.7) writeU32(buf, 0, 1 + int(4));
      }
    }
    const expected = naiveClassify(buf);
    try {
      const t = classify(buf);
      assert.equal(t, expected);
      const parsed = parseMessage(buf);
      assert.equal(typeof parsed === 'string' ? parsed : parsed.type, expected);
      if (typeof t === 'string') {
        count(t);
        note(t);
        continue;
      }
      // The receive pipeline as the engine will run it (MAC check first).
      let outcome: string;
      if (t === MESSAGE_INITIATION) {
        const v = bChecker.validate(buf, src, rand() < 0.5);
        outcome =
          v === 'ok' ? String(typeof consumeInitiation(buf, b, () => bToA, clockB) === 'string' ? 'consume-refused' : 'accepted') : v;
      } else if (t === MESSAGE_RESPONSE) {
        const v = aChecker.validate(buf, src, false);
        outcome = v === 'ok' ? 'mac-ok' : v;
      } else if (t === MESSAGE_COOKIE_REPLY) {
        outcome = aGen.consumeReply(buf);
      } else {
        outcome = 'data';
      }
      // The consumers must also survive hostile bytes whose MACs an attacker got right.
      if (t === MESSAGE_INITIATION) {
        const r = consumeInitiation(buf, b, (rs) => (Buffer.compare(rs, a.publicKey) === 0 ? bToA : undefined), clockB);
        if (typeof r === 'string') count(r);
      }
      if (t === MESSAGE_RESPONSE) {
        const r = consumeResponse(buf, (idx) => aIdx.get(idx));
        if (typeof r === 'string') count(r);
      }
      if (outcome !== 'ok' && outcome !== 'data' && outcome !== 'mac-ok' && outcome !== 'accepted') {
        if (outcome !== 'consume-refused') count(outcome as DropReason);
      }
      note(outcome);
    } catch (err) {
      assert.fail(`case ${i} threw: ${(err as Error).stack}\ninput ${Buffer.from(buf).toString('hex')}`);
    }
  }
  let total = 0;
  for (const n of outcomes.values()) total += n;
  assert.equal(total, CASES);
  const snap = JSON.stringify(Object.fromEntries(drops));
  // Every length-based reason occurred and was counted exactly as the reference predicted.
  assert.equal(drops.get('short'), outcomes.get('short'));
  assert.equal(drops.get('truncated'), outcomes.get('truncated'));
  assert.equal(drops.get('oversized'), outcomes.get('oversized'));
  assert.equal(drops.get('unknown-type'), outcomes.get('unknown-type'));
  for (const reason of [
    'short',
    'truncated',
    'oversized',
    'unknown-type',
    'bad-mac1',
    'forged-cookie-reply',
    'handshake-decrypt-failed',
  ] as DropReason[]) {
    assert.ok((drops.get(reason) ?? 0) > 0, `${reason} exercised: ${snap}`);
  }
  let dropped = 0;
  for (const n of drops.values()) dropped += n;
  assert.ok(dropped >= CASES * 0.8, `most random input is dropped: ${snap}`);
});
