/**
 * Config errors as a user meets them: `xdpwg up FILE` on a malformed file
 * exits 1 with one line `xdpwg: FILE:LINE: what is wrong` — the line of the
 * mistake, a message of its own, and no stack trace. Every case fails while
 * reading the file, before any device exists, so no root is needed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runXdpwg } from '../helpers/cli-run.js';

const key = (fill: number): string => Buffer.alloc(32, fill).toString('base64');
const PRIV = `PrivateKey = ${key(1)}`;
const PEER = `PublicKey = ${key(2)}`;

interface Case {
  name: string;
  lines: string[];
  line: number;
  message: RegExp;
}

/** Each file holds one mistake; `line` is where it is (1-based). */
const cases: Case[] = [
  { name: 'unknown key', lines: ['[Interface]', PRIV, 'ListenPrt = 51820'], line: 3, message: /unknown key `ListenPrt` in \[Interface\]/ },
  {
    name: 'unknown key in [Peer]',
    lines: ['[Interface]', PRIV, '[Peer]', PEER, 'AllowedIP = 10.0.0.2/32'],
    line: 5,
    message: /unknown key `AllowedIP` in \[Peer\]/,
  },
  { name: 'bad private key', lines: ['[Interface]', 'PrivateKey = notakey'], line: 2, message: /PrivateKey: `notakey` is not a valid key/ },
  {
    name: 'public key one character short',
    lines: ['[Interface]', PRIV, '', '[Peer]', `PublicKey = ${key(2).slice(1)}`],
    line: 5,
    message: /PublicKey: .* is not a valid key/,
  },
  {
    name: 'empty preshared key',
    lines: ['[Interface]', PRIV, '[Peer]', PEER, 'PresharedKey ='],
    line: 5,
    message: /PresharedKey: no key given/,
  },
  {
    name: 'IPv4 prefix too long',
    lines: ['[Interface]', PRIV, '[Peer]', PEER, 'AllowedIPs = 10.0.0.0/24, 10.0.1.0/33'],
    line: 5,
    message: /AllowedIPs: `10\.0\.1\.0\/33` is not an IP prefix/,
  },
  {
    name: 'IPv6 prefix too long',
    lines: ['[Interface]', PRIV, '[Peer]', PEER, 'AllowedIPs = fd00::/129'],
    line: 5,
    message: /AllowedIPs: `fd00::\/129` is not an IP prefix/,
  },
  {
    name: 'not an address',
    lines: ['[Interface]', PRIV, '[Peer]', PEER, 'AllowedIPs = 10.0.0.256/32'],
    line: 5,
    message: /`10\.0\.0\.256\/32` is not an IP prefix/,
  },
  {
    name: 'bad interface address',
    lines: ['[Interface]', PRIV, 'Address = 10.0.0.1/40'],
    line: 3,
    message: /Address: `10\.0\.0\.1\/40` is not an interface address/,
  },
  {
    name: 'listen port out of range',
    lines: ['[Interface]', PRIV, 'ListenPort = 65536'],
    line: 3,
    message: /ListenPort: `65536` is not a port number 0-65535/,
  },
  {
    name: 'listen port not a number',
    lines: ['[Interface]', PRIV, 'ListenPort = -1'],
    line: 3,
    message: /ListenPort: `-1` is not a port number/,
  },
  {
    name: 'key outside a section',
    lines: ['# a comment first', PRIV, '[Interface]'],
    line: 2,
    message: /`PrivateKey` is outside any section/,
  },
  {
    name: 'line without =',
    lines: ['[Interface]', PRIV, 'ListenPort 51820'],
    line: 3,
    message: /expected "Key = Value", got `ListenPort 51820`/,
  },
  { name: 'unknown section', lines: ['[Interface]', PRIV, '[Peers]', PEER], line: 3, message: /unknown section \[Peers\]/ },
  {
    name: 'second [Interface]',
    lines: ['[Interface]', PRIV, '[Interface]'],
    line: 3,
    message: /second \[Interface\] section \(the first is on line 1\)/,
  },
  {
    name: 'duplicate single-valued key',
    lines: ['[Interface]', PRIV, 'ListenPort = 1', 'listenport = 2'],
    line: 4,
    message: /duplicate `ListenPort` \(already set on line 3\)/,
  },
  {
    name: 'peer key in [Interface]',
    lines: ['[Interface]', PRIV, 'Endpoint = 192.0.2.1:51820'],
    line: 3,
    message: /`Endpoint` belongs in \[Peer\], not \[Interface\]/,
  },
  {
    name: 'interface key in [Peer]',
    lines: ['[Interface]', PRIV, '[Peer]', PEER, 'MTU = 1400'],
    line: 5,
    message: /`MTU` belongs in \[Interface\], not \[Peer\]/,
  },
  {
    name: '[Peer] without PublicKey',
    lines: ['[Interface]', PRIV, '', '[Peer]', 'AllowedIPs = 10.0.0.2/32', '[Peer]', PEER],
    line: 4,
    message: /\[Peer\] has no PublicKey/,
  },
  {
    name: 'IPv6 endpoint without brackets',
    lines: ['[Interface]', PRIV, '[Peer]', PEER, 'Endpoint = fd00::1:51820'],
    line: 5,
    message: /an IPv6 endpoint needs brackets/,
  },
  { name: 'endpoint without port', lines: ['[Interface]', PRIV, '[Peer]', PEER, 'Endpoint = 192.0.2.1'], line: 5, message: /has no port/ },
  {
    name: 'endpoint port out of range',
    lines: ['[Interface]', PRIV, '[Peer]', PEER, 'Endpoint = 192.0.2.1:99999'],
    line: 5,
    message: /`99999` in `192\.0\.2\.1:99999` is not a port number/,
  },
  // An Endpoint host name that does not resolve is not an error: `xdpwg up` retries it in the
  // background, as wg-quick@ with WG_ENDPOINT_RESOLUTION_RETRIES=infinity (test/netns/up-service.test.ts).
  {
    name: 'keepalive out of range',
    lines: ['[Interface]', PRIV, '[Peer]', PEER, 'PersistentKeepalive = 65536'],
    line: 5,
    message: /PersistentKeepalive: `65536` is not off or 0-65535 seconds/,
  },
  { name: 'MTU too small', lines: ['[Interface]', PRIV, 'MTU = 67'], line: 3, message: /MTU: `67` is not an MTU 68-65535/ },
  {
    name: 'SaveConfig neither true nor false',
    lines: ['[Interface]', PRIV, 'SaveConfig = yes'],
    line: 3,
    message: /SaveConfig: `yes` is neither true nor false/,
  },
  {
    name: 'bad FwMark',
    lines: ['[Interface]', PRIV, 'FwMark = 0xfffffffff'],
    line: 3,
    message: /FwMark: `0xfffffffff` is neither off nor 0-0xffffffff/,
  },
  {
    name: 'bad DNS entry',
    lines: ['[Interface]', PRIV, 'DNS = 10.0.0.1, bad/name'],
    line: 3,
    message: /DNS: `bad\/name` is neither an IP address nor a search domain/,
  },
];

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'h7e-'));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('every malformed file: exit 1, `xdpwg: FILE:LINE: message` on one line, no stack trace', async () => {
  const messages = new Set<string>();
  // Sequential: each is a node start-up; parallel runs would only contend for two cores.
  for (const [i, c] of cases.entries()) {
    // The file name is the interface name (wg-quick's rule), so keep it short and ours.
    const file = path.join(dir, `h7e${i}.conf`);
    writeFileSync(file, c.lines.join('\n') + '\n', { mode: 0o600 });
    const r = await runXdpwg(undefined, ['up', file], { env: { LOG_LEVEL: '' } });
    const what = `${c.name}: stderr was ${JSON.stringify(r.stderr)}`;
    assert.equal(r.code, 1, what);
    assert.equal(r.stdout, '', what);
    assert.doesNotMatch(r.stderr, /^\s+at /m, `no stack trace; ${what}`);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `one line; ${what}`);
    assert.ok(lines[0]!.startsWith(`xdpwg: ${file}:${c.line}: `), `names the file and line ${c.line}; ${what}`);
    assert.match(lines[0]!, c.message, what);
    messages.add(lines[0]!.slice(`xdpwg: ${file}:${c.line}: `.length));
  }
  assert.equal(messages.size, cases.length, 'each mistake has a message of its own');
});

test('a file that cannot be read: exit 1, the reason, no stack trace', async () => {
  const file = path.join(dir, 'h7enone.conf');
  const r = await runXdpwg(undefined, ['up', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`^xdpwg: cannot read \`${file.replace(/[.]/g, '\\.')}': ENOENT`));
  assert.doesNotMatch(r.stderr, /^\s+at /m);
});

test('a config file name that is no interface name is refused before reading it', async () => {
  const file = path.join(dir, 'this-name-is-far-too-long.conf');
  const r = await runXdpwg(undefined, ['up', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is not a valid config file name \(the interface name is taken from it\)/);
  assert.doesNotMatch(r.stderr, /^\s+at /m);
});
