/**
 * The workers' traffic stamps become timer events in the order the packets
 * went (src/daemon/device/traffic-events.ts): a request and its reply inside one
 * 100 ms tick must leave the timers as if each had been seen at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyTrafficStamps, type SeenStamps } from '../../src/daemon/device/traffic-events.js';
import type { PeerTraffic } from '../../src/datapath/peer-counters.js';
import { TimerHarness } from '../helpers/timer-harness.js';

function traffic(stamps: Partial<PeerTraffic>): PeerTraffic {
  return {
    rxBytes: 0,
    txBytes: 0,
    rxPackets: 0,
    txPackets: 0,
    lastDataRxMs: 0,
    lastDataTxMs: 0,
    lastAuthRxMs: 0,
    lastAnyTxMs: 0,
    ...stamps,
  };
}

function seenNothing(): SeenStamps {
  return { seenAuthRx: 0, seenDataRx: 0, seenDataTx: 0, seenAnyTx: 0 };
}

test('a data send and its reply in one tick leave no new-handshake timer armed (no spurious "silence" handshake)', () => {
  const h = new TimerHarness();
  const kp = h.session(true);
  const seen = seenNothing();
  // Within one tick: data sent at +10 ms, the peer's answer authenticated at +40 ms.
  applyTrafficStamps(seen, traffic({ lastDataTxMs: 10, lastAnyTxMs: 10, lastAuthRxMs: 40, lastDataRxMs: 40 }), h.timers, kp);
  assert.equal(h.timers.deadlineOf('newHandshake'), undefined, 'the reply disarmed it after the send armed it');
  assert.notEqual(h.timers.deadlineOf('passiveKeepalive'), undefined, 'data received and nothing sent since: keepalive due');
  h.runUntil(60_000);
  assert.equal(h.of('initiation').length, 0, 'no handshake for silence after a quiet period');
});

test('data received and answered in one tick leave the passive keepalive disarmed and the new-handshake timer armed', () => {
  const h = new TimerHarness();
  const kp = h.session(true);
  const seen = seenNothing();
  applyTrafficStamps(seen, traffic({ lastAuthRxMs: 10, lastDataRxMs: 10, lastDataTxMs: 40, lastAnyTxMs: 40 }), h.timers, kp);
  assert.equal(h.timers.deadlineOf('passiveKeepalive'), undefined, 'our answer went after the data');
  assert.notEqual(h.timers.deadlineOf('newHandshake'), undefined, 'we sent data and heard nothing since');
});

test('stamps are applied once: the same stamps again change nothing', () => {
  const h = new TimerHarness();
  const kp = h.session(true);
  const seen = seenNothing();
  const t = traffic({ lastDataTxMs: 10, lastAnyTxMs: 10 });
  applyTrafficStamps(seen, t, h.timers, kp);
  const armed = h.timers.deadlineOf('newHandshake');
  assert.notEqual(armed, undefined);
  h.timers.anyAuthenticatedPacketReceived(); // e.g. a handshake message the main thread saw itself
  applyTrafficStamps(seen, t, h.timers, kp);
  assert.equal(h.timers.deadlineOf('newHandshake'), undefined, 'an old stamp does not re-arm');
  assert.deepEqual(seen, { seenAuthRx: 0, seenDataRx: 0, seenDataTx: 10, seenAnyTx: 10 });
});

test('on equal stamps sends go before receives', () => {
  const h = new TimerHarness();
  const kp = h.session(true);
  applyTrafficStamps(seenNothing(), traffic({ lastDataTxMs: 25, lastAnyTxMs: 25, lastAuthRxMs: 25, lastDataRxMs: 25 }), h.timers, kp);
  assert.equal(h.timers.deadlineOf('newHandshake'), undefined);
});
