/**
 * The receive path choice per device (src/datapath/rx-path.ts): AF_XDP on
 * zero-copy devices under "auto", the measured winner on copy-mode ones;
 * "afxdp" and "socket" force one path; the log line names the choice and why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AUTO_SOCKET_ON_COPY_MODE, describeRxPath, rxBySocket } from '../../src/datapath/rx-path.js';

test('auto: AF_XDP on a zero-copy device, the measured winner on a copy-mode one; afxdp and socket force', () => {
  assert.equal(rxBySocket('auto', true), false);
  assert.equal(rxBySocket('auto', false), AUTO_SOCKET_ON_COPY_MODE);
  assert.equal(rxBySocket('afxdp', false), false);
  assert.equal(rxBySocket('socket', true), true);
});

test('the log line says the choice and why', () => {
  assert.equal(
    describeRxPath('eth0', 'socket', false),
    'eth0: data messages from peers arrive by the kernel socket with UDP GRO ("rxPath": "socket") (copy mode: AF_XDP receive copies every frame); handshakes by AF_XDP',
  );
  assert.equal(describeRxPath('eth0', 'auto', true), 'eth0: data messages from peers arrive by AF_XDP (zero-copy mode)');
  assert.match(
    describeRxPath('eth0', 'afxdp', false),
    /^eth0: data messages from peers arrive by AF_XDP \("rxPath": "afxdp"\) \(copy mode/,
  );
  assert.match(
    describeRxPath('eth0', 'socket', false, "the XDP program is the AF_XDP device plugin's"),
    /arrive by AF_XDP, not the kernel socket \("rxPath": "socket"\): the XDP program is the AF_XDP device plugin's$/,
  );
});
