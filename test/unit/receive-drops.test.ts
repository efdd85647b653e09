/**
 * The receive path's drops that no netns test isolates
 * (src/datapath/receive.ts): each malformed outer frame under its own
 * reason's counter (they were all one counter, rx-bad-outer, before), and
 * the authentic message whose peer is gone (it was dropped uncounted).
 * The Receiver runs over a minimal worker state: the fields these steps use.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Receiver } from '../../src/datapath/receive.js';
import { BurstScratch } from '../../src/datapath/burst-scratch.js';
import { DropCounters } from '../../src/datapath/drop-counters.js';
import { CookieSecretShare } from '../../src/datapath/handshake-admission.js';
import type { WorkerState } from '../../src/datapath/worker-state.js';
import { queueOf } from '../helpers/xsk-queue.js';
import type { DataKeypair } from '../../src/datapath/data-keypair.js';
import { buildUdpFrame, type UdpFrameSpec } from '../../src/packet/udp-frame.js';

const LISTEN_PORT = 51820;

function workerState(): WorkerState {
  const state = {
    init: { handshakeBacklog: new SharedArrayBuffer(4), handshakeBacklogMax: 1024, cookieSecret: new CookieSecretShare().buffer },
    scratch: new BurstScratch(),
    drops: new DropCounters(),
    listenPort: LISTEN_PORT,
    capture: null,
    peers: [],
    post: () => assert.fail('nothing is posted to the main thread'),
  };
  return state as unknown as WorkerState;
}

const spec: UdpFrameSpec = {
  dstMac: new Uint8Array(6).fill(2),
  srcMac: new Uint8Array(6).fill(4),
  srcIp: new Uint8Array([192, 0, 2, 1]),
  dstIp: new Uint8Array([192, 0, 2, 2]),
  srcPort: 40000,
  dstPort: LISTEN_PORT,
};

function frame(edit: (b: Uint8Array) => void = () => {}, dstPort = LISTEN_PORT): Uint8Array {
  const b = new Uint8Array(256);
  const len = buildUdpFrame(b, 0, { ...spec, dstPort }, 64);
  edit(b);
  return b.slice(0, len);
}

test('each malformed outer frame is counted under its own rx-bad-outer-* counter', () => {
  const s = workerState();
  const r = new Receiver(s);
  r.readXsk(
    queueOf([
      frame().slice(0, 13), // runt
      frame((b) => {
        b[12] = 0x08;
        b[13] = 0x06;
      }), // ARP
      frame((b) => {
        b[14] = 0x65;
      }), // IPv6 nibble under the IPv4 ethertype
      frame((b) => {
        b[23] = 6;
      }), // TCP
      frame((b) => {
        b[20] = 0x20;
      }), // MF set
      frame(undefined, 53), // another port
      frame(undefined, 53),
    ]),
  );
  assert.deepEqual(DropCounters.summarize([s.drops]), {
    'rx-bad-outer-runt': 1,
    'rx-bad-outer-ethertype': 1,
    'rx-bad-outer-ip-version': 1,
    'rx-bad-outer-protocol': 1,
    'rx-bad-outer-fragment': 1,
    'rx-bad-outer-port': 2,
  });
});

test('an authentic message on a keypair whose peer is gone is counted, not dropped silently', () => {
  const s = workerState();
  const r = new Receiver(s);
  const sc = s.scratch;
  // One opened crypt job (a keepalive: plaintext length 0) on a keypair of slot 3, which has no peer.
  sc.crypt.reset(new Uint8Array(64));
  sc.crypt.add({} as never, 0, 32);
  sc.crypt.result[0] = 0;
  sc.cryptKeys[0] = { slot: 3 } as DataKeypair;
  const written = (r as unknown as { acceptAndCheck(buf: Uint8Array, jobs: number, now: number): number }).acceptAndCheck(
    new Uint8Array(64),
    1,
    Date.now(),
  );
  assert.equal(written, 0);
  assert.deepEqual(DropCounters.summarize([s.drops]), { 'rx-key-expired': 1 });
});
