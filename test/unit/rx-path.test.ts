/**
 * The receive path choice per device (src/datapath/rx-path.ts): AF_XDP on
 * zero-copy devices under "auto"; on copy-mode ones the socket with GRO on
 * where AF_XDP would receive on one worker anyway, AF_XDP with GRO off or
 * over several workers (the measured winners); "afxdp" and "socket" force one
 * path; the log line names the choice and why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeRxPath, rxBySocket } from '../../src/datapath/rx-path.js';

const copyGro = { zeroCopy: false, gro: true, rxWorkers: 1 },
  copyGroQueues = { zeroCopy: false, gro: true, rxWorkers: 2 },
  copyNoGro = { zeroCopy: false, gro: false, rxWorkers: 1 },
  zc = { zeroCopy: true, gro: true, rxWorkers: 1 };

test('auto: AF_XDP on a zero-copy device; on a copy-mode one the socket with GRO on, AF_XDP with it off; afxdp and socket force', () => {
  assert.equal(rxBySocket('auto', zc), false);
  assert.equal(rxBySocket('auto', copyGro), true);
  // Several queues over several workers: AF_XDP receives on all of them, the socket only on worker 0.
  assert.equal(rxBySocket('auto', copyGroQueues), false);
  assert.equal(rxBySocket('socket', copyGroQueues), true);
  assert.equal(rxBySocket('auto', copyNoGro), false);
  assert.equal(rxBySocket('afxdp', copyGro), false);
  assert.equal(rxBySocket('socket', zc), true);
});

test('the log line says the choice and why', () => {
  assert.equal(
    describeRxPath('eth0', 'socket', copyNoGro),
    'eth0: data messages from peers arrive by the kernel socket with UDP GRO ("rxPath": "socket") (copy mode: AF_XDP receive copies every frame; GRO off; AF_XDP receives on 1 worker(s)); handshakes by AF_XDP',
  );
  assert.equal(
    describeRxPath('eth0', 'auto', copyGro),
    'eth0: data messages from peers arrive by the kernel socket with UDP GRO (copy mode: AF_XDP receive copies every frame; GRO on; AF_XDP receives on 1 worker(s)); handshakes by AF_XDP',
  );
  assert.equal(describeRxPath('eth0', 'auto', zc), 'eth0: data messages from peers arrive by AF_XDP (zero-copy mode)');
  assert.match(
    describeRxPath('eth0', 'afxdp', copyGro),
    /^eth0: data messages from peers arrive by AF_XDP \("rxPath": "afxdp"\) \(copy mode/,
  );
  assert.match(
    describeRxPath('eth0', 'auto', copyGro, "the XDP program is the AF_XDP device plugin's"),
    /arrive by AF_XDP, not the kernel socket: the XDP program is the AF_XDP device plugin's$/,
  );
});
