/**
 * The receive path (src/datapath/rx-path.ts): with "rxPath": "socket" B's XDP
 * filter passes A's data messages up the stack, so they arrive on B's kernel
 * UDP socket, coalesced by UDP GRO and cut into datagrams again by the UDP
 * port; ping and a TCP transfer work and B's `xdpwg stats` says so (receive
 * path and reason per device, rx by path per worker, GRO receives). With
 * "rxPath": "afxdp" the same traffic arrives by AF_XDP. "auto" takes the
 * socket on this copy-mode veth while its GRO is on, AF_XDP once it is off.
 * (A sends with "txPath": "auto": its bulk leaves by its kernel socket with
 * UDP checksums, which UDP GRO needs; A's AF_XDP frames carry IPv4 UDP
 * checksum 0, which GRO never coalesces.)
 *
 *   A (xdpwg, 10.237.0.1) ── NIC-like veth (MTU frames, GRO on at B) ── B (xdpwg, 10.237.0.2)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import { afxdpSides, datapathFile, pathTo, startFresh, statsAfter, statsOf, stopSide, tcpTransferDigest } from '../helpers/afxdp-lab.js';
import { addPeer, configureInterface, logsOf, ping, xdpwgBin, type Side } from '../helpers/tunnel-lab.js';
import type { DeviceStats } from '../../src/daemon/observe/device-stats.js';

const S = 237;
const lab = new Lab('rxp');
let a: Side;
let b: Side;
const dir = mkdtempSync(path.join(tmpdir(), 'xdpwg-rxpath-'));
const file = path.join(dir, 'payload');
const SIZE = 24 << 20;
let digest = '';

const full = (side: Side): DeviceStats => JSON.parse(nsExec(side.ns, xdpwgBin, ['stats', side.ifname, '--json'])) as DeviceStats;
/** B's data-message receive by path, summed over its workers. */
function rxBy(s: DeviceStats): { afxdp: number; socket: number; groReceives: number; groDatagrams: number } {
  const t = { afxdp: 0, socket: 0, groReceives: 0, groDatagrams: 0 };
  for (const w of s.byPath) {
    t.afxdp += w.rx.afxdp.packets;
    t.socket += w.rx.socket.packets;
    t.groReceives += w.rx.socket.groReceives;
    t.groDatagrams += w.rx.socket.groDatagrams;
  }
  return t;
}

/** Starts B with this datapath file; waits for the tunnel, B's receive-path line (`said`) and A's path to B on af_xdp. */
async function startB(datapath: Record<string, unknown>, said: RegExp): Promise<void> {
  await startFresh(lab, b, { XDPWG_DATAPATH: datapathFile(datapath), XDPWG_WORKERS: '1', XDPWG_RX_PATH: '' });
  configureInterface(b);
  addPeer(b, a);
  await waitFor(
    "the tunnel answers, B's receive path said, A on af_xdp towards B",
    () => (ping(a, b.inner4, 1) === 1 && b.log.some((l) => said.test(l)) && pathTo(statsOf(a), b.keys.publicKey) === 'af_xdp') || undefined,
    30_000,
    250,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${logsOf(a, b)}`);
  });
}

const stopB = (): Promise<void> => stopSide(b);
/** Sends the payload A → B over TCP through the tunnel; returns the digest B computed. */
const transfer = (port: number): Promise<string> => tcpTransferDigest(lab, a, b, port, file);

/** Pings and a transfer A → B; B's receive counters before and after (once a report has the transfer in it). */
async function traffic(port: number): Promise<{ before: ReturnType<typeof rxBy>; after: ReturnType<typeof rxBy>; stats: DeviceStats }> {
  const s0 = full(b);
  assert.equal(ping(a, b.inner4, 10), 10, logsOf(a, b));
  assert.equal(await transfer(port), digest, `B received the payload intact\n${logsOf(a, b)}`);
  const before = rxBy(s0);
  const moved = Math.floor(SIZE / 1500);
  await statsAfter(
    b,
    () => {
      const n = rxBy(full(b));
      return n.afxdp + n.socket - before.afxdp - before.socket >= moved;
    },
    5_000,
  );
  const stats = full(b);
  return { before, after: rxBy(stats), stats };
}

before(async () => {
  requireRoot();
  const payload = randomBytes(SIZE);
  writeFileSync(file, payload);
  digest = createHash('sha256').update(payload).digest('hex');
  let vethA: string, vethB: string;
  ({ a, b, vethA, vethB } = afxdpSides(lab, 'xdpwg', 'xdpwg', S));
  // NIC-like: MTU-sized frames on the wire, GRO on at the receiving end (UDP GRO needs it).
  nsExec(a.ns, 'ethtool', ['-K', vethA, 'gso', 'off', 'tso', 'off', 'tx-udp-segmentation', 'off']);
  nsExec(b.ns, 'ethtool', ['-K', vethB, 'gro', 'on']);
  await startFresh(lab, a, { XDPWG_WORKERS: '1', XDPWG_TX_PATH: '' });
  configureInterface(a);
  addPeer(a, b);
  await startB(
    { rxPath: 'socket' },
    /data messages from peers arrive by the kernel socket with UDP GRO \("rxPath": "socket"\) \(copy mode: AF_XDP receive copies every frame; GRO on;/,
  );
});
after(() => {
  lab.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test('"rxPath": "socket": data messages arrive on the kernel socket, coalesced by UDP GRO; ping and TCP work; stats say so', async () => {
  const { before, after, stats } = await traffic(5701);
  const socket = after.socket - before.socket,
    afxdp = after.afxdp - before.afxdp,
    gro = after.groReceives - before.groReceives,
    groDatagrams = after.groDatagrams - before.groDatagrams;
  const figures = `rx socket +${socket} (GRO: ${gro} receives of ${groDatagrams} datagrams), rx af_xdp +${afxdp}`;
  process.stderr.write(`# ${SIZE} B transfer to B with "rxPath": "socket": ${figures}\n`);
  assert.ok(socket >= Math.floor(SIZE / 1500) * 0.9, `the transfer arrived by the socket: ${figures}\n${logsOf(b)}`);
  assert.ok(afxdp < socket / 20, `little by AF_XDP: ${figures}`);
  assert.ok(gro > 0 && groDatagrams > gro, `UDP GRO coalesced some: ${figures}`);
  const noFrames = stats.ports.filter((p) => p.path === 'udp').reduce((t, p) => t + Number(p.rx_gro_no_frames ?? 0), 0);
  assert.equal(noFrames, 0, 'no datagram of a coalesced receive lacked a frame');
  const dev = stats.afxdp[0]!;
  assert.equal(dev.rxPath, 'socket');
  assert.match(dev.rxPathReason ?? '', /arrive by the kernel socket with UDP GRO/);
  const text = nsExec(b.ns, xdpwgBin, ['stats', b.ifname]);
  assert.match(text, /receive: .*arrive by the kernel socket with UDP GRO/);
  assert.match(
    text,
    /worker 0 by path: rx af_xdp \d+ bursts \d+ packets \d+ bytes; rx socket \d+ bursts \d+ packets \d+ bytes \(GRO: [1-9]\d* coalesced receives/,
  );
  assert.match(text, /transmit: /);
});

test('"rxPath": "afxdp": the same traffic arrives by AF_XDP, nothing coalesced on the socket', async () => {
  await stopB();
  b.log.length = 0;
  await startB({ rxPath: 'afxdp' }, /data messages from peers arrive by AF_XDP \("rxPath": "afxdp"\) \(copy mode/);
  const { before, after, stats } = await traffic(5702);
  const socket = after.socket - before.socket,
    afxdp = after.afxdp - before.afxdp;
  process.stderr.write(`# ${SIZE} B transfer to B with "rxPath": "afxdp": rx af_xdp +${afxdp}, rx socket +${socket}\n`);
  assert.ok(afxdp >= Math.floor(SIZE / 1500) * 0.9, `the transfer arrived by AF_XDP: af_xdp +${afxdp}, socket +${socket}`);
  assert.ok(socket < afxdp / 20, `little by the socket: af_xdp +${afxdp}, socket +${socket}`);
  assert.equal(after.groReceives, 0);
  assert.equal(stats.afxdp[0]!.rxPath, 'afxdp');
});

test('"rxPath": "auto": the socket on this copy-mode veth while GRO is on, AF_XDP once it is off', async () => {
  await stopB();
  b.log.length = 0;
  await startB(
    {},
    /rxpvb: data messages from peers arrive by the kernel socket with UDP GRO \(copy mode: AF_XDP receive copies every frame; GRO on;/,
  );
  assert.equal(full(b).afxdp[0]!.rxPath, 'socket');
  await stopB();
  b.log.length = 0;
  nsExec(b.ns, 'ethtool', ['-K', 'rxpvb', 'gro', 'off']);
  await startB({}, /rxpvb: data messages from peers arrive by AF_XDP \(copy mode: AF_XDP receive copies every frame; GRO off;/);
  assert.equal(full(b).afxdp[0]!.rxPath, 'afxdp');
});
