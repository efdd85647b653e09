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
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, requireRoot } from '../helpers/netns.js';
import { addPeer, configureInterface, logsOf, peerDump, ping, startImplementation, twoSides, type Side } from '../helpers/tunnel-lab.js';
import { datapathEnv, durationFromEnv, pidOf, pingAsync, rssKb } from './reliability-fixture.js';

const PATH = 'kernel';
const SECONDS = durationFromEnv('RL_MEMORY_SECONDS', 60);
const TIME_SCALE = 20;
const WARMUP_S = 12;
const RSS_GROWTH_BOUND_KB = 16 * 1024;

const lab = new Lab('rlm');
let a: Side;
let b: Side;

before(async () => {
  requireRoot();
  ({ a, b } = twoSides(lab, 'xdpwg', 'xdpwg', 217));
  const env = { LOG_LEVEL: 'error', XDPWG_TEST_TIME_SCALE: String(TIME_SCALE), ...datapathEnv(PATH) };
  await startImplementation(lab, a, env);
  await startImplementation(lab, b, env);
  configureInterface(a);
  configureInterface(b);
  addPeer(a, b);
  addPeer(b, a);
  assert.equal(ping(b, a.inner4, 3), 3, logsOf(a, b));
});
after(() => lab.cleanup());

const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

test(`${PATH} path: ${SECONDS} s of traffic with a rekey every ${120 / TIME_SCALE} s: RSS flat`, { timeout: (SECONDS + 60) * 1000 }, async () => {
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
    seconds: SECONDS, timeScale: TIME_SCALE, handshakesSeen: handshakes.size,
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
  assert.ok(handshakes.size >= Math.floor(SECONDS / (120 / TIME_SCALE)) - 2, `only ${handshakes.size} handshakes in ${SECONDS} s\n${logsOf(a, b)}`);
  assert.ok(ab.received >= ab.sent * 0.98 && ba.received >= ba.sent * 0.98, `traffic lost across rekeys: ${JSON.stringify(report.pings)}`);
  for (const side of ['a', 'b'] as const) {
    const r = report.rssKb[side];
    assert.ok(r.end - r.afterWarmup <= RSS_GROWTH_BOUND_KB, `${side}: RSS grew ${r.end - r.afterWarmup} KiB over the run (bound ${RSS_GROWTH_BOUND_KB})`);
  }
});
