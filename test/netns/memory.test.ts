/**
 * Memory under rekeying: two xdpwg daemons pass traffic for N minutes with
 * the session timers shortened twentyfold (test-only XDPWG_TEST_TIME_SCALE,
 * src/protocol/constants.ts: a rekey every 6 s instead of every 2 min,
 * keypairs rejected after 9 s), so every minute sees ~10 handshakes, keypair
 * rotations, retirements and index frees. Resident memory must stay flat:
 * the median of the last samples may exceed the median after warm-up by at
 * most RSS_GROWTH_BOUND_KB.
 *
 * CI: 60 s. Longer (the documented soak): RL_MEMORY_SECONDS=600 node --test dist/test/netns/memory.test.js
 *
 * Idle memory (issue 19): a second pair with everything at its defaults
 * (data path, workers) holds a session and sits idle: the resident set,
 * native handshake crew included, stays within IDLE_RSS_BOUND_KB; a
 * handshake flood is read by the crew, and once it ends the resident set is
 * back within FLOOD_RESIDUE_BOUND_KB of what it was before.
 *
 * After bulk traffic (iperf3 TCP both ways, kernel path with UDP GRO), once
 * the daemons are quiet again their RSS comes back within
 * AFTER_BULK_RSS_BOUND_KB: the threads give their spare memory back
 * (src/native/idle-memory.ts) and GRO messages no longer fill whole 64 KiB
 * frames (native/udp_gro.h kUdpGroLanding). Before both, each bulk run left
 * ~35 MB more resident.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import {
  addPeer,
  configureInterface,
  logsOf,
  peerDump,
  ping,
  startImplementation,
  startPeered,
  twoSides,
  type Side,
} from '../helpers/tunnel-lab.js';
import { datapathEnv, durationFromEnv, pidOf, pingAsync, rssKb, runBench } from './reliability-fixture.js';
import { xdpwgBin } from '../helpers/tunnel-lab.js';
import type { FloodResult } from '../../bench/handshake-flood.js';
import { QUIET_MS } from '../../src/native/idle-memory.js';
import { SCHED_IDLE, SCHED_OTHER, threadPolicies } from '../helpers/thread-policies.js';

const PATH = 'kernel';
const SECONDS = durationFromEnv('RL_MEMORY_SECONDS', 60);
const TIME_SCALE = 20;
const WARMUP_S = 12;
const RSS_GROWTH_BOUND_KB = 16 * 1024;
/**
 * Idle RSS of one daemon with the default workers (the tests force AF_XDP on
 * a veth, test/helpers/netns.ts). Issue 19's goal is 80 MB; measured 81 MB
 * on the AF_XDP path of a veth (45 MB of it the node binary's pages, 8 MB
 * the pinned UMEM) and 73 MB on the kernel path, which is a veth's default.
 * Since then (the V8 interrupt budget, bin/xdpwg) this case has measured
 * 84.7–86.0 MB in the verification runs, before the native handshake crew
 * and after it alike (the suite's default-path figure: 76–77 MB). The bound
 * holds what was reached, with room for noise, so a regression fails.
 */
const IDLE_RSS_BOUND_KB = 88 * 1024;
/**
 * What a 4 s handshake flood may leave resident once the daemon is quiet
 * again. Measured: 0.6–1.2 MB (the main thread's heap after the flood's
 * garbage, collected by the idle release but not shrunk to the page). The
 * Node worker threads that answered floods before the native crew left an
 * isolate each until they stopped.
 */
const FLOOD_RESIDUE_BOUND_KB = 4 * 1024;
/**
 * RSS of a kernel-path daemon quiet again after bulk TCP. Measured: ~73 MB
 * idle, ~92 MB at the peak of a TCP run, back to the idle figure a few
 * seconds after (was ~120 MB and growing with every run).
 */
const AFTER_BULK_RSS_BOUND_KB = 82 * 1024;

const lab = new Lab('rlm');
let a: Side;
let b: Side;

before(async () => {
  requireRoot();
  ({ a, b } = twoSides(lab, 'xdpwg', 'xdpwg', 217));
  const env = { LOG_LEVEL: 'error', XDPWG_TEST_TIME_SCALE: String(TIME_SCALE), ...datapathEnv(PATH) };
  await startPeered(lab, a, b, env);
  assert.equal(ping(b, a.inner4, 3), 3, logsOf(a, b));
});
after(() => {
  lab.cleanup();
  idleLab.cleanup();
});

const idleLab = new Lab('rli');

interface Stats {
  handshakeCryptoThreads: number;
  drops: Record<string, number>;
  idleMemory: Array<{ thread: string; releases: number; pending: boolean }>;
  ports: Array<{ path: string; frames: number; frames_free: number }>;
}

/** `xdpwg stats --json` of one side. */
function statsOf(side: Side): Stats {
  return JSON.parse(nsExec(side.ns, xdpwgBin, ['stats', side.ifname, '--json'])) as Stats;
}

/** Two daemons with the defaults (no datapath file; `env` added) in idleLab, peered, a session made by a ping. */
async function defaultPair(subnet: number, env: Record<string, string> = {}): Promise<{ a: Side; b: Side }> {
  const pair = twoSides(idleLab, 'xdpwg', 'xdpwg', subnet);
  for (const side of [pair.a, pair.b]) {
    await startImplementation(idleLab, side, { LOG_LEVEL: 'error', ...env });
    configureInterface(side);
  }
  addPeer(pair.a, pair.b);
  addPeer(pair.b, pair.a);
  assert.equal(ping(pair.b, pair.a.inner4, 3), 3, logsOf(pair.a, pair.b));
  return pair;
}

/** Idle RSS of the two daemons: the median of a few samples once the idle release had its chance. */
async function idleRssKb(x: Side, y: Side): Promise<number> {
  // Quiet for a moment: the threads give back what they used (QUIET_MS after the last activity).
  await waitFor(
    'the idle release',
    () => (Math.max(rssKb(pidOf(x)), rssKb(pidOf(y))) <= IDLE_RSS_BOUND_KB ? true : null),
    QUIET_MS + 10_000,
    250,
  ).catch(() => undefined);
  // The median of a few samples, so a passing blip (a GC) does not decide.
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(Math.max(rssKb(pidOf(x)), rssKb(pidOf(y))));
    await new Promise((r) => setTimeout(r, 500));
  }
  const kb = median(samples);
  console.log(`idle RSS: ${(kb / 1024).toFixed(1)} MB (samples ${samples.join(', ')} KiB)`);
  return kb;
}

test(
  'defaults, one peer with a session, idle: RSS within the bound, handshake crew included; a handshake flood is read by the crew, and RSS is back within the bound once it ends',
  { timeout: 120_000 },
  async () => {
    const { a: ia, b: ib } = await defaultPair(226);
    assert.ok(statsOf(ia).handshakeCryptoThreads >= 1, 'the crew runs from the start');
    // Our threads are named (thread-roles.ts) and keep the normal policy, the main thread too; bin/xdpwg
    // runs V8 with --single-threaded-gc, so by default every other thread (V8's and Node's helpers, libuv's
    // pool) is SCHED_IDLE.
    const pid = pidOf(ia);
    const threads = threadPolicies(pid);
    assert.ok(
      threads.some((t) => t.name === 'xdpwg-w0'),
      `the workers name themselves: ${JSON.stringify(threads)}`,
    );
    const ours = threads.filter((t) => t.tid === pid || t.name.startsWith('xdpwg-'));
    const helpers = threads.filter((t) => t.tid !== pid && !t.name.startsWith('xdpwg-'));
    assert.deepEqual(
      ours.filter((t) => t.policy !== SCHED_OTHER),
      [],
      `threads: ${JSON.stringify(threads)}`,
    );
    assert.ok(helpers.length >= 4, `helpers: ${JSON.stringify(threads)}`);
    assert.deepEqual(
      helpers.filter((t) => t.policy !== SCHED_IDLE),
      [],
      `threads: ${JSON.stringify(threads)}`,
    );
    const idleKb = await idleRssKb(ia, ib);
    assert.ok(idleKb <= IDLE_RSS_BOUND_KB, `idle RSS ${idleKb} KiB over the bound ${IDLE_RSS_BOUND_KB} KiB`);

    // A flood of valid-MAC1 initiations from b's namespace at a's port, from keys a does not know: the
    // crew reads each (message A up to the static key) and finds no peer (counted as rx-handshake-invalid).
    const unknownBefore = statsOf(ia).drops['rx-handshake-invalid'] ?? 0;
    const result = await runBench<FloodResult>(
      ib.ns,
      'handshake-flood',
      ['flood', '--target', `${ia.outer4}:${ia.port}`, '--responder-public', ia.keys.publicKey, '--sources', ib.outer4, '--seconds', '4'],
      60_000,
    );
    assert.ok(result.sent > 0, `the flood sent nothing: ${JSON.stringify(result)}`);
    const read = (statsOf(ia).drops['rx-handshake-invalid'] ?? 0) - unknownBefore;
    assert.ok(read > 0, `the crew read none of ${result.sent} initiations\n${logsOf(ia)}`);
    assert.equal(ia.proc!.exitCode, null, logsOf(ia));
    const afterKb = await idleRssKb(ia, ib);
    assert.ok(
      afterKb <= idleKb + FLOOD_RESIDUE_BOUND_KB,
      `RSS after the flood ${afterKb} KiB, ${afterKb - idleKb} KiB more than before it (bound ${FLOOD_RESIDUE_BOUND_KB} KiB)`,
    );
    // The session still works.
    assert.equal(ping(ib, ia.inner4, 2), 2, logsOf(ia, ib));
  },
);

test('quiet after traffic, every socket port has all its frames back (the sender keeps empty TUN frames only while traffic flows)', async () => {
  // The kernel socket only: TUN packets then land in the socket ports' frames (send.ts readTun).
  const { a, b } = await defaultPair(230, { XDPWG_AFXDP: 'off' });
  assert.equal(ping(a, b.inner4, 20), 20, logsOf(a, b));
  for (const side of [a, b]) {
    let ports: Stats['ports'] = [];
    await waitFor(
      `${side.ifname}'s socket ports to have every frame back`,
      () => {
        ports = statsOf(side).ports;
        return ports.length > 0 && ports.every((p) => p.path === 'udp' && p.frames > 0 && p.frames_free === p.frames) ? true : null;
      },
      QUIET_MS + 10_000,
      250,
    ).catch((err: Error) => assert.fail(`${err.message}: ${JSON.stringify(ports.map((p) => [p.path, p.frames_free, p.frames]))}`));
  }
});

test(
  'a quiet daemon gives memory back on every thread while its TUN carries packets that route to no peer',
  { timeout: 90_000 },
  async () => {
    const { a: qa } = await defaultPair(228);
    // An address in qa's interface subnet that no peer's allowed IPs take: the kernel routes it into the
    // TUN and a worker drops it (tx-no-route), as it drops a fresh interface's own IPv6 router
    // solicitations. Such packets are not traffic: they must not keep a thread's release waiting.
    const nowhere = qa.inner4.replace(/\.\d+$/, '.77');
    const noRouteBefore = statsOf(qa).drops['tx-no-route'] ?? 0;
    const seconds = (QUIET_MS + 12_000) / 1000;
    const pinger = pingAsync(qa, nowhere, Math.ceil(seconds / 0.2), 0.2);
    try {
      // The session ping left every thread that carried it with a release due; each must run it though
      // the unrouted packets keep coming (every 200 ms: before, the worker reading them re-armed each time).
      const done = await waitFor(
        'every thread of the daemon released while unrouted packets came in',
        () => {
          const s = statsOf(qa);
          const noRoute = (s.drops['tx-no-route'] ?? 0) - noRouteBefore;
          return noRoute >= 10 && s.idleMemory.every((t) => !t.pending && t.releases > 0) ? { s, noRoute } : null;
        },
        QUIET_MS + 12_000,
        500,
      );
      console.log(`idle releases with ${done.noRoute} unrouted packets dropped: ${JSON.stringify(done.s.idleMemory)}`);
      assert.ok(done.s.idleMemory.length >= 3, `main and the workers: ${JSON.stringify(done.s.idleMemory)}`);
    } finally {
      await pinger;
    }
  },
);

const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

test(
  `${PATH} path: ${SECONDS} s of traffic with a rekey every ${120 / TIME_SCALE} s: RSS flat`,
  { timeout: (SECONDS + 60) * 1000 },
  async () => {
    const pids = { a: pidOf(a), b: pidOf(b) };
    // 200 pings a second both ways for the whole run.
    const traffic = Promise.all([pingAsync(b, a.inner4, SECONDS * 200, 0.005), pingAsync(a, b.inner4, SECONDS * 200, 0.005)]);
    const samples: Array<{ t: number; a: number; b: number }> = [];
    const handshakes = new Set<number>();
    const t0 = Date.now();
    while (Date.now() - t0 < SECONDS * 1000) {
      await new Promise((r) => setTimeout(r, 1000));
      samples.push({ t: (Date.now() - t0) / 1000, a: rssKb(pids.a), b: rssKb(pids.b) });
      const hs = peerDump(b, a.keys.publicKey)?.latestHandshake;
      if (hs) handshakes.add(hs);
    }
    const [ab, ba] = await traffic;
    const early = samples.filter((s) => s.t >= WARMUP_S && s.t < WARMUP_S + 6);
    const late = samples.slice(-6);
    const report = {
      seconds: SECONDS,
      timeScale: TIME_SCALE,
      handshakesSeen: handshakes.size,
      pings: { bToA: ab, aToB: ba },
      rssKb: {
        a: { afterWarmup: median(early.map((s) => s.a)), end: median(late.map((s) => s.a)), max: Math.max(...samples.map((s) => s.a)) },
        b: { afterWarmup: median(early.map((s) => s.b)), end: median(late.map((s) => s.b)), max: Math.max(...samples.map((s) => s.b)) },
      },
    };
    console.log(`memory: ${JSON.stringify(report)}`);
    assert.equal(a.proc!.exitCode, null);
    assert.equal(b.proc!.exitCode, null);
    // Whole-second handshake times: rekeys 6 s apart are all distinct.
    assert.ok(
      handshakes.size >= Math.floor(SECONDS / (120 / TIME_SCALE)) - 2,
      `only ${handshakes.size} handshakes in ${SECONDS} s\n${logsOf(a, b)}`,
    );
    assert.ok(
      ab.received >= ab.sent * 0.98 && ba.received >= ba.sent * 0.98,
      `traffic lost across rekeys: ${JSON.stringify(report.pings)}`,
    );
    for (const side of ['a', 'b'] as const) {
      const r = report.rssKb[side];
      assert.ok(
        r.end - r.afterWarmup <= RSS_GROWTH_BOUND_KB,
        `${side}: RSS grew ${r.end - r.afterWarmup} KiB over the run (bound ${RSS_GROWTH_BOUND_KB})`,
      );
    }
  },
);

test('kernel path: after bulk TCP both ways, quiet daemons give the memory back', { timeout: 120_000 }, async () => {
  const pids = { a: pidOf(a), b: pidOf(b) };
  for (const [from, to, port] of [
    [a, b, 5301],
    [b, a, 5302],
  ] as const) {
    lab.spawn(to.ns, 'iperf3', ['-s', '-1', '-B', to.inner4, '-p', String(port)]);
    await waitFor('iperf3 server', () => nsExec(to.ns, 'ss', ['-ltn']).includes(`${to.inner4}:${port}`));
    const stdout = nsExec(from.ns, 'iperf3', ['-c', to.inner4, '-p', String(port), '-t', '4', '-J'], { timeoutMs: 60_000 });
    const report = JSON.parse(stdout) as { end: { sum_received: { bytes: number } } };
    assert.ok(report.end.sum_received.bytes > 10_000_000, `iperf3 moved only ${report.end.sum_received.bytes} bytes`);
  }
  const peak = { a: rssKb(pids.a), b: rssKb(pids.b) };
  let now = peak;
  await waitFor(
    `both daemons back within ${AFTER_BULK_RSS_BOUND_KB} KiB once quiet`,
    () => {
      now = { a: rssKb(pids.a), b: rssKb(pids.b) };
      return now.a <= AFTER_BULK_RSS_BOUND_KB && now.b <= AFTER_BULK_RSS_BOUND_KB ? true : null;
    },
    30_000,
    250,
  ).catch((e: Error) => assert.fail(`${e.message}: right after the runs ${JSON.stringify(peak)} KiB, last ${JSON.stringify(now)} KiB`));
  console.log(`RSS after bulk TCP: ${JSON.stringify(peak)} KiB right after, ${JSON.stringify(now)} KiB once quiet`);
  assert.equal(a.proc!.exitCode, null, logsOf(a));
  assert.equal(b.proc!.exitCode, null, logsOf(b));
});
