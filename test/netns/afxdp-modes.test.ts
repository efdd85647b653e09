/**
 * XDP attach modes and the fallback:
 *  - "mode": "generic" and "mode": "native" in the datapath config: both
 *    ends on AF_XDP in that mode, ping v4/v6 and iperf3 TCP pass;
 *  - "afxdp": "off": the kernel socket carries the tunnel, and stats say why;
 *  - a genuine impossibility — the daemon started without CAP_NET_RAW and
 *    CAP_BPF (setpriv bounding set: CAP_NET_ADMIN only, enough for the TUN):
 *    the XDP filter cannot load, the log says so once, stats say why, and
 *    the tunnel works over the kernel socket;
 *  - an unknown key in the datapath config: the daemon exits 1 naming it.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import { addPeer, configureInterface, logsOf, ping, xdpwgBin, type Side } from '../helpers/tunnel-lab.js';
import { uapiAccepts, uapiSocketPath } from '../../src/daemon/uapi/server.js';
import { afxdpSides, datapathFile, iperf, mbit, pathTo, portTotals, startFresh, statsAfter } from '../helpers/afxdp-lab.js';

const labs: Lab[] = [];
after(() => {
  for (const l of labs) l.cleanup();
});

async function pair(
  tag: string,
  subnet: number,
  envA: Record<string, string>,
  envB: Record<string, string> = envA,
): Promise<{ lab: Lab; a: Side; b: Side }> {
  requireRoot();
  const lab = new Lab(`axm${tag}`);
  labs.push(lab);
  const { a, b } = afxdpSides(lab, 'xdpwg', 'xdpwg', subnet, { queues: 2 });
  await startFresh(lab, a, envA);
  await startFresh(lab, b, envB);
  configureInterface(a);
  configureInterface(b);
  addPeer(b, a, { outer: 4 });
  addPeer(a, b, { outer: 4 });
  return { lab, a, b };
}

for (const [mode, subnet] of [
  ['generic', 215],
  ['native', 216],
] as const) {
  test(`"mode": "${mode}": both ends on AF_XDP in ${mode} mode; ping and iperf3 TCP`, async () => {
    const env = { XDPWG_DATAPATH: datapathFile({ mode }) };
    const { lab, a, b } = await pair(mode[0]!, subnet, env);
    assert.equal(ping(a, b.inner4, 3), 3, logsOf(a, b));
    assert.equal(ping(a, b.inner6, 3), 3, logsOf(a, b));
    const tcp = await iperf(lab, a, b, b.inner4, ['-t', '2']);
    for (const [x, peer] of [
      [a, b],
      [b, a],
    ] as const) {
      const s = await statsAfter(x, (st) => pathTo(st, peer.keys.publicKey) === 'af_xdp' && portTotals(st, 'af_xdp').ipackets > 1000);
      const dev = s.afxdp.find((d) => !d.unusable);
      assert.equal(dev?.mode, mode, `${x.ns}: ${JSON.stringify(s.afxdp)}`);
      assert.equal(pathTo(s, peer.keys.publicKey), 'af_xdp');
      assert.ok(portTotals(s, 'af_xdp').ipackets > 1000 && portTotals(s, 'af_xdp').opackets > 1000, `${x.ns}: ${JSON.stringify(s.ports)}`);
    }
    process.stderr.write(`# ${mode} mode: iperf3 TCP ${mbit(tcp.bitsPerSecond)}\n`);
    assert.ok(tcp.bitsPerSecond > 10e6, `TCP ${mbit(tcp.bitsPerSecond)}`);
  });
}

test('"afxdp": "off": the kernel socket carries the tunnel and stats say why', async () => {
  const { lab, a, b } = await pair('o', 217, { XDPWG_DATAPATH: datapathFile({ afxdp: 'off' }) }, {});
  assert.equal(ping(a, b.inner4, 3), 3, logsOf(a, b));
  const tcp = await iperf(lab, a, b, b.inner4, ['-t', '1']);
  const s = await statsAfter(a, (st) => portTotals(st, 'udp').opackets > 500);
  assert.match(pathTo(s, b.keys.publicKey), /^kernel socket \(AF_XDP is off in the datapath config\)$/);
  assert.equal(s.afxdp.length, 0, `no XDP filter attached: ${JSON.stringify(s.afxdp)}`);
  assert.equal(portTotals(s, 'af_xdp').opackets, 0);
  assert.ok(portTotals(s, 'udp').opackets > 500, `udp ports: ${JSON.stringify(s.ports)}`);
  process.stderr.write(`# afxdp off: iperf3 TCP ${mbit(tcp.bitsPerSecond)} over the kernel socket\n`);
});

test('no CAP_NET_RAW/CAP_BPF (setpriv, CAP_NET_ADMIN only): AF_XDP unavailable, said once, the kernel socket carries the tunnel', async () => {
  requireRoot();
  const lab = new Lab('axmc');
  labs.push(lab);
  const { a, b } = afxdpSides(lab, 'xdpwg', 'xdpwg', 218, { queues: 2 });
  rmSync(`/var/run/wireguard/${a.ifname}.sock`, { force: true });
  const child = lab.spawn(a.ns, 'setpriv', ['--inh-caps', '-all', '--bounding-set', '-all,+net_admin', '--', xdpwgBin, '-f', a.ifname], {
    env: { ...process.env, LOG_LEVEL: 'verbose' },
  });
  a.proc = child;
  for (const s of [child.stdout, child.stderr]) s?.on('data', (d: Buffer) => a.log.push(...d.toString().split('\n').filter(Boolean)));
  await waitFor(
    'the capability-limited daemon',
    async () => (await uapiAccepts(uapiSocketPath(a.ifname))) && nsExec(a.ns, 'ip', ['link', 'show', a.ifname]).includes(a.ifname),
    15_000,
  );
  await waitFor(
    'its UAPI socket',
    () => {
      nsExec(a.ns, 'wg', ['show', a.ifname]);
      return true;
    },
    5_000,
  );
  await startFresh(lab, b);
  configureInterface(a);
  configureInterface(b);
  addPeer(b, a, { outer: 4 });
  addPeer(a, b, { outer: 4 });
  assert.equal(ping(a, b.inner4, 3), 3, logsOf(a, b));
  assert.equal(ping(a, b.inner6, 3), 3, logsOf(a, b));
  const s = await statsAfter(a, (st) => pathTo(st, b.keys.publicKey).startsWith('kernel socket'));
  const path = pathTo(s, b.keys.publicKey);
  process.stderr.write(`# without CAP_NET_RAW/CAP_BPF: path "${path}"; afxdp ${JSON.stringify(s.afxdp)}\n`);
  assert.match(path, /^kernel socket \(.*AF_XDP unavailable/, `${path}\n${logsOf(a)}`);
  assert.match(s.afxdp[0]?.unusable ?? '', /AF_XDP unavailable/, JSON.stringify(s.afxdp));
  // The daemon's log reaches us through a pipe: give it a moment.
  await waitFor('the daemon to log why AF_XDP is unavailable', () => a.log.some((l) => /AF_XDP unavailable/.test(l)), 5_000).catch(
    () => undefined,
  );
  const said = a.log.filter((l) => /AF_XDP unavailable/.test(l));
  assert.equal(said.length, 1, `the reason is logged once:\n${said.join('\n')}\n${logsOf(a)}`);
  assert.equal(portTotals(s, 'af_xdp').opackets, 0);
});

test('an unknown key in the datapath config: the daemon exits 1 naming it', () => {
  requireRoot();
  const lab = new Lab('axmk');
  labs.push(lab);
  const ns = lab.ns('a');
  const file = datapathFile('{\n  "mode": "generic",\n  // a typo\n  "zeroCopyy": true,\n}\n');
  const r = spawnSync('ip', ['netns', 'exec', ns, xdpwgBin, '-f', 'axmkwa'], {
    env: { ...process.env, XDPWG_DATAPATH: file },
    encoding: 'utf8',
    timeout: 20_000,
  });
  const out = `${r.stdout}${r.stderr}`;
  assert.equal(r.status, 1, `exit ${r.status}: ${out}`);
  assert.match(out, /unknown key "zeroCopyy"/, out);
  assert.ok(out.includes(file), `the message names the file: ${out}`);
});
