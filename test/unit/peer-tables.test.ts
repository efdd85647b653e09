/**
 * The structures that let a device hold 1,048,576 peers at a cost that
 * follows activity (issue 20): the workers' touched-slot bitmap
 * (SlotActivity), the deadline queue of every peer's timers (TimerQueue),
 * which must fire exactly what the old every-peer 100 ms tick fired, the
 * counter slab read beyond its size, and the allowed-IPs deltas the workers
 * replay (slots beyond 65,535 included).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlotActivity, PeerCounterSlab, readPeerTraffic, PEER_SLOT_WIDTH } from '../../src/datapath/peer-counters.js';
import { TimerQueue } from '../../src/daemon/device/timer-queue.js';
import { PeerRouter } from '../../src/datapath/peer-router.js';
import { AllowedIpsChanges, AllowedIpsOp } from '../../src/datapath/worker-messages.js';
import { TimerHarness } from '../helpers/timer-harness.js';
import { SeededPrng } from '../helpers/seeded-prng.js';

test('SlotActivity: every marked slot is drained once, up to slot 1,048,575', () => {
  const a = SlotActivity.create(1 << 20);
  assert.ok(a.buffer.byteLength <= 140 * 1024, `bitmap of ${a.buffer.byteLength} bytes`);
  const marked = [0, 1, 31, 32, 33, 1023, 1024, 65_536, 99_999, (1 << 20) - 1];
  for (const s of marked) a.mark(s);
  a.mark(31); // twice: still once
  const seen: number[] = [];
  a.drain((s) => seen.push(s));
  assert.deepEqual(
    seen.sort((x, y) => x - y),
    marked,
  );
  const again: number[] = [];
  a.drain((s) => again.push(s));
  assert.deepEqual(again, []);
});

test('a counter slab read beyond its size (a worker not yet grown) reads zero, not NaN', () => {
  const small = PeerCounterSlab.create(2);
  small.view[1 * PEER_SLOT_WIDTH] = 5;
  const big = PeerCounterSlab.create(8);
  big.view[5 * PEER_SLOT_WIDTH] = 7;
  assert.equal(readPeerTraffic([small, big], 1).rxBytes, 5);
  assert.equal(readPeerTraffic([small, big], 5).rxBytes, 7);
  small.clear(6); // beyond: nothing to clear, no throw
});

/**
 * One scripted life of a peer (seeded: sessions, data both ways, silences,
 * persistent keepalive changes), driven by a 100 ms tick: either the old way
 * (tick every peer's timers) or through the TimerQueue. The actions must be
 * the same, at the same times.
 */
function life(seed: number, useQueue: boolean): string {
  const queue = new TimerQueue();
  const h = new TimerHarness({ random: () => 0.25, scheduler: useQueue ? queue : undefined, persistentKeepaliveSeconds: seed % 2 ? 7 : 0 });
  const rng = new SeededPrng(seed);
  for (let t = 0; t < 600_000; t += 100) {
    h.clock.set(h.start + t);
    if (useQueue) queue.runDue(h.clock.now());
    else h.timers.tick();
    const r = rng.next();
    if (r < 0.002) h.session(rng.next() < 0.5);
    else if (r < 0.02) h.sendData();
    else if (r < 0.035) h.receiveData(rng.next() < 0.3);
    else if (r < 0.036) h.timers.persistentKeepaliveIntervalChanged(Math.floor(rng.next() * 4) * 5);
    else if (r < 0.037) h.timers.requestHandshake();
  }
  return JSON.stringify(h.events);
}

test('TimerQueue fires exactly what ticking every peer every 100 ms fired, at the same times', () => {
  for (let seed = 1; seed <= 12; seed++) {
    const old = life(seed, false);
    assert.ok(old.length > 50, 'the scenario does something');
    assert.equal(life(seed, true), old, `seed ${seed}`);
  }
});

test('TimerQueue: a disarmed deadline leaves a stale entry that fires nothing; only due peers are visited', () => {
  const queue = new TimerQueue();
  const peers = Array.from({ length: 1000 }, () => new TimerHarness({ scheduler: queue }));
  // All share one clock origin in spirit: each harness has its own FakeClock at the same start.
  const h = peers[0]!;
  h.session(true);
  h.receiveData(); // arms the passive keepalive (10 s)
  h.sendData(); // disarms it again (a packet went out)
  const before = queue.size;
  h.clock.set(h.start + 60_000);
  queue.runDue(h.clock.now());
  assert.ok(queue.size <= before, 'stale entries are consumed');
  assert.equal(h.of('keepalive').length, 0, 'the disarmed passive keepalive did not fire');
  // The 999 idle peers never made an entry.
  assert.ok(before <= 4, `${before} entries for one active peer`);
});

test('allowed-IPs deltas replayed by a worker: insert, move, remove, remove by slot, slots beyond 65,535', () => {
  const c = new AllowedIpsChanges();
  const v4 = (a: number, b: number, x: number, y: number): Uint8Array => Uint8Array.of(a, b, x, y);
  c.push(AllowedIpsOp.insert, 70_000, v4(10, 0, 0, 1), 32);
  c.push(AllowedIpsOp.insert, 1_048_575, v4(10, 0, 0, 2), 32);
  c.push(AllowedIpsOp.insert, 3, v4(10, 1, 0, 0), 16);
  c.push(AllowedIpsOp.insert, 4, v4(10, 1, 0, 0), 16); // moves to 4
  c.push(AllowedIpsOp.insert, 5, v4(10, 2, 0, 0), 16);
  c.push(AllowedIpsOp.remove, 5, v4(10, 2, 0, 0), 16);
  c.push(AllowedIpsOp.insert, 6, v4(10, 3, 0, 0), 16);
  c.push(AllowedIpsOp.removeSlot, 6);
  const r = new PeerRouter();
  r.apply(c.take());
  const dst = (a: number, b: number, x: number, y: number): number => {
    const pkt = new Uint8Array(20);
    pkt[0] = 0x45;
    pkt.set(v4(a, b, x, y), 16);
    return r.lookupDestination(pkt, 0, 20);
  };
  assert.equal(dst(10, 0, 0, 1), 70_000);
  assert.equal(dst(10, 0, 0, 2), 1_048_575);
  assert.equal(dst(10, 1, 9, 9), 4);
  assert.equal(dst(10, 2, 9, 9), -1);
  assert.equal(dst(10, 3, 9, 9), -1);
  assert.equal(c.length, 0, 'take() empties the log');
});
