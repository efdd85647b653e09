/**
 * Two xdpwg interfaces (two processes, two listen ports) on one uplink, each
 * with a wireguard-go peer, and another operator's XDP program on it.
 *
 *   S: xdpwg w0 (port 51820), xdpwg w1 (port 51821)  ── uplink ──  P: wireguard-go p0, p1
 *
 * libxdp's dispatcher cannot run here (this kernel refuses freplace
 * programs), and the kernel keeps one AF_XDP buffer pool per (device,
 * queue): the second process joins the first's XDP program and UMEM
 * (src/daemon/xdp/uplink-share.ts, native/umem_share.h), so both tunnels run on
 * AF_XDP. When the owner stops (SIGTERM, or kill -9: its filter is then
 * stale and replaced) the other attaches a filter of its own and stays on
 * AF_XDP, and the old owner, restarted, joins it; when the member is killed,
 * the owner releases its slot and keeps going, and the member, restarted,
 * joins again. An XDP program another tool loaded first
 * (xdp-filter, from xdp-tools, through libxdp) keeps running and counting
 * whatever xdpwg does; where libxdp's dispatcher works, xdpwg joins it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Lab, nsExec, requireRoot, sh, waitFor } from '../helpers/netns.js';
import { addPeer, configureInterface, genKeys, logsOf, ping, type Side } from '../helpers/tunnel-lab.js';
import { afxdpSides, carriedOverAfxdp, pathTo, portTotals, startFresh, statsOf } from '../helpers/afxdp-lab.js';
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
    ...x,
    ifname: `${x.ifname}1`,
    keys: genKeys(),
    port,
    log: [],
    proc: undefined,
    inner4: `10.${S}.2.${host}`,
    inner6: `fd00:${S}:2::${host}`,
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
  try {
    nsExec(w0.ns, 'xdp-filter', ['unload', '--all']);
  } catch {
    /* not loaded */
  }
  lab.cleanup();
  if (bpffs) {
    try {
      sh('umount', [bpffs]);
    } catch {
      /* not mounted */
    }
    rmSync(bpffs, { recursive: true, force: true });
    delete process.env.LIBXDP_BPFFS;
  }
});

async function stop(side: Side, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const proc = side.proc as ChildProcess;
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill(signal);
  await exited;
}

/** Both tunnels answer, v4 and v6 inside. */
function bothTunnelsAnswer(): void {
  for (const [x, peer] of [
    [w0, p0],
    [w1, p1],
  ] as const) {
    assert.equal(ping(x, peer.inner4, 3), 3, logsOf(x, peer));
    assert.equal(ping(x, peer.inner6, 3), 3, logsOf(x, peer));
  }
}

/** Both peers of both processes on af_xdp, and 10 pings each carried over AF_XDP. */
async function bothOnAfxdp(): Promise<void> {
  for (const [x, peer, to] of [
    [w0, p0, p0.inner4],
    [w1, p1, p1.inner6],
  ] as const) {
    await waitFor(`${x.ifname} on af_xdp`, () => pathTo(statsOf(x), peer.keys.publicKey) === 'af_xdp' || undefined, 20_000, 250).catch(
      (err: Error) => {
        throw new Error(`${err.message}: ${pathTo(statsOf(x), peer.keys.publicKey)}\n${logsOf(x)}`);
      },
    );
    const proof = await carriedOverAfxdp(x, peer, 10, () => {
      assert.equal(ping(x, to, 10), 10, logsOf(x, peer));
    });
    process.stderr.write(`# ${proof.text}\n`);
  }
}

/**
 * After x swapped its shared port for one of its own, its workers report the
 * new port's counters (from zero) within a second: wait for that before
 * measuring, or the old port's totals would be compared with the new one's.
 */
async function newPortReported(x: Side, oldIn: number): Promise<void> {
  await waitFor(
    `${x.ifname}'s new AF_XDP port in its stats`,
    () => portTotals(statsOf(x), 'af_xdp').ipackets < oldIn || undefined,
    10_000,
    100,
  );
}

/** Starts x again and waits until it has joined (or attached) and its peer's path is af_xdp. */
async function restart(x: Side, peer: Side, outer: 4 | 6): Promise<void> {
  await startFresh(lab, x);
  configureInterface(x);
  addPeer(x, peer, { outer });
  await waitFor(
    `the restarted ${x.ifname} on af_xdp`,
    () => pathTo(statsOf(x), peer.keys.publicKey) === 'af_xdp' || undefined,
    20_000,
    250,
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${pathTo(statsOf(x), peer.keys.publicKey)}\n${logsOf(x)}`);
  });
  // The first packet starts a handshake (the peer still holds the old process's session); measure once it is done.
  await waitFor(`${x.ifname}'s first answer from ${peer.ifname}`, () => ping(x, peer.inner4, 1) === 1 || undefined, 15_000, 100);
}

test("both tunnels pass traffic and both processes are on af_xdp: the second shares the first one's program and UMEM", async () => {
  bothTunnelsAnswer();
  await bothOnAfxdp();
  assert.ok(
    w1.log.some((l) => /we share that program and its UMEM on 1 queue\(s\) as slot 1/.test(l)),
    logsOf(w1),
  );
  assert.ok(
    w0.log.some((l) => /shares our XDP program and UMEM on queue\(s\) 0 as slot 1/.test(l)),
    logsOf(w0),
  );
});

test('when the owner stops, the member attaches a filter of its own and stays on af_xdp; restarted, the old owner joins it', async () => {
  const oldIn = portTotals(statsOf(w1), 'af_xdp').ipackets;
  const t0 = Date.now();
  await stop(w0);
  await waitFor(
    'w1 on af_xdp on its own',
    () => (pathTo(statsOf(w1), p1.keys.publicKey) === 'af_xdp' && w1.log.some((l) => /XDP filter attached/.test(l))) || undefined,
    15_000,
    250,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${logsOf(w1)}`);
  });
  process.stderr.write(`# ${w1.ifname} back on AF_XDP with a filter of its own ${Date.now() - t0} ms after ${w0.ifname} was stopped\n`);
  await newPortReported(w1, oldIn);
  const proof = await carriedOverAfxdp(w1, p1, 10, () => {
    assert.equal(ping(w1, p1.inner6, 10), 10, logsOf(w1, p1));
  });
  process.stderr.write(`# ${proof.text}\n`);
  await restart(w0, p0, 4);
  bothTunnelsAnswer();
  await bothOnAfxdp();
  assert.ok(
    w0.log.some((l) => /we share that program and its UMEM/.test(l)),
    `the restarted w0 joined w1:\n${logsOf(w0)}`,
  );
});

test('when the member is killed with -9, the owner releases its slot and keeps going; restarted, the member joins again', async () => {
  // w1 owns the uplink now, w0 shares it.
  await stop(w0, 'SIGKILL');
  await waitFor(
    'w1 to release the slot',
    () => w1.log.some((l) => /left the shared AF_XDP path \(its connection ended\); slot 1 released/.test(l)) || undefined,
    10_000,
    100,
  );
  const proof = await carriedOverAfxdp(w1, p1, 10, () => {
    assert.equal(ping(w1, p1.inner6, 10), 10, logsOf(w1, p1));
  });
  process.stderr.write(`# ${proof.text}\n`);
  await restart(w0, p0, 4);
  bothTunnelsAnswer();
  await bothOnAfxdp();
});

test('when the owner is killed with -9, the member replaces its stale filter and stays on af_xdp', async () => {
  const oldIn = portTotals(statsOf(w0), 'af_xdp').ipackets;
  const t0 = Date.now();
  await stop(w1, 'SIGKILL');
  await waitFor(
    'w0 on af_xdp on its own',
    () =>
      (pathTo(statsOf(w0), p0.keys.publicKey) === 'af_xdp' && w0.log.some((l) => /replaced 1 left by a killed process/.test(l))) ||
      undefined,
    15_000,
    250,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${logsOf(w0)}`);
  });
  process.stderr.write(`# ${w0.ifname} back on AF_XDP with a filter of its own ${Date.now() - t0} ms after kill -9 of ${w1.ifname}\n`);
  await newPortReported(w0, oldIn);
  const proof = await carriedOverAfxdp(w0, p0, 10, () => {
    assert.equal(ping(w0, p0.inner4, 10), 10, logsOf(w0, p0));
  });
  process.stderr.write(`# ${proof.text}\n`);
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
  const joined = w0.log.some((l) => l.includes('(libxdp dispatcher)'));
  process.stderr.write(
    `# xdp-filter passed +${passed} packets during 10 pings; xdpwg ${joined ? "joined libxdp's dispatcher" : 'found no dispatcher'}; path ${pathTo(s, p0.keys.publicKey)}\n`,
  );
  assert.ok(passed >= 10, `xdp-filter kept counting (+${passed})`);
  assert.match(
    nsExec(w0.ns, 'ip', ['-d', 'link', 'show', uplink]),
    /xdpfilt|xdp_dispatcher/,
    'xdp-filter (or the dispatcher holding it) is still attached',
  );
  if (joined) assert.equal(pathTo(s, p0.keys.publicKey), 'af_xdp');
  else
    assert.match(
      pathTo(s, p0.keys.publicKey),
      /dispatcher is unavailable \(libxdp: (Compatibility check for dispatcher program failed|No bpffs found)/,
      "without a dispatcher, the path says why it is not af_xdp, in libxdp's words",
    );
  await stop(w0);
  assert.ok(xdpFilterPassed(w0.ns) >= before + passed, "xdp-filter survived xdpwg's exit");
  assert.match(nsExec(w0.ns, 'ip', ['-d', 'link', 'show', uplink]), /xdpfilt|xdp_dispatcher/, "xdpwg's exit left xdp-filter attached");
});
