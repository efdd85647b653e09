/**
 * `Table =` of `xdpwg up` (src/cli/quick/route-table.ts), as wg-quick(8)
 * passes it to ip(8): off, auto (or unset), a number, or a name from
 * rt_tables — /etc/iproute2 first, then the distribution's
 * /usr/share/iproute2, rt_tables.d/*.conf included; an unknown name is an
 * error naming where it looked (it once silently became the main table).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readTableNames, resolveTable } from '../../src/cli/quick/route-table.js';

let etc: string;
let usr: string;
let root: string;
before(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'rt-tables-'));
  etc = path.join(root, 'etc');
  usr = path.join(root, 'usr');
  mkdirSync(path.join(etc, 'rt_tables.d'), { recursive: true });
  mkdirSync(usr, { recursive: true });
  writeFileSync(path.join(etc, 'rt_tables'), '# reserved\n255\tlocal\n254\tmain\n\n100 vpn   # a comment\n0x20 hex\n');
  writeFileSync(path.join(etc, 'rt_tables.d', 'extra.conf'), '200 extra\n');
  writeFileSync(path.join(etc, 'rt_tables.d', 'ignored.txt'), '300 ignored\n');
  writeFileSync(path.join(usr, 'rt_tables'), '101 vpn\n150 distro\n');
});
after(() => rmSync(root, { recursive: true, force: true }));

test('off, auto and unset', () => {
  assert.deepEqual(resolveTable('off', [etc, usr]), { kind: 'off' });
  assert.deepEqual(resolveTable('auto', [etc, usr]), { kind: 'auto' });
  assert.deepEqual(resolveTable(undefined, [etc, usr]), { kind: 'auto' });
});

test('numbers as they are, names from rt_tables (/etc first, then /usr/share, rt_tables.d *.conf)', () => {
  assert.deepEqual(resolveTable('1234', [etc, usr]), { kind: 'fixed', id: 1234, text: '1234' });
  assert.deepEqual(resolveTable('vpn', [etc, usr]), { kind: 'fixed', id: 100, text: 'vpn' });
  assert.deepEqual(resolveTable('distro', [etc, usr]), { kind: 'fixed', id: 150, text: 'distro' });
  assert.deepEqual(resolveTable('extra', [etc, usr]), { kind: 'fixed', id: 200, text: 'extra' });
  assert.deepEqual(resolveTable('hex', [etc, usr]), { kind: 'fixed', id: 0x20, text: 'hex' });
  assert.deepEqual(resolveTable('main', [etc, usr]), { kind: 'fixed', id: 254, text: 'main' });
  assert.equal(readTableNames([etc, usr]).has('ignored'), false, 'only *.conf in rt_tables.d');
});

test('built-in names need no file; an unknown name is an error that says where it looked', () => {
  assert.equal(resolveTable('default', [path.join(root, 'nowhere')]).kind, 'fixed');
  assert.throws(
    () => resolveTable('nosuch', [etc, usr]),
    (err: Error) => err.message.includes('Table = nosuch') && err.message.includes(path.join(etc, 'rt_tables')),
  );
  assert.throws(() => resolveTable('99999999999', [etc, usr]), /at most/);
});
