/**
 * MAC1/MAC2 and the cookie path (whitepaper §5.3, §5.4.4, §5.4.7) between two
 * devices with fake clocks: under load an initiation without MAC2 gets a
 * cookie reply, the initiator takes it, the retry with MAC2 validates and the
 * handshake completes; forged, replayed and misdirected replies are ignored;
 * cookies and secrets expire after 120 s.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { generateKeyPair, xaeadSeal, mac, hash, type X25519KeyPair } from '../../src/crypto/index.js';
import { FakeClock } from '../../src/protocol/clock.js';
import { IndexTable } from '../../src/protocol/index-table.js';
import { Handshake, createInitiation, consumeResponse } from '../../src/protocol/noise.js';
import { consumeInitiation, createResponse } from '../helpers/noise-reference-responder.js';
import {
  CookieChecker,
  CookieGenerator,
  sourceBytes,
  needsCookieReply,
  mac1Key,
  cookieKey,
  COOKIE_SECRET_MAX_AGE_MS,
} from '../../src/protocol/cookie.js';
import { Initiation, Response, CookieReply, COOKIE_REPLY_SIZE, MESSAGE_COOKIE_REPLY, readU32, writeType } from '../../src/protocol/wire.js';

interface Side {
  key: X25519KeyPair;
  clock: FakeClock;
  indices: IndexTable<Handshake<string>>;
  checker: CookieChecker;
}

function side(): Side {
  const key = generateKeyPair();
  const clock = new FakeClock();
  return { key, clock, indices: new IndexTable(), checker: new CookieChecker(key.publicKey, clock) };
}

function setup() {
  const a = side();
  const b = side();
  const aToB = new Handshake('b', a.key, b.key.publicKey);
  const bToA = new Handshake('a', b.key, a.key.publicKey);
  const aGen = new CookieGenerator(b.key.publicKey, a.clock); // a's MACs on messages to b
  const bGen = new CookieGenerator(a.key.publicKey, b.clock);
  const aSource = sourceBytes('192.0.2.1', 51820);
  const initiation = (): Uint8Array => {
    a.clock.advance(1000);
    const m = createInitiation(aToB, a.indices, a.clock)!;
    assert.ok(aGen.addMacs(m));
    return m;
  };
  return { a, b, aToB, bToA, aGen, bGen, aSource, initiation };
}

test('mac1/cookie keys are HASH(label ‖ public key)', () => {
  const pub = randomBytes(32);
  assert.deepEqual(mac1Key(pub), hash(new TextEncoder().encode('mac1----'), pub));
  assert.deepEqual(cookieKey(pub), hash(new TextEncoder().encode('cookie--'), pub));
});

test('MAC1: valid from a sender who knows our key; wrong key or any changed byte is bad-mac1', () => {
  const { b, aSource, initiation } = setup();
  const m = initiation();
  assert.deepEqual(m.subarray(Initiation.mac1, Initiation.mac2), mac(mac1Key(b.key.publicKey), m.subarray(0, Initiation.mac1)));
  assert.equal(b.checker.validate(m, aSource, false), 'ok');
  for (let i = 0; i < Initiation.mac2; i++) {
    const bad = Uint8Array.from(m);
    bad[i]! ^= 1 << (i % 8);
    assert.equal(b.checker.validate(bad, aSource, false), 'bad-mac1', `byte ${i}`);
  }
  // A MAC1 made for someone else's key.
  const other = new CookieGenerator(generateKeyPair().publicKey, new FakeClock());
  const wrong = Uint8Array.from(m);
  other.addMacs(wrong);
  assert.equal(b.checker.validate(wrong, aSource, false), 'bad-mac1');
  // Not a handshake message.
  assert.equal(b.checker.validate(m.subarray(0, 100), aSource, false), 'bad-mac1');
  assert.equal(b.checker.createReply(m.subarray(0, 100), aSource), null);
});

test('cookie path: under load no MAC2 → cookie reply → retry with MAC2 validates → handshake completes', () => {
  const { a, b, aToB, aGen, bGen, aSource, initiation } = setup();
  const first = initiation();
  assert.equal(b.checker.validate(first, aSource, false), 'ok', 'not under load: MAC2 not needed');
  const verdict = b.checker.validate(first, aSource, true);
  assert.equal(verdict, 'need-cookie');
  assert.ok(needsCookieReply(verdict));

  const reply = b.checker.createReply(first, aSource)!;
  assert.equal(reply.length, COOKIE_REPLY_SIZE);
  assert.equal(readU32(reply, 0), MESSAGE_COOKIE_REPLY);
  assert.equal(readU32(reply, CookieReply.receiver), readU32(first, Initiation.sender), "addressed to the initiation's sender index");
  assert.equal(a.indices.get(readU32(reply, CookieReply.receiver)), aToB, 'the initiator finds the peer by index');
  assert.equal(aGen.hasFreshCookie(), false);
  assert.equal(aGen.consumeReply(reply), 'ok');
  assert.equal(aGen.hasFreshCookie(), true);

  const retry = initiation();
  assert.notDeepEqual(retry.subarray(Initiation.mac2), new Uint8Array(16), 'MAC2 is sent');
  assert.equal(b.checker.validate(retry, aSource, true), 'ok');
  assert.equal(b.checker.validate(retry, sourceBytes('192.0.2.1', 51821), true), 'bad-mac2', 'the cookie is bound to the source port');
  assert.equal(b.checker.validate(retry, sourceBytes('192.0.2.2', 51820), true), 'bad-mac2', 'and to the source address');

  // The handshake proceeds; the response also carries MACs, keyed to a's public key.
  const bToA = consumeInitiation(
    retry,
    b.key,
    (rs) => (Buffer.compare(rs, a.key.publicKey) === 0 ? new Handshake('a', b.key, a.key.publicKey) : undefined),
    b.clock,
  );
  assert.ok(bToA instanceof Handshake);
  const resp = createResponse(bToA, b.indices)!;
  assert.ok(bGen.addMacs(resp));
  assert.deepEqual(resp.subarray(Response.mac1, Response.mac2), mac(mac1Key(a.key.publicKey), resp.subarray(0, Response.mac1)));
  assert.equal(a.checker.validate(resp, sourceBytes('198.51.100.7', 51820), false), 'ok');
  assert.equal(
    consumeResponse(resp, (i) => a.indices.get(i)),
    aToB,
  );
});

test('forged cookie replies are ignored and do not spoil the genuine one', () => {
  const { b, aGen, aSource, initiation } = setup();
  const m = initiation();
  const genuine = b.checker.createReply(m, aSource)!;

  // Random bytes in a well-formed envelope.
  const random = randomBytes(COOKIE_REPLY_SIZE);
  writeType(random, MESSAGE_COOKIE_REPLY);
  assert.equal(aGen.consumeReply(random), 'forged-cookie-reply');
  // Encrypted under the right key but for another MAC1 (an attacker who did not see our message).
  const wrongAd = Uint8Array.from(genuine);
  wrongAd.set(
    xaeadSeal(cookieKey(b.key.publicKey), wrongAd.subarray(8, 32), randomBytes(16), randomBytes(16)),
    CookieReply.encryptedCookie,
  );
  assert.equal(aGen.consumeReply(wrongAd), 'forged-cookie-reply');
  // From a responder with another key.
  const impostor = new CookieChecker(generateKeyPair().publicKey, new FakeClock());
  assert.equal(aGen.consumeReply(impostor.createReply(m, aSource)!), 'forged-cookie-reply');
  // Tampered genuine reply.
  const tampered = Uint8Array.from(genuine);
  tampered[40]! ^= 1;
  assert.equal(aGen.consumeReply(tampered), 'forged-cookie-reply');
  assert.equal(aGen.hasFreshCookie(), false, 'nothing was accepted');
  // Wrong sizes and types.
  assert.equal(aGen.consumeReply(genuine.subarray(0, 63)), 'truncated');
  assert.equal(aGen.consumeReply(m), 'unknown-type');

  assert.equal(aGen.consumeReply(genuine), 'ok');
  assert.equal(aGen.consumeReply(genuine), 'unexpected-cookie-reply', 'one reply per MAC1');
});

test('a reply to an older message is ignored once a newer one was sent', () => {
  const { b, aGen, aSource, initiation } = setup();
  const old = initiation();
  const replyToOld = b.checker.createReply(old, aSource)!;
  initiation();
  assert.equal(aGen.consumeReply(replyToOld), 'forged-cookie-reply');
});

test('a received cookie is used for 120 s; the responder secret rotates every 120 s', () => {
  const { a, b, aGen, aSource, initiation } = setup();
  const m = initiation();
  b.clock.advance(1000);
  assert.equal(aGen.consumeReply(b.checker.createReply(m, aSource)!), 'ok');
  a.clock.advance(COOKIE_SECRET_MAX_AGE_MS - 2000); // initiation() adds 1000: cookie age 119 s
  const late = initiation();
  assert.equal(aGen.hasFreshCookie(), true);
  assert.equal(b.checker.validate(late, aSource, true), 'ok', 'secret is younger than 120 s');
  b.clock.advance(COOKIE_SECRET_MAX_AGE_MS);
  assert.equal(b.checker.validate(late, aSource, true), 'bad-mac2', 'secret rotated: the old cookie is refused');
  assert.equal(b.checker.validate(late, aSource, false), 'ok', 'MAC2 only matters under load');
  const expired = initiation(); // cookie age 120 s
  assert.equal(aGen.hasFreshCookie(), false);
  assert.deepEqual(expired.subarray(Initiation.mac2), new Uint8Array(16), 'no MAC2 with an expired cookie');
  assert.equal(b.checker.validate(expired, aSource, true), 'need-cookie');
  // A fresh cookie under the new secret works again.
  assert.equal(aGen.consumeReply(b.checker.createReply(expired, aSource)!), 'ok');
  assert.equal(b.checker.validate(initiation(), aSource, true), 'ok');
});

test('after a key change the checker uses the new MAC1 key', () => {
  const { b, aSource, initiation } = setup();
  const m = initiation();
  b.checker.setLocalPublic(generateKeyPair().publicKey);
  assert.equal(b.checker.validate(m, aSource, false), 'bad-mac1');
  b.checker.setLocalPublic(b.key.publicKey);
  assert.equal(b.checker.validate(m, aSource, false), 'ok');
});
