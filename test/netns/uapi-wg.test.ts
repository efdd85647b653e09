/**
 * The UAPI server driven by the real tools (root: /var/run/wireguard).
 *
 * 1. Our server with the in-memory device at /var/run/wireguard/h5test0.sock,
 *    where no kernel interface h5test0 exists: `wg set/show/showconf/setconf`
 *    talk to it through the socket alone, errors come back as wg reports
 *    them, and `xdpwg show` prints what `wg show` prints for the same data.
 *    Large configurations (130,000 prefixes on one peer; 40 peers × 52) go
 *    through `wg setconf` and back.
 * 2. The same raw requests sent to Debian's wireguard-go (in a namespace) and
 *    to our server get byte-identical answers.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createConnection } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, requireRoot, sh, waitFor } from '../helpers/netns.js';
import { MemoryDevice } from '../helpers/memory-device.js';
import { UapiServer, uapiSocketPath } from '../../src/daemon/uapi/server.js';
import { parseConfig } from '../../src/daemon/config/config-file.js';
import { peerKey, parseEndpoint } from '../../src/daemon/config/device-config.js';
import { formatPrefix } from '../../src/packet/ip-prefix.js';
import { keyFromBase64, keyToBase64, keyToHex } from '../../src/crypto/encoding.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const IF = 'h5test0';
const tmp = mkdtempSync(path.join(tmpdir(), 'h5-wg-'));
const lab = new Lab('h5');
let server: UapiServer;
let device: MemoryDevice;

before(async () => {
  requireRoot();
  device = new MemoryDevice();
  server = await UapiServer.open({ interfaceName: IF, device });
});
after(async () => {
  await server?.close();
  lab.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

const key = (): string => sh('wg', ['genkey']).trim();
const pub = (k: string): string => sh('wg', ['pubkey'], { input: k + '\n' }).trim();
function file(name: string, text: string): string {
  const p = path.join(tmp, name);
  writeFileSync(p, text, { mode: 0o600 });
  return p;
}
type Run = { status: number | null; stdout: string; stderr: string };
/** Runs a command without blocking the event loop: our server answers it from this very process. */
function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [],
      err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (status) =>
      resolve({ status, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
  });
}
const wg = (...args: string[]): Promise<Run> => run('wg', args);
const wgEnv = (env: Record<string, string>, ...args: string[]): Promise<Run> => run('wg', args, env);
const xdpwgShow = (args: string[], env: Record<string, string> = {}): Promise<Run> =>
  run(process.execPath, [path.join(root, 'dist/src/cli/main.js'), 'show', ...args], env);

test('wg drives a userspace implementation through the socket alone', async () => {
  assert.notEqual(spawnSync('ip', ['link', 'show', IF], { stdio: 'ignore' }).status, 0, `no kernel interface ${IF} exists`);
  const priv = key();
  const p1 = key(),
    p2 = key();
  const psk = sh('wg', ['genpsk']).trim();
  const r = await wg(
    'set',
    IF,
    'private-key',
    file('priv', priv),
    'listen-port',
    '51820',
    'fwmark',
    '0x20',
    'peer',
    pub(p1),
    'preshared-key',
    file('psk', psk),
    'endpoint',
    '[2001:db8::1]:51821',
    'allowed-ips',
    '10.0.0.1/24,fd00::/64,::ffff:10.9.9.9/128',
    'persistent-keepalive',
    '25',
    'peer',
    pub(p2),
    'endpoint',
    '192.0.2.7:9',
    'allowed-ips',
    '192.168.0.0/16',
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(keyToBase64(device.privateKey!), priv);
  assert.equal(device.listenPort, 51820);
  assert.equal(device.fwmark, 0x20);
  const peer1 = device.peers.get(keyToHex(keyFromBase64(pub(p1))))!;
  assert.equal(keyToBase64(peer1.presharedKey!), psk);
  assert.deepEqual(
    [...peer1.allowedIPs.values()].map((a) => formatPrefix(a)),
    ['10.0.0.0/24', 'fd00::/64', '::ffff:10.9.9.9/128'],
  );
  assert.equal(peer1.persistentKeepalive, 25);
  assert.equal(peer1.endpoint!.port, 51821);
  assert.match((await wg('show', 'interfaces')).stdout, new RegExp(`\\b${IF}\\b`));
  assert.match((await xdpwgShow(['interfaces'])).stdout, new RegExp(`\\b${IF}\\b`));

  // Runtime counters as a live device would report them.
  const now = Math.floor(Date.now() / 1000);
  device.setRuntime(keyFromBase64(pub(p1)), {
    rxBytes: 1152n,
    txBytes: 5n * 1024n * 1024n + 7n,
    lastHandshakeSec: now - 3725,
    lastHandshakeNsec: 42,
  });
  device.setRuntime(keyFromBase64(pub(p2)), {
    rxBytes: 10n,
    txBytes: 0n,
    lastHandshakeSec: now - 10,
    lastHandshakeNsec: 0,
    endpoint: parseEndpoint('[fe80::1%lo]:7')!,
  });

  // xdpwg show prints exactly what wg show prints, in every form.
  const envs: Record<string, string>[] = [
    { WG_COLOR_MODE: 'never' },
    { WG_COLOR_MODE: 'always' },
    { WG_COLOR_MODE: 'never', WG_HIDE_KEYS: 'never' },
  ];
  for (const env of envs) {
    for (const field of [
      [],
      ['dump'],
      ['public-key'],
      ['private-key'],
      ['listen-port'],
      ['fwmark'],
      ['peers'],
      ['preshared-keys'],
      ['endpoints'],
      ['allowed-ips'],
      ['latest-handshakes'],
      ['transfer'],
      ['persistent-keepalive'],
    ]) {
      const before = await wgEnv(env, 'show', IF, ...field);
      const ours = await xdpwgShow([IF, ...field], env);
      const afterwards = await wgEnv(env, 'show', IF, ...field);
      assert.equal(before.status, 0, before.stderr);
      assert.equal(ours.status, 0, ours.stderr);
      // "x seconds ago" may tick between the runs: ours must equal wg's from just before or just after.
      assert.ok(
        ours.stdout === before.stdout || ours.stdout === afterwards.stdout,
        `xdpwg show ${field.join(' ')} (${JSON.stringify(env)}):\n${ours.stdout}\n--- wg show:\n${before.stdout}`,
      );
    }
  }
  assert.match((await wg('show', IF)).stdout, /transfer: 1\.12 KiB received, 5\.00 MiB sent/);
});

test('wg reports our errno as the error it names (the negative errno convention)', async () => {
  device.busyPorts.add(4443);
  const r = await wg('set', IF, 'listen-port', '4443');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /Unable to modify interface: Address already in use/);
  assert.notEqual(device.listenPort, 4443);
});

test('wg showconf and wg setconf round-trip through the socket; remove and update work', async () => {
  const conf = await wg('showconf', IF);
  assert.equal(conf.status, 0, conf.stderr);
  const parsed = parseConfig(conf.stdout, 'showconf', 'setconf');
  assert.equal(parsed.peers.length, device.peers.size);
  for (const p of parsed.peers) assert.ok(device.peers.has(peerKey(p.publicKey)));

  // setconf replaces everything with the file's contents.
  const priv = key(),
    p3 = key();
  const path1 = file(
    'set.conf',
    `[Interface]\nPrivateKey = ${priv}\nListenPort = 40000\n\n[Peer]\nPublicKey = ${pub(p3)}\nAllowedIPs = 10.3.0.0/16, fd03::/48\nEndpoint = 198.51.100.3:3\n`,
  );
  const r = await wg('setconf', IF, path1);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(device.peers.size, 1);
  assert.equal(device.listenPort, 40000);
  assert.equal(device.fwmark, 0);
  const back = (await wg('showconf', IF)).stdout;
  assert.equal(
    back,
    readFileSync(path1, 'utf8').replace('ListenPort = 40000\n', '').replace('[Interface]\n', '[Interface]\nListenPort = 40000\n'),
  );

  // allowed-ips with +/- (newer wg) would need wg ≥1.0.20250521; remove works on every version.
  assert.equal((await wg('set', IF, 'peer', pub(p3), 'remove')).status, 0);
  assert.equal(device.peers.size, 0);
});

function bigConfig(priv: string, peers: string[], perPeer: number): string {
  let text = `[Interface]\nPrivateKey = ${priv}\nListenPort = 51820\n`;
  peers.forEach((p, j) => {
    const ips: string[] = [];
    for (let i = 0; i < perPeer; i++) {
      const n = j * perPeer + i;
      ips.push(
        i % 3 === 2
          ? `fd00::${(n >> 16).toString(16)}:${(n & 0xffff).toString(16)}/128`
          : `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}/32`,
      );
    }
    text += `\n[Peer]\nPublicKey = ${p}\nAllowedIPs = ${ips.join(', ')}\n`;
  });
  return text;
}

test('a peer with 130,000 allowed IPs, and 40 peers × 52, through wg setconf / show / showconf', async (t) => {
  const priv = key();
  for (const [peerCount, perPeer] of [
    [1, 130_000],
    [40, 52],
  ] as const) {
    const peers = Array.from({ length: peerCount }, () => pub(key()));
    const conf = file(`big-${peerCount}.conf`, bigConfig(priv, peers, perPeer));
    let t0 = performance.now();
    const set = await wg('setconf', IF, conf);
    const setMs = performance.now() - t0;
    assert.equal(set.status, 0, set.stderr);
    assert.equal(device.peers.size, peerCount);
    assert.equal(
      [...device.peers.values()].reduce((n, p) => n + p.allowedIPs.size, 0),
      peerCount * perPeer,
    );

    t0 = performance.now();
    const dump = await wg('show', IF, 'dump');
    const showMs = performance.now() - t0;
    assert.equal(dump.status, 0, dump.stderr);
    const lines = dump.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 1 + peerCount);
    assert.equal(
      lines.slice(1).reduce((n, l) => n + l.split('\t')[3]!.split(',').length, 0),
      peerCount * perPeer,
    );
    assert.equal((await xdpwgShow([IF, 'dump'])).stdout, dump.stdout);

    const shown = (await wg('showconf', IF)).stdout;
    const reparsed = parseConfig(shown, 'showconf', 'setconf');
    const original = parseConfig(readFileSync(conf, 'utf8'), conf, 'setconf');
    const want = new Map(original.peers.map((p) => [peerKey(p.publicKey), p.allowedIPs.map((a) => formatPrefix(a)).sort()]));
    for (const p of reparsed.peers) assert.deepEqual(p.allowedIPs.map((a) => formatPrefix(a)).sort(), want.get(peerKey(p.publicKey)));
    t.diagnostic(`${peerCount} peer(s) × ${perPeer} prefixes: wg setconf ${setMs.toFixed(0)} ms, wg show dump ${showMs.toFixed(0)} ms`);
    assert.ok(setMs < 10_000 && showMs < 10_000);
  }
});

/**
 * Conversations (each on its own connection; a conversation's requests are
 * sent one after another, each after the previous answer) whose answers must
 * match wireguard-go's byte for byte. (wireguard-go reads a set body through
 * a scanner that buffers ahead, so a request pipelined right behind a set in
 * the same write is lost there; wg(8) never pipelines, and neither do we here.)
 */
function conversations(priv: string, p1: string, p2: string): string[][] {
  const h = (b64: string): string => keyToHex(keyFromBase64(b64));
  return [
    [`set=1\nprivate_key=${h(priv)}\nlisten_port=51999\nfwmark=0\nreplace_peers=true\n\n`, 'get=1\n\n'],
    [
      `set=1\npublic_key=${h(p1)}\npreshared_key=${'ab'.repeat(32)}\nendpoint=192.0.2.1:51820\npersistent_keepalive_interval=0\n` +
        'allowed_ip=10.1.2.3/8\nallowed_ip=1.2.3.4/32\nallowed_ip=::ffff:1.2.3.4/128\n' +
        'allowed_ip=::1.2.3.4/128\nallowed_ip=fd00:0:0:0:0:0:0:1/64\nprotocol_version=1\n\n',
      'get=1\n\n',
      'get=1\n\n',
    ],
    [`set=1\npublic_key=${h(p1)}\nendpoint=[2001:db8:0:0::7]:9\nreplace_allowed_ips=true\nallowed_ip=172.16.0.0/12\n\n`, 'get=1\n\n'],
    [`set=1\npublic_key=${h(p2)}\nupdate_only=true\nallowed_ip=10.0.0.0/8\n\n`, 'get=1\n\n'],
    [
      `set=1\npublic_key=${h(p1)}\nendpoint=[::ffff:192.0.2.9]:1\nallowed_ip=10.0.0.0/8\n\n`,
      `set=1\npublic_key=${h(p2)}\nallowed_ip=10.0.0.0/8\n\n`,
    ],
    [`set=1\npublic_key=${h(p2)}\nremove=true\n\n`, 'get=1\n\n'],
    [`set=1\npublic_key=${h(p1)}\nremove=true\n\n`, 'get=1\n\n'],
    ['set=1\nlisten_port=99999\n\n'],
    ['set=1\nlisten_port=-1\n\n'],
    ['set=1\nfwmark=4294967296\n\n'],
    ['set=1\nfoo=bar\n\n'],
    ['set=1\nnoequals\n\n'],
    ['set=1\nreplace_peers=false\n\n'],
    ['set=1\nprivate_key=abcd\n\n'],
    [`set=1\npublic_key=${h(p2)}\nallowed_ip=10.0.0.1\n\n`],
    [`set=1\npublic_key=${h(p2)}\nallowed_ip=10.0.0.0/33\n\n`],
    [`set=1\npublic_key=${h(p2)}\nendpoint=host.example:5\n\n`],
    [`set=1\npublic_key=${h(p2)}\nendpoint=2001:db8::1:5\n\n`],
    [`set=1\npublic_key=${h(p2)}\nprotocol_version=2\n\n`],
    [`set=1\npublic_key=${h(p2)}\nupdate_only=1\n\n`],
    [`set=1\npublic_key=${h(p2)}\nlisten_port=5\n\n`],
    [`set=1\npublic_key=${h(p2)}\npersistent_keepalive_interval=70000\n\n`],
    ['get=1\nx\n'],
    ['hello=1\n'],
    ['get=1\n\n'],
  ];
}

/** Re-inserting a prefix a peer already has moves it to the end of that peer's list (wireguard-go's per-peer list). */
function reinsertConversation(p1: string): string[][] {
  const h = keyToHex(keyFromBase64(p1));
  return [
    [
      `set=1\nlisten_port=51998\nreplace_peers=true\npublic_key=${h}\nallowed_ip=10.1.2.3/8\nallowed_ip=1.2.3.4/32\nallowed_ip=10.0.0.0/8\nallowed_ip=fd00::/64\n\n`,
      'get=1\n\n',
    ],
  ];
}

/** Starts Debian's wireguard-go in its own namespace; returns its socket path. */
let goProc: ChildProcess | undefined;

/**
 * A fresh wireguard-go h5wggo0. The previous one is stopped and awaited
 * first: a new one started while the old still holds the TUN name fails and
 * exits (a race that showed under load).
 */
async function startWireguardGo(): Promise<string> {
  if (goProc && goProc.exitCode === null && goProc.signalCode === null) {
    const exited = once(goProc, 'exit');
    goProc.kill('SIGTERM');
    await exited;
  }
  const ns = lab.ns('wggo');
  const goSock = uapiSocketPath('h5wggo0');
  if (existsSync(goSock)) unlinkSync(goSock);
  const proc = lab.spawn(ns, 'wireguard-go', ['-f', 'h5wggo0'], { env: { ...process.env, LOG_LEVEL: 'error' } });
  goProc = proc;
  await waitFor(
    'wireguard-go socket',
    () => {
      if (proc.exitCode !== null) throw new Error(`wireguard-go exited with status ${proc.exitCode} before its socket appeared`);
      return existsSync(goSock);
    },
    10_000,
  );
  return goSock;
}

/** Every answer wireguard-go gives must be ours byte for byte (after a failed request it hangs up). */
async function assertSameAnswers(goSock: string, oursSock: string, convs: string[][]): Promise<void> {
  for (const requests of convs) {
    const theirs = await converse(goSock, requests);
    const mine = await converse(oursSock, requests);
    assert.deepEqual(mine.slice(0, theirs.length), theirs, `conversation ${JSON.stringify(requests)}`);
    if (requests[0] !== 'hello=1\n') assert.ok(theirs.length >= 1, `wireguard-go answered ${JSON.stringify(requests)}`);
  }
}

test("answers are byte-identical to Debian's wireguard-go for the same conversations (UAPI server, in-memory device)", async () => {
  const goSock = await startWireguardGo();
  try {
    const oursServer = await UapiServer.open({ interfaceName: 'h5cmp0', device: new MemoryDevice() });
    try {
      const priv = key(),
        p1 = pub(key()),
        p2 = pub(key());
      await assertSameAnswers(goSock, oursServer.socketPath, [...conversations(priv, p1, p2), ...reinsertConversation(p1)]);
    } finally {
      await oursServer.close();
    }
  } finally {
    if (existsSync(goSock)) unlinkSync(goSock); // wireguard-go exits when its socket goes
  }
});

/** Runs the real xdpwg daemon (`xdpwg -f IFNAME`) in its own namespace; returns its socket path. */
async function startXdpwgDaemon(): Promise<string> {
  const ns = lab.ns('xdpd');
  const sock = uapiSocketPath('h5xdpd0');
  if (existsSync(sock)) unlinkSync(sock);
  lab.spawn(ns, process.execPath, [path.join(root, 'dist/src/cli/main.js'), '-f', 'h5xdpd0'], {
    env: { ...process.env, LOG_LEVEL: 'error' },
  });
  await waitFor('xdpwg daemon socket', () => existsSync(sock), 15_000);
  return sock;
}

test('the real xdpwg daemon answers as wireguard-go does', async () => {
  const goSock = await startWireguardGo();
  const xdpSock = await startXdpwgDaemon();
  try {
    const priv = key(),
      p1 = pub(key()),
      p2 = pub(key());
    await assertSameAnswers(goSock, xdpSock, conversations(priv, p1, p2));
  } finally {
    for (const s of [goSock, xdpSock]) if (existsSync(s)) unlinkSync(s); // both daemons exit when their socket goes
  }
});

test('the real xdpwg daemon moves a re-inserted allowed IP last, as wireguard-go does', async () => {
  const goSock = await startWireguardGo();
  const xdpSock = await startXdpwgDaemon();
  try {
    await assertSameAnswers(goSock, xdpSock, reinsertConversation(pub(key())));
  } finally {
    for (const s of [goSock, xdpSock]) if (existsSync(s)) unlinkSync(s);
  }
});

/** Sends each request after the previous answer on one connection; returns the answers (fewer if the server hung up). */
function converse(socketPath: string, requests: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const c = createConnection(socketPath);
    c.setEncoding('latin1');
    const answers: string[] = [];
    let text = '';
    const timer = setTimeout(() => {
      c.destroy();
      resolve(answers);
    }, 5000);
    const done = (): void => {
      clearTimeout(timer);
      c.destroy();
      resolve(answers);
    };
    c.on('connect', () => c.write(requests[0]!));
    c.on('data', (d: string) => {
      text += d;
      let end: number;
      while ((end = text.indexOf('\n\n')) >= 0) {
        answers.push(text.slice(0, end + 2));
        text = text.slice(end + 2);
        if (answers.length === requests.length) {
          done();
          return;
        }
        c.write(requests[answers.length]!);
      }
    });
    c.on('end', done);
    c.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
