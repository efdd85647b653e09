/**
 * The transmit path choice per device (src/datapath/tx-path.ts): bulk runs by
 * the kernel socket only on copy-mode devices under "auto"; "afxdp" and
 * "socket" force one path; the log line names the choice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BULK_MIN_RUN, NEVER, bulkMinRun, describeTxPath } from '../../src/datapath/tx-path.js';

test('auto: bulk runs by the socket on a copy-mode device, never on a zero-copy one; afxdp and socket force', () => {
  assert.equal(bulkMinRun('auto', false), BULK_MIN_RUN);
  assert.equal(bulkMinRun('auto', true), NEVER);
  assert.equal(bulkMinRun('afxdp', false), NEVER);
  assert.equal(bulkMinRun('socket', true), 0);
});

test('the log line says the choice and why', () => {
  assert.equal(
    describeTxPath('eth0', 'auto', false),
    'eth0: bulk runs to peers leave by the kernel socket with UDP GSO (copy mode: AF_XDP transmit copies every frame)',
  );
  assert.match(describeTxPath('eth0', 'auto', true), /^eth0: data messages to peers leave by AF_XDP \(zero-copy mode\)$/);
  assert.match(describeTxPath('eth0', 'afxdp', false), /"txPath": "afxdp"/);
  assert.match(describeTxPath('eth0', 'socket', true), /every data message to peers leaves by the kernel socket/);
});
