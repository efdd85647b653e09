/**
 * `xdpwg up` never takes over a route that is already there (issue 21,
 * item 3). wg-quick's `ip route add` fails with "File exists" and stops,
 * and it skips a prefix that is already routed through the interface
 * (`ip route show dev IF match PREFIX`, e.g. the connected route of its own
 * Address). So, in one namespace with a LAN (lan0, 192.168.77.1/24):
 *
 * - AllowedIPs 192.168.77.0/24: up fails with one clear line, undoes what
 *   it did, and the LAN's connected route is intact;
 * - `Table = 4321` whose table already routes an AllowedIPs prefix, and
 *   `FwMark = 4322` (a full tunnel) whose table already has a default
 *   route: the same, and no policy rule or firewall table is left;
 * - AllowedIPs inside the interface's own subnet: skipped, as wg-quick;
 * - a SIGHUP reload that would take over the LAN's prefix fails without
 *   touching the route or the peers, and tells systemd (STATUS= and ERRNO=
 *   with READY=1); a later good reload clears it; SIGTERM leaves the LAN
 *   routed.
 *
 * The config file of the good case is 0644: wg-quick's "Warning: … world
 * accessible" line, and no ERROR line (warnings are not errors).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Lab, nsExec, requireRoot, waitFor } from '../helpers/netns.js';
import { exitOf, linkExists, runXdpwg, socketPath, type CliResult } from '../helpers/cli-run.js';
import { genKeys, xdpwgBin } from '../helpers/tunnel-lab.js';
import { extraRules } from '../helpers/full-tunnel-lab.js';

const lab = new Lab('qsr');
const ifname = 'qsrwa';
const lanRoute = '192.168.77.0/24 dev lan0 proto kernel scope link src 192.168.77.1';
let ns: string;
let dir: string;
let conf: string;
let listener: ChildProcess | undefined;
const key = genKeys();
const peer = genKeys();

before(() => {
  requireRoot();
  ns = lab.ns('a');
  // The LAN: a veth pair inside the namespace (both ends up, so lan0 has carrier).
  nsExec(ns, 'ip', ['link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan0p']);
  nsExec(ns, 'ip', ['addr', 'add', '192.168.77.1/24', 'dev', 'lan0']);
  for (const dev of ['lan0', 'lan0p']) nsExec(ns, 'ip', ['link', 'set', dev, 'up']);
  nsExec(ns, 'ip', ['route', 'add', '10.231.5.0/24', 'dev', 'lan0', 'table', '4321']);
  nsExec(ns, 'ip', ['route', 'add', 'default', 'dev', 'lan0', 'table', '4322']);
  dir = mkdtempSync(path.join(os.tmpdir(), 'qsr-'));
  conf = path.join(dir, `${ifname}.conf`);
});
after(() => {
  listener?.kill('SIGKILL');
  lab.cleanup();
  rmSync(socketPath(ifname), { force: true });
  for (const f of [`/run/xdpwg/${ifname}.pid`, `/run/xdpwg/${ifname}.undo.json`]) rmSync(f, { force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function configText(opts: { allowed: string[]; extra?: string[] }): string {
  return [
    '[Interface]',
    `PrivateKey = ${key.privateKey}`,
    'Address = 10.231.1.1/24, fd00:231::1/64',
    ...(opts.extra ?? []),
    '',
    '[Peer]',
    `PublicKey = ${peer.publicKey}`,
    `AllowedIPs = ${opts.allowed.join(', ')}`,
    '',
  ].join('\n');
}

const route = (...args: string[]): string => nsExec(ns, 'ip', ['route', 'show', ...args]).trim();
/** The nft tables and iptables rules `xdpwg up` would have made for the interface. */
function firewallLeft(): string {
  // Whichever firewall tools are installed (xdpwg up uses nft where it is, else iptables-restore).
  const nft = haveTool('nft')
    ? nsExec(ns, 'nft', ['list', 'tables'])
        .split('\n')
        .filter((l) => l.includes(`xdpwg-${ifname}`))
    : [];
  const ipt = ['iptables-save', 'ip6tables-save']
    .filter(haveTool)
    .flatMap((c) => nsExec(ns, c, []).split('\n'))
    .filter((l) => l.includes(`xdpwg rule for ${ifname}`));
  return [...nft, ...ipt].join('\n');
}

function haveTool(name: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(path.join(d, name)));
}

/**
 * `xdpwg up` of a file that must fail: it exits 1 within the deadline (a
 * build that takes the route over stays up, and this times out); its one
 * `xdpwg:` line says why; no ERROR or WARNING line; nothing is left.
 */
async function upMustFail(text: string, why: RegExp): Promise<CliResult> {
  writeFileSync(conf, text);
  chmodSync(conf, 0o600);
  const r = await runXdpwg(ns, ['up', conf], { timeoutMs: 20_000 });
  assert.equal(r.code, 1, r.stderr);
  const said = r.stderr.split('\n').filter((l) => l.startsWith('xdpwg: '));
  assert.equal(said.length, 1, `one line saying why:\n${r.stderr}`);
  assert.match(said[0]!, why, r.stderr);
  assert.doesNotMatch(r.stderr, /^(ERROR|WARNING):/m, r.stderr);
  assert.equal(linkExists(ns, ifname), false, 'the interface went');
  assert.deepEqual(extraRules(ns), [], 'no policy rule left');
  assert.equal(firewallLeft(), '', 'no firewall rule left');
  assert.equal(existsSync(`/run/xdpwg/${ifname}.pid`), false, 'no pid file');
  assert.equal(existsSync(`/run/xdpwg/${ifname}.undo.json`), false, 'no undo journal');
  return r;
}

test("AllowedIPs = the LAN's prefix: up fails with one clear line and the LAN keeps its connected route", async () => {
  // 10.231.9.0/24 comes first (same length, file order): its route is made, then undone.
  await upMustFail(
    configText({ allowed: ['10.231.9.0/24', '192.168.77.0/24'] }),
    /192\.168\.77\.0\/24.*table main already has a route.*192\.168\.77\.0\/24 dev lan0/,
  );
  assert.equal(route('192.168.77.0/24'), lanRoute);
  assert.equal(route('10.231.9.0/24'), '');
});

test('Table = 4321 that already routes an AllowedIPs prefix: up fails, that route stays', async () => {
  await upMustFail(
    configText({ allowed: ['10.231.5.0/24'], extra: ['Table = 4321'] }),
    /10\.231\.5\.0\/24.*table 4321 already has a route.*dev lan0/,
  );
  assert.equal(route('table', '4321'), '10.231.5.0/24 dev lan0 scope link');
});

test('FwMark = 4322 (a full tunnel) whose table already has a default route: up fails, no rule or firewall left', async () => {
  await upMustFail(
    configText({ allowed: ['0.0.0.0/0'], extra: ['FwMark = 4322'] }),
    /0\.0\.0\.0\/0.*table 4322 already has a route.*default dev lan0/,
  );
  assert.equal(route('table', '4322'), 'default dev lan0 scope link');
  assert.equal(route('192.168.77.0/24'), lanRoute);
});

test("AllowedIPs inside the interface's own subnets are skipped, as wg-quick does; a 0644 file is a warning, not an error", async () => {
  writeFileSync(conf, configText({ allowed: ['10.231.1.7/32', '10.231.1.0/24', '10.231.2.0/24', 'fd00:231::/64', 'fd00:231::7/128'] }));
  chmodSync(conf, 0o644);
  const out: string[] = [];
  const up = lab.spawn(ns, xdpwgBin, ['up', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  up.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
  up.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
  try {
    await waitFor(
      'xdpwg up to finish its set-up',
      () => {
        assert.equal(up.exitCode, null, out.join(''));
        const pidFile = `/run/xdpwg/${ifname}.pid`;
        return existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() === String(up.pid);
      },
      30_000,
      100,
    );
    const v4 = route('dev', ifname);
    assert.match(v4, /^10\.231\.1\.0\/24 proto kernel/m, v4);
    assert.match(v4, /^10\.231\.2\.0\/24 /m, v4);
    assert.doesNotMatch(v4, /10\.231\.1\.7/, `covered by the connected route through ${ifname}: not added\n${v4}`);
    const v6 = nsExec(ns, 'ip', ['-6', 'route', 'show', 'dev', ifname]);
    assert.equal(v6.split('\n').filter((l) => l.startsWith('fd00:231::/64')).length, 1, `only the connected v6 route:\n${v6}`);
    assert.doesNotMatch(v6, /fd00:231::7/, v6);
  } finally {
    up.kill('SIGTERM');
  }
  assert.equal(await exitOf(up, 15_000), 0, out.join(''));
  const said = out.join('');
  assert.match(said, /^Warning: `[^']*qsrwa\.conf' is world accessible$/m, said);
  assert.doesNotMatch(said, /^ERROR:/m, said);
  assert.equal(route('192.168.77.0/24'), lanRoute);
});

test('a SIGHUP reload that would take over the LAN fails: route and peers untouched, systemd told (STATUS=, ERRNO=); a good reload clears it', async () => {
  // The NOTIFY_SOCKET: a python3 unix datagram socket printing each message as a JSON line.
  const notifySocket = path.join(dir, 'notify.sock');
  const messages: string[] = [];
  listener = spawn(
    'python3',
    [
      '-u',
      '-c',
      [
        'import json, socket, sys',
        's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
        's.bind(sys.argv[1])',
        'print("listening")',
        'while True:',
        '    print(json.dumps(s.recv(65536).decode()))',
      ].join('\n'),
      notifySocket,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let buf = '';
  let listening = false;
  listener.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line === 'listening') listening = true;
      else messages.push(JSON.parse(line) as string);
    }
  });
  await waitFor('the NOTIFY_SOCKET listener', () => listening, 10_000, 20);

  writeFileSync(conf, configText({ allowed: ['10.231.3.0/24'] }));
  chmodSync(conf, 0o600);
  const out: string[] = [];
  const up = lab.spawn(ns, xdpwgBin, ['up', conf], {
    env: { ...process.env, NOTIFY_SOCKET: notifySocket },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  up.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
  up.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
  const field = (m: string, name: string): string | undefined =>
    m
      .split('\n')
      .find((l) => l.startsWith(`${name}=`))
      ?.slice(name.length + 1);
  /** Sends SIGHUP and returns the READY=1 message that ends the reload. */
  const reload = async (): Promise<string> => {
    const from = messages.length;
    up.kill('SIGHUP');
    await waitFor('RELOADING=1 then READY=1', () => messages.length >= from + 2, 15_000, 20);
    assert.equal(field(messages[from]!, 'RELOADING'), '1', JSON.stringify(messages));
    assert.equal(field(messages[from + 1]!, 'READY'), '1', JSON.stringify(messages));
    return messages[from + 1]!;
  };
  try {
    await waitFor('READY=1', () => messages.length > 0, 30_000, 20);
    assert.equal(field(messages[0]!, 'READY'), '1');

    writeFileSync(conf, configText({ allowed: ['10.231.3.0/24', '192.168.77.0/24'] }), { mode: 0o600 });
    let ready = await reload();
    assert.match(field(ready, 'STATUS') ?? '', /reload .* failed.*192\.168\.77\.0\/24.*already has a route/, ready);
    assert.equal(field(ready, 'ERRNO'), String(os.constants.errno.EEXIST), ready);
    assert.equal(route('192.168.77.0/24'), lanRoute, 'the LAN route is untouched');
    const allowed = nsExec(ns, 'wg', ['show', ifname, 'allowed-ips']);
    assert.doesNotMatch(allowed, /192\.168\.77/, `the peers kept their running configuration:\n${allowed}`);

    writeFileSync(conf, '[Interface]\nPrivateKey = not-a-key\n', { mode: 0o600 });
    ready = await reload();
    assert.match(field(ready, 'STATUS') ?? '', /reload .* failed/, ready);
    assert.equal(field(ready, 'ERRNO'), String(os.constants.errno.EINVAL), ready);

    writeFileSync(conf, configText({ allowed: ['10.231.3.0/24', '10.231.4.0/24'] }), { mode: 0o600 });
    ready = await reload();
    assert.equal(field(ready, 'ERRNO'), '0', `a good reload clears the error: ${ready}`);
    assert.doesNotMatch(field(ready, 'STATUS') ?? '', /failed/, ready);
    assert.match(route('10.231.4.0/24'), /dev qsrwa/);
    assert.match(out.join(''), /^ERROR: .*reload of .* failed/m, 'a failed reload is an error in the log');
  } finally {
    up.kill('SIGTERM');
  }
  assert.equal(await exitOf(up, 15_000), 0, out.join(''));
  assert.equal(route('192.168.77.0/24'), lanRoute, 'after SIGTERM the LAN is still routed');
});
