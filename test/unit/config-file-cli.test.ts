/**
 * Config errors as the user sees them: `xdpwg up FILE` on a malformed file
 * exits 1 and prints one line naming the file, the line and the problem, with
 * no stack trace (the file is rejected before anything is set up).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const dir = mkdtempSync(path.join(tmpdir(), 'h5-conf-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const PRIV = 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';
const PUB = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';

const CASES: [string, number, string][] = [
  [`[Interface]\nPrivateKey = ${PRIV}\nListenPort = 70000\n`, 3, 'ListenPort: `70000` is not a port number 0-65535'],
  [`[Interface]\nPrivateKey = ${PRIV}\nPrivateKey = ${PRIV}\n`, 3, 'duplicate `PrivateKey` (already set on line 2)'],
  [`[Interface]\nPrivateKey = ${PRIV}\nListenPrt = 1\n`, 3, 'unknown key `ListenPrt` in [Interface]'],
  [`Address = 10.0.0.1/24\n[Interface]\n`, 1, '`Address` is outside any section; put it under [Interface] or [Peer]'],
  [
    `[Interface]\nPrivateKey = ${PRIV}\n\n[Peer]\nPublicKey = ${PUB}\nAllowedIPs = 10.0.0.0/33\n`,
    6,
    'AllowedIPs: `10.0.0.0/33` is not an IP prefix',
  ],
  [`[Interface]\nPrivateKey = ${PRIV}\n\n[Peer]\nPublicKey = ${PUB.slice(1)}\n`, 5, 'PublicKey: `' + PUB.slice(1) + '` is not a valid key'],
  [
    `[Interface]\nPrivateKey = ${PRIV}\n\n[Peer]\nPublicKey = ${PUB}\nEndpoint = 2001:db8::1:51820\n`,
    6,
    'Endpoint: `2001:db8::1:51820`: an IPv6 endpoint needs brackets',
  ],
];

test('xdpwg up on a malformed file: exit 1, file:line: problem, no stack trace', () => {
  CASES.forEach(([text, line, problem], i) => {
    const file = path.join(dir, `h5bad${i}.conf`);
    writeFileSync(file, text, { mode: 0o600 });
    const r = spawnSync(process.execPath, [path.join(root, 'dist/src/cli/main.js'), 'up', file], {
      encoding: 'utf8',
      env: { ...process.env, LOG_LEVEL: 'error' },
      timeout: 15_000,
    });
    assert.equal(r.status, 1, `exit status for case ${i}: ${r.stderr}`);
    assert.ok(r.stderr.includes(`${file}:${line}: ${problem}`), `case ${i}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /^\s+at /m, `case ${i} printed a stack trace`);
  });
});
