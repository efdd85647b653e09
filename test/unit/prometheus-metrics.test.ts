/**
 * DeviceMetrics (src/daemon/observe/prometheus-metrics.ts) over a stand-in source:
 * the exporter-compatible names and labels, per-port counters named from
 * the port fields, label escaping, and that every scrape reads the source
 * once (one consistent snapshot); levels are gauges, totals counters, and
 * `promtool check metrics` (Prometheus's own linter; the bootstrap installs
 * it) finds nothing in a render. And the server: many rapid scrapes cost
 * one render (MetricsCache) — they read the source once and get one body.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeviceMetrics } from '../../src/daemon/observe/prometheus-metrics.js';
import { MetricsServer } from '../../src/daemon/observe/metrics-server.js';
import { createServer } from 'node:net';
import { spawnSync } from 'node:child_process';
import type { DeviceStats } from '../../src/daemon/observe/device-stats.js';
import type { DeviceSnapshot, PeerSnapshot } from '../../src/daemon/config/device-config.js';
import { keyToBase64 } from '../../src/crypto/encoding.js';
import { PEER_METRICS, type PeerMetricField } from '../../src/datapath/peer-counters.js';
import { parsePrometheusText, sampleValue } from '../helpers/http-in-ns.js';

const peerKey = new Uint8Array(32).fill(7);
/** A value for every exported per-peer counter: 10, 20, ... in slot order (rxPackets 10, txPackets 20). */
const metricValues = Object.fromEntries(PEER_METRICS.map((m, i) => [m.field, (i + 1) * 10])) as Record<PeerMetricField, number>;
const peerB64 = keyToBase64(peerKey);

function stats(rx: number): DeviceStats {
  return {
    interface: 'wg0',
    listenPort: 51820,
    workers: 2,
    xdpProgram: 'device-plugin',
    workerCpuSeconds: [1.5, 0.25],
    idleMemory: [
      { thread: 'main', releases: 1, pending: false },
      { thread: 'worker 0', releases: 2, pending: true },
    ],
    handshakeCryptoThreads: 0,
    handshakes: {
      initiationsSent: 3,
      initiationsReceived: 1,
      responsesSent: 1,
      responsesReceived: 2,
      cookieRepliesSent: 0,
      cookieRepliesReceived: 0,
    },
    ports: [
      { worker: 0, path: 'udp', ipackets: 5, opackets: 6 },
      { worker: 0, path: 'af_xdp eth1 queue 0', ipackets: rx, opackets: 9, fqEmpty: 4, frames_free: 3000, tx_outstanding: 17 },
    ],
    afxdp: [{ device: 'eth1', mode: 'device-plugin', queues: 2, boundWorkers: [0, 1] }],
    byPath: [],
    paths: [{ publicKey: peerB64, path: 'kernel socket (neighbour 10.0.0.1 on eth1 not resolved yet)' }],
    drops: { 'rx-bad-outer-port': 12 },
    events: { 'tx-staged': 3 },
    peers: [
      {
        publicKey: peerB64,
        endpoint: '10.0.0.2:51820',
        rxBytes: 1000,
        txBytes: 2000,
        ...metricValues,
        stagedDropped: 0,
        hasSession: true,
        lastDataTxMs: 0,
      },
    ],
  };
}

const uapi = (): DeviceSnapshot =>
  ({
    listenPort: 51820,
    fwmark: 0,
    peers: [
      {
        publicKey: peerKey,
        lastHandshakeSec: 1_700_000_000,
        lastHandshakeNsec: 0,
        rxBytes: 1000,
        txBytes: 2000,
        persistentKeepalive: 0,
        allowedIPs: [
          { family: 4, address: new Uint8Array([10, 9, 0, 2]), bits: 32 },
          { family: 6, address: new Uint8Array(16).fill(0xfd, 0, 1), bits: 128 },
        ],
      },
    ],
  }) as unknown as DeviceSnapshot;

test('every per-peer counter the slot layout exports is a counter in /metrics with its value', async () => {
  assert.ok(PEER_METRICS.length >= 2);
  const text = await new DeviceMetrics({ stats: () => stats(8), uapi }).render();
  const s = parsePrometheusText(text);
  for (const m of PEER_METRICS) {
    assert.match(text, new RegExp(`^# TYPE ${m.name} counter$`, 'm'), m.name);
    assert.equal(sampleValue(s, m.name, { interface: 'wg0', public_key: peerB64 }), metricValues[m.field], m.name);
  }
});

test('exporter-compatible names and labels, per-port counters, info gauges', async () => {
  const m = new DeviceMetrics({ stats: () => stats(8), uapi });
  const text = await m.render();
  const s = parsePrometheusText(text);
  const peer = { interface: 'wg0', public_key: peerB64, allowed_ips: '10.9.0.2/32,fd00::/128' };
  assert.equal(sampleValue(s, 'wireguard_sent_bytes_total', peer), 2000);
  assert.equal(sampleValue(s, 'wireguard_received_bytes_total', peer), 1000);
  assert.equal(sampleValue(s, 'wireguard_latest_handshake_seconds', peer), 1_700_000_000);
  assert.match(text, /^# TYPE wireguard_sent_bytes_total counter$/m);
  assert.match(text, /^# TYPE wireguard_latest_handshake_seconds gauge$/m);
  assert.equal(sampleValue(s, 'xdpwg_peer_received_packets_total', { public_key: peerB64 }), 10);
  assert.equal(
    sampleValue(s, 'xdpwg_peer_info', {
      path: 'kernel',
      reason: 'neighbour 10.0.0.1 on eth1 not resolved yet',
      endpoint: '10.0.0.2:51820',
    }),
    1,
  );
  assert.equal(sampleValue(s, 'xdpwg_port_ipackets_total', { kind: 'af_xdp', device: 'eth1', queue: '0', worker: '0' }), 8);
  assert.equal(sampleValue(s, 'xdpwg_port_ipackets_total', { kind: 'udp', device: '', queue: '' }), 5);
  assert.equal(sampleValue(s, 'xdpwg_port_fq_empty_total', { kind: 'af_xdp' }), 4);
  assert.equal(sampleValue(s, 'xdpwg_drops_total', { reason: 'rx-bad-outer-port' }), 12);
  assert.equal(sampleValue(s, 'xdpwg_handshake_messages_total', { type: 'response', direction: 'received' }), 2);
  assert.equal(sampleValue(s, 'xdpwg_worker_cpu_seconds_total', { worker: '1' }), 0.25);
  assert.equal(sampleValue(s, 'xdpwg_xdp_program_info', { program: 'device-plugin' }), 1);
  assert.equal(sampleValue(s, 'xdpwg_afxdp_bound_workers', { device: 'eth1' }), 2);
});

test('levels (frames_free, tx_outstanding) are gauges without _total; running totals stay counters', async () => {
  const text = await new DeviceMetrics({ stats: () => stats(8), uapi }).render();
  const s = parsePrometheusText(text);
  assert.match(text, /^# TYPE xdpwg_port_frames_free gauge$/m);
  assert.match(text, /^# TYPE xdpwg_port_tx_outstanding gauge$/m);
  assert.doesNotMatch(text, /xdpwg_port_(frames_free|tx_outstanding)_total/);
  assert.equal(sampleValue(s, 'xdpwg_port_frames_free', { kind: 'af_xdp', device: 'eth1', queue: '0' }), 3000);
  assert.equal(sampleValue(s, 'xdpwg_port_tx_outstanding', { kind: 'af_xdp' }), 17);
  assert.match(text, /^# TYPE xdpwg_port_ipackets_total counter$/m);
});

test('wireguard_latest_handshake_delay_seconds: seconds since the handshake, as the exporter has it; none for a peer that never handshook', async () => {
  const never = new Uint8Array(32).fill(9);
  const twoPeers = (): DeviceSnapshot => {
    const u = uapi();
    const [p] = [...u.peers] as PeerSnapshot[];
    return {
      ...u,
      peers: [
        { ...p!, lastHandshakeNsec: 500_000_000 },
        { ...p!, publicKey: never, lastHandshakeSec: 0, lastHandshakeNsec: 0, allowedIPs: [] },
      ],
    } as DeviceSnapshot;
  };
  const text = await new DeviceMetrics({ stats: () => stats(1), uapi: twoPeers, now: () => 1_700_000_180_000 }).render();
  const s = parsePrometheusText(text);
  assert.match(text, /^# TYPE wireguard_latest_handshake_delay_seconds gauge$/m);
  assert.equal(
    sampleValue(s, 'wireguard_latest_handshake_delay_seconds', {
      interface: 'wg0',
      public_key: peerB64,
      allowed_ips: '10.9.0.2/32,fd00::/128',
    }),
    179.5,
  );
  assert.deepEqual(
    s.filter((x) => x.name === 'wireguard_latest_handshake_delay_seconds').map((x) => x.labels.public_key),
    [peerB64],
  );
  assert.equal(sampleValue(s, 'wireguard_latest_handshake_seconds', { public_key: keyToBase64(never) }), 0);
});

test('promtool check metrics finds nothing to lint in a render', async () => {
  const text = await new DeviceMetrics({ stats: () => stats(8), uapi }).render();
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool did not run (${r.error.message}); scripts/bootstrap.sh installs it (Debian package prometheus)`);
  assert.equal(r.status, 0, `promtool check metrics:\n${r.stdout}${r.stderr}`);
  assert.equal(`${r.stdout}${r.stderr}`.trim(), '', 'promtool has lint findings');
});

test('each scrape reads the source once; concurrent scrapes do not mix snapshots', async () => {
  let calls = 0;
  const m = new DeviceMetrics({ stats: () => stats(100 + calls++), uapi });
  const [t1, t2] = await Promise.all([m.render(), m.render()]);
  const v = (t: string): number => sampleValue(parsePrometheusText(t), 'xdpwg_port_ipackets_total', { kind: 'af_xdp' });
  assert.deepEqual([v(t1), v(t2)], [100, 101]);
  assert.equal(calls, 2);
});

test('label values are escaped', async () => {
  const odd = stats(1);
  odd.drops = {};
  odd.paths = [{ publicKey: peerB64, path: 'kernel socket (a "quoted" \\ reason\nwith a newline)' }];
  const s = parsePrometheusText(await new DeviceMetrics({ stats: () => odd, uapi }).render());
  assert.equal(s.find((x) => x.name === 'xdpwg_peer_info')!.labels.reason, 'a "quoted" \\ reason\nwith a newline');
});

/** A loopback port nothing listens on just now (listen addresses must name a port: 0 is refused). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

test('the server: 30 rapid scrapes, concurrent and one after another, read the source once and get one body', async () => {
  let calls = 0;
  const server = await MetricsServer.open(`127.0.0.1:${await freePort()}`, { stats: () => stats(100 + calls++), uapi });
  try {
    const url = `http://${server.address}/metrics`;
    const get = async (): Promise<string> => {
      const r = await fetch(url);
      assert.equal(r.status, 200);
      return r.text();
    };
    // Well inside one 1 s window on any machine: the window starts at the first render.
    const bodies = await Promise.all(Array.from({ length: 15 }, get));
    for (let i = 0; i < 15; i++) bodies.push(await get());
    assert.equal(calls, 1, `the source was read ${calls} times for 30 scrapes`);
    assert.equal(new Set(bodies).size, 1);
    assert.equal(sampleValue(parsePrometheusText(bodies[0]!), 'xdpwg_port_ipackets_total', { kind: 'af_xdp' }), 100);
  } finally {
    server.close();
  }
});
