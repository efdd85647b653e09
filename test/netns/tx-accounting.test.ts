/**
 * Transmit accounting: a data message counts as sent to its peer (tx bytes
 * and packets, `wg show` transfer, the last-data-sent time the timers use)
 * only once a port took and sent it, as in the kernel module and
 * wireguard-go. Here the kernel socket path (AF_XDP off) cannot send: A's
 * route to B's endpoint is `unreachable`, so every sendmmsg fails with
 * EHOSTUNREACH. Those messages are drops under tx-send-failed, and the
 * peer's counters stand still; once the route is back they move again.
 *
 *   A (xdpwg, 10.227.0.1) ── veth ── B (xdpwg, 10.227.0.2)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import { datapathFile } from '../helpers/afxdp-lab.js';
import { logsOf, peerDump, ping, startPeered, twoSides, xdpwgBin, type Side } from '../helpers/tunnel-lab.js';

const lab = new Lab('txa');
let a: Side;
let b: Side;

interface PeerStats {
  publicKey: string;
  txBytes: number;
  txPackets: number;
  lastDataTxMs: number;
}

/** A's view of B: `xdpwg stats --json` (peer counters read live) and `wg show dump` transfer. */
function aSeesB(): { stats: PeerStats; wgTx: number; drops: Record<string, number> } {
  const s = JSON.parse(nsExec(a.ns, xdpwgBin, ['stats', a.ifname, '--json'])) as { peers: PeerStats[]; drops: Record<string, number> };
  const stats = s.peers.find((p) => p.publicKey === b.keys.publicKey);
  const dump = peerDump(a, b.keys.publicKey);
  assert.ok(stats && dump, `A lists B\n${logsOf(a, b)}`);
  return { stats, wgTx: dump.tx, drops: s.drops };
}

before(async () => {
  requireRoot();
  ({ a, b } = twoSides(lab, 'xdpwg', 'xdpwg', 227));
  // The kernel socket path only, one worker: the one sendmmsg that fails is the one counted.
  const env = { XDPWG_DATAPATH: datapathFile({ afxdp: 'off' }), XDPWG_WORKERS: '1' };
  await startPeered(lab, a, b, env);
});
after(() => lab.cleanup());

test('messages the port could not send are drops (tx-send-failed), not traffic: tx bytes, wg show transfer and last-data-sent stand still', async () => {
  assert.equal(ping(a, b.inner4, 3), 3, `the tunnel works first\n${logsOf(a, b)}`);
  const start = aSeesB();
  // (The first ping waited for the handshake: the main thread sent it, outside these counters.)
  assert.ok(start.stats.txPackets > 0 && start.stats.lastDataTxMs > 0, JSON.stringify(start.stats));
  nsExec(a.ns, 'ip', ['route', 'add', 'unreachable', `${b.outer4}/32`]);
  let routeBack = false;
  try {
    const COUNT = 5;
    assert.equal(ping(a, b.inner4, COUNT), 0, 'no reply while B is unreachable');
    // ping sent its last request 2 s (its -W) before it returned: every failed send is behind us.
    const failed = aSeesB();
    assert.deepEqual(
      { txBytes: failed.stats.txBytes, txPackets: failed.stats.txPackets, lastDataTxMs: failed.stats.lastDataTxMs, wgTx: failed.wgTx },
      { txBytes: start.stats.txBytes, txPackets: start.stats.txPackets, lastDataTxMs: start.stats.lastDataTxMs, wgTx: start.wgTx },
      'nothing the port failed to send is counted as sent',
    );
    await waitFor(
      `${COUNT} messages counted under tx-send-failed`,
      () => (aSeesB().drops['tx-send-failed'] ?? 0) - (start.drops['tx-send-failed'] ?? 0) >= COUNT,
      5000,
      50,
    );
    nsExec(a.ns, 'ip', ['route', 'del', 'unreachable', `${b.outer4}/32`]);
    routeBack = true;
    // Sent again: the counters move again.
    assert.equal(ping(a, b.inner4, 3), 3, `the tunnel works again\n${logsOf(a, b)}`);
    const end = aSeesB();
    assert.ok(end.stats.txPackets >= failed.stats.txPackets + 3, JSON.stringify(end.stats));
    assert.ok(end.wgTx > failed.wgTx && end.stats.lastDataTxMs > failed.stats.lastDataTxMs, JSON.stringify(end));
  } finally {
    if (!routeBack) nsExec(a.ns, 'ip', ['route', 'del', 'unreachable', `${b.outer4}/32`]);
  }
});
