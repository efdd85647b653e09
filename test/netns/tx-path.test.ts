/**
 * The transmit path per burst (src/datapath/tx-path.ts): on a copy-mode
 * AF_XDP device (a veth) a TCP transfer's bulk runs leave A through the
 * kernel socket with UDP GSO, straight from the UMEM (the UDP port's
 * tx_bulk_via_socket_* counters move; the AF_XDP port sends few frames),
 * while ping still goes by AF_XDP; the bytes arrive intact. With
 * "txPath": "afxdp" the bulk goes by AF_XDP as before.
 *
 *   A (xdpwg, 10.236.0.1) ── veth (copy-mode AF_XDP) ── B (xdpwg, 10.236.0.2)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Lab, requireRoot, waitFor } from '../helpers/netns.js';
import {
  afxdpSides,
  carriedOverAfxdp,
  datapathFile,
  pathTo,
  startFresh,
  statsAfter,
  statsOf,
  stopSide,
  tcpTransferDigest,
  type AfxdpStats,
} from '../helpers/afxdp-lab.js';
import { addPeer, configureInterface, logsOf, ping, type Side } from '../helpers/tunnel-lab.js';

const S = 236;
const lab = new Lab('txp');
let a: Side;
let b: Side;
const dir = mkdtempSync(path.join(tmpdir(), 'xdpwg-txpath-'));
const file = path.join(dir, 'payload');
const SIZE = 24 << 20;
let digest = '';

/** The sum of one field over the ports of one kind ('udp', or every 'af_xdp…'). */
function sum(s: AfxdpStats, kind: 'udp' | 'af_xdp', field: string): number {
  return s.ports
    .filter((p) => (kind === 'udp' ? p.path === 'udp' : String(p.path).startsWith('af_xdp')))
    .reduce((t, p) => t + Number(p[field] ?? 0), 0);
}

/**
 * Starts A with this datapath file, configures both ends, waits for a working
 * tunnel, A's AF_XDP port bound (its log says the transmit path: `said`) and
 * A's path to B on af_xdp.
 */
async function startA(datapath: Record<string, unknown>, said: RegExp): Promise<void> {
  // XDPWG_TX_PATH empty: the datapath file's "txPath" decides (startFresh pins afxdp otherwise).
  await startFresh(lab, a, { XDPWG_DATAPATH: datapathFile(datapath), XDPWG_WORKERS: '1', XDPWG_TX_PATH: '' });
  configureInterface(a);
  addPeer(a, b);
  await waitFor('the tunnel answers', () => ping(a, b.inner4, 1) === 1 || undefined, 15_000, 100);
  // Traffic resolves B's MAC, and then A's route to B is AF_XDP.
  await waitFor(
    'A on af_xdp towards B',
    () => {
      ping(a, b.inner4, 1);
      return (a.log.some((l) => said.test(l)) && pathTo(statsOf(a), b.keys.publicKey) === 'af_xdp') || undefined;
    },
    20_000,
    250,
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${pathTo(statsOf(a), b.keys.publicKey)}\n${logsOf(a)}`);
  });
}

const stopA = (): Promise<void> => stopSide(a);
/** Sends the payload A → B over TCP through the tunnel; returns the digest B computed. */
const transfer = (port: number): Promise<string> => tcpTransferDigest(lab, a, b, port, file);

/** A's counters after a transfer, once the worker's next report has the transfer's datagrams in it. */
async function afterTransfer(before: AfxdpStats, moved: (s: AfxdpStats) => number): Promise<AfxdpStats> {
  const datagrams = Math.floor(SIZE / 1500);
  return statsAfter(a, (s) => moved(s) - moved(before) >= datagrams, 5_000);
}

before(async () => {
  requireRoot();
  const payload = randomBytes(SIZE);
  writeFileSync(file, payload);
  digest = createHash('sha256').update(payload).digest('hex');
  ({ a, b } = afxdpSides(lab, 'xdpwg', 'xdpwg', S));
  await startFresh(lab, b, { XDPWG_WORKERS: '1' });
  configureInterface(b);
  addPeer(b, a);
  await startA({}, /bulk runs to peers leave by the kernel socket with UDP GSO \(copy mode: AF_XDP transmit copies every frame\)/);
});
after(() => {
  lab.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test('auto on a copy-mode veth: bulk leaves by the kernel socket with UDP GSO from the UMEM, ping by AF_XDP, bytes intact', async () => {
  const proof = await carriedOverAfxdp(a, b, 10, () => {
    assert.equal(ping(a, b.inner4, 10), 10, logsOf(a, b));
  });
  process.stderr.write(`# ping: ${proof.text}\n`);
  const s0 = statsOf(a);
  assert.equal(await transfer(5601), digest, `B received the payload intact\n${logsOf(a, b)}`);
  const s1 = await afterTransfer(s0, (s) => sum(s, 'udp', 'opackets'));
  const bulkBytes = sum(s1, 'udp', 'tx_bulk_via_socket_bytes') - sum(s0, 'udp', 'tx_bulk_via_socket_bytes');
  const bulkBursts = sum(s1, 'udp', 'tx_bulk_via_socket_bursts') - sum(s0, 'udp', 'tx_bulk_via_socket_bursts');
  const gso = sum(s1, 'udp', 'tx_gso_sends') - sum(s0, 'udp', 'tx_gso_sends');
  const udpOut = sum(s1, 'udp', 'opackets') - sum(s0, 'udp', 'opackets');
  const xdpOut = sum(s1, 'af_xdp', 'opackets') - sum(s0, 'af_xdp', 'opackets');
  const figures = `bulk by socket ${bulkBytes} B in ${bulkBursts} bursts (${gso} GSO sends), udp port +${udpOut} datagrams, af_xdp +${xdpOut} frames`;
  process.stderr.write(`# ${SIZE} B transfer: ${figures}\n`);
  assert.ok(bulkBytes >= SIZE * 0.8, `most of the transfer left by the socket from the UMEM: ${figures}\n${logsOf(a)}`);
  assert.ok(gso > 0, `grouped with UDP GSO: ${figures}`);
  assert.ok(xdpOut < udpOut / 5, `the AF_XDP port sent little of it: ${figures}`);
  assert.equal(pathTo(s1, b.keys.publicKey), 'af_xdp', 'the peer stays on AF_XDP (its route and receive path)');
});

test('"txPath": "afxdp": the bulk goes by AF_XDP as before, nothing by the socket', async () => {
  await stopA();
  a.log.length = 0;
  await startA({ txPath: 'afxdp' }, /data messages to peers leave by AF_XDP \("txPath": "afxdp"\) \(copy mode/);
  const s0 = statsOf(a);
  assert.equal(await transfer(5602), digest, `B received the payload intact\n${logsOf(a, b)}`);
  const s1 = await afterTransfer(s0, (s) => sum(s, 'af_xdp', 'opackets'));
  const bulkBytes = sum(s1, 'udp', 'tx_bulk_via_socket_bytes');
  const xdpOut = sum(s1, 'af_xdp', 'opackets') - sum(s0, 'af_xdp', 'opackets');
  process.stderr.write(`# ${SIZE} B transfer with "txPath": "afxdp": af_xdp +${xdpOut} frames, bulk by socket ${bulkBytes} B\n`);
  assert.equal(bulkBytes, 0, 'nothing left by the socket from the UMEM');
  assert.ok(xdpOut >= Math.floor(SIZE / 1500), `the AF_XDP port sent the transfer: +${xdpOut} frames`);
});
