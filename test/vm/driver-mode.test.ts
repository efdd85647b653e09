/**
 * xdpwg on a real NIC driver: inside a guest (test/helpers/vm.ts), on
 * virtio_net with two queue pairs, its XDP filter attached in the driver's
 * own hook (native mode) and one AF_XDP socket per queue. The peer is
 * wireguard-go (Debian's) in a namespace on the host end of the wire.
 *
 * Everything a veth never exercises: the driver's XDP and XSK code, its
 * rx/tx queues and its interrupts and wake-ups. virtio_net on Debian 12's
 * kernel binds AF_XDP in copy mode only (zero-copy needs a later kernel),
 * so zero-copy stays untested here.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, nsExec, nsSpawn, requireRoot, waitFor } from '../helpers/netns.js';
import { Guest, guestImage, guestPing as guestPingOf, nsPing } from '../helpers/vm.js';
import { genKeys, logsOf, repoRoot, startImplementation, wg, type Side } from '../helpers/tunnel-lab.js';
import type { DeviceStats } from '../../src/daemon/observe/device-stats.js';

/** Bytes each way: enough to cycle every UMEM frame many times over. */
const TRANSFER_BYTES = 96 * 1024 * 1024;
const lab = new Lab('vdm');
let guest: Guest;
let peer: Side;
const G = { keys: genKeys(), outer4: '10.79.0.2', outer6: 'fd79::2', inner4: '10.79.1.2', inner6: 'fd79:1::2', port: 51821, ifname: 'wgx' };

async function guestStats(): Promise<DeviceStats> {
  return JSON.parse(await guest.sh(`${repoRoot}/bin/xdpwg stats ${G.ifname} --json`)) as DeviceStats;
}

/** Per AF_XDP port: its free frames. */
function freeFrames(s: DeviceStats): number[] {
  return s.ports.filter((p) => String(p.path).startsWith('af_xdp')).map((p) => Number(p.frames_free));
}

/** The free counts once two readings a second apart agree (the last completions reaped). */
async function settledFreeFrames(): Promise<number[]> {
  let last = '';
  const now = await waitFor(
    "the ports' free frame counts to settle",
    async () => {
      const f = JSON.stringify(freeFrames(await guestStats()));
      const same = f === last;
      last = f;
      return same ? f : undefined;
    },
    30_000,
    1000,
  );
  return JSON.parse(now) as number[];
}

const guestPing = (to: string, count = 3): Promise<number> => guestPingOf(guest, to, count);

const hostPing = (to: string, count = 3): number => nsPing(peer.ns, to, count);

before(async () => {
  requireRoot();
  const image = guestImage();
  const ns = lab.ns('h');
  peer = {
    ns,
    impl: 'wireguard-go',
    ifname: 'vdmw',
    keys: genKeys(),
    port: 51820,
    log: [],
    outer4: '10.79.0.1',
    outer6: 'fd79::1',
    inner4: '10.79.1.1',
    inner6: 'fd79:1::1',
  };
  guest = await Guest.boot({
    name: 'drv',
    image,
    cpus: 2,
    memoryMb: 1536,
    nics: [{ netns: ns, tap: 'vdmt', queues: 2, mac: '52:54:00:79:00:02' }],
  });
  nsExec(ns, 'ip', ['addr', 'add', `${peer.outer4}/24`, 'dev', 'vdmt']);
  nsExec(ns, 'ip', ['addr', 'add', `${peer.outer6}/64`, 'dev', 'vdmt', 'nodad']);
  nsExec(ns, 'ip', ['link', 'set', 'vdmt', 'up']);
  await guest.sh(
    [
      `ip addr add ${G.outer4}/24 dev eth0`,
      `ip addr add ${G.outer6}/64 dev eth0 nodad`,
      'ethtool -L eth0 combined 2',
      'ip link set eth0 up',
      `umask 077; echo ${G.keys.privateKey} > /run/wg.key`,
      // txPath/rxPath afxdp: this test is about the driver's AF_XDP paths (in copy mode auto sends bulk by the socket, and with GRO on receives by it).
      `echo '{ "mode": "native", "workers": 2, "txPath": "afxdp", "rxPath": "afxdp" }' > /run/${G.ifname}.datapath.jsonc`,
    ].join(' && '),
  );
  // The daemon in the guest, in the foreground of a detached shell; its log in /run.
  await guest.sh(
    `cd ${repoRoot} && (XDPWG_DATAPATH=/run/${G.ifname}.datapath.jsonc LOG_LEVEL=info setsid bin/xdpwg -f ${G.ifname} > /run/xdpwg.log 2>&1 &) ; true`,
  );
  await waitFor(
    'xdpwg in the guest to create its interface',
    async () => (await guest.run(`wg show ${G.ifname} listen-port`)).rc === 0,
    90_000,
    500,
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${(await guest.run('cat /run/xdpwg.log')).out}`);
  });
  await guest.sh(
    [
      `wg set ${G.ifname} private-key /run/wg.key listen-port ${G.port} peer ${peer.keys.publicKey} allowed-ips ${peer.inner4}/32,${peer.inner6}/128 endpoint ${peer.outer4}:${peer.port}`,
      `ip addr add ${G.inner4}/24 dev ${G.ifname}`,
      `ip addr add ${G.inner6}/64 dev ${G.ifname} nodad`,
      `ip link set ${G.ifname} mtu 1420 up`,
    ].join(' && '),
  );
  await startImplementation(lab, peer);
  nsExec(ns, 'sh', ['-c', `umask 077; echo ${peer.keys.privateKey} > /tmp/${ns}.key`]);
  wg(peer, [
    'set',
    peer.ifname,
    'private-key',
    `/tmp/${ns}.key`,
    'listen-port',
    String(peer.port),
    'peer',
    G.keys.publicKey,
    'allowed-ips',
    `${G.inner4}/32,${G.inner6}/128`,
    'endpoint',
    `${G.outer4}:${G.port}`,
  ]);
  nsExec(ns, 'ip', ['addr', 'add', `${peer.inner4}/24`, 'dev', peer.ifname]);
  nsExec(ns, 'ip', ['addr', 'add', `${peer.inner6}/64`, 'dev', peer.ifname, 'nodad']);
  nsExec(ns, 'ip', ['link', 'set', peer.ifname, 'mtu', '1420', 'up']);
});

after(async () => {
  if (guest) {
    const log = await guest.run('cat /run/xdpwg.log', 10_000).catch(() => ({ out: '' }));
    if (process.exitCode) console.log(`--- xdpwg in the guest ---\n${log.out}`);
    guest.stop();
  }
  lab.cleanup();
});

test('native mode on virtio_net: the filter in the driver, one AF_XDP socket per queue', async () => {
  // The workers report their ports once a second after they open them: under TCG that can trail the setup.
  const s = await waitFor(
    'both AF_XDP ports in the stats',
    async () => {
      const st = await guestStats();
      return freeFrames(st).length >= 2 ? st : undefined;
    },
    60_000,
    500,
  ).catch(async () => guestStats());
  const dev = s.afxdp.find((d) => d.device === 'eth0');
  assert.ok(dev, `eth0 in the AF_XDP summary: ${JSON.stringify(s.afxdp)}`);
  assert.equal(dev.mode, 'native', `XDP mode on virtio_net: ${JSON.stringify(dev)}`);
  assert.equal(freeFrames(s).length, 2, `an AF_XDP port per queue: ${JSON.stringify(s.ports)}`);
  const log = await guest.sh('cat /run/xdpwg.log');
  assert.match(log, /eth0[^\n]*native/, `the log says native mode:\n${log}`);
});

test('ping v4 and v6 both ways through the tunnel, on AF_XDP', async () => {
  assert.equal(await guestPing(peer.inner4), 3, `guest → wireguard-go v4\n${(await guest.run('cat /run/xdpwg.log')).out}\n${logsOf(peer)}`);
  assert.equal(await guestPing(peer.inner6), 3, 'guest → wireguard-go v6');
  assert.equal(hostPing(G.inner4), 3, 'wireguard-go → guest v4');
  assert.equal(hostPing(G.inner6), 3, 'wireguard-go → guest v6');
  const s = await guestStats();
  assert.equal(s.paths[0]?.path, 'af_xdp', `the peer's path: ${JSON.stringify(s.paths)}`);
});

test('a sustained transfer each way, byte for byte, and every frame back afterwards', async () => {
  const idle = await settledFreeFrames();
  const hostFile = `/tmp/${peer.ns}.payload`;
  // Guest → host.
  const recv = nsSpawn(peer.ns, 'sh', ['-c', `ncat -l ${peer.inner4} 6000 --recv-only > ${hostFile}.in`]);
  lab.children.push(recv);
  await waitFor('the host listener', () => nsExec(peer.ns, 'ss', ['-ltn']).includes(':6000'), 10_000);
  const t0 = Date.now();
  const sent = await guest.sh(
    `head -c ${TRANSFER_BYTES} /dev/urandom > /run/payload && ncat --send-only ${peer.inner4} 6000 < /run/payload && sha256sum < /run/payload && rm /run/payload`,
    600_000,
  );
  await waitFor('the host listener to finish', () => recv.exitCode !== null, 60_000);
  const upMs = Date.now() - t0;
  assert.equal(
    nsExec(peer.ns, 'sh', ['-c', `sha256sum < ${hostFile}.in`]).split(' ')[0],
    sent.trim().split(' ')[0],
    'guest → host: the same bytes',
  );
  // Host → guest.
  nsExec(peer.ns, 'sh', ['-c', `head -c ${TRANSFER_BYTES} /dev/urandom > ${hostFile}.out`]);
  await guest.sh(`(ncat -l ${G.inner4} 6001 --recv-only > /run/payload.in &) ; true`);
  await waitFor('the guest listener', async () => (await guest.sh('ss -ltn')).includes(':6001'), 30_000, 300);
  const t1 = Date.now();
  nsExec(peer.ns, 'sh', ['-c', `ncat --send-only ${G.inner4} 6001 < ${hostFile}.out`], { timeoutMs: 600_000 });
  const want = nsExec(peer.ns, 'sh', ['-c', `sha256sum < ${hostFile}.out`]).split(' ')[0];
  await waitFor(
    'the guest to hold every byte',
    async () => (await guest.sh('sha256sum < /run/payload.in')).split(' ')[0] === want,
    120_000,
    1000,
  );
  const downMs = Date.now() - t1;
  console.log(`# driver mode: ${TRANSFER_BYTES >> 20} MiB up in ${upMs} ms, down in ${downMs} ms (TCG guest)`);
  const s = await guestStats();
  for (const [k, v] of Object.entries(s.drops)) if (k !== 'tx-no-route') assert.equal(v, 0, `no drops: ${k} = ${v}`);
  const ports = s.ports.filter((p) => String(p.path).startsWith('af_xdp'));
  assert.ok(
    ports.reduce((n, p) => n + Number(p.ipackets), 0) > TRANSFER_BYTES / 1500,
    `AF_XDP received the transfer: ${JSON.stringify(ports)}`,
  );
  assert.ok(ports.reduce((n, p) => n + Number(p.opackets), 0) > TRANSFER_BYTES / 1500, 'and sent it');
  // Every frame back: once the wire is quiet, no port has fewer free frames than it had at idle
  // (a frame whose completion the kernel had not yet reported at the idle reading may be back now).
  // Waited for, not read once: a frame a port still holds for an answer in flight (a keepalive) comes
  // back within moments; a leaked one never does, and the wait fails naming the port.
  let last: number[] = [];
  await waitFor(
    'every port back to its idle count of free frames',
    async () => {
      last = freeFrames(await guestStats());
      return last.every((n, i) => n >= idle[i]!) || undefined;
    },
    30_000,
    1000,
  ).catch(() => {
    throw new Error(`free frames after the transfer ${JSON.stringify(last)}, before ${JSON.stringify(idle)}`);
  });
});
