/**
 * A peer behind a gateway, on the AF_XDP path:
 *
 *   A (xdpwg) ── R (router) ── B (xdpwg)
 *
 * A's frames to B must carry R's MAC as their destination: checked in a
 * capture on R (and R's veth drops frames addressed to any other unicast
 * MAC, so the tunnel working at all says so too; the log names the MAC). Then R's MAC changes under a
 * continuous ping (-i 0.05): the daemon re-reads the neighbour table every
 * second and must follow the kernel's entry, so the tunnel recovers within
 * seconds. The outage is measured from the ping's missing sequence numbers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import { addPeer, configureInterface, logsOf, ping, type Side } from '../helpers/tunnel-lab.js';
import { capture, pathTo, routedSides, startFresh, statsAfter, statsOf } from '../helpers/afxdp-lab.js';
import { readPcap, wireguardDataHeaders } from '../helpers/pcap.js';

const lab = new Lab('axr');
let a: Side;
let b: Side;
let r: string;
let rA: string;

before(async () => {
  requireRoot();
  ({ a, b, m: r, mA: rA } = routedSides(lab, 214, { queues: 2 }));
  await startFresh(lab, a);
  await startFresh(lab, b);
  configureInterface(a);
  configureInterface(b);
  // B first: A's keepalive starts a handshake at once, which B must already accept.
  addPeer(b, a, { outer: 4 });
  addPeer(a, b, { outer: 4, keepalive: 1 });
});
const dir = mkdtempSync(path.join(tmpdir(), 'axr-'));
after(() => {
  lab.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const macOf = (ns: string, dev: string): string => /link\/ether ([0-9a-f:]{17})/.exec(nsExec(ns, 'ip', ['link', 'show', dev]))![1]!;

/** A's neighbour entry for R as the kernel holds it. */
const neighbourOfA = (): string => nsExec(a.ns, 'ip', ['neigh', 'show', '10.214.0.254', 'dev', `${lab.prefix}va`]).trim();

/**
 * Pings B's inner address every 50 ms for `seconds`, calling `midway` after
 * `atMs`; returns the longest run of unanswered pings (as milliseconds) and
 * whether the last second was answered in full.
 */
async function pingThrough(
  seconds: number,
  atMs: number,
  midway: () => void,
): Promise<{ outageMs: number; sent: number; answered: number; tailOk: boolean }> {
  const count = Math.round(seconds / 0.05);
  const child = lab.spawn(a.ns, 'ping', ['-n', '-i', '0.05', '-W', '1', '-c', String(count), b.inner4]);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise((res) => child.once('exit', res));
  await new Promise((res) => setTimeout(res, atMs));
  midway();
  await exited;
  const answered = new Set([...out.matchAll(/icmp_seq=(\d+)/g)].map((x) => Number(x[1])));
  let longest = 0;
  let run = 0;
  for (let seq = 1; seq <= count; seq++) {
    run = answered.has(seq) ? 0 : run + 1;
    longest = Math.max(longest, run);
  }
  const tail = Array.from({ length: 20 }, (_, i) => count - i).every((s) => answered.has(s));
  return { outageMs: longest * 50, sent: count, answered: answered.size, tailOk: tail };
}

test('behind a gateway: AF_XDP with the gateway MAC as destination', async () => {
  assert.equal(ping(a, b.inner4, 3), 3, logsOf(a, b));
  // On the wire at R: A's tunnel frames (to B's port) are addressed to R's MAC.
  const file = path.join(dir, 'r.pcap');
  const cap = await capture(lab, r, rA, file, `udp and dst port ${b.port}`);
  assert.equal(ping(a, b.inner4, 5), 5, logsOf(a, b));
  assert.equal(ping(a, b.inner6, 3), 3, logsOf(a, b));
  await cap.stop();
  const mac = (f: Buffer): string => [...f.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
  const { linkType, packets } = readPcap(file);
  const data = packets.filter((f) => wireguardDataHeaders.fromFrame(f, linkType));
  assert.ok(data.length >= 8, `captured ${data.length} data frames from A at R`);
  assert.deepEqual([...new Set(data.map(mac))], [macOf(r, rA)], "destination MACs of A's data frames");
  const s = await statsAfter(a, (x) => pathTo(x, b.keys.publicKey) === 'af_xdp');
  assert.equal(pathTo(s, b.keys.publicKey), 'af_xdp', `${JSON.stringify(s.paths)}\n${logsOf(a)}`);
  const rMac = macOf(r, rA);
  // The daemon's log reaches us through a pipe: give it a moment.
  const line = await waitFor(
    `A's log to name R's MAC ${rMac}`,
    () => a.log.find((l) => l.includes(`to ${b.outer4} takes AF_XDP`) && l.includes('via 10.214.0.254')),
    3_000,
  );
  assert.ok(line.includes(`(${rMac})`), `the AF_XDP path uses ${line}, not R's MAC ${rMac}`);
  assert.notEqual(rMac, macOf(b.ns, `${lab.prefix}vb`), 'R and B differ');
});

async function macChange(newMac: string, label: string, maxOutageMs: number): Promise<void> {
  const before = macOf(r, rA);
  const run = await pingThrough(8, 1_500, () => nsExec(r, 'ip', ['link', 'set', 'dev', rA, 'address', newMac]));
  const s = statsOf(a);
  process.stderr.write(
    `# ${label}: R ${before} → ${newMac}; ping -i 0.05: ${run.answered}/${run.sent} answered, longest outage ${run.outageMs} ms; A's neighbour: ${neighbourOfA()}; path ${pathTo(s, b.keys.publicKey)}\n`,
  );
  assert.ok(run.tailOk, `${label}: the last second of pings was not answered (outage ${run.outageMs} ms)\n${logsOf(a, b)}`);
  assert.ok(run.outageMs <= maxOutageMs, `${label}: outage ${run.outageMs} ms`);
  await waitFor(
    'AF_XDP again, towards the new MAC',
    () => pathTo(statsOf(a), b.keys.publicKey) === 'af_xdp' && a.log.some((l) => l.includes(`takes AF_XDP`) && l.includes(`(${newMac})`)),
    3_000,
  );
}

test('R changes its MAC and announces it (gratuitous ARP): the tunnel follows within about a second', async () => {
  // arp_notify: the kernel sends a gratuitous ARP when the device's address changes (what a failover router does).
  nsExec(r, 'sysctl', ['-qw', `net.ipv4.conf.${rA}.arp_notify=1`]);
  await macChange('02:00:00:21:40:01', 'announced MAC change', 2_500);
});

// A silent change: nothing tells A's kernel, and AF_XDP frames never confirm
// its neighbour entry for R. The daemon notices the peer stopped answering and
// sends the entry back to NUD_PROBE (src/daemon/xdp/xdp-paths.ts refresh): unicast
// probes fail, a broadcast finds R's new MAC, the next refresh uses it.
//
// The bound is that sequence's worst case on this kernel's neighbour settings:
// the daemon's one-second refresh finds the peer a second silent (two
// seconds), the kernel's unicast then broadcast probes run retrans_time apart,
// and the next refresh (one second) takes the answer; plus one more second for
// a loaded machine's timer slack.
test('R changes its MAC silently: the tunnel still recovers within seconds', async () => {
  nsExec(r, 'sysctl', ['-qw', `net.ipv4.conf.${rA}.arp_notify=0`]);
  const neigh = (key: string): number => Number(nsExec(a.ns, 'cat', [`/proc/sys/net/ipv4/neigh/${lab.prefix}va/${key}`]).trim());
  const probesMs = (neigh('ucast_solicit') + neigh('mcast_solicit')) * neigh('retrans_time_ms');
  await macChange('02:00:00:21:40:02', 'silent MAC change', 2_000 + probesMs + 1_000 + 1_000);
});
