/**
 * Handshake rate limiter and load detection (whitepaper §5.3): token bucket
 * of 20/s with bursts of 5 per source, IPv4 by /32 and IPv6 by /64, garbage
 * collection that never changes an answer, a bounded table, and "under load"
 * lasting one second after the backlog last crossed capacity/8.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/protocol/clock.js';
import { HandshakeRateLimiter } from '../../src/protocol/ratelimiter.js';
import { HandshakeLoadDetector } from '../../src/protocol/load-detector.js';
import { parseIP } from '../../src/packet/ip-prefix.js';

function allow(limiter: HandshakeRateLimiter, ip: string): boolean {
  const a = parseIP(ip)!;
  return limiter.allow(a.length === 4 ? 4 : 6, a);
}

test('ratelimiter: a burst of 5, then one message per 50 ms', () => {
  const clock = new FakeClock();
  const limiter = new HandshakeRateLimiter(clock);
  const first = Array.from({ length: 7 }, () => allow(limiter, '192.0.2.1'));
  assert.deepEqual(first, [true, true, true, true, true, false, false]);
  clock.advance(49);
  assert.equal(allow(limiter, '192.0.2.1'), false);
  clock.advance(1);
  assert.equal(allow(limiter, '192.0.2.1'), true);
  assert.equal(allow(limiter, '192.0.2.1'), false);
});

test('ratelimiter: a source offering 100/s for 10 s gets 20/s plus the burst', () => {
  const clock = new FakeClock();
  const limiter = new HandshakeRateLimiter(clock);
  let allowed = 0;
  for (let ms = 0; ms < 10_000; ms += 10) {
    if (allow(limiter, '198.51.100.7')) allowed++;
    clock.advance(10);
  }
  assert.equal(allowed, 5 + 199, `allowed ${allowed}`); // the burst, then one per 50 ms after the first 50 ms
});

test('ratelimiter: IPv4 sources by /32, IPv6 sources by /64', () => {
  const clock = new FakeClock();
  const limiter = new HandshakeRateLimiter(clock);
  for (let i = 0; i < 5; i++) assert.ok(allow(limiter, '2001:db8:1:2::1'));
  assert.equal(allow(limiter, '2001:db8:1:2:ffff::9'), false, 'same /64 shares the bucket');
  assert.equal(allow(limiter, '2001:db8:1:3::1'), true, 'another /64 has its own');
  for (let i = 0; i < 5; i++) assert.ok(allow(limiter, '10.0.0.1'));
  assert.equal(allow(limiter, '10.0.0.1'), false);
  assert.equal(allow(limiter, '10.0.0.2'), true, 'another /32 has its own');
  // An IPv4-mapped IPv6 address is that IPv4 source.
  assert.equal(allow(limiter, '::ffff:10.0.0.1'), false);
  assert.equal(allow(limiter, '::ffff:10.0.0.3'), true);
  // The address may sit at an offset inside a record or packet.
  const record = new Uint8Array(40);
  record.set(parseIP('10.0.0.1')!, 12);
  assert.equal(limiter.allow(4, record, 12), false);
  // An address past the end is refused, not thrown.
  assert.equal(limiter.allow(6, record, 30), false);
});

test('ratelimiter: idle entries are collected after a second, which changes no answer', () => {
  const clock = new FakeClock();
  const limiter = new HandshakeRateLimiter(clock);
  for (let i = 0; i < 100; i++) allow(limiter, `10.1.0.${i}`);
  assert.equal(limiter.size, 100);
  clock.advance(1000);
  allow(limiter, '10.9.9.9');
  assert.equal(limiter.size, 1, 'the 100 idle sources were forgotten');
  // A forgotten source behaves exactly as a fully refilled one: a burst of 5.
  const again = Array.from({ length: 6 }, () => allow(limiter, '10.1.0.1'));
  assert.deepEqual(again, [true, true, true, true, true, false]);
});

test('ratelimiter: a full table refuses new sources but keeps serving known ones', () => {
  const clock = new FakeClock();
  const limiter = new HandshakeRateLimiter(clock, { maxEntries: 3 });
  assert.ok(allow(limiter, '10.0.0.1') && allow(limiter, '10.0.0.2') && allow(limiter, '10.0.0.3'));
  assert.equal(allow(limiter, '10.0.0.4'), false);
  assert.equal(allow(limiter, '10.0.0.1'), true);
  clock.advance(1000);
  assert.equal(allow(limiter, '10.0.0.4'), true, 'room again once idle entries are collected');
});

test('load detector: under load from capacity/8 queued, and for one second after', () => {
  const clock = new FakeClock();
  const load = new HandshakeLoadDetector(clock, 1024);
  assert.equal(load.threshold, 128);
  assert.equal(load.underLoad(0), false);
  assert.equal(load.underLoad(127), false);
  assert.equal(load.underLoad(128), true);
  clock.advance(999);
  assert.equal(load.underLoad(0), true, 'still under load 999 ms later');
  clock.advance(1);
  assert.equal(load.underLoad(0), false, 'no longer 1 s after the backlog last crossed');
  assert.equal(load.underLoad(500), true);
  clock.advance(600);
  assert.equal(load.underLoad(200), true, 'crossing again extends it');
  clock.advance(900);
  assert.equal(load.underLoad(3), true);
  clock.advance(100);
  assert.equal(load.underLoad(3), false);
  assert.throws(() => new HandshakeLoadDetector(clock, 4), RangeError);
});
