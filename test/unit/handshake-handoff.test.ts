/**
 * A worker hands the handshake messages of one receive burst to the main
 * thread as one message (src/datapath/receive.ts handToMain): under a flood
 * a burst holds several initiations, and one message each cost both threads
 * a structured clone, two transfers and a wake of main's event loop. The
 * main thread counts them all off the shared backlog (worker-pool.ts) and
 * hands each to the handshake path with its own sender (device.ts).
 * The Receiver runs over a minimal worker state, as in receive-drops.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Receiver } from '../../src/datapath/receive.js';
import { BurstScratch } from '../../src/datapath/burst-scratch.js';
import { DropCounters } from '../../src/datapath/drop-counters.js';
import { CookieSecretShare } from '../../src/datapath/handshake-admission.js';
import { ADDR_RECORD_SIZE } from '../../src/datapath/addr-record.js';
import type { FromWorker } from '../../src/datapath/worker-messages.js';
import type { WorkerState } from '../../src/datapath/worker-state.js';
import { queueOf } from '../helpers/xsk-queue.js';
import { buildUdpFrame } from '../../src/packet/udp-frame.js';
import { INITIATION_SIZE, RESPONSE_SIZE, MESSAGE_INITIATION, MESSAGE_RESPONSE } from '../../src/protocol/wire.js';

const LISTEN_PORT = 51820;

/** A frame from 192.0.2.<host>:<srcPort> carrying a handshake message of `type`, `size` bytes, filled with `fill`. */
function handshakeFrame(type: number, size: number, fill: number, host: number, srcPort: number): Uint8Array {
  const b = new Uint8Array(2048);
  const spec = {
    dstMac: new Uint8Array(6).fill(2),
    srcMac: new Uint8Array(6).fill(4),
    srcIp: new Uint8Array([192, 0, 2, host]),
    dstIp: new Uint8Array([192, 0, 2, 200]),
    srcPort,
    dstPort: LISTEN_PORT,
  };
  const len = buildUdpFrame(b, 0, spec, size);
  const payload = b.subarray(len - size, len);
  payload.fill(fill);
  payload.set([type, 0, 0, 0]);
  return b.slice(0, len);
}

test("one receive burst's handshake messages reach the main thread as one message, each with its own sender", () => {
  const posted: FromWorker[] = [];
  const backlog = new SharedArrayBuffer(4);
  const s = {
    init: { worker: 1, handshakeBacklog: backlog, handshakeBacklogMax: 1024, cookieSecret: new CookieSecretShare().buffer },
    scratch: new BurstScratch(),
    drops: new DropCounters(),
    listenPort: LISTEN_PORT,
    capture: null,
    peers: [],
    post: (m: FromWorker) => posted.push(m),
  } as unknown as WorkerState;
  const frames = [
    handshakeFrame(MESSAGE_INITIATION, INITIATION_SIZE, 0x11, 1, 40001),
    handshakeFrame(MESSAGE_RESPONSE, RESPONSE_SIZE, 0x22, 2, 40002),
    handshakeFrame(MESSAGE_INITIATION, INITIATION_SIZE, 0x33, 3, 40003),
  ];
  new Receiver(s).readXsk(queueOf(frames));

  assert.equal(posted.length, 1, 'one message for the burst');
  const m = posted[0]!;
  assert.ok(m.t === 'handshakes');
  assert.equal(m.worker, 1);
  assert.deepEqual(m.lengths, [INITIATION_SIZE, RESPONSE_SIZE, INITIATION_SIZE]);
  assert.equal(m.data.length, 2 * INITIATION_SIZE + RESPONSE_SIZE);
  assert.equal(m.addrs.length, 3 * ADDR_RECORD_SIZE);
  let at = 0;
  [0x11, 0x22, 0x33].forEach((fill, k) => {
    const msg = m.data.subarray(at, at + m.lengths[k]!);
    at += m.lengths[k]!;
    assert.equal(msg[0], k === 1 ? MESSAGE_RESPONSE : MESSAGE_INITIATION, `message ${k}: its type`);
    assert.equal(msg[msg.length - 1], fill, `message ${k}: its own bytes`);
    // The sender's record starts with its IPv4 address (mapped into 16 bytes or not: the host byte is in it).
    const addr = m.addrs.subarray(k * ADDR_RECORD_SIZE, (k + 1) * ADDR_RECORD_SIZE);
    assert.ok(addr.includes(k + 1) && Buffer.from(addr).includes(Buffer.from([192, 0, 2, k + 1])), `message ${k}: its own sender`);
  });
  assert.equal(Atomics.load(new Int32Array(backlog), 0), 3, 'each message counts in the backlog');
  assert.deepEqual(DropCounters.summarize([s.drops]), {});
});
