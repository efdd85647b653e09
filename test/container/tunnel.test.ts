/**
 * The tunnel demo with one end inside the container image, that end a full
 * tunnel (AllowedIPs 0.0.0.0/0, ::/0: wg-quick's fwmark rules, firewall
 * rules and src_valid_mark, all from inside the container)
 * (scripts/container-image.sh builds it; `npm run test:container` runs both):
 *
 *   container (podman, xdpwg up /etc/xdpwg/wg0.conf)   ── veth ──   B (xdpwg on the host)
 *   joined to network namespace A that this test owns
 *
 * The container runs as the DaemonSet does (deploy/daemonset.yaml): all
 * capabilities dropped but NET_ADMIN, NET_RAW, BPF, PERFMON and IPC_LOCK,
 * /dev/net/tun, a read-only root with a tmpfs /run, the config mounted
 * read-only and the private key a separate read-only file that the PostUp
 * hook hands to the interface, with the ulimits podman needs on this
 * machine, and the manifests' seccomp profile (deploy/seccomp/xdpwg.json). Checked: it becomes ready (`xdpwg health wg0 --ready`, the
 * probe), the full tunnel's rules are in the container's namespace, the TUN
 * steers outbound flows by flow hash (the image carries tun_steering.o),
 * pings cross the tunnel both ways, the peer's path inside the
 * container is AF_XDP and its AF_XDP ports count the packets, and its
 * /metrics answers from inside the namespace.
 *
 * Not part of `npm test`: building the image takes a minute and needs the
 * Debian mirror the first time.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Lab, requireRoot, sh, waitFor } from '../helpers/netns.js';
import { addPeer, configureInterface, logsOf, ping, repoRoot, type Side } from '../helpers/tunnel-lab.js';
import { afxdpSides, pathTo, portTotals, startFresh, type AfxdpStats } from '../helpers/afxdp-lab.js';
import { httpInNs, parsePrometheusText, sampleValue } from '../helpers/http-in-ns.js';

const IMAGE = process.env.XDPWG_IMAGE ?? 'localhost/xdpwg:test';
const NAME = 'xdpwg-container-test';
const lab = new Lab('ctr');
let a: Side;
let b: Side;
const dir = mkdtempSync(path.join(tmpdir(), 'xdpwg-ctr-'));

const podman = (args: string[], timeoutMs = 60_000): string =>
  execFileSync('podman', args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
const inContainer = (args: string[]): string => podman(['exec', NAME, ...args], 20_000);
/** The container's log (the daemon logs to stderr; podman keeps both streams). */
const containerLogs = (): string => {
  try {
    return execFileSync('sh', ['-c', `podman logs --tail 40 ${NAME} 2>&1`], { encoding: 'utf8' });
  } catch (err) {
    return String(err);
  }
};

before(async () => {
  requireRoot();
  assert.doesNotThrow(() => podman(['image', 'exists', IMAGE]), `no image ${IMAGE}: run scripts/container-image.sh first`);
  ({ a, b } = afxdpSides(lab, 'xdpwg', 'xdpwg', 233, { queues: 2 }));
  try {
    podman(['rm', '-f', NAME]);
  } catch {
    /* none left */
  }
  // The container's config: a wg-quick file without the key, the datapath settings, and the key file alone.
  const conf = path.join(dir, 'conf');
  const secret = path.join(dir, 'secret');
  for (const d of [conf, secret]) execFileSync('mkdir', ['-p', d]);
  writeFileSync(
    path.join(conf, 'wg0.conf'),
    [
      '[Interface]',
      `Address = ${a.inner4}/24, ${a.inner6}/64`,
      `ListenPort = ${a.port}`,
      'PostUp = wg set %i private-key /run/secrets/xdpwg/private-key',
      '',
      // A full tunnel: everything but the daemon's own outer packets goes to B (wg-quick's fwmark rules).
      '[Peer]',
      `PublicKey = ${b.keys.publicKey}`,
      'AllowedIPs = 0.0.0.0/0, ::/0',
      `Endpoint = ${b.outer4}:${b.port}`,
      'PersistentKeepalive = 1',
      '',
    ].join('\n'),
  );
  chmodSync(path.join(conf, 'wg0.conf'), 0o600);
  // Two workers = two TUN queues, so the TUN's flow steering has queues to choose from on any machine.
  writeFileSync(path.join(conf, 'wg0.datapath.jsonc'), '{ "metricsListen": "127.0.0.1:9586", "workers": 2 }\n');
  writeFileSync(path.join(secret, 'private-key'), a.keys.privateKey + '\n', { mode: 0o400 });
  // /proc/sys is read-only in the container: the full tunnel's src_valid_mark=1 is set from outside, as the
  // host does for a pod (README: Running in containers and Kubernetes); `xdpwg up` sees it set and writes nothing.
  sh('ip', ['netns', 'exec', a.ns, 'sysctl', '-qw', 'net.ipv4.conf.all.src_valid_mark=1']);
  podman([
    'run',
    '-d',
    '--name',
    NAME,
    '--network',
    `ns:/var/run/netns/${a.ns}`,
    '--cap-drop',
    'all',
    '--cap-add',
    'NET_ADMIN,NET_RAW,BPF,PERFMON,IPC_LOCK',
    '--device',
    '/dev/net/tun',
    '--ulimit',
    'nofile=1024:1024',
    '--ulimit',
    'nproc=1024:1024',
    '--read-only',
    '--tmpfs',
    '/run',
    // The manifests' Localhost seccomp profile: the runtime default (which allows bpf() only with
    // CAP_SYS_ADMIN) plus bpf(). This run is what shows the profile suffices for xdpwg.
    '--security-opt',
    `seccomp=${path.join(repoRoot, 'deploy', 'seccomp', 'xdpwg.json')}`,
    '-v',
    `${conf}:/etc/xdpwg:ro`,
    '-v',
    `${secret}:/run/secrets/xdpwg:ro`,
    '-e',
    'XDPWG_DATAPATH=/etc/xdpwg/wg0.datapath.jsonc',
    '-e',
    'LOG_LEVEL=verbose',
    IMAGE,
    'up',
    '/etc/xdpwg/wg0.conf',
  ]);
  await startFresh(lab, b);
  configureInterface(b);
  addPeer(b, a, { endpoint: true });
});

after(() => {
  try {
    podman(['rm', '-f', '-t', '2', NAME]);
  } catch {
    /* already gone */
  }
  lab.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test('the image runs one end of the tunnel: ready, pings both ways, AF_XDP from inside, metrics', async () => {
  await waitFor(
    "the container's readiness probe",
    () => {
      inContainer(['xdpwg', 'health', 'wg0', '--ready']);
      return true;
    },
    30_000,
    250,
  ).catch((err: Error) => assert.fail(`${err.message}\n${containerLogs()}`));
  // The full tunnel's policy routing, set up from inside the container (ip(8) in the image), in A's namespace.
  const rules = sh('ip', ['-n', a.ns, '-4', 'rule', 'show']);
  assert.match(rules, /not from all fwmark 0xca6c lookup 51820/, rules);
  assert.match(rules, /from all lookup main suppress_prefixlength 0/, rules);
  assert.match(sh('ip', ['-n', a.ns, '-6', 'rule', 'show']), /not from all fwmark 0xca6c lookup 51820/);
  assert.match(sh('ip', ['-n', a.ns, '-4', 'route', 'show', 'table', '51820']), /^default dev wg0/m);
  // Outbound flows spread over the TUN queues by flow hash: tun_steering.o loaded, no libbpf complaint.
  const logs = containerLogs();
  assert.match(logs, /outbound flows pick a queue by flow hash/, logs);
  assert.doesNotMatch(logs, /tun_steering\.o|ENOENT/, logs);
  assert.equal(ping(b, a.inner4, 5), 5, `${logsOf(b)}\n${containerLogs()}`);
  let last = '';
  const statsNow = (): AfxdpStats & { xdpProgram: string } => {
    last = inContainer(['xdpwg', 'stats', 'wg0', '--json']);
    return JSON.parse(last) as AfxdpStats & { xdpProgram: string };
  };
  const fail = (err: Error): never => assert.fail(`${err.message}\n${last}\n${containerLogs()}`);
  // The first packets may go out before the peer's AF_XDP route exists (kernel socket); then all take AF_XDP.
  const before = await waitFor(
    'the peer on the AF_XDP path inside the container',
    () => {
      const s = statsNow();
      return pathTo(s, b.keys.publicKey) === 'af_xdp' ? s : undefined;
    },
    10_000,
    250,
  ).catch(fail);
  assert.equal(ping(b, a.inner4, 5), 5, `${logsOf(b)}\n${containerLogs()}`);
  const t0 = portTotals(before, 'af_xdp');
  const stats = await waitFor(
    'AF_XDP counters from inside the container',
    () => {
      const s = statsNow();
      const t = portTotals(s, 'af_xdp');
      return t.ipackets >= t0.ipackets + 5 && t.opackets >= t0.opackets + 5 ? s : undefined;
    },
    10_000,
    250,
  ).catch(fail);
  assert.equal(stats.xdpProgram, 'own');
  assert.ok(
    stats.afxdp.some((d) => d.device === `${lab.prefix}va` && d.mode !== 'none'),
    JSON.stringify(stats.afxdp),
  );
  // From the container's side too; `ping` is not in the image, so from its namespace.
  assert.equal(ping(a, b.inner4, 3), 3);
  const m = parsePrometheusText(httpInNs(a.ns, 'GET', 'http://127.0.0.1:9586/metrics').body);
  assert.ok(sampleValue(m, 'wireguard_received_bytes_total', { interface: 'wg0', public_key: b.keys.publicKey }) > 0);
  // The private key reached the interface from its file, and nothing else of the container holds it.
  assert.equal(inContainer(['wg', 'show', 'wg0', 'public-key']).trim(), a.keys.publicKey);
  assert.doesNotMatch(
    inContainer(['sh', '-c', 'cat /proc/1/environ | tr "\\0" "\\n"']),
    new RegExp(a.keys.privateKey.replace(/[+/=]/g, '.')),
  );
  assert.match(sh('podman', ['inspect', '--format', '{{.HostConfig.CapAdd}}', NAME]), /NET_ADMIN/);
});
