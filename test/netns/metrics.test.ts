/**
 * The Prometheus endpoint, between two xdpwg daemons on the AF_XDP path:
 *
 *   A (xdpwg --metrics-listen 127.0.0.1:9586) ── veth ── B (xdpwg, no metrics configured)
 *
 * During an iperf3 run both ways, A's /metrics is read between two reads of
 * `wg show IF transfer` and of `xdpwg stats IF --json`: every counter lies
 * between the two (the counters only grow, so that is the exact check). The
 * endpoint answers only GET /metrics (405 with Allow: GET for others, 404
 * elsewhere), the datapath "metricsListen" setting works as the flag does,
 * and B, configured with neither, listens on no TCP port at all.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import { addPeer, configureInterface, logsOf, ping, wg, xdpwgBin, type Side } from '../helpers/tunnel-lab.js';
import { afxdpSides, datapathFile, startFresh, type AfxdpStats } from '../helpers/afxdp-lab.js';
import { httpInNs, parsePrometheusText, sampleValue, type Sample } from '../helpers/http-in-ns.js';

const lab = new Lab('mtr');
let a: Side;
let b: Side;
const METRICS = 'http://127.0.0.1:9586/metrics';

before(async () => {
  requireRoot();
  ({ a, b } = afxdpSides(lab, 'xdpwg', 'xdpwg', 231));
  await startFresh(lab, a, {}, ['--metrics-listen', '127.0.0.1:9586']);
  await startFresh(lab, b);
  configureInterface(a);
  configureInterface(b);
  addPeer(b, a);
  addPeer(a, b, { keepalive: 1 });
});
after(() => lab.cleanup());

/** `wg show IF transfer` for one peer: rx and tx bytes. */
function transfer(side: Side, publicKey: string): { rx: number; tx: number } {
  const line = wg(side, ['show', side.ifname, 'transfer'])
    .split('\n')
    .find((l) => l.startsWith(publicKey));
  assert.ok(line, `no transfer line for ${publicKey}`);
  const [, rx, tx] = line.split('\t');
  return { rx: Number(rx), tx: Number(tx) };
}

interface StatsJson extends AfxdpStats {
  peers: Array<{ publicKey: string; rxPackets: number; txPackets: number; rxBytes: number; txBytes: number }>;
  handshakes: Record<string, number>;
  workerCpuSeconds: number[];
  xdpProgram: string;
}
const statsJson = (side: Side): StatsJson => JSON.parse(nsExec(side.ns, xdpwgBin, ['stats', side.ifname, '--json'])) as StatsJson;

function scrape(): Sample[] {
  const r = httpInNs(a.ns, 'GET', METRICS);
  assert.equal(r.status, 200, r.body);
  assert.match(r.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(r.body);
}

/** lo ≤ v ≤ hi, with a message that shows all three. */
function between(what: string, lo: number, v: number, hi: number): void {
  assert.ok(lo <= v && v <= hi, `${what}: ${v} is not within [${lo}, ${hi}]`);
}

test('scraped during iperf3, the counters agree with wg show transfer and xdpwg stats', async () => {
  assert.equal(ping(a, b.inner4, 3), 3, logsOf(a, b));
  const port = 5601;
  lab.spawn(b.ns, 'iperf3', ['-s', '-1', '-p', String(port), '-B', b.inner4]);
  await waitFor('iperf3 server', () => nsExec(b.ns, 'ss', ['-ltnH']).includes(`:${port}`), 5_000, 50);
  const client = lab.spawn(a.ns, 'iperf3', ['-c', b.inner4, '-p', String(port), '-t', '10', '--bidir']);
  const clientDone = new Promise((r) => client.once('exit', r));
  const key = { interface: a.ifname, public_key: b.keys.publicKey };
  const start = transfer(a, b.keys.publicKey);
  // Traffic is flowing both ways (a few MB past where we started) before the reads.
  await waitFor(
    'iperf3 traffic through the tunnel',
    () => {
      const t = transfer(a, b.keys.publicKey);
      return t.rx > start.rx + 4e6 && t.tx > start.tx + 4e6;
    },
    10_000,
    100,
  );
  // Port counters come from the workers' once-a-second reports (later on a loaded machine):
  // wait until one shows the run arriving on AF_XDP, so the scrape below has it too.
  const xskIn = (s: StatsJson): number =>
    s.ports.filter((p) => String(p.path).startsWith('af_xdp')).reduce((n, p) => n + Number(p.ipackets ?? 0), 0);
  await waitFor('a worker report with the run on AF_XDP', () => xskIn(statsJson(a)) > 1000, 10_000, 100).catch((err: Error) => {
    throw new Error(`${err.message}\n${logsOf(a, b)}`);
  });

  const wg1 = transfer(a, b.keys.publicKey);
  const st1 = statsJson(a);
  const m = scrape();
  const st2 = statsJson(a);
  const wg2 = transfer(a, b.keys.publicKey);
  await clientDone;

  assert.ok(wg2.rx > wg1.rx && wg2.tx > wg1.tx, `traffic moved between the reads (${JSON.stringify({ wg1, wg2 })})`);
  between('wireguard_received_bytes_total', wg1.rx, sampleValue(m, 'wireguard_received_bytes_total', key), wg2.rx);
  between('wireguard_sent_bytes_total', wg1.tx, sampleValue(m, 'wireguard_sent_bytes_total', key), wg2.tx);
  const p1 = st1.peers.find((p) => p.publicKey === b.keys.publicKey)!;
  const p2 = st2.peers.find((p) => p.publicKey === b.keys.publicKey)!;
  between('received bytes vs stats', p1.rxBytes, sampleValue(m, 'wireguard_received_bytes_total', key), p2.rxBytes);
  between('xdpwg_peer_received_packets_total', p1.rxPackets, sampleValue(m, 'xdpwg_peer_received_packets_total', key), p2.rxPackets);
  between('xdpwg_peer_sent_packets_total', p1.txPackets, sampleValue(m, 'xdpwg_peer_sent_packets_total', key), p2.txPackets);

  // Per port/queue AF_XDP counters: the worker reports once a second, so bound by the two stats reads.
  const xsk = (s: StatsJson, f: string): number =>
    s.ports.filter((p) => String(p.path).startsWith('af_xdp')).reduce((n, p) => n + Number(p[f] ?? 0), 0);
  const scrapedXsk = (f: string): number =>
    m.filter((s) => s.name === `xdpwg_port_${f}_total` && s.labels.kind === 'af_xdp').reduce((n, s) => n + s.value, 0);
  for (const f of ['ipackets', 'opackets', 'ibytes', 'obytes']) between(`AF_XDP ${f}`, xsk(st1, f), scrapedXsk(f), xsk(st2, f));
  assert.ok(scrapedXsk('ipackets') > 1000, `AF_XDP carried the run: ${scrapedXsk('ipackets')} packets in`);
  assert.ok(
    m.some(
      (s) =>
        s.name === 'xdpwg_port_ipackets_total' &&
        s.labels.kind === 'af_xdp' &&
        s.labels.device === `${lab.prefix}va` &&
        s.labels.queue === '0',
    ),
    'per device/queue labels',
  );

  const info = m.find((s) => s.name === 'xdpwg_peer_info' && s.labels.public_key === b.keys.publicKey);
  assert.deepEqual(info && { path: info.labels.path, endpoint: info.labels.endpoint, value: info.value }, {
    path: 'af_xdp',
    endpoint: `${b.outer4}:${b.port}`,
    value: 1,
  });
  const hs = sampleValue(m, 'wireguard_latest_handshake_seconds', key);
  between('latest handshake', Date.now() / 1000 - 180, hs, Date.now() / 1000 + 1);
  const initiations =
    sampleValue(m, 'xdpwg_handshake_messages_total', { type: 'initiation', direction: 'sent' }) +
    sampleValue(m, 'xdpwg_handshake_messages_total', { type: 'initiation', direction: 'received' });
  assert.ok(initiations >= 1, 'at least one handshake counted');
  between(
    'handshakes vs stats',
    st1.handshakes.initiationsSent!,
    sampleValue(m, 'xdpwg_handshake_messages_total', { type: 'initiation', direction: 'sent' }),
    st2.handshakes.initiationsSent!,
  );
  const cpu = m.filter((s) => s.name === 'xdpwg_worker_cpu_seconds_total');
  assert.equal(cpu.length, st1.workers, 'one CPU counter per worker');
  assert.ok(
    cpu.some((s) => s.value > 0.05),
    `workers used CPU moving the run: ${cpu.map((s) => s.value).join(' ')}`,
  );
  assert.equal(sampleValue(m, 'xdpwg_xdp_program_info', { program: 'own' }), 1);
  assert.ok(
    m.some((s) => s.name === 'xdpwg_afxdp_device_info' && s.labels.device === `${lab.prefix}va` && s.labels.mode !== 'none'),
    'device info',
  );
});

test('only GET /metrics is served', () => {
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']) {
    const r = httpInNs(a.ns, method, METRICS);
    assert.equal(r.status, 405, `${method} → ${r.status}`);
    assert.equal(r.headers.allow, 'GET', `${method}: Allow header`);
  }
  assert.equal(httpInNs(a.ns, 'GET', 'http://127.0.0.1:9586/').status, 404);
  assert.equal(httpInNs(a.ns, 'GET', 'http://127.0.0.1:9586/metrics?x=1').status, 200);
});

test('off unless configured: the daemon without the setting listens on no TCP port', () => {
  const pids = nsExec(b.ns, 'ip', ['netns', 'pids', b.ns]).split(/\s+/).filter(Boolean);
  assert.ok(pids.length > 0);
  const listening = nsExec(b.ns, 'ss', ['-ltnpH']);
  assert.equal(listening.trim(), '', `B listens on TCP: ${listening}`);
});

test('the datapath "metricsListen" setting serves metrics too; a bad value is refused', async () => {
  const c: Side = { ...b, ns: lab.ns('c'), ifname: `${lab.prefix}wc`, log: [] };
  await startFresh(lab, c, { XDPWG_DATAPATH: datapathFile({ metricsListen: '127.0.0.1:9588' }) });
  const r = httpInNs(c.ns, 'GET', 'http://127.0.0.1:9588/metrics');
  assert.equal(r.status, 200, logsOf(c));
  assert.match(r.body, /^# TYPE wireguard_sent_bytes_total counter$/m);
  const bad = nsExec(c.ns, 'sh', ['-c', `${xdpwgBin} -f --metrics-listen 1.2.3:99999 ${lab.prefix}wd 2>&1; echo "exit=$?"`]);
  assert.match(bad, /--metrics-listen: "1\.2\.3:99999" is not a listen address/);
  assert.match(bad, /exit=1/);
});

test("xdpwg health (the containers' probes): live when the UAPI answers, ready once up with a key", async () => {
  const health = (side: Side, ifname: string, ...args: string[]): { code: number; out: string } => {
    const out = nsExec(side.ns, 'sh', ['-c', `${xdpwgBin} health ${ifname} ${args.join(' ')}; echo "exit=$?"`]).trim();
    return { code: Number(/exit=(\d+)$/.exec(out)![1]), out: out.replace(/\nexit=\d+$/, '') };
  };
  assert.deepEqual(health(a, a.ifname), { code: 0, out: `ok: ${a.ifname} live` });
  assert.deepEqual(health(a, a.ifname, '--ready'), { code: 0, out: `ok: ${a.ifname} ready` });
  // A daemon that runs but was never configured: live, not ready.
  const c: Side = { ...b, ns: lab.ns('h'), ifname: `${lab.prefix}wh`, log: [] };
  await startFresh(lab, c);
  assert.deepEqual(health(c, c.ifname), { code: 0, out: `ok: ${c.ifname} live` });
  assert.deepEqual(health(c, c.ifname, '--ready'), { code: 1, out: `unhealthy: ${c.ifname}: the interface is down` });
  nsExec(c.ns, 'ip', ['link', 'set', c.ifname, 'up']);
  assert.deepEqual(health(c, c.ifname, '--ready'), { code: 1, out: `unhealthy: ${c.ifname}: no private key is set` });
  // No daemon: not live.
  assert.deepEqual(health(c, 'nosuchwg'), { code: 1, out: 'unhealthy: nosuchwg: the UAPI socket does not answer (ENOENT)' });
  // A daemon whose main thread is stopped does not answer within the timeout.
  process.kill(c.proc!.pid!, 'SIGSTOP');
  try {
    const started = Date.now();
    const r = health(c, c.ifname, '--timeout', '1000');
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /the UAPI socket does not answer \(no answer from .* within 1000 ms\)/);
    assert.ok(Date.now() - started < 8_000);
  } finally {
    process.kill(c.proc!.pid!, 'SIGCONT');
  }
});
