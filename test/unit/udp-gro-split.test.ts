/**
 * The arithmetic that cuts a UDP GRO message into datagrams
 * (native/udp_gro.h GroSegments, which rxBurst uses): every segment the
 * cmsg's size, the last shorter or equal; sizes that cannot be are -1 (the
 * port drops the message and counts rx_gro_invalid).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../../src/native/binding.js';

const CAP = 2048 - 128;

test('segments of the cmsg size; the last one short or full', () => {
  const n = native();
  assert.equal(n.udpGroSegments(1400 * 40 + 333, 1400, CAP), 41, 'last one short');
  assert.equal(n.udpGroSegments(1400 * 40, 1400, CAP), 40, 'exact multiple: the last one full');
  assert.equal(n.udpGroSegments(1, 1400, CAP), 1);
  assert.equal(n.udpGroSegments(1401, 1400, CAP), 2, 'one byte over: a 1-byte last datagram');
  assert.equal(n.udpGroSegments(65507, 1, 65536), 65507);
  assert.equal(n.udpGroSegments(CAP * 3, CAP, CAP), 3, 'a segment exactly a frame');
});

test('impossible sizes: -1 (a counted drop, never a frame overrun)', () => {
  const n = native();
  assert.equal(n.udpGroSegments(1000, 0, CAP), -1, 'segment size 0');
  assert.equal(n.udpGroSegments(1000, -5, CAP), -1, 'negative segment size');
  assert.equal(n.udpGroSegments(4000, CAP + 1, CAP), -1, 'a segment larger than a frame');
  assert.equal(n.udpGroSegments(0, 1400, CAP), -1, 'no bytes');
});
