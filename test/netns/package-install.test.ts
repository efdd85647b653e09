/**
 * The Debian package, installed as an operator would: `npm run package`
 * builds xdpwg_VERSION_amd64.deb from this tree, `apt-get install ./…deb`
 * puts it into a clean Debian 12 root (debootstrap minbase, cached by
 * scripts/debian-root.sh, used through an overlay so the cache stays clean),
 * with apt resolving its Depends from Debian's archive (its downloads kept
 * beside the cached root for the next run). Then a tunnel runs
 * from the installed files only: `/usr/bin/xdpwg up` inside that root, in a
 * network namespace, against wireguard-go in another, on AF_XDP.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { Lab, nsExec, requireRoot, sh, waitFor } from '../helpers/netns.js';
import { addPeer, configureInterface, genKeys, logsOf, repoRoot, startImplementation, type Side } from '../helpers/tunnel-lab.js';

const lab = new Lab('pki');
let work = '';
let merged = '';
let deb = '';
let xdpwgPid = 0;
const xdpwgLog: string[] = [];

/** Runs a command inside the installed root (no network namespace of its own). */
function inRoot(cmd: string, timeoutMs = 300_000): string {
  return sh('chroot', [merged, 'sh', '-c', cmd], { timeoutMs });
}

before(() => {
  requireRoot();
  work = mkdtempSync('/tmp/xdpwg-pkgtest-');
  const out = path.join(work, 'out');
  deb = execFileSync(path.join(repoRoot, 'scripts', 'package-deb.sh'), {
    env: { ...process.env, XDPWG_PACKAGE_DIR: out },
    encoding: 'utf8',
    timeout: 600_000,
  })
    .trim()
    .split('\n')
    .pop()!;
  const base = execFileSync(path.join(repoRoot, 'scripts', 'debian-root.sh'), { encoding: 'utf8', timeout: 900_000 })
    .trim()
    .split('\n')
    .pop()!;
  merged = path.join(work, 'root');
  for (const d of ['upper', 'work', 'root']) mkdirSync(path.join(work, d));
  sh('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${base},upperdir=${work}/upper,workdir=${work}/work`, merged]);
  for (const [what, where, type] of [
    ['proc', 'proc', 'proc'],
    ['sysfs', 'sys', 'sysfs'],
    ['tmpfs', 'run', 'tmpfs'],
  ] as const)
    sh('mount', ['-t', type, what, path.join(merged, where)]);
  sh('mount', ['--rbind', '/dev', path.join(merged, 'dev')]);
  sh('mount', ['--make-rslave', path.join(merged, 'dev')]);
  // apt's downloads and lists persist beside the cached root, so a later run fetches only what changed.
  for (const [keep, where] of [
    ['apt-archives', 'var/cache/apt/archives'],
    ['apt-lists', 'var/lib/apt/lists'],
  ] as const) {
    const dir = path.join(path.dirname(base), keep);
    mkdirSync(path.join(dir, 'partial'), { recursive: true });
    sh('mount', ['--bind', dir, path.join(merged, where)]);
  }
  copyFileSync('/etc/resolv.conf', path.join(merged, 'etc', 'resolv.conf'));
  copyFileSync(deb, path.join(merged, 'tmp', path.basename(deb)));
});

after(() => {
  lab.cleanup();
  if (merged) {
    for (const m of ['var/cache/apt/archives', 'var/lib/apt/lists', 'dev', 'run', 'sys', 'proc', '']) {
      try {
        sh('umount', ['-R', '-l', path.join(merged, m)]);
      } catch {
        /* not mounted */
      }
    }
  }
  if (work) rmSync(work, { recursive: true, force: true });
});

test('npm run package: one .deb with the app, Node ≥ 20, the unit, man pages, completion; Depends from Debian 12', () => {
  const contents = sh('dpkg-deb', ['-c', deb]);
  for (const f of [
    './usr/bin/xdpwg',
    './usr/lib/xdpwg/node/bin/node',
    './usr/lib/xdpwg/build/Release/xdpwg.node',
    './usr/lib/xdpwg/native/bpf/xdpwg_filter.o',
    './usr/lib/xdpwg/native/bpf/tun_steering.o',
    './usr/lib/xdpwg/dist/src/cli/main.js',
    './lib/systemd/system/xdpwg@.service',
    './usr/share/man/man8/xdpwg.8.gz',
    './usr/share/man/man5/xdpwg.datapath.5.gz',
    './usr/share/bash-completion/completions/xdpwg',
  ]) {
    assert.ok(contents.includes(f), `${f} in the package`);
  }
  assert.ok(!/\/node_modules\/(typescript|node-gyp|@types)\//.test(contents), 'no development modules');
  const control = sh('dpkg-deb', ['-f', deb, 'Depends']);
  for (const p of ['libxdp1', 'libbpf1', 'libssl3', 'iproute2'])
    assert.match(control, new RegExp(`\\b${p}\\b`), `Depends names ${p}: ${control}`);
  // The man pages render.
  assert.match(sh('man', ['-l', path.join(repoRoot, 'docs', 'man', 'xdpwg.8')]), /xdpwg up/);
  assert.match(sh('man', ['-l', path.join(repoRoot, 'docs', 'man', 'xdpwg.datapath.5')]), /metricsListen/);
});

test('apt-get install ./xdpwg_….deb into a clean Debian 12 root', () => {
  assert.ok(!existsSync(path.join(merged, 'usr', 'lib', 'x86_64-linux-gnu', 'libxdp.so.1')), 'the root starts without libxdp');
  inRoot('apt-get update -qq >/dev/null 2>&1 || apt-get update -qq', 300_000);
  inRoot(`DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ./tmp/${path.basename(deb)} >/dev/null`, 600_000);
  assert.match(inRoot('/usr/bin/xdpwg --version'), /^xdpwg v\d+\.\d+\.\d+/);
  assert.match(inRoot('xdpwg genkey | xdpwg pubkey'), /^[A-Za-z0-9+/]{43}=\n$/);
  assert.ok(existsSync(path.join(merged, 'etc', 'wireguard')), '/etc/wireguard made');
});

test('a tunnel to wireguard-go from the installed files only, on AF_XDP', async () => {
  const nsA = lab.ns('a');
  const nsB = lab.ns('b');
  const keysA = genKeys();
  const b: Side = {
    ns: nsB,
    impl: 'wireguard-go',
    ifname: 'pkiwb',
    keys: genKeys(),
    port: 51822,
    log: [],
    outer4: '10.81.0.2',
    outer6: 'fd81::2',
    inner4: '10.81.1.2',
    inner6: 'fd81:1::2',
  };
  lab.veth({ ns: nsA, dev: 'pkiva', addrs: ['10.81.0.1/24'] }, { ns: nsB, dev: 'pkivb', addrs: ['10.81.0.2/24'] });
  await startImplementation(lab, b);
  configureInterface(b);
  const a: Side = {
    ns: nsA,
    impl: 'xdpwg',
    ifname: 'pkiwa',
    keys: keysA,
    port: 51821,
    log: [],
    outer4: '10.81.0.1',
    outer6: 'fd81::1',
    inner4: '10.81.1.1',
    inner6: 'fd81:1::1',
  };
  addPeer(b, a);
  writeFileSync(
    path.join(merged, 'etc', 'wireguard', 'pkiwa.conf'),
    [
      '[Interface]',
      `PrivateKey = ${keysA.privateKey}`,
      'ListenPort = 51821',
      'Address = 10.81.1.1/24',
      '',
      '[Peer]',
      `PublicKey = ${b.keys.publicKey}`,
      'AllowedIPs = 10.81.1.2/32',
      `Endpoint = ${b.outer4}:${b.port}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  // The installed xdpwg, in namespace A, with the installed root as its whole filesystem.
  const child = lab.spawn(
    nsA,
    'unshare',
    [
      '-m',
      '--propagation',
      'slave',
      'sh',
      '-c',
      `mount -t sysfs sysfs ${merged}/sys && mount -t bpf bpf ${merged}/sys/fs/bpf && mount -t tmpfs tmpfs ${merged}/run && exec chroot ${merged} /usr/bin/xdpwg up pkiwa`,
    ],
    {
      // "afxdp": "on": on a veth "auto" takes the kernel socket (src/daemon/xdp/afxdp-choice.ts), and this test is about AF_XDP.
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LOG_LEVEL: 'verbose', WG_PROCESS_FOREGROUND: '1', XDPWG_AFXDP: 'on' },
    },
  );
  xdpwgPid = child.pid!;
  child.stderr!.on('data', (d: Buffer) => xdpwgLog.push(...d.toString().split('\n').filter(Boolean)));
  child.stdout!.on('data', (d: Buffer) => xdpwgLog.push(...d.toString().split('\n').filter(Boolean)));
  const inA = (cmd: string): string => sh('nsenter', ['-t', String(xdpwgPid), '-m', '-n', 'chroot', merged, 'sh', '-c', cmd]);
  await waitFor(
    'the installed xdpwg to bring pkiwa up',
    () => nsExec(nsA, 'ip', ['-br', 'addr', 'show', 'pkiwa']).includes('10.81.1.1'),
    60_000,
    200,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${xdpwgLog.join('\n')}`);
  });
  await waitFor(
    'a ping through the tunnel',
    () => {
      try {
        nsExec(nsB, 'ping', ['-c', '1', '-W', '1', '10.81.1.1']);
        return true;
      } catch {
        return false;
      }
    },
    30_000,
    300,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${xdpwgLog.join('\n')}\n${logsOf(b)}`);
  });
  type Stats = { paths: Array<{ path: string }>; ports: Array<Record<string, string | number>> };
  const stats = (): Stats => JSON.parse(inA('xdpwg stats pkiwa --json')) as Stats;
  assert.equal(stats().paths[0]?.path, 'af_xdp', `the peer's path: ${JSON.stringify(stats().paths)}\n${xdpwgLog.join('\n')}`);
  // The workers report their port counters periodically.
  await waitFor(
    'the AF_XDP port to count the tunnel',
    () => stats().ports.some((p) => String(p.path).startsWith('af_xdp') && Number(p.ipackets) > 0),
    10_000,
    250,
  );
  assert.match(inA('xdpwg show pkiwa'), /latest handshake/);
});
