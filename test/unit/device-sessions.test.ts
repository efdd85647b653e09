/**
 * The device's session decisions (src/daemon/device/device.ts), driven with the
 * real Device and a peer played by the test (test/helpers/device-harness.ts):
 * what a reload with the same private key keeps, what a responder does when
 * its keypair is confirmed, where a cookie reply to our response goes, and
 * that worker reports about a removed peer do not land on the slot's next peer.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { keyToHex } from '../../src/crypto/encoding.js';
import { MESSAGE_COOKIE_REPLY, MESSAGE_INITIATION, MESSAGE_RESPONSE } from '../../src/protocol/wire.js';
import { DeviceHarness, TestPeer } from '../helpers/device-harness.js';
import type { Keypair } from '../../src/protocol/keypair.js';
import type { FromWorker } from '../../src/datapath/worker-messages.js';

/** One handshake message as a worker hands it to main (receive.ts: a burst's messages in one 'handshakes'). */
function handshakeMessage(data: Uint8Array, addr: Uint8Array): FromWorker {
  return { t: 'handshakes', worker: 0, data, lengths: [data.length], addrs: addr };
}

const DATA = 4;
/** An IPv4 packet for the peer's allowed IP 10.99.0.2 (only its length and bytes matter here). */
const PACKET = Uint8Array.from([0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 99, 0, 1, 10, 99, 0, 2, 0x30, 0x39, 0x30, 0x39, 0, 8, 0, 0]);

let device: DeviceHarness;
let peers: TestPeer[] = [];

before(async () => {
  device = await DeviceHarness.start();
});
after(async () => {
  for (const p of peers) p.close();
  await device.close();
});

async function newPeer(): Promise<TestPeer> {
  const p = await TestPeer.open(device);
  peers.push(p);
  device.set(p.uapiPeer());
  return p;
}

function removePeer(p: TestPeer): void {
  device.set(`public_key=${keyToHex(p.identity.publicKey)}\nremove=true`);
  p.close();
  peers = peers.filter((q) => q !== p);
}

/** The response's sender index: the device's local index of the keypair it installed. */
function senderIndex(response: Uint8Array): number {
  return new DataView(response.buffer, response.byteOffset).getUint32(4, true);
}

/** The peer initiates; the device answers. Returns the peer's keypair and the device's local index for it. */
async function peerInitiates(p: TestPeer): Promise<{ keypair: Keypair; localIndex: number; response: Uint8Array }> {
  device.inject(handshakeMessage(p.initiation(), p.addr));
  const response = await p.next(MESSAGE_RESPONSE, "the device's handshake response");
  return { keypair: p.complete(response), localIndex: senderIndex(response), response };
}

test('a responder stamps the handshake when the initiator confirms the keypair, not when it sends its response', async () => {
  const p = await newPeer();
  const { localIndex } = await peerInitiates(p);
  assert.equal(device.peer(p.identity.publicKey)!.lastHandshakeSec, 0, 'response sent: not complete yet (wireguard-go timers.go)');
  device.inject({ t: 'confirmed', items: [0, 1, localIndex] });
  const after = device.peer(p.identity.publicKey)!;
  assert.ok(after.lastHandshakeSec > 0, 'confirmed: the handshake is complete');
  assert.equal(after.hasSession, true);
  removePeer(p);
});

test('setting the private key the device already has keeps every session (wg syncconf with an unchanged file)', async () => {
  const p = await newPeer();
  const { localIndex } = await peerInitiates(p);
  device.inject({ t: 'confirmed', items: [0, 2, localIndex] });
  const before = device.peer(p.identity.publicKey)!;
  assert.equal(before.hasSession, true);
  for (let i = 0; i < 3; i++) {
    // What `wg syncconf` sends: the private key (unchanged), then the peers as they are.
    device.set(`private_key=${keyToHex(device.identity.privateKey)}\n${p.uapiPeer()}`);
  }
  const after = device.peer(p.identity.publicKey)!;
  assert.equal(after.hasSession, true, 'the session survives');
  assert.equal(after.lastHandshakeSec, before.lastHandshakeSec, 'no new handshake was needed');
  // A different key does end the sessions (the check above can fail).
  const other = await DeviceHarness.start();
  device.set(`private_key=${keyToHex(other.identity.privateKey)}`);
  await other.close();
  assert.equal(device.peer(p.identity.publicKey)!.hasSession, false);
  device.set(`private_key=${keyToHex(device.identity.privateKey)}`);
  removePeer(p);
});

test('a responder sends the packets it queued before any session once the initiator confirms the keypair', async () => {
  const p = await newPeer();
  // A packet for the peer, no session: the device queues it and initiates; that initiation is lost.
  device.inject({ t: 'stage', items: [0, 3, PACKET.slice()] });
  await p.next(MESSAGE_INITIATION, "the device's own initiation");
  // The peer initiates instead; its first data on the new keypair confirms it.
  const { keypair, localIndex } = await peerInitiates(p);
  device.inject({ t: 'confirmed', items: [0, 3, localIndex] });
  const data = await p.next(DATA, 'the queued packet, sent on confirmation');
  const plain = p.open(keypair, data);
  assert.ok(plain instanceof Uint8Array, `opens with the session's key (got ${String(plain)})`);
  assert.deepEqual(plain.subarray(0, PACKET.length), PACKET);
  removePeer(p);
});

test('a cookie reply to our handshake response gives the initiator the cookie it demands (MAC2 under load)', async () => {
  const p = await newPeer();
  const { response } = await peerInitiates(p);
  const source = p.deviceSource(device);
  // The peer is under load: our response lacks MAC2, so it answers with a cookie reply naming the response's sender index.
  assert.equal(p.checker.validate(response, source, true), 'need-cookie');
  const reply = p.checker.createReply(response, source)!;
  assert.equal(reply[0], MESSAGE_COOKIE_REPLY);
  device.inject(handshakeMessage(reply, p.addr));
  // The next handshake message the device sends this peer carries a valid MAC2.
  device.inject({ t: 'stage', items: [0, 4, PACKET.slice()] });
  const initiation = await p.next(MESSAGE_INITIATION, "the device's initiation");
  assert.equal(p.checker.validate(initiation, source, true), 'ok', 'MAC2 made with the cookie');
  removePeer(p);
});

test('worker reports about a removed peer do not land on the peer that reuses its slot', async () => {
  const old = await newPeer();
  const oldGeneration = 5;
  const oldAddr = old.addr;
  removePeer(old);
  const p = await newPeer(); // slot 0 again, generation 6
  const endpointBefore = device.peer(p.identity.publicKey)!.endpoint;
  // In flight from before the removal: a roam and a staged packet for the old peer of slot 0.
  device.inject({ t: 'endpoint', slot: 0, generation: oldGeneration, addr: oldAddr });
  device.inject({ t: 'stage', items: [0, oldGeneration, PACKET.slice()] });
  assert.equal(device.peer(p.identity.publicKey)!.endpoint, endpointBefore, 'the endpoint did not move');
  assert.deepEqual(await p.drain(), [], 'no handshake was started for a packet meant for the old peer');
  // The same reports with the current generation do apply (the check above can fail).
  device.inject({ t: 'stage', items: [0, oldGeneration + 1, PACKET.slice()] });
  await p.next(MESSAGE_INITIATION, "an initiation for the current peer's packet");
  removePeer(p);
});

test('cookie replies the device cannot use are counted as drops, not ignored', async () => {
  const p = await newPeer();
  const { response } = await peerInitiates(p);
  const source = p.deviceSource(device);
  const drops = (): number => device.device.statsSnapshot().drops['rx-handshake-invalid'] ?? 0;
  const before = drops();
  // Names no handshake or keypair of ours.
  const stray = p.checker.createReply(response, source)!;
  stray.fill(0xee, 4, 8);
  device.inject(handshakeMessage(stray, p.addr));
  assert.equal(drops(), before + 1, 'a reply for an unknown index is counted');
  // Names our response, but does not decrypt (forged).
  const forged = p.checker.createReply(response, source)!;
  forged[40]! ^= 1;
  device.inject(handshakeMessage(forged, p.addr));
  assert.equal(drops(), before + 2, 'a forged reply is counted');
  removePeer(p);
});

test('sessions confirmed in one burst complete together, told to the workers in one message and one wake', async () => {
  const ps = [await newPeer(), await newPeer(), await newPeer()];
  const items: number[] = [];
  for (const p of ps) {
    const { localIndex } = await peerInitiates(p);
    const slot = device.slotOf(p.identity.publicKey);
    items.push(slot.slot, slot.generation, localIndex);
  }
  // A stand-in worker pool for the one call: counts what the device posts and how often it wakes.
  let held = 0;
  const posted: unknown[] = [];
  let wakes = 0;
  const pool = {
    broadcast(m: unknown) {
      posted.push(m);
      if (held === 0) wakes++;
    },
    withWakesHeld(fn: () => void) {
      held++;
      try {
        fn();
      } finally {
        if (--held === 0) wakes++;
      }
    },
  };
  device.withPool(pool, () => device.inject({ t: 'confirmed', items }));
  for (const p of ps) assert.ok(device.peer(p.identity.publicKey)!.lastHandshakeSec > 0, 'each handshake is complete');
  // Each peer's rotation is one 'keypairs' broadcast; held, they reach the workers with one wake
  // (the real pool posts held broadcasts as one 'many' message). One broadcast and wake each before.
  assert.equal(posted.length, 3);
  assert.equal(wakes, 1, 'one wake for the burst');
  for (const p of ps) removePeer(p);
});
