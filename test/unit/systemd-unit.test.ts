/**
 * systemd/xdpwg@.service passes `systemd-analyze verify`. The unit names the
 * packaged install path /usr/bin/xdpwg (npm run package), which verify requires to be
 * executable; the check runs on a copy instantiated as xdpwg@wg0.service
 * whose ExecStart points at this checkout's bin/xdpwg, everything else as shipped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

test('systemd-analyze verify accepts xdpwg@.service', () => {
  const unit = readFileSync(path.join(root, 'systemd', 'xdpwg@.service'), 'utf8');
  assert.match(unit, /^ExecStart=\/usr\/bin\/xdpwg up %i$/m);
  assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  // Readiness over sd_notify (src/daemon/sd-notify.ts); Debian 12's systemd 252 has no notify-reload.
  assert.match(unit, /^Type=notify$/m);
  assert.match(unit, /^NotifyAccess=main$/m);
  // The pid file and the undo journal of `xdpwg up` must be writable under ProtectSystem=strict.
  assert.match(unit, /^RuntimeDirectory=wireguard xdpwg$/m);
  assert.match(unit, /^CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_BPF CAP_PERFMON$/m);
  const dir = mkdtempSync(path.join(tmpdir(), 'h5-unit-'));
  try {
    const copy = path.join(dir, 'xdpwg@wg0.service');
    writeFileSync(copy, unit.replaceAll('/usr/bin/xdpwg', path.join(root, 'bin', 'xdpwg')));
    const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
    assert.equal(r.error, undefined, 'systemd-analyze must be installed (apt-get install -y systemd)');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', `verify printed warnings:\n${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
