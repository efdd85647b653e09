/**
 * `xdpwg genkey | pubkey | genpsk` through the real launcher (bin/xdpwg, the
 * compiled CLI), compared with wg(8) itself: same public key for the same
 * private key (clamped or not), wg accepts our keys, bad input fails cleanly.
 * Needs wireguard-tools installed (CI has it): fails, never skips, without.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { keyFromBase64 } from '../../src/crypto/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const XDPWG = path.join(ROOT, 'bin', 'xdpwg');

function xdpwg(args: string[], input = ''): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [XDPWG, ...args], { input, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function wg(args: string[], input = ''): string {
  return execFileSync('wg', args, { input, encoding: 'utf8' });
}

test('xdpwg pubkey prints exactly what wg pubkey prints', () => {
  const privates = [
    wg(['genkey']), // wg's own (clamped) key
    randomBytes(32).toString('base64') + '\n', // unclamped: both clamp when deriving
    Buffer.alloc(32, 0xff).toString('base64'), // no trailing newline
    wg(['genkey']).trim() + '  \n\n', // trailing whitespace is allowed
  ];
  for (const priv of privates) {
    const ours = xdpwg(['pubkey'], priv);
    assert.equal(ours.status, 0, ours.stderr);
    assert.equal(ours.stdout, wg(['pubkey'], priv), JSON.stringify(priv));
    assert.match(ours.stdout, /^[A-Za-z0-9+/]{43}=\n$/);
  }
});

test('xdpwg genkey and genpsk make keys wg accepts, fresh each time', () => {
  const key = xdpwg(['genkey']);
  assert.equal(key.status, 0, key.stderr);
  assert.equal(xdpwg(['pubkey'], key.stdout).stdout, wg(['pubkey'], key.stdout));
  const raw = keyFromBase64(key.stdout.trim());
  assert.equal(raw[0]! & 7, 0, 'clamped like wg genkey');
  assert.equal(raw[31]! & 0xc0, 0x40);
  const psk = xdpwg(['genpsk']);
  assert.equal(psk.status, 0, psk.stderr);
  assert.equal(keyFromBase64(psk.stdout.trim()).length, 32);
  assert.notEqual(xdpwg(['genpsk']).stdout, psk.stdout);
  assert.notEqual(xdpwg(['genkey']).stdout, key.stdout);
});

test('xdpwg pubkey refuses bad input with a clear error and exit status 1', () => {
  const good = wg(['genkey']).trim();
  for (const bad of [
    '',
    'garbage\n',
    good.slice(0, 43) + '\n',
    good.slice(0, 42) + 'B=\n',
    good + 'A\n',
    ' ' + good + '\n',
    good.replace(/.$/, '') + '==\n',
    'x'.repeat(10_000),
  ]) {
    const r = xdpwg(['pubkey'], bad);
    assert.equal(r.status, 1, JSON.stringify(bad.slice(0, 60)));
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'xdpwg pubkey: Key is not the correct length or format\n');
    // wg refuses the same inputs.
    assert.equal(spawnSync('wg', ['pubkey'], { input: bad }).status, 1, `wg also refuses ${JSON.stringify(bad.slice(0, 60))}`);
  }
  const extra = xdpwg(['genkey', 'extra']);
  assert.equal(extra.status, 1);
  assert.match(extra.stderr, /Usage: xdpwg genkey/);
});
