/**
 * Rekey stress (issue 12's long run; documented in README, not in CI): the
 * paths that retire keypairs while workers use them, driven hard for
 * minutes, and the wire checked for what must never happen.
 *
 *   A: xdpwg, two workers (two TUN queues), session timers shortened by
 *      --time-scale (XDPWG_TEST_TIME_SCALE: at 20, a rekey every 6 s and
 *      keypairs rejected after 9 s)
 *   B: wireguard-go (Debian's), the reference peer
 *
 * For the whole run: iperf3 UDP both ways at a fixed rate (--bidir, several
 * streams, so flows land on both of A's queues; UDP because TCP backs off
 * after every torn-down session and would leave the wire nearly idle) plus
 * pings both ways; every second A gets
 * `wg syncconf` with its unchanged configuration and B's peer removed and
 * added again (every retirement path: clear on removal, rotation, expiry).
 * In the middle, tcpdump records --capture-seconds of the veth between them;
 * every transport message in it is tried under an all-zero key (none may
 * open) and its (receiver index, counter) checked for repeats (none may
 * repeat). A's RSS is sampled every second.
 *
 *   flock /tmp/xdpwg-netns.lock node dist/bench/rekey-stress.js --seconds 600
 *
 * Options: --seconds N (600), --capture-seconds N (20), --time-scale N (20),
 * --rate MBIT per direction (40). Prints one JSON report; exits 1 when a
 * check fails. Needs root (namespaces).
 */
import { createDecipheriv } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { Lab, nsExec, requireRoot, waitFor } from '../test/helpers/netns.js';
import { addPeer, configureInterface, peerDump, ping, startImplementation, twoSides, wg, xdpwgBin } from '../test/helpers/tunnel-lab.js';
import { readPcap, repeatedNonces, udpPayload, wireguardDataHeaders } from '../test/helpers/pcap.js';
import { pidOf, pingAsync, rssKb } from '../test/netns/reliability-fixture.js';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!(v > 0)) throw new Error(`--${name} needs a positive number, got ${process.argv[i + 1]}`);
  return v;
}

const SECONDS = option('seconds', 600);
const CAPTURE_SECONDS = option('capture-seconds', 20);
const TIME_SCALE = option('time-scale', 20);
const RATE_MBIT = option('rate', 40);
const WARMUP_S = Math.min(30, Math.floor(SECONDS / 5));
const RSS_GROWTH_BOUND_KB = 16 * 1024;
const CAPTURE_FILE = '/tmp/xdpwg-rekey-stress.pcap';

const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? 0;

/** Whether a transport message (header ‖ ciphertext ‖ tag) opens under the all-zero key. */
function opensUnderZeroKey(msg: Buffer): boolean {
  if (msg.length < 32) return false;
  const nonce = Buffer.alloc(12);
  msg.copy(nonce, 4, 8, 16);
  const d = createDecipheriv('chacha20-poly1305', Buffer.alloc(32), nonce, { authTagLength: 16 });
  d.setAuthTag(msg.subarray(msg.length - 16));
  d.update(msg.subarray(16, msg.length - 16));
  try {
    d.final();
    return true;
  } catch {
    return false;
  }
}

/** Every transport message of the capture tried under a zero key; repeats of (receiver, counter). */
function checkCapture(file: string): { messages: number; openedUnderZeroKey: number; repeatedNonces: number } {
  const { linkType, packets } = readPcap(file);
  let messages = 0,
    opened = 0;
  for (const frame of packets) {
    const u = udpPayload(frame, linkType);
    if (!u || u.payload.length < 32 || u.payload[0] !== 4) continue;
    messages++;
    if (opensUnderZeroKey(u.payload)) opened++;
  }
  return { messages, openedUnderZeroKey: opened, repeatedNonces: repeatedNonces(wireguardDataHeaders(file)).length };
}

async function main(): Promise<void> {
  requireRoot();
  const lab = new Lab('rks');
  const stop = (): void => {
    lab.cleanup();
    process.exit(130);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const { a, b } = twoSides(lab, 'xdpwg', 'wireguard-go', 226);
    const datapath = '/tmp/xdpwg-rekey-stress-datapath.jsonc';
    writeFileSync(datapath, JSON.stringify({ workers: 2 }) + '\n');
    await startImplementation(lab, a, { LOG_LEVEL: 'error', XDPWG_TEST_TIME_SCALE: String(TIME_SCALE), XDPWG_DATAPATH: datapath });
    await startImplementation(lab, b, { LOG_LEVEL: 'error' });
    configureInterface(a);
    configureInterface(b);
    addPeer(a, b);
    addPeer(b, a);
    if (ping(a, b.inner4, 3) !== 3) throw new Error('no tunnel before the stress started');
    const conf = wg(a, ['showconf', a.ifname]);
    nsExec(a.ns, 'sh', ['-c', `umask 077; cat > /tmp/${a.ns}.conf`], { input: conf });
    const peerArgs = ['peer', b.keys.publicKey, 'allowed-ips', `${b.inner4}/32,${b.inner6}/128`, 'endpoint', `${b.outer4}:${b.port}`];

    const pidA = pidOf(a);
    const bytes0 = peerDump(b, a.keys.publicKey)!;
    lab.spawn(b.ns, 'iperf3', ['-s', '-B', b.inner4]);
    await waitFor('iperf3 server', () => nsExec(b.ns, 'ss', ['-ltn']).includes(`${b.inner4}:5201`));
    const iperf = lab.spawn(a.ns, 'iperf3', [
      '-c',
      b.inner4,
      '-u',
      '-l',
      '1200',
      '--bidir',
      '-P',
      '4',
      '-b',
      `${Math.ceil(RATE_MBIT / 4)}M`,
      '-t',
      String(SECONDS),
      '-J',
      '--connect-timeout',
      '5000',
    ]);
    let iperfOut = '';
    iperf.stdout?.on('data', (d: Buffer) => {
      iperfOut += d.toString();
    });
    const iperfDone = new Promise<number>((resolve) => iperf.once('exit', (code) => resolve(code ?? -1)));
    const pings = Promise.all([pingAsync(a, b.inner4, SECONDS * 20, 0.05), pingAsync(b, a.inner4, SECONDS * 20, 0.05)]);

    const samples: Array<{ t: number; rss: number }> = [];
    const handshakes = new Set<number>();
    let reloads = 0,
      reAdds = 0,
      opErrors = 0;
    let captureStarted = false,
      captureDone: Promise<void> | undefined;
    const t0 = Date.now();
    while (Date.now() - t0 < SECONDS * 1000) {
      await new Promise((r) => setTimeout(r, 1000));
      const t = (Date.now() - t0) / 1000;
      samples.push({ t, rss: rssKb(pidA) });
      try {
        wg(a, ['syncconf', a.ifname, `/tmp/${a.ns}.conf`]);
        reloads++;
        wg(a, ['set', a.ifname, 'peer', b.keys.publicKey, 'remove']);
        wg(a, ['set', a.ifname, ...peerArgs]);
        reAdds++;
      } catch {
        opErrors++;
      }
      const hs = peerDump(b, a.keys.publicKey)?.latestHandshake;
      if (hs) handshakes.add(hs);
      if (!captureStarted && t >= SECONDS / 2 - CAPTURE_SECONDS / 2) {
        captureStarted = true;
        rmSync(CAPTURE_FILE, { force: true });
        const td = lab.spawn(b.ns, 'timeout', [
          String(CAPTURE_SECONDS),
          'tcpdump',
          '-Z',
          'root',
          '-i',
          `${lab.prefix}vb`,
          '-s',
          '0',
          '-U',
          '-n',
          '-w',
          CAPTURE_FILE,
          'udp',
        ]);
        captureDone = new Promise((resolve) => td.once('exit', () => resolve()));
      }
    }
    // iperf3 reports over its TCP control connection, which runs through the tunnel being torn
    // down every second and may back off for long: give it a moment, then SIGINT (it still prints its JSON).
    const iperfCode = await Promise.race([iperfDone, new Promise<number>((r) => setTimeout(() => r(NaN), 20_000))]).then((code) => {
      if (!Number.isNaN(code)) return code;
      iperf.kill('SIGINT');
      return Promise.race([
        iperfDone,
        new Promise<number>((r) =>
          setTimeout(() => {
            iperf.kill('SIGKILL');
            r(-1);
          }, 5_000),
        ),
      ]);
    });
    const [ab, ba] = await pings;
    await captureDone;
    const wire = captureStarted ? checkCapture(CAPTURE_FILE) : { messages: 0, openedUnderZeroKey: 0, repeatedNonces: 0 };
    const stats = JSON.parse(nsExec(a.ns, xdpwgBin, ['stats', a.ifname, '--json'])) as { drops: Record<string, number> };
    // UDP iperf3: per direction, what was sent and the receiver's loss.
    type UdpSum = { bits_per_second?: number; lost_percent?: number };
    let throughput: Record<string, unknown> = { exitCode: iperfCode };
    try {
      const j = JSON.parse(iperfOut) as { error?: string; end?: { sum?: UdpSum; sum_bidir_reverse?: UdpSum } };
      const dir = (x?: UdpSum): { mbit: number; lostPercent: number } | undefined =>
        x && x.bits_per_second !== undefined ? { mbit: x.bits_per_second / 1e6, lostPercent: x.lost_percent ?? NaN } : undefined;
      throughput = { exitCode: iperfCode, aToB: dir(j.end?.sum), bToA: dir(j.end?.sum_bidir_reverse), error: j.error };
    } catch (err) {
      throughput = { exitCode: iperfCode, unreadable: (err as Error).message, tail: iperfOut.slice(-300) };
    }
    const bytes1 = peerDump(b, a.keys.publicKey)!;
    const early = samples.filter((s) => s.t >= WARMUP_S && s.t < WARMUP_S + 10).map((s) => s.rss);
    const late = samples.slice(-10).map((s) => s.rss);
    const report = {
      seconds: SECONDS,
      timeScale: TIME_SCALE,
      rekeyEveryS: 120 / TIME_SCALE,
      workers: 2,
      reloads,
      peerReAdds: reAdds,
      opErrors,
      handshakesSeenByPeer: handshakes.size,
      pings: { aToB: ab, bToA: ba },
      iperf3: throughput,
      // What wireguard-go counted for the peer (its counters survive A's removals of B, not B's of A: B never removes).
      wireguardGoMbit: { fromA: ((bytes1.rx - bytes0.rx) * 8) / SECONDS / 1e6, toA: ((bytes1.tx - bytes0.tx) * 8) / SECONDS / 1e6 },
      capture: { seconds: CAPTURE_SECONDS, ...wire },
      rssKb: { afterWarmup: median(early), end: median(late), max: Math.max(...samples.map((s) => s.rss)) },
      drops: stats.drops,
      daemonAlive: a.proc?.exitCode === null,
    };
    console.log(JSON.stringify(report));
    const failures: string[] = [];
    // The capture must have seen the iperf3 load, not only pings (20/s each way).
    if (wire.messages < CAPTURE_SECONDS * 500)
      failures.push(`the capture holds only ${wire.messages} transport messages: the load did not flow`);
    if (wire.openedUnderZeroKey > 0) failures.push(`${wire.openedUnderZeroKey} message(s) open under a zero key`);
    if (wire.repeatedNonces > 0) failures.push(`${wire.repeatedNonces} (receiver, counter) pair(s) repeat`);
    if (report.rssKb.end - report.rssKb.afterWarmup > RSS_GROWTH_BOUND_KB)
      failures.push(`RSS grew ${report.rssKb.end - report.rssKb.afterWarmup} KiB`);
    if (!report.daemonAlive) failures.push('xdpwg died');
    if (failures.length > 0) {
      console.error(`rekey-stress FAILED: ${failures.join('; ')}`);
      process.exitCode = 1;
    }
  } finally {
    lab.cleanup();
    rmSync(CAPTURE_FILE, { force: true });
  }
}

await main();
