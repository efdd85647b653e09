/**
 * Hostile input at rate: a stranger's namespace blasts the daemon with every
 * kind of malformed, forged and replayed datagram (bench/fuzz-load.ts) for a
 * fixed time at the highest rate the generator reaches. Throughout and after:
 * the daemon lives, the legitimate tunnel passes pings, resident memory stays
 * under a stated bound, and `xdpwg stats --json` counts each kind of drop
 * under its reason.
 *
 *   G (generator, 10.211.9.2) ── A (xdpwg under test) ── B (xdpwg, legitimate peer)
 *
 * CI: 8 s of flood. Longer: RL_FUZZ_SECONDS=120 node --test dist/test/netns/hostile-input.test.js
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, nsExec, requireRoot } from '../helpers/netns.js';
import { addPeer, configureInterface, logsOf, ping, startImplementation, twoSides, type Side } from '../helpers/tunnel-lab.js';
import {
  capture,
  datapathEnv,
  dropDelta,
  durationFromEnv,
  pidOf,
  pingAsync,
  rssKb,
  runBench,
  sampleRss,
  statsOf,
} from './reliability-fixture.js';
import type { FuzzLoadResult } from '../../bench/fuzz-load.js';

/** RSS may grow by at most this much over the idle daemon's during and after the flood. */
const RSS_GROWTH_BOUND_KB = 96 * 1024;
const SECONDS = durationFromEnv('RL_FUZZ_SECONDS', 8);
/** The kernel-socket data path; the AF_XDP variant is the same file with 'afxdp'. */
const PATH = 'kernel';

const lab = new Lab('rlh');
let a: Side;
let b: Side;
let g: string;

before(async () => {
  requireRoot();
  ({ a, b } = twoSides(lab, 'xdpwg', 'xdpwg', 211));
  g = lab.ns('g');
  lab.veth({ ns: a.ns, dev: 'rlhga', addrs: ['10.211.9.1/24'] }, { ns: g, dev: 'rlhgg', addrs: ['10.211.9.2/24'] });
  await startImplementation(lab, a, { LOG_LEVEL: 'error', ...datapathEnv(PATH) });
  await startImplementation(lab, b, { LOG_LEVEL: 'error', ...datapathEnv(PATH) });
  configureInterface(a);
  configureInterface(b);
  addPeer(a, b);
  addPeer(b, a);
});
after(() => lab.cleanup());

test(
  `${PATH} path: hostile input for ${SECONDS} s: daemon alive, tunnel up, memory bounded, every drop counted by reason`,
  { timeout: 60_000 + SECONDS * 3000 },
  async () => {
    assert.equal(ping(b, a.inner4, 3), 3, logsOf(a, b));
    // Real data messages B→A, captured where B sends them (before any XDP program on A's side sees
    // them): the material for the replayed and forged classes.
    const pcap = `/tmp/xdpwg-${a.ns}-data.pcap`;
    await capture(lab, b.ns, 'rlhvb', `udp and dst port ${a.port}`, pcap, 40, () => {
      ping(b, a.inner4, 20);
    });
    const pid = pidOf(a);
    const rssIdle = rssKb(pid);
    const before = statsOf(a).drops;

    const rss = sampleRss(pid);
    const flood = runBench<FuzzLoadResult>(
      g,
      'fuzz-load',
      [
        '--target',
        `10.211.9.1:${a.port}`,
        '--responder-public',
        a.keys.publicKey,
        '--seconds',
        String(SECONDS),
        '--capture',
        pcap,
        '--seed',
        '7',
      ],
      SECONDS * 1000 + 60_000,
    );
    const during = pingAsync(b, a.inner4, Math.floor(SECONDS * 4), 0.25);
    const [sent, pings] = await Promise.all([flood, during]);
    const samples = rss.stop();

    assert.equal(a.proc!.exitCode, null, `daemon died during the flood\n${logsOf(a)}`);
    const rssPeak = Math.max(rssIdle, ...samples);
    const drops = dropDelta(before, statsOf(a).drops);
    // RSS over the run, ten points: a leak climbs steadily, heap growth levels off.
    const rssTraceKb = Array.from({ length: 10 }, (_, i) => samples[Math.floor(((i + 1) * samples.length) / 10) - 1]);
    const report = {
      rssTraceKb,
      seconds: sent.seconds,
      sentDatagrams: sent.sent,
      ratePps: sent.ratePps,
      byClass: sent.byClass,
      captured: sent.captured,
      pingsDuringFlood: pings,
      rssIdleKb: rssIdle,
      rssPeakKb: rssPeak,
      rssAfterKb: rssKb(pid),
      drops,
    };
    console.log(`hostile-input: ${JSON.stringify(report)}`);

    assert.ok(sent.captured >= 10, `captured only ${sent.captured} data messages`);
    assert.ok(pings.received >= pings.sent * 0.8, `legitimate pings during the flood: ${pings.received}/${pings.sent}`);
    assert.equal(ping(b, a.inner4, 5), 5, `tunnel after the flood\n${logsOf(a, b)}`);
    assert.ok(rssPeak - rssIdle <= RSS_GROWTH_BOUND_KB, `RSS grew ${rssPeak - rssIdle} KiB (> ${RSS_GROWTH_BOUND_KB})`);
    // Every class lands under its reason (a datagram may be lost in the socket buffer, so: > 0, not equal).
    for (const reason of ['rx-short', 'rx-unknown-type', 'rx-bad-size', 'rx-unknown-index', 'rx-auth-failed', 'rx-replay']) {
      assert.ok((drops[reason] ?? 0) > 0, `no ${reason} drops counted: ${JSON.stringify(drops)}`);
    }
    // Valid-MAC1 garbage is either decrypted and refused, or (under load) answered with a cookie.
    assert.ok(
      (drops['rx-handshake-invalid'] ?? 0) + (drops['rx-cookie-required'] ?? 0) > 0,
      `valid-MAC1 initiations not counted: ${JSON.stringify(drops)}`,
    );
    // The kernel socket path received what it counts: drops plus the few legitimate packets.
    const counted = Object.values(drops).reduce((x, y) => x + y, 0);
    assert.ok(counted > sent.sent * 0.3, `only ${counted} of ${sent.sent} hostile datagrams were counted as drops`);
    nsExec(a.ns, 'ip', ['link', 'show', a.ifname]);
  },
);
