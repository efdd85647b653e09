/**
 * The device's peer set (src/daemon/device/peer-set.ts): slots are reused after a
 * removal, and a key refused at add time (low order) does not use one up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PeerSet, MAX_PEERS } from '../../src/daemon/device/peer-set.js';
import { Errno, type UapiError } from '../../src/daemon/config/device-config.js';
import type { ToWorker } from '../../src/datapath/worker-messages.js';
import type { WorkerPool } from '../../src/datapath/worker-pool.js';
import { DataPlaneLink } from '../../src/daemon/device/data-plane-link.js';
import { generateKeyPair } from '../../src/crypto/x25519.js';
import type { PeerTimers } from '../../src/protocol/timers.js';

/** No timer runs in these tests: nothing here drives the clock. */
const noTimers = (): PeerTimers => ({}) as PeerTimers;

test("a removed peer's slot is reused, also after a low-order key was refused in between", () => {
  const peers = new PeerSet(new DataPlaneLink());
  const local = generateKeyPair();
  const first = peers.add(generateKeyPair().publicKey, local, noTimers);
  const second = peers.add(generateKeyPair().publicKey, local, noTimers);
  assert.deepEqual([first.slot, second.slot], [0, 1]);
  peers.remove(first);
  peers.publishAllowedIpsIfChanged(); // the workers are told; the slot is free from here on
  // u = 1 is a point of small order: DH with any clamped key gives zero.
  const lowOrder = new Uint8Array(32);
  lowOrder[0] = 1;
  assert.throws(() => peers.add(lowOrder, local, noTimers), /low order/);
  const third = peers.add(generateKeyPair().publicKey, local, noTimers);
  assert.equal(third.slot, first.slot, 'the freed slot was not lost to the refused key');
  assert.ok(third.generation > first.generation, 'a reused slot gets a new generation');
});

test("a removed peer's slot goes to a new peer only after the workers were told its routes are gone", () => {
  const link = new DataPlaneLink();
  const sent: ToWorker[] = [];
  link.pool = {
    broadcast: (m: ToWorker) => sent.push(m),
    withWakesHeld: (fn: () => void) => fn(),
    ensurePeerCapacity() {},
    clearPeerSlot() {},
  } as unknown as WorkerPool;
  const peers = new PeerSet(link);
  const local = generateKeyPair();
  const a = peers.add(generateKeyPair().publicKey, local, noTimers);
  peers.changeAllowedIps(a, false, [{ prefix: { family: 4, address: Uint8Array.of(10, 0, 0, 1), bits: 32 }, remove: false }]);
  peers.publishAllowedIpsIfChanged();
  // Removed and replaced within one apply: a worker still routes 10.0.0.1 to a's slot until told,
  // so a new peer in that slot would be staged, then sealed, a's packets.
  peers.remove(a);
  const b = peers.add(generateKeyPair().publicKey, local, noTimers);
  assert.notEqual(b.slot, a.slot, 'the slot was reused before the workers dropped its routes');
  peers.publishAllowedIpsIfChanged();
  const c = peers.add(generateKeyPair().publicKey, local, noTimers);
  assert.equal(c.slot, a.slot, 'once told, the slot is reused');
  // What the workers saw, in order: a's routes go before a peer enters a's slot.
  const dropAt = sent.findIndex((m) => m.t === 'allowed-ips' && sent.indexOf(m) > sent.findIndex((x) => x.t === 'peer-remove'));
  const reuseAt = sent.findIndex((m) => m.t === 'peer' && m.slot === a.slot && m.generation === c.generation);
  assert.ok(dropAt >= 0 && reuseAt > dropAt, `order: ${sent.map((m) => m.t).join(', ')}`);
});

test("the peer set holds 1,048,576 peers (the kernel module's limit), then refuses with ENOANO", () => {
  assert.equal(MAX_PEERS, 1 << 20);
  const peers = new PeerSet(new DataPlaneLink(), 3);
  const local = generateKeyPair();
  for (let i = 0; i < 3; i++) peers.add(generateKeyPair().publicKey, local, noTimers);
  assert.throws(
    () => peers.add(generateKeyPair().publicKey, local, noTimers),
    (e: UapiError) => e.errno === Errno.ENOANO && /limit 3/.test(e.message),
  );
});
