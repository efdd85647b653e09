/**
 * Scale: 1,000 configured peers on one xdpwg, 100 of them handshaking at
 * once and passing traffic. The 100 are scripted initiators in one namespace
 * (bench/handshake-flood.ts `peers`: real Noise_IKpsk2 handshakes with
 * src/protocol/noise.ts, then an ICMP echo through each new session and the
 * reply back). Reported: memory per configured peer, memory per live
 * session, handshake latency (initiation sent → response consumed) and the
 * echo round trip through each fresh session.
 *
 *   G (100 scripted peers, 10.218.9.2) ── A (xdpwg, 1,000 peers)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { Lab, nsExec, requireRoot } from '../helpers/netns.js';
import { configureInterface, genKeys, logsOf, startImplementation, wg, type Side } from '../helpers/tunnel-lab.js';
import { datapathEnv, pidOf, rssKb, runBench, statsOf } from './reliability-fixture.js';
import { generateKeyPair } from '../../src/crypto/x25519.js';
import { keyToBase64 } from '../../src/crypto/encoding.js';
import type { PeersResult } from '../../bench/handshake-flood.js';

const PATH = 'kernel';
const CONFIGURED = 1000;
const ACTIVE = 100;
/** Handshake latency bound for the slowest of the 100 concurrent handshakes. */
const P95_HANDSHAKE_BOUND_MS = 2000;

const lab = new Lab('rls');
let a: Side;
let g: string;
const inner = (i: number): string => `10.218.${100 + (i >> 8)}.${i & 255}`;

before(async () => {
  requireRoot();
  const nsA = lab.ns('a');
  g = lab.ns('g');
  lab.veth({ ns: nsA, dev: 'rlsga', addrs: ['10.218.9.1/24'] }, { ns: g, dev: 'rlsgg', addrs: ['10.218.9.2/24'] });
  a = {
    ns: nsA,
    impl: 'xdpwg',
    ifname: 'rlswa',
    keys: genKeys(),
    port: 51821,
    log: [],
    outer4: '10.218.9.1',
    outer6: '',
    inner4: '10.218.1.1',
    inner6: 'fd00:218:1::1',
  };
  await startImplementation(lab, a, { LOG_LEVEL: 'error', ...datapathEnv(PATH) });
  configureInterface(a);
  nsExec(a.ns, 'ip', ['route', 'add', '10.218.0.0/16', 'dev', a.ifname]);
});
after(() => lab.cleanup());

test(`${PATH} path: ${CONFIGURED} peers configured, ${ACTIVE} handshaking and passing traffic at once`, { timeout: 120_000 }, async () => {
  const pid = pidOf(a);
  await new Promise((r) => setTimeout(r, 1000));
  const rssNoPeers = rssKb(pid);
  const peers = Array.from({ length: CONFIGURED }, () => generateKeyPair());
  const conf = [
    `[Interface]`,
    `PrivateKey = ${a.keys.privateKey}`,
    `ListenPort = ${a.port}`,
    '',
    ...peers.flatMap((p, i) => ['[Peer]', `PublicKey = ${keyToBase64(p.publicKey)}`, `AllowedIPs = ${inner(i)}/32`, '']),
  ].join('\n');
  const confFile = `/tmp/xdpwg-${a.ns}.conf`;
  writeFileSync(confFile, conf, { mode: 0o600 });
  wg(a, ['setconf', a.ifname, confFile]);
  assert.equal(wg(a, ['show', a.ifname, 'peers']).trim().split('\n').length, CONFIGURED);
  await new Promise((r) => setTimeout(r, 1500));
  const rssConfigured = rssKb(pid);

  const keysFile = `/tmp/xdpwg-${g}-keys.json`;
  writeFileSync(keysFile, JSON.stringify(peers.slice(0, ACTIVE).map((p) => keyToBase64(p.privateKey))), { mode: 0o600 });
  const result = await runBench<PeersResult>(g, 'handshake-flood', [
    'peers',
    '--target',
    `10.218.9.1:${a.port}`,
    '--responder-public',
    a.keys.publicKey,
    '--keys',
    keysFile,
    '--inner',
    Array.from({ length: ACTIVE }, (_, i) => inner(i)).join(','),
    '--ping',
    a.inner4,
    '--from',
    '10.218.9.2',
    '--retry-ms',
    '2000',
    '--timeout-ms',
    '20000',
  ]);
  await new Promise((r) => setTimeout(r, 1000));
  const rssSessions = rssKb(pid);
  const stats = statsOf(a);
  const report = {
    configured: CONFIGURED,
    active: ACTIVE,
    ...result,
    rssKb: { noPeers: rssNoPeers, configured: rssConfigured, withSessions: rssSessions },
    bytesPerConfiguredPeer: Math.round(((rssConfigured - rssNoPeers) * 1024) / CONFIGURED),
    bytesPerSession: Math.round(((rssSessions - rssConfigured) * 1024) / ACTIVE),
    peersWithSession: stats.peers.filter((p) => p.hasSession).length,
  };
  console.log(`scale: ${JSON.stringify(report)}`);
  assert.equal(a.proc!.exitCode, null, logsOf(a));
  assert.equal(result.completed, ACTIVE, `handshakes completed: ${result.completed}/${ACTIVE}`);
  assert.equal(result.echoed, ACTIVE, `echo replies through the fresh sessions: ${result.echoed}/${ACTIVE}`);
  assert.equal(report.peersWithSession, ACTIVE);
  assert.ok(result.handshakeMs.p95 <= P95_HANDSHAKE_BOUND_MS, `p95 handshake latency ${result.handshakeMs.p95} ms`);
  // wg shows the 100 as handshaken, the other 900 as never.
  const dump = wg(a, ['show', a.ifname, 'latest-handshakes']).trim().split('\n');
  assert.equal(dump.filter((l) => !l.endsWith('\t0')).length, ACTIVE);
});
