/**
 * Command-line traps (issue 22): a mistyped or unknown verb must not become an
 * interface (no TUN, no daemon left); every verb's --help prints its usage
 * on stdout and exits 0; `strip` and `save` write what wg-quick writes for
 * the same files; `up` at a terminal returns with the interface up and the
 * daemon in the background; `up` reads IFNAME.datapath.jsonc beside its file
 * and takes --metrics-listen; LOG_LEVEL=error quiets `up`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Lab, nsExec, requireRoot, sh, waitFor } from '../helpers/netns.js';
import { alive, daemonPid, exitOf, linkExists, runXdpwg, socketPath } from '../helpers/cli-run.js';
import { genKeys, xdpwgBin } from '../helpers/tunnel-lab.js';
import { httpInNs } from '../helpers/http-in-ns.js';

const lab = new Lab('h22c');
/** Every verb (kept here, not imported, so this test also runs against code that lacks some). */
const VERBS = ['up', 'down', 'save', 'strip', 'show', 'stats', 'health', 'capture', 'genkey', 'pubkey', 'genpsk', 'echo'];
let ns: string;
let dir: string;
const typos = ['stat', 'status', 'version', 'list', 'Stats', 'upp', 'shwo', 'dwon', 'strp', 'showconf'];
const ifnames = [...typos, 'stat', 'h22cup', 'h22csv', 'h22cq'];

before(() => {
  requireRoot();
  for (const i of ifnames) rmSync(socketPath(i), { force: true });
  ns = lab.ns('a');
  dir = mkdtempSync(path.join(os.tmpdir(), 'h22c-'));
});
after(() => {
  for (const i of ['h22cup', 'h22csv', 'h22cq']) {
    try {
      execFileSync('ip', ['netns', 'exec', ns, xdpwgBin, 'down', path.join(dir, `${i}.conf`)], { stdio: 'ignore', timeout: 15_000 });
    } catch {
      /* not up */
    }
  }
  lab.cleanup();
  for (const i of ifnames) rmSync(socketPath(i), { force: true });
  rmSync(dir, { recursive: true, force: true });
});

/** argv run inside ns (a wrapper such as setpriv first), to completion. */
function runNs(argv: string[], args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = lab.spawn(ns, argv[0]!, [...argv.slice(1), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

function nsPids(): number[] {
  return sh('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean).map(Number);
}

test('a verb-like name (a typo, or a word such as status/version/list) makes no interface and leaves no daemon; -- escapes', async () => {
  for (const name of typos) {
    const r = await runXdpwg(ns, [name]);
    assert.notEqual(r.code, 0, `xdpwg ${name} must fail; stderr: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`'${name}' is not a command; did you mean .+xdpwg -- ${name}`), `hint for ${name}`);
    assert.equal(linkExists(ns, name), false, `no TUN ${name}`);
    assert.equal(existsSync(socketPath(name)), false, `no UAPI socket for ${name}`);
    assert.deepEqual(nsPids(), [], `no daemon left behind by xdpwg ${name}`);
  }
  const v = await runXdpwg(ns, ['version']);
  assert.match(v.stderr, /--version/);
  // The explicit escape still runs an interface of that name (wireguard-go's contract).
  const r = await runXdpwg(ns, ['--', 'stat']);
  assert.equal(r.code, 0, r.stderr);
  const pid = daemonPid(ns, 'stat');
  assert.ok(pid && linkExists(ns, 'stat'), 'xdpwg -- stat runs interface stat');
  // Not root: stats says the socket is root's, not "is it running?".
  const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', xdpwgBin];
  for (const args of [
    ['stats', 'stat'],
    ['capture', 'stat', '-w', '-', '-c', '1'],
  ]) {
    const r = await runNs(nobody, args);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /permission denied on \S+stat\.stats\.sock: .*root/, `xdpwg ${args.join(' ')} as nobody: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /is it running/);
  }
  process.kill(pid, 'SIGTERM');
  await waitFor('the stat daemon to end', () => !alive(pid), 10_000, 50);
});

test("every verb's --help and -h print its usage on stdout and exit 0, touching nothing", async () => {
  for (const verb of VERBS) {
    for (const flag of ['--help', '-h']) {
      for (const args of [
        [verb, flag],
        [verb, 'wg0', flag],
      ]) {
        const r = await runXdpwg(ns, args);
        assert.equal(r.code, 0, `xdpwg ${args.join(' ')} exit status; stderr: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`^Usage: xdpwg ${verb}\\b`), `xdpwg ${args.join(' ')} stdout: ${r.stdout}`);
        assert.equal(r.stderr, '', `xdpwg ${args.join(' ')} says nothing on stderr`);
      }
    }
  }
  const stats = await runXdpwg(ns, ['stats', '--help']);
  assert.match(stats.stdout, /--watch/, 'stats --help documents --watch');
  const main = await runXdpwg(ns, ['--help']);
  for (const verb of VERBS) assert.match(main.stdout, new RegExp(`\\b${verb}\\b`), `--help lists ${verb}`);
  assert.deepEqual(nsPids(), []);
});

/** wg-quick files with every key strip must remove, in odd spellings, comments and stray sections. */
const STRIP_FILES: Record<string, string> = {
  h22s1:
    '[Interface]\n# comment\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\nAddress = 10.0.0.1/24, fd00::1/64\nListenPort = 51820\n' +
    'DNS = 1.1.1.1, example.com\nMTU = 1420\nTable = off\nPreUp = echo hi\nPostUp = echo %i # x = y\nPreDown = true\nPostDown = true\nSaveConfig = false\nFwMark = 0x10\n\n' +
    '[Peer]\nPublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n#comment\nAllowedIPs = 10.0.0.2/32\nEndpoint = 192.0.2.1:51820 # trailing\nPersistentKeepalive = 25\n',
  h22s2:
    '  [interface]  \naddress=10.1.1.1/32\n\tdns = 1.1.1.1 #x\nListenPort=1\nsaveconfig = True\n[Peer]\nAddress = 1.2.3.4/32\n' +
    'PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n[Interface]\nMTU = 1400\nfoo = bar\n  \n\nlast line without newline',
  h22s3: '',
  h22s4: '\r\n[Interface]\r\nAddress = 10.0.0.1/24\r\nMTU=1280\n',
};

test('strip prints exactly what wg-quick strip prints for the same files', async () => {
  for (const [name, text] of Object.entries(STRIP_FILES)) {
    const file = path.join(dir, `${name}.conf`);
    writeFileSync(file, text, { mode: 0o600 });
    const want = execFileSync('wg-quick', ['strip', file], { encoding: 'utf8' });
    const r = await runXdpwg(undefined, ['strip', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, want, `strip ${name}`);
  }
  // Both refuse a SaveConfig that is neither true nor false.
  const bad = path.join(dir, 'h22s5.conf');
  writeFileSync(bad, '[Interface]\nSaveConfig = maybe\n', { mode: 0o600 });
  const r = await runXdpwg(undefined, ['strip', bad]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /`maybe' is neither true nor false/);
});

function upConfig(ifname: string, extra = ''): string {
  const k = genKeys();
  const peer = genKeys();
  const file = path.join(dir, `${ifname}.conf`);
  writeFileSync(
    file,
    `[Interface]\nPrivateKey = ${k.privateKey}\nAddress = 10.222.0.1/24\nListenPort = 51922\n${extra}\n[Peer]\nPublicKey = ${peer.publicKey}\n` +
      'AllowedIPs = 10.222.0.2/32, fd22::2/128\nEndpoint = 192.0.2.7:51820\nPersistentKeepalive = 25\n',
    { mode: 0o600 },
  );
  return file;
}

test('up at a terminal returns with the interface up and the daemon running in the background; down ends it', async () => {
  const file = upConfig('h22cup');
  const env = { ...process.env };
  delete env.NOTIFY_SOCKET;
  delete env.INVOCATION_ID;
  delete env.LOG_LEVEL;
  // script(1) gives `up` a pseudo-terminal for stdin and stdout.
  const out = execFileSync('ip', ['netns', 'exec', ns, 'script', '-qec', `${xdpwgBin} up ${file}; echo "up-exit=$?"`, '/dev/null'], {
    encoding: 'utf8',
    env,
    timeout: 60_000,
  });
  assert.match(out, /up-exit=0/, out);
  assert.ok(linkExists(ns, 'h22cup'), 'the interface exists when up returned');
  assert.match(nsExec(ns, 'ip', ['-br', 'address', 'show', 'dev', 'h22cup']), /10\.222\.0\.1\/24/);
  const pid = daemonPid(ns, 'h22cup');
  assert.ok(pid && alive(pid), 'a daemon serves the interface after up returned');
  assert.doesNotMatch(out, /INFO:/, 'at a terminal up says what wg-quick says ([#] lines), no log lines');
  const down = await runXdpwg(ns, ['down', file], { timeoutMs: 20_000 });
  assert.equal(down.code, 0, down.stderr);
  await waitFor('the daemon to end after down', () => !alive(pid), 10_000, 50);
  assert.equal(linkExists(ns, 'h22cup'), false);
});

test('without CAP_NET_ADMIN, up and the daemon say what is missing instead of a bare errno', async () => {
  const file = upConfig('h22cq');
  for (const args of [
    ['up', '-f', file],
    ['-f', 'h22cq'],
  ]) {
    const r = await runNs(['setpriv', '--bounding-set=-net_admin', xdpwgBin], args);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot create the TUN device h22cq .*needs root, or CAP_NET_ADMIN/, `xdpwg ${args.join(' ')}: ${r.stderr}`);
  }
  assert.equal(linkExists(ns, 'h22cq'), false);
});

test('save writes the running configuration as wg-quick save does (0600, same text)', async () => {
  const file = upConfig('h22csv', 'MTU = 1380\nPostUp = true\nTable = auto\n');
  const up = lab.spawn(ns, xdpwgBin, ['up', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  up.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  try {
    await waitFor(
      'up to bring h22csv up',
      () => daemonPid(ns, 'h22csv') !== undefined && nsExec(ns, 'ip', ['-br', 'address', 'show', 'dev', 'h22csv']).includes('10.222.0.1'),
      20_000,
      100,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; up said: ${err}`);
    });
    // The live state differs from the file: a new peer endpoint, an added address.
    nsExec(ns, 'ip', ['address', 'add', '10.223.0.1/24', 'dev', 'h22csv']);
    nsExec(ns, 'wg', ['set', 'h22csv', 'listen-port', '51923']);
    const theirs = path.join(dir, 'q');
    execFileSync('mkdir', ['-p', theirs]);
    copyFileSync(file, path.join(theirs, 'h22csv.conf'));
    nsExec(ns, 'wg-quick', ['save', path.join(theirs, 'h22csv.conf')]);
    const r = await runXdpwg(ns, ['save', file]);
    assert.equal(r.code, 0, r.stderr);
    const want = readFileSync(path.join(theirs, 'h22csv.conf'), 'utf8');
    assert.equal(readFileSync(file, 'utf8'), want);
    assert.match(want, /ListenPort = 51923/);
    assert.equal(sh('stat', ['-c', '%a', file]).trim(), '600');
  } finally {
    up.kill('SIGTERM');
    await exitOf(up, 15_000).catch(() => up.kill('SIGKILL'));
  }
});

test('up reads IFNAME.datapath.jsonc beside its file, takes --metrics-listen, and LOG_LEVEL=error prints nothing on success', async () => {
  const file = upConfig('h22cq');
  writeFileSync(
    path.join(dir, 'h22cq.datapath.jsonc'),
    '{\n  // beside the wg config\n  "afxdp": "off",\n  "metricsListen": "127.0.0.1:9597"\n}\n',
  );
  const run = async (env: Record<string, string>, args: string[]): Promise<string> => {
    const up: ChildProcess = lab.spawn(ns, xdpwgBin, ['up', '-f', ...args, file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let out = '';
    up.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    up.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    try {
      await waitFor(
        'h22cq up',
        () => daemonPid(ns, 'h22cq') !== undefined && nsExec(ns, 'ip', ['-br', 'address', 'show', 'dev', 'h22cq']).includes('10.222.0.1'),
        20_000,
        100,
      ).catch((e: Error) => {
        throw new Error(`${e.message}; up said: ${out}`);
      });
      const port = args.includes('--metrics-listen') ? 9598 : 9597;
      const m = await waitFor(`metrics on port ${port}`, () => httpInNs(ns, 'GET', `http://127.0.0.1:${port}/metrics`), 10_000, 200);
      assert.equal(m.status, 200);
    } finally {
      up.kill('SIGTERM');
      await exitOf(up, 15_000).catch(() => up.kill('SIGKILL'));
    }
    return out;
  };
  const verbose = await run({ LOG_LEVEL: 'verbose' }, []);
  assert.match(verbose, new RegExp(`datapath settings from ${path.join(dir, 'h22cq.datapath.jsonc').replaceAll('.', '\\.')}`));
  const quiet = await run({ LOG_LEVEL: 'error' }, ['--metrics-listen', '127.0.0.1:9598']);
  const lines = quiet.split('\n').filter((l) => l !== '' && !l.startsWith('[#] '));
  assert.deepEqual(lines, [], `LOG_LEVEL=error: only wg-quick's [#] lines; got:\n${quiet}`);
});
