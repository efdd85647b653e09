/**
 * Keypair rotation (whitepaper §5.4.6, §6): current / previous / next, the
 * responder's next confirmed by the first data message, retirement wipes
 * keys, and the rekey/reject age and message rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Keypair, KeypairSet } from '../../src/protocol/keypair.js';
import { REKEY_AFTER_MESSAGES } from '../../src/protocol/constants.js';

let nextIndex = 1;
function keypair(isInitiator: boolean, createdAt = 0): Keypair {
  const key = new Uint8Array(32).fill(nextIndex);
  return new Keypair({ sendKey: key, receiveKey: key, localIndex: nextIndex++, remoteIndex: 9, isInitiator, createdAt });
}

function isZeroed(k: Keypair): boolean {
  return k.isWiped && k.shared.sendKey.every((x) => x === 0) && k.shared.receiveKey.every((x) => x === 0) && !k.shared.canSend();
}

test('keypair set: an initiator uses its new keypair at once; the old current becomes previous', () => {
  const set = new KeypairSet();
  const k1 = keypair(true);
  const k2 = keypair(true);
  const k3 = keypair(true);
  assert.deepEqual(set.install(k1), []);
  assert.equal(set.current, k1);
  assert.deepEqual(set.install(k2), []);
  assert.equal(set.current, k2);
  assert.equal(set.previous, k1);
  assert.deepEqual(set.install(k3), [k1], 'the previous keypair is retired');
  assert.ok(isZeroed(k1));
  assert.equal(set.byLocalIndex(k2.localIndex), k2);
  assert.equal(set.byLocalIndex(k1.localIndex), undefined);
});

test('keypair set: a responder keeps its new keypair as next until the first data message confirms it', () => {
  const set = new KeypairSet();
  const old = keypair(true);
  const older = keypair(true);
  set.install(older);
  set.install(old); // current old, previous older
  const fresh = keypair(false);
  assert.deepEqual(set.install(fresh), [older], 'a responder install retires previous');
  assert.equal(set.next, fresh);
  assert.equal(set.current, old, 'still sending with the old keypair');
  assert.equal(set.sendable(0), old);
  assert.deepEqual(set.received(old), { rotated: false, retired: [] });
  const result = set.received(fresh);
  assert.equal(result.rotated, true);
  assert.equal(set.current, fresh);
  assert.equal(set.previous, old);
  assert.equal(set.next, undefined);
});

test('keypair set: a second responder handshake replaces an unconfirmed next', () => {
  const set = new KeypairSet();
  const a = keypair(false);
  const b = keypair(false);
  set.install(a);
  assert.deepEqual(set.install(b), [a]);
  assert.ok(isZeroed(a));
  assert.equal(set.next, b);
  assert.equal(set.current, undefined);
  assert.equal(set.sendable(0), undefined, 'nothing to send with until confirmed');
});

test('keypair set: an initiator handshake with an unconfirmed next demotes next to previous and retires current', () => {
  const set = new KeypairSet();
  const cur = keypair(true);
  set.install(cur);
  const pending = keypair(false);
  set.install(pending);
  const mine = keypair(true);
  assert.deepEqual(set.install(mine), [cur]);
  assert.equal(set.current, mine);
  assert.equal(set.previous, pending);
  assert.equal(set.next, undefined);
});

test('keypair: rekey and reject rules of §6.2 by age and by message count', () => {
  const initiator = keypair(true, 1000);
  const responder = keypair(false, 1000);
  assert.equal(initiator.needsRekeyAfterSend(1000 + 119_999), false);
  assert.equal(initiator.needsRekeyAfterSend(1000 + 120_000), true, 'REKEY_AFTER_TIME');
  assert.equal(responder.needsRekeyAfterSend(1000 + 170_000), false, 'only the initiator rekeys by time');
  responder.shared.setSendCounter(REKEY_AFTER_MESSAGES + 1n);
  assert.equal(responder.needsRekeyAfterSend(1000), true, 'REKEY_AFTER_MESSAGES applies to both');
  assert.equal(initiator.needsRekeyAfterReceive(1000 + 164_999), false);
  assert.equal(initiator.needsRekeyAfterReceive(1000 + 165_000), true, 'REJECT − KEEPALIVE − REKEY_TIMEOUT');
  assert.equal(responder.needsRekeyAfterReceive(1000 + 170_000), false);
  assert.equal(initiator.isExpired(1000 + 179_999), false);
  assert.equal(initiator.isExpired(1000 + 180_000), true, 'REJECT_AFTER_TIME');
});

test('keypair set: expire retires keypairs at REJECT_AFTER_TIME; clear retires all', () => {
  const set = new KeypairSet();
  const k1 = keypair(true, 0);
  const k2 = keypair(true, 100_000);
  set.install(k1);
  set.install(k2);
  assert.equal(set.nextExpiry(), 180_000);
  assert.deepEqual(set.expire(179_999), []);
  assert.deepEqual(set.expire(180_000), [k1]);
  assert.equal(set.previous, undefined);
  assert.equal(set.nextExpiry(), 280_000);
  assert.equal(set.sendable(279_999), k2);
  assert.equal(set.sendable(280_000), undefined);
  assert.deepEqual(set.clear(), [k2]);
  assert.ok(isZeroed(k2));
  assert.equal(set.nextExpiry(), undefined);
});
