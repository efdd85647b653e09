/**
 * Secrets and privilege:
 * - private and preshared keys appear in no log line of a debug-level run
 *   (debug prints every line verbose and error print, so it covers every
 *   LOG_LEVEL) through start-up, configuration, handshake, traffic,
 *   showconf/setconf and stats, nor in `xdpwg up`'s output, nor in
 *   `xdpwg stats --json`; UAPI `get=1` is the only way out for them;
 * - the UAPI socket is mode 0600, owned by root;
 * - `xdpwg up` warns, as wg-quick does, about a config file readable by
 *   group or others, and not about a 0600 one;
 * - low-order public keys (the all-zero key, the other small-order points
 *   and their non-canonical encodings) are refused by UAPI set with an errno;
 * - the daemon runs with exactly the capabilities systemd/xdpwg@.service
 *   grants (CapabilityBoundingSet = AmbientCapabilities), started under
 *   setpriv with that bounding set: its effective set is those four, and the
 *   tunnel works.
 *
 *   A (xdpwg) ── B (xdpwg); C (xdpwg up, config warnings)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Lab, nsExec, requireRoot, sh, waitFor } from '../helpers/netns.js';
import {
  addPeer,
  configureInterface,
  genKeys,
  logsOf,
  ping,
  repoRoot,
  startImplementation,
  twoSides,
  wg,
  xdpwgBin,
  type Side,
} from '../helpers/tunnel-lab.js';
import { datapathEnv, pidOf } from './reliability-fixture.js';

const PATH = 'kernel';
const lab = new Lab('rlx');
let a: Side;
let b: Side;
let psk: string;

/** One UAPI request on the daemon's socket (from the root namespace: the socket is a file). */
function uapi(ifname: string, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(`/var/run/wireguard/${ifname}.sock`);
    let out = '';
    s.on('data', (d) => {
      out += d.toString();
      if (out.endsWith('\n\n')) {
        s.end();
        resolve(out);
      }
    });
    s.on('error', reject);
    s.write(request);
  });
}

const hex = (b64: string): string => Buffer.from(b64, 'base64').toString('hex');

before(async () => {
  requireRoot();
  ({ a, b } = twoSides(lab, 'xdpwg', 'xdpwg', 219));
  psk = sh('wg', ['genpsk']).trim();
  await startImplementation(lab, a, { LOG_LEVEL: 'debug', ...datapathEnv(PATH) });
  await startImplementation(lab, b, { LOG_LEVEL: 'debug', ...datapathEnv(PATH) });
  configureInterface(a);
  configureInterface(b);
  addPeer(a, b, { psk });
  addPeer(b, a, { psk });
});
after(() => lab.cleanup());

test('keys appear in no log of a debug run, nor in stats; get=1 is the only way out', { timeout: 60_000 }, async () => {
  assert.equal(ping(b, a.inner4, 3), 3, logsOf(a, b));
  // Configuration round trips and every read path.
  const conf = wg(a, ['showconf', a.ifname]);
  writeFileSync(`/tmp/xdpwg-${a.ns}.conf`, conf, { mode: 0o600 });
  wg(a, ['setconf', a.ifname, `/tmp/xdpwg-${a.ns}.conf`]);
  assert.equal(ping(a, b.inner4, 3), 3, logsOf(a, b));
  wg(a, ['show', 'all', 'dump']);
  const stats = nsExec(a.ns, xdpwgBin, ['stats', a.ifname, '--json']) + nsExec(a.ns, xdpwgBin, ['stats', a.ifname]);
  // A bad set and a bad key on the UAPI must not echo the key either.
  const badSet = await uapi(a.ifname, `set=1\nprivate_key=${hex(a.keys.privateKey)}\npreshared_key=${hex(psk)}\n\n`);
  assert.match(badSet, /errno=/);

  const secrets = { aPrivate: a.keys.privateKey, bPrivate: b.keys.privateKey, psk };
  const logs = [...a.log, ...b.log].join('\n');
  assert.ok(
    logs.split('\n').some((l) => l.startsWith('DEBUG:')),
    'the run was not at debug level',
  );
  for (const [name, b64] of Object.entries(secrets)) {
    for (const form of [b64, hex(b64), b64.slice(0, 20), hex(b64).slice(0, 24)]) {
      assert.ok(!logs.includes(form), `${name} (${form.slice(0, 8)}…) appears in a log`);
      assert.ok(!stats.includes(form), `${name} appears in xdpwg stats`);
    }
  }
  // get=1 does hand them out (to root, on the 0600 socket): that is the one way.
  const got = await uapi(a.ifname, 'get=1\n\n');
  assert.ok(got.includes(`private_key=${hex(a.keys.privateKey)}`) && got.includes(`preshared_key=${hex(psk)}`));
  console.log(`secrets: ${logs.split('\n').length} log lines at debug level, no key material in them`);
});

test('the UAPI socket is 0600 and owned by root', () => {
  const st = statSync(`/var/run/wireguard/${a.ifname}.sock`);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o600, `mode ${(st.mode & 0o777).toString(8)}`);
  assert.equal(st.uid, 0);
  assert.equal(st.gid, 0);
});

test('low-order public keys are refused by UAPI set with an errno', async () => {
  const lowOrder = [
    '0000000000000000000000000000000000000000000000000000000000000000', // 0
    '0100000000000000000000000000000000000000000000000000000000000000', // 1
    'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', // order 8
    '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157', // order 8
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p − 1 (order 2)
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p (≡ 0)
    'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p + 1 (≡ 1)
    // X25519 ignores bit 255 (RFC 7748 §5), so these are the same points with it set.
    'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880', // order 8
    '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7', // order 8
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', // p − 1
  ];
  const before = wg(a, ['show', a.ifname, 'peers']).trim();
  for (const key of lowOrder) {
    const reply = await uapi(a.ifname, `set=1\npublic_key=${key}\nallowed_ip=10.219.99.1/32\n\n`);
    const errno = Number(/errno=(-?\d+)/.exec(reply)?.[1]);
    assert.ok(errno !== 0 && !Number.isNaN(errno), `low-order key ${key} accepted: ${JSON.stringify(reply)}`);
  }
  assert.equal(wg(a, ['show', a.ifname, 'peers']).trim(), before, 'a low-order peer was added');
  // And through wg, as a user would: refused with an error.
  assert.throws(() => wg(a, ['set', a.ifname, 'peer', Buffer.from(lowOrder[2]!, 'hex').toString('base64')]));
});

test('xdpwg up warns about a config file readable by group or others, not about a 0600 one', { timeout: 60_000 }, async () => {
  const c = lab.ns('c');
  const dir = `/tmp/xdpwg-${c}`;
  mkdirSync(dir, { recursive: true });
  const keys = genKeys();
  const file = path.join(dir, 'rlxu.conf');
  writeFileSync(
    file,
    `[Interface]\nPrivateKey = ${keys.privateKey}\nAddress = 10.219.50.1/24\nListenPort = 51850\n\n[Peer]\nPublicKey = ${a.keys.publicKey}\nPresharedKey = ${psk}\nAllowedIPs = 10.219.51.0/24\n`,
  );
  const runUp = async (mode: number): Promise<string> => {
    sh('chmod', [mode.toString(8), file]);
    const child = lab.spawn(c, xdpwgBin, ['up', file], { env: { ...process.env, LOG_LEVEL: 'debug', ...datapathEnv(PATH) } });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await waitFor('xdpwg up to bring the interface up', () => nsExec(c, 'ip', ['-o', 'addr', 'show']).includes('10.219.50.1'), 15_000);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    return out;
  };
  const loose = await runUp(0o644);
  assert.match(loose, /Warning: `[^']*rlxu\.conf' is world accessible/, loose);
  const tight = await runUp(0o600);
  assert.doesNotMatch(tight, /world accessible/, tight);
  for (const secret of [keys.privateKey, hex(keys.privateKey), psk, hex(psk)]) {
    assert.ok(!(loose + tight).includes(secret), 'xdpwg up printed key material');
  }
});

const UNIT_CAPS = ['CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_BPF', 'CAP_PERFMON'];
/** Bit numbers (linux/capability.h). */
const CAP_BITS: Record<string, number> = { CAP_NET_ADMIN: 12, CAP_NET_RAW: 13, CAP_PERFMON: 38, CAP_BPF: 39 };

test('the systemd unit grants exactly the data plane capabilities, and the daemon works with only those', { timeout: 60_000 }, async () => {
  const unit = readFileSync(path.join(repoRoot, 'systemd', 'xdpwg@.service'), 'utf8');
  const list = (key: string): string[] => (new RegExp(`^${key}=(.*)$`, 'm').exec(unit)?.[1] ?? '').trim().split(/\s+/).sort();
  assert.deepEqual(list('CapabilityBoundingSet'), [...UNIT_CAPS].sort());
  assert.deepEqual(list('AmbientCapabilities'), [...UNIT_CAPS].sort());
  assert.match(unit, /^NoNewPrivileges=yes$/m);

  // A fresh daemon in A's namespace under exactly that bounding set (root uid, as systemd runs it).
  const d = lab.ns('d');
  lab.veth({ ns: d, dev: 'rlxvd', addrs: ['10.219.60.1/24'] }, { ns: b.ns, dev: 'rlxvbd', addrs: ['10.219.60.2/24'] });
  const side: Side = {
    ns: d,
    impl: 'xdpwg',
    ifname: 'rlxwd',
    keys: genKeys(),
    port: 51860,
    log: [],
    outer4: '10.219.60.1',
    outer6: '',
    inner4: '10.219.61.1',
    inner6: 'fd00:219:61::1',
  };
  const bset = ['-all', ...UNIT_CAPS.map((c) => '+' + c.slice(4).toLowerCase())].join(',');
  const child = lab.spawn(d, 'setpriv', ['--inh-caps', '-all', '--bounding-set', bset, '--', xdpwgBin, '-f', side.ifname], {
    env: { ...process.env, LOG_LEVEL: 'verbose', ...datapathEnv(PATH) },
  });
  side.proc = child;
  child.stderr?.on('data', (x: Buffer) => side.log.push(...x.toString().split('\n').filter(Boolean)));
  await waitFor('the capability-limited daemon', () => nsExec(d, 'ip', ['link', 'show', side.ifname]).includes(side.ifname), 15_000);
  const status = readFileSync(`/proc/${pidOf(side)}/status`, 'utf8');
  const capEff = BigInt('0x' + /CapEff:\s+([0-9a-f]+)/.exec(status)![1]);
  const want = UNIT_CAPS.reduce((m, c) => m | (1n << BigInt(CAP_BITS[c]!)), 0n);
  assert.equal(capEff, want, `CapEff ${capEff.toString(16)}, want ${want.toString(16)}`);
  // And it works: configured with wg, a handshake, traffic.
  await waitFor(
    'its UAPI socket',
    () => {
      wg(side, ['show', side.ifname]);
      return true;
    },
    10_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${logsOf(side, b)}`);
  });
  configureInterface(side);
  const peer: Side = { ...b, outer4: '10.219.60.2', inner4: '10.219.61.2' };
  nsExec(b.ns, 'ip', ['addr', 'add', '10.219.61.2/24', 'dev', b.ifname]);
  wg(b, ['set', b.ifname, 'peer', side.keys.publicKey, 'allowed-ips', '10.219.61.1/32', 'endpoint', `10.219.60.1:${side.port}`]);
  addPeer(side, peer, { endpoint: true });
  assert.equal(ping(side, '10.219.61.2', 3), 3, logsOf(side, b));
  console.log(`secrets: daemon under setpriv runs with CapEff=${capEff.toString(16)} (${UNIT_CAPS.join(' ')})`);
});

test('started as full root, the daemon keeps only the data plane capabilities once set up (main thread and workers)', async () => {
  // `a` runs as plain root (all capabilities) through wireguard-go's contract.
  const pid = pidOf(a);
  // Where RLIMIT_MEMLOCK could not be lifted (no CAP_SYS_RESOURCE, as in some containers), CAP_IPC_LOCK (14) stays for the UMEM.
  const memlockLimited = !/Max locked memory\s+unlimited/.test(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  const want = UNIT_CAPS.reduce((m, c) => m | (1n << BigInt(CAP_BITS[c]!)), memlockLimited ? 1n << 14n : 0n);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): bigint => BigInt('0x' + new RegExp(`${name}:\\s+([0-9a-f]+)`).exec(status)![1]);
  assert.equal(field('CapEff'), want, `CapEff ${field('CapEff').toString(16)}`);
  assert.equal(field('CapPrm'), want, `CapPrm ${field('CapPrm').toString(16)}`);
  assert.equal(field('CapBnd'), want, `CapBnd ${field('CapBnd').toString(16)}`);
  // The data-plane threads (started after the drop) hold the same set.
  const reduced = sh('sh', ['-c', `grep -l '^CapEff:\\s*0*${want.toString(16)}$' /proc/${pid}/task/*/status | wc -l`]).trim();
  assert.ok(Number(reduced) >= 3, `${reduced} threads run with the reduced set (main + 2 workers expected)`);
  // That it still works with them is what every other namespace test shows: they all start daemons this way.
});
