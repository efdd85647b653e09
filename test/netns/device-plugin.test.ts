/**
 * Device-plugin mode ("xdpProgram": "device-plugin"): the test plays the
 * AF_XDP device plugin for Kubernetes (test/helpers/fake-device-plugin.ts).
 * It loads libxdp's default XSK program on A's device, as the plugin does on
 * Allocate, and serves the map over the plugin's socket at the path the
 * plugin mounts into pods (/tmp/afxdp_dp/<device>/afxdp.sock), with the
 * device named in AFXDP_DEVICES_<POOL> as the plugin sets it:
 *
 *   A (xdpwg, device-plugin mode) ── veth ── B (xdpwg, own filter)
 *
 * Checked: the exact handshake the daemon sends, that it loads no program of
 * its own, that its sockets land in the plugin's map and the tunnel's
 * traffic flows through them, and that the log and `xdpwg stats` say which
 * mode is in use. The plugin's program sends every frame of the queue to
 * the socket, ARP replies too, so both ends get permanent neighbour entries
 * (README: Running in containers and Kubernetes).
 *
 * Bad input: a socket that answers garbage, hangs up mid-handshake, never
 * answers, passes a descriptor that is no map, or is not there: the daemon
 * starts anyway within the reply timeout, logs the error and the fallback
 * (the kernel UDP socket), and its stats say kernel-fallback.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import { addPeer, configureInterface, logsOf, ping, xdpwgBin, type Side } from '../helpers/tunnel-lab.js';
import { uapiAccepts, uapiSocketPath } from '../../src/daemon/uapi/server.js';
import { afxdpSides, datapathFile, pathTo, portTotals, startFresh, statsAfter, statsOf } from '../helpers/afxdp-lab.js';
import { startFakeDevicePlugin, type FakePluginBehaviour } from '../helpers/fake-device-plugin.js';

const lab = new Lab('dvp');
let a: Side;
let b: Side;
let vethA: string;
let vethB: string;
const pluginDir = '/tmp/afxdp_dp';
const scratch = mkdtempSync(path.join(tmpdir(), 'dvp-'));

before(() => requireRoot());
after(() => {
  lab.cleanup();
  rmSync(scratch, { recursive: true, force: true });
  if (vethA) rmSync(path.join(pluginDir, vethA), { recursive: true, force: true });
  try {
    rmdirSync(pluginDir);
  } catch {
    /* not empty (someone else's) or gone */
  }
});

/** The pod's capabilities in deploy/pod-device-plugin.yaml (setpriv names). */
const POD_CAPS = ['net_admin', 'net_raw', 'ipc_lock'];

const macOf = (ns: string, dev: string): string => /link\/ether ([0-9a-f:]{17})/.exec(nsExec(ns, 'ip', ['link', 'show', dev]))![1]!;

test('the plugin hands over its XSK map: exact handshake, no program of ours, traffic through its map', async () => {
  ({ a, b, vethA, vethB } = afxdpSides(lab, 'xdpwg', 'xdpwg', 232, { queues: 2 }));
  // The plugin's program passes nothing of a queue with a socket to the kernel, ARP replies included.
  nsExec(a.ns, 'ip', ['neigh', 'replace', b.outer4, 'lladdr', macOf(b.ns, vethB), 'dev', vethA, 'nud', 'permanent']);
  nsExec(b.ns, 'ip', ['neigh', 'replace', a.outer4, 'lladdr', macOf(a.ns, vethA), 'dev', vethB, 'nud', 'permanent']);
  const socketPath = path.join(pluginDir, vethA, 'afxdp.sock');
  mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  const plugin = startFakeDevicePlugin({ socketPath, behaviour: 'plugin', netns: a.ns, devices: [vethA], podName: hostname() });
  await plugin.ready;
  // As in a pod (deploy/pod-device-plugin.yaml): the device list comes from the plugin's variable, the
  // socket from its mount path, and the capabilities are only NET_ADMIN, NET_RAW and IPC_LOCK: no BPF, no PERFMON.
  rmSync(`/var/run/wireguard/${a.ifname}.sock`, { force: true });
  const child = lab.spawn(
    a.ns,
    'setpriv',
    ['--inh-caps', '-all', '--bounding-set', `-all,${POD_CAPS.map((c) => `+${c}`).join(',')}`, '--', xdpwgBin, '-f', a.ifname],
    {
      env: {
        ...process.env,
        LOG_LEVEL: 'debug',
        XDPWG_DATAPATH: datapathFile({ xdpProgram: 'device-plugin' }),
        AFXDP_DEVICES_MYPOOL: vethA,
      },
    },
  );
  a.proc = child;
  for (const out of [child.stdout, child.stderr]) out?.on('data', (d: Buffer) => a.log.push(...d.toString().split('\n').filter(Boolean)));
  await waitFor(
    'the daemon in device-plugin mode',
    async () => (await uapiAccepts(uapiSocketPath(a.ifname))) && nsExec(a.ns, 'wg', ['show', a.ifname, 'listen-port']).trim() !== '',
    15_000,
  ).catch((err: Error) => assert.fail(`${err.message}\n${logsOf(a)}`));
  const capEff = BigInt('0x' + /CapEff:\s+([0-9a-f]+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]);
  assert.equal(capEff, (1n << 12n) | (1n << 13n) | (1n << 14n), `CapEff ${capEff.toString(16)}: NET_ADMIN, NET_RAW, IPC_LOCK only`);
  const served = await plugin.done;
  assert.equal(served.error, undefined, served.error);
  assert.deepEqual(served.requests, [`/connect, ${hostname()}`, '/version', `/xsk_map_fd, ${vethA}`, '/fin']);

  await startFresh(lab, b);
  configureInterface(a);
  configureInterface(b);
  addPeer(b, a);
  addPeer(a, b, { keepalive: 1 });
  assert.equal(ping(a, b.inner4, 10), 10, logsOf(a, b));
  // The log arrives through a pipe: read it once the event loop had the chance.
  for (const text of [
    `XDP program: the AF_XDP device plugin's (handshake 0.1 over ${socketPath}); XSK maps for ${vethA}`,
    `${vethA}: the AF_XDP device plugin's XDP program steers its frames`,
  ]) {
    await waitFor(`"${text}" in A's log`, () => a.log.some((l) => l.includes(text)), 5_000).catch((err: Error) =>
      assert.fail(`${err.message}\n${logsOf(a)}`),
    );
  }

  const s = await statsAfter(
    a,
    (x) => portTotals(x, 'af_xdp').ipackets >= 5 && portTotals(x, 'af_xdp').opackets >= 5 && pathTo(x, b.keys.publicKey) === 'af_xdp',
  );
  assert.equal((s as unknown as { xdpProgram: string }).xdpProgram, 'device-plugin');
  assert.equal(s.afxdp[0]?.mode, 'device-plugin', JSON.stringify(s.afxdp));
  assert.ok((s.afxdp[0]?.boundWorkers.length ?? 0) > 0, JSON.stringify(s.afxdp));
  assert.equal(pathTo(s, b.keys.publicKey), 'af_xdp', logsOf(a));
  assert.ok(portTotals(s, 'af_xdp').ipackets >= 5 && portTotals(s, 'af_xdp').opackets >= 5, `${JSON.stringify(s.ports)}\n${logsOf(a)}`);
  // The only program on A's device is the one the plugin loaded: libxdp's default XSK program.
  const link = nsExec(a.ns, 'ip', ['-d', 'link', 'show', vethA]);
  assert.match(link, /prog\/xdp id \d+ name xsk_def_prog/, link);
  assert.doesNotMatch(link, /xdpwg/, link);
});

/** What a daemon pointed at a misbehaving plugin must log (after "device-plugin handshake failed: "). */
const badPlugins: Array<[FakePluginBehaviour | 'absent', RegExp, string[]]> = [
  [
    'garbage',
    /after "\/connect, [^"]+": answered "HTTP\/1\.1 400 Bad Request\\r\\n" where "\/host_ok" or "\/host_nak" or "\/error" was expected/,
    [`/connect, ${hostname()}`],
  ],
  ['close-mid', /(after|sending) "\/version": the plugin closed the connection mid-handshake/, [`/connect, ${hostname()}`]],
  ['silent', /after "\/connect, [^"]+": no answer within 2000 ms/, [`/connect, ${hostname()}`]],
  [
    'not-a-map',
    /after "\/xsk_map_fd, dvpx": bpf_obj_get_info_by_fd: E\w+ .*fd \d+ is not a BPF map/,
    [`/connect, ${hostname()}`, '/version', '/xsk_map_fd, dvpx'],
  ],
  ['absent', /connect: connect: ENOENT/, []],
];

for (const [behaviour, expected, requests] of badPlugins) {
  test(`a plugin socket that is ${behaviour}: clear error, kernel-socket fallback named in the log, no hang`, async () => {
    const ns = lab.ns(`x${behaviour.slice(0, 4)}`);
    const side: Side = {
      ns,
      ifname: `dvp${behaviour.slice(0, 4).replace('-', '')}`,
      impl: 'xdpwg',
      keys: { privateKey: '', publicKey: '' },
      port: 0,
      log: [],
      outer4: '',
      outer6: '',
      inner4: '',
      inner6: '',
    };
    const socketPath = path.join(scratch, `${behaviour}.sock`);
    const plugin =
      behaviour === 'absent' ? undefined : startFakeDevicePlugin({ socketPath, behaviour, podName: hostname(), acceptTimeoutMs: 15_000 });
    await plugin?.ready;
    const started = Date.now();
    await startFresh(lab, side, {
      XDPWG_DATAPATH: datapathFile({ xdpProgram: 'device-plugin', devices: ['dvpx'], devicePluginSocket: socketPath }),
    });
    const took = Date.now() - started;
    const line = await waitFor('the fallback in the log', () => side.log.find((l) => l.includes('device-plugin handshake failed')), 5_000);
    assert.match(line, expected);
    assert.match(line, /falling back to the kernel UDP socket for all peers \(no AF_XDP\)/);
    assert.ok(took < 10_000, `started in ${took} ms`);
    assert.equal((statsOf(side) as unknown as { xdpProgram: string }).xdpProgram, 'kernel-fallback');
    if (plugin) assert.deepEqual((await plugin.done).requests, requests);
  });
}
