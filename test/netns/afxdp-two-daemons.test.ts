/**
 * Two xdpwg interfaces (two processes, two listen ports) on one uplink, each
 * with a wireguard-go peer, and another operator's XDP program on it.
 *
 *   S: xdpwg w0 (port 51820), xdpwg w1 (port 51821)  ── uplink ──  P: wireguard-go p0, p1
 *
 * The kernel keeps one AF_XDP socket per (device, queue), so on a one-queue
 * uplink only one process can own its AF_XDP path at a time; the other's
 * peers take its kernel socket, and `xdpwg stats` says why. Both tunnels
 * must pass traffic all along, and when the owner stops, the other takes
 * AF_XDP over within seconds. An XDP program another tool loaded first
 * (xdp-filter, from xdp-tools, through libxdp) keeps running and counting
 * whatever xdpwg does; where libxdp's dispatcher works, xdpwg joins it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Lab, nsExec, requireRoot, sh, waitFor } from '../helpers/netns.js';
import { addPeer, configureInterface, genKeys, logsOf, ping, type Side } from '../helpers/tunnel-lab.js';
import { afxdpSides, carriedOverAfxdp, pathTo, startFresh, statsOf } from '../helpers/afxdp-lab.js';
import { xdpAttached } from './echo-fixture.js';

const S = 216;
const lab = new Lab('sdt');
let w0: Side, p0: Side, w1: Side, p1: Side;
let uplink: string;

before(async () => {
  requireRoot();
  const sides = afxdpSides(lab, 'xdpwg', 'wireguard-go', S);
  ({ a: w0, b: p0, vethA: uplink } = sides);
  w0.port = 51820;
  p0.port = 51830;
  const second = (x: Side, host: number, port: number): Side => ({
    ...x, ifname: `${x.ifname}1`, keys: genKeys(), port, log: [], proc: undefined,
    inner4: `10.${S}.2.${host}`, inner6: `fd00:${S}:2::${host}`,
  });
  w1 = second(w0, 1, 51821);
  p1 = second(p0, 2, 51831);
  for (const side of [p0, p1, w0, w1]) {
    await startFresh(lab, side);
    configureInterface(side);
  }
  addPeer(p0, w0, { outer: 4 });
  addPeer(p1, w1, { outer: 6 });
  addPeer(w0, p0, { outer: 4 });
  addPeer(w1, p1, { outer: 6 });
});
/** xdp-filter keeps its state in a bpffs: a private one, named to libxdp by LIBXDP_BPFFS (inherited by every child). */
let bpffs: string | undefined;
after(() => {
  try { nsExec(w0.ns, 'xdp-filter', ['unload', '--all']); } catch { /* not loaded */ }
  lab.cleanup();
  if (bpffs) {
    try { sh('umount', [bpffs]); } catch { /* not mounted */ }
    rmSync(bpffs, { recursive: true, force: true });
    delete process.env.LIBXDP_BPFFS;
  }
});

async function stop(side: Side): Promise<void> {
  const proc = side.proc as ChildProcess;
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

/** Both tunnels answer, v4 and v6 inside. */
function bothTunnelsAnswer(): void {
  for (const [x, peer] of [[w0, p0], [w1, p1]] as const) {
    assert.equal(ping(x, peer.inner4, 3), 3, logsOf(x, peer));
    assert.equal(ping(x, peer.inner6, 3), 3, logsOf(x, peer));
  }
}

test('both tunnels pass traffic; the uplink\'s AF_XDP owner is on af_xdp, the other says why it is not', async () => {
  bothTunnelsAnswer();
  const proof = await carriedOverAfxdp(w0, p0, 10, () => { assert.equal(ping(w0, p0.inner4, 10), 10); });
  process.stderr.write(`# ${proof.text}\n`);
  const path1 = await waitFor('w1 to report its path', () => { const p = pathTo(statsOf(w1), p1.keys.publicKey); return p.startsWith('kernel socket') ? p : undefined; }, 5_000);
  process.stderr.write(`# ${w1.ifname}: ${path1}\n`);
  assert.match(path1, /already served by another xdpwg process|another AF_XDP socket/, 'the reason names the other process');
});

test('when the owner stops, the other takes AF_XDP over within seconds, and its tunnel keeps working', async () => {
  const t0 = Date.now();
  await stop(w0);
  await waitFor('w1 on af_xdp', () => pathTo(statsOf(w1), p1.keys.publicKey) === 'af_xdp', 15_000, 250);
  process.stderr.write(`# ${w1.ifname} took AF_XDP over ${Date.now() - t0} ms after ${w0.ifname} was stopped\n`);
  const proof = await carriedOverAfxdp(w1, p1, 10, () => { assert.equal(ping(w1, p1.inner6, 10), 10, logsOf(w1, p1)); });
  process.stderr.write(`# ${proof.text}\n`);
  // And the stopped one, started again, works beside it (on its kernel socket).
  await startFresh(lab, w0);
  configureInterface(w0);
  addPeer(w0, p0, { outer: 4 });
  bothTunnelsAnswer();
});

/** xdp-filter's aggregate XDP_PASS packet count (its stats map, read by `xdp-filter status`). */
function xdpFilterPassed(ns: string): number {
  const m = /XDP_PASS\s+(\d+) pkts/.exec(nsExec(ns, 'xdp-filter', ['status']));
  assert.ok(m, 'xdp-filter status has an XDP_PASS line');
  return Number(m[1]);
}

test('an XDP program another tool loaded first keeps running and counting; xdpwg works beside it', async () => {
  await stop(w0);
  await stop(w1);
  await waitFor('xdpwg programs gone from the uplink', () => !xdpAttached(w0.ns, uplink), 5_000);
  bpffs = mkdtempSync('/run/xdpwg-test-bpffs-');
  sh('mount', ['-t', 'bpf', 'bpf', bpffs]);
  process.env.LIBXDP_BPFFS = bpffs;
  nsExec(w0.ns, 'xdp-filter', ['load', '-m', 'native', uplink]);
  await startFresh(lab, w0);
  configureInterface(w0);
  addPeer(w0, p0, { outer: 4 });
  const before = xdpFilterPassed(w0.ns);
  assert.equal(ping(w0, p0.inner4, 10), 10, logsOf(w0, p0));
  const passed = xdpFilterPassed(w0.ns) - before;
  const s = statsOf(w0);
  const joined = w0.log.some((l) => l.includes('libxdp dispatcher'));
  process.stderr.write(`# xdp-filter passed +${passed} packets during 10 pings; xdpwg ${joined ? 'joined libxdp\'s dispatcher' : 'found no dispatcher'}; path ${pathTo(s, p0.keys.publicKey)}\n`);
  assert.ok(passed >= 10, `xdp-filter kept counting (+${passed})`);
  assert.match(nsExec(w0.ns, 'ip', ['-d', 'link', 'show', uplink]), /xdpfilt|xdp_dispatcher/, 'xdp-filter (or the dispatcher holding it) is still attached');
  if (joined) assert.equal(pathTo(s, p0.keys.publicKey), 'af_xdp');
  else assert.match(pathTo(s, p0.keys.publicKey), /dispatcher is unavailable/, 'without a dispatcher, the path says why it is not af_xdp');
  await stop(w0);
  assert.ok(xdpFilterPassed(w0.ns) >= before + passed, 'xdp-filter survived xdpwg\'s exit');
  assert.match(nsExec(w0.ns, 'ip', ['-d', 'link', 'show', uplink]), /xdpfilt|xdp_dispatcher/, 'xdpwg\'s exit left xdp-filter attached');
});
