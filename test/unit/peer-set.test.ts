/**
 * The device's peer set (src/daemon/device/peer-set.ts): slots are reused after a
 * removal, and a key refused at add time (low order) does not use one up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PeerSet } from '../../src/daemon/device/peer-set.js';
import { DataPlaneLink } from '../../src/daemon/device/data-plane-link.js';
import { generateKeyPair } from '../../src/crypto/x25519.js';
import type { PeerTimers } from '../../src/protocol/timers.js';

/** No timer runs in these tests: nothing here drives the clock. */
const noTimers = (): PeerTimers => ({}) as PeerTimers;

test('a removed peer\'s slot is reused, also after a low-order key was refused in between', () => {
  const peers = new PeerSet(new DataPlaneLink());
  const local = generateKeyPair();
  const first = peers.add(generateKeyPair().publicKey, local, noTimers);
  const second = peers.add(generateKeyPair().publicKey, local, noTimers);
  assert.deepEqual([first.slot, second.slot], [0, 1]);
  peers.remove(first);
  // u = 1 is a point of small order: DH with any clamped key gives zero.
  const lowOrder = new Uint8Array(32);
  lowOrder[0] = 1;
  assert.throws(() => peers.add(lowOrder, local, noTimers), /low order/);
  const third = peers.add(generateKeyPair().publicKey, local, noTimers);
  assert.equal(third.slot, first.slot, 'the freed slot was not lost to the refused key');
  assert.ok(third.generation > first.generation, 'a reused slot gets a new generation');
});
