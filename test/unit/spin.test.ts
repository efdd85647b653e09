/**
 * The spin budget (src/datapath/spin.ts): a worker spins only after a wait
 * that found a packet fd ready; never after a timeout or a bare control wake
 * (an idle daemon never spins). XDPWG_SPIN_US parsing: integers 0..10000.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SPIN_US, SPIN_US_MAX, parseSpinUs, spinAfter } from '../../src/datapath/spin.js';

const WAKE = 1 << 30;

test('spins after a wait that found a packet fd ready, with the configured budget', () => {
  assert.equal(spinAfter(1, WAKE, 80), 80, 'socket');
  assert.equal(spinAfter(2, WAKE, 80), 80, 'TUN queue');
  assert.equal(spinAfter(4 << 7, WAKE, 80), 80, 'the last AF_XDP port');
  assert.equal(spinAfter(2 | WAKE, WAKE, 80), 80, 'a packet and a control message');
});

test('never spins after a timeout or a control wake alone: idle costs nothing', () => {
  assert.equal(spinAfter(0, WAKE, 80), 0);
  assert.equal(spinAfter(WAKE, WAKE, 80), 0);
});

test('a budget of 0 (the default) never spins', () => {
  assert.equal(DEFAULT_SPIN_US, 0);
  assert.equal(spinAfter(3, WAKE, DEFAULT_SPIN_US), 0);
});

test('XDPWG_SPIN_US: integers 0..10000, anything else refused with the variable named', () => {
  assert.equal(parseSpinUs('0'), 0);
  assert.equal(parseSpinUs('150'), 150);
  assert.equal(parseSpinUs(String(SPIN_US_MAX)), SPIN_US_MAX);
  for (const bad of ['', '-1', '10001', '2.5', '1e3', 'fast', '0x10'])
    assert.throws(() => parseSpinUs(bad), /XDPWG_SPIN_US=.*expected an integer 0\.\.10000/, bad);
});
