/**
 * A worker's view of a peer's keypairs (src/datapath/worker-state.ts
 * PeerState.setKeypairs): what a 'keypairs' message from the main thread
 * does to the peer's three keypairs and to the worker's receiver-index map.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Keypair } from '../../src/protocol/keypair.js';
import { PeerState } from '../../src/datapath/worker-state.js';
import type { DataKeypair } from '../../src/datapath/data-keypair.js';
import type { KeypairWire } from '../../src/datapath/worker-messages.js';

const KEY = new Uint8Array(32).fill(7);

function keypair(localIndex: number): Keypair {
  return new Keypair({ sendKey: KEY, receiveKey: KEY, localIndex, remoteIndex: localIndex + 1000, isInitiator: false, createdAt: 0 });
}

/** What the main thread posts for a keypair (handshake-path.ts wire). */
function wire(kp: Keypair | null): KeypairWire | null {
  return kp && { shared: kp.shared.buffer, serial: kp.serial, createdMs: Date.now(), isInitiator: kp.isInitiator };
}

function post(
  p: PeerState,
  byIndex: Map<number, DataKeypair>,
  current: Keypair | null,
  previous: Keypair | null,
  next: Keypair | null,
): void {
  p.setKeypairs({ slot: 3, current: wire(current), previous: wire(previous), next: wire(next) }, byIndex);
}

test('a rotation keeps the objects of the keypairs it names again, and the index map follows', () => {
  const p = new PeerState();
  const byIndex = new Map<number, DataKeypair>();
  const a = keypair(11),
    b = keypair(22);
  post(p, byIndex, a, null, b); // current a, next b (a responder's new handshake)
  const objA = p.current!,
    objB = p.next!;
  assert.equal(objA.localIndex, 11);
  assert.equal(objB.slot, 3);
  assert.deepEqual([...byIndex.keys()].sort(), [11, 22]);

  post(p, byIndex, b, a, null); // confirmed: b current, a previous
  assert.equal(p.current, objB, 'the next keypair object is now current, not a copy');
  assert.equal(p.previous, objA);
  assert.equal(p.next, null);
  assert.equal(byIndex.get(11), objA);
  assert.equal(byIndex.get(22), objB);

  const c = keypair(33);
  post(p, byIndex, c, b, null); // a new session: a dropped
  assert.equal(p.previous, objB);
  assert.equal(byIndex.has(11), false, 'a dropped keypair leaves the map');
  assert.equal(byIndex.get(33), p.current);
  assert.deepEqual([...byIndex.keys()].sort(), [22, 33]);

  post(p, byIndex, null, null, null); // keys zeroed
  assert.equal(byIndex.size, 0);
});

test("a new keypair that reuses a dropped one's receiver index is the one the map finds", () => {
  const p = new PeerState();
  const byIndex = new Map<number, DataKeypair>();
  const old = keypair(44);
  post(p, byIndex, old, null, null);
  const oldObj = p.current!;
  const reused = keypair(44); // the index table may hand a freed index out again
  assert.notEqual(reused.serial, old.serial);
  post(p, byIndex, reused, null, null);
  assert.notEqual(p.current, oldObj, 'a different keypair, though its receiver index is the same');
  assert.equal(p.current!.serial, reused.serial);
  assert.equal(byIndex.get(44), p.current);
});
