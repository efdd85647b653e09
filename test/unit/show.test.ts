/**
 * `xdpwg show` formatting, pure. The same outputs are compared with the real
 * `wg show` on identical data in test/netns/uapi-wg.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatField, formatPretty, prettyBytes, prettyTime, type ShownDevice } from '../../src/cli/show.js';
import { parseEndpoint } from '../../src/daemon/config/device-config.js';
import { parsePrefix } from '../../src/packet/ip-prefix.js';
import { keyFromBase64 } from '../../src/crypto/encoding.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
// A private key and its public key as `wg pubkey` prints it.
const PRIV = 'GI8hTW5BEC2+XAL/UJs1e0w3E7/g9yrhtGg/aR73OlA=';
const PUB = 'SQSf1tlQvGg6hQ8w7ORAGMX5ErnX69JHqYHNL1pgIgo=';
const PEER1 = 'K50M7znCC2qlZLbP+U+Nel3aQd/GJA7oVqTotehRkQ0=';
const PEER2 = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
const PSK = 'FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=';
const NOW = 1_800_000_000;

function device(): ShownDevice {
  return {
    privateKey: keyFromBase64(PRIV),
    listenPort: 51820,
    fwmark: 0x20,
    peers: [
      {
        publicKey: keyFromBase64(PEER2),
        lastHandshakeSec: 0,
        lastHandshakeNsec: 0,
        rxBytes: 0n,
        txBytes: 0n,
        persistentKeepalive: 0,
        allowedIPs: [],
      },
      {
        publicKey: keyFromBase64(PEER1),
        presharedKey: keyFromBase64(PSK),
        endpoint: parseEndpoint('[::1.2.3.4]:5')!,
        lastHandshakeSec: NOW - 3725,
        lastHandshakeNsec: 5,
        rxBytes: 1152n,
        txBytes: 3n * 1024n * 1024n + 1n,
        persistentKeepalive: 25,
        allowedIPs: [parsePrefix('10.0.0.0/24')!, parsePrefix('::1.2.3.4/128')!],
      },
    ],
  };
}

test('durations and byte counts read as wg prints them', () => {
  assert.equal(prettyTime(1, false), '1 second');
  assert.equal(prettyTime(61, false), '1 minute, 1 second');
  assert.equal(prettyTime(86400 + 3600 + 5, false), '1 day, 1 hour, 5 seconds');
  assert.equal(prettyTime(2 * 365 * 86400 + 120, false), '2 years, 2 minutes');
  assert.equal(prettyBytes(0n, false), '0 B');
  assert.equal(prettyBytes(1023, false), '1023 B');
  assert.equal(prettyBytes(1024, false), '1.00 KiB');
  assert.equal(prettyBytes(1152, false), '1.12 KiB', '1.125 rounds half to even, as printf does');
  assert.equal(prettyBytes(1160, false), '1.13 KiB');
  assert.equal(prettyBytes(1536n * 1024n, false), '1.50 MiB');
  assert.equal(prettyBytes(5n * 2n ** 30n, false), '5.00 GiB');
  assert.equal(prettyBytes(2n ** 40n, false), '1.00 TiB');
  assert.equal(prettyBytes(2n ** 64n - 1n, false), '16777216.00 TiB');
});

test('the pretty form: interface, keys hidden, peers by latest handshake, transfer, keepalive', () => {
  const text = formatPretty('wg0', device(), { now: NOW, color: false, hideKeys: true });
  assert.equal(
    text,
    `interface: wg0
  public key: ${PUB}
  private key: (hidden)
  listening port: 51820
  fwmark: 0x20

peer: ${PEER1}
  preshared key: (hidden)
  endpoint: [::1.2.3.4]:5
  allowed ips: 10.0.0.0/24, ::1.2.3.4/128
  latest handshake: 1 hour, 2 minutes, 5 seconds ago
  transfer: 1.12 KiB received, 3.00 MiB sent
  persistent keepalive: every 25 seconds

peer: ${PEER2}
  allowed ips: (none)
`,
  );
  const shown = formatPretty('wg0', device(), { now: NOW, color: false, hideKeys: false });
  assert.match(shown, new RegExp(`private key: ${PRIV.replace(/[+/]/g, '\\$&')}`));
  const colored = formatPretty('wg0', device(), { now: NOW, color: true, hideKeys: true });
  assert.ok(colored.startsWith('\x1b[0m\x1b[32m\x1b[1minterface\x1b[0m: \x1b[32mwg0\x1b[0m\n'));
  assert.equal(colored.replace(/\x1b\[[0-9;]*m/g, ''), text);
  const future = device();
  future.peers[1]!.lastHandshakeSec = NOW + 10;
  assert.match(
    formatPretty('wg0', future, { now: NOW, color: false, hideKeys: true }),
    /latest handshake: \(System clock wound backward; connection problems may ensue\.\)/,
  );
  future.peers[1]!.lastHandshakeSec = NOW;
  assert.match(formatPretty('wg0', future, { now: NOW, color: false, hideKeys: true }), /latest handshake: Now\n/);
});

test('the fields and dump, with and without the interface column', () => {
  const d = device();
  assert.equal(
    formatField('wg0', d, 'dump', false),
    `${PRIV}\t${PUB}\t51820\t0x20
${PEER2}\t(none)\t(none)\t(none)\t0\t0\t0\toff
${PEER1}\t${PSK}\t[::1.2.3.4]:5\t10.0.0.0/24,::1.2.3.4/128\t${NOW - 3725}\t1152\t3145729\t25
`,
  );
  assert.equal(formatField('wg0', d, 'allowed-ips', true), `wg0\t${PEER2}\t(none)\nwg0\t${PEER1}\t10.0.0.0/24 ::1.2.3.4/128\n`);
  assert.equal(formatField('wg0', d, 'public-key', false), `${PUB}\n`);
  assert.equal(formatField('wg0', d, 'fwmark', false), '0x20\n');
  assert.equal(formatField('wg0', { ...d, fwmark: 0 }, 'fwmark', true), 'wg0\toff\n');
  assert.equal(formatField('wg0', d, 'transfer', false), `${PEER2}\t0\t0\n${PEER1}\t1152\t3145729\n`);
  assert.equal(formatField('wg0', d, 'persistent-keepalive', false), `${PEER2}\toff\n${PEER1}\t25\n`);
  assert.equal(formatField('wg0', d, 'latest-handshakes', false), `${PEER2}\t0\n${PEER1}\t${NOW - 3725}\n`);
  assert.equal(formatField('wg0', d, 'nonsense', false), null);
});

test('xdpwg show names the missing socket and exits 1', () => {
  const r = spawnSync(process.execPath, [path.join(root, 'dist/src/cli/main.js'), 'show', 'h5absent9'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /Unable to access interface h5absent9: no UAPI socket at \/var\/run\/wireguard\/h5absent9\.sock/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  const bad = spawnSync(process.execPath, [path.join(root, 'dist/src/cli/main.js'), 'show', 'h5absent9', 'colour'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /Invalid parameter: `colour'/);
});
