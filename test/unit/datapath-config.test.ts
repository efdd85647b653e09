/**
 * The datapath settings file: JSON-C accepted (comments, trailing commas),
 * defaults for what is absent, each bad value and unknown key refused with a
 * message naming it; the shipped example parses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_DATAPATH, DatapathConfigError, parseDatapathConfig, stripJsonc } from '../../src/daemon/config/datapath-config.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

test('JSON-C: comments and trailing commas go, strings keep their slashes', () => {
  assert.deepEqual(JSON.parse(stripJsonc('{ "a": "x//y", /* c */ "b": [1, 2,], // d\n }')), { a: 'x//y', b: [1, 2] });
});

test('absent keys take their defaults; given keys are kept', () => {
  assert.deepEqual(parseDatapathConfig('{}', 'f'), DEFAULT_DATAPATH);
  const c = parseDatapathConfig('{ "mode": "generic", "workers": 2, "cpus": [1], "crypto": "node", "devices": ["eth0"] }', 'f');
  assert.equal(c.mode, 'generic');
  assert.equal(c.workers, 2);
  assert.deepEqual(c.cpus, [1]);
  assert.deepEqual(c.devices, ['eth0']);
  assert.equal(DEFAULT_DATAPATH.txPath, 'auto');
  assert.equal(parseDatapathConfig('{ "txPath": "socket" }', 'f').txPath, 'socket');
  assert.equal(DEFAULT_DATAPATH.cryptoCrew, 'off');
  assert.equal(parseDatapathConfig('{ "cryptoCrew": "auto" }', 'f').cryptoCrew, 'auto');
  const crew = parseDatapathConfig('{ "cryptoCrew": 3, "cryptoCrewMinBurst": 2 }', 'f');
  assert.deepEqual([crew.cryptoCrew, crew.cryptoCrewMinBurst], [3, 2]);
  assert.equal(DEFAULT_DATAPATH.spinUs, 0);
  assert.equal(parseDatapathConfig('{ "spinUs": 200 }', 'f').spinUs, 200);
  assert.equal(DEFAULT_DATAPATH.rxPath, 'auto');
  assert.equal(parseDatapathConfig('{ "rxPath": "socket" }', 'f').rxPath, 'socket');
});

test('the shipped example parses', () => {
  const text = readFileSync(path.join(root, 'conf', 'example.datapath.jsonc'), 'utf8');
  assert.deepEqual(parseDatapathConfig(text, 'example'), DEFAULT_DATAPATH);
});

const bad: Array<[string, RegExp]> = [
  ['{ "bogus": 1 }', /unknown key "bogus"/],
  ['{ "a": 1, "b": 2 }', /unknown keys "a", "b"/],
  ['{ "mode": "fast" }', /"mode" must be/],
  ['{ "umemFrames": 1000 }', /"umemFrames" must be a power of two/],
  ['{ "frameSize": 3000 }', /"frameSize" must be 2048 or 4096/],
  ['{ "workers": 0 }', /"workers" must be/],
  ['{ "cpus": [-1] }', /"cpus" must be/],
  ['{ "zeroCopy": "yes" }', /"zeroCopy" must be/],
  ['{ "txRing": 100 }', /"txRing" must be a power of two/],
  ['{ "crypto": "rot13" }', /"crypto" must be/],
  ['{ "tunOffload": 0 }', /"tunOffload" must be/],
  ['{ "cryptoCrew": "on" }', /"cryptoCrew" must be "auto", "off" or 0..64/],
  ['{ "cryptoCrew": 65 }', /"cryptoCrew" must be/],
  ['{ "cryptoCrewMinBurst": 1 }', /"cryptoCrewMinBurst" must be 2..65535/],
  ['{ "spinUs": -1 }', /"spinUs" must be 0..10000/],
  ['{ "spinUs": 10001 }', /"spinUs" must be 0..10000/],
  ['{ "spinUs": 2.5 }', /"spinUs" must be 0..10000/],
  ['{ "txPath": "kernel" }', /"txPath" must be "auto", "afxdp" or "socket"/],
  ['{ "rxPath": "gro" }', /"rxPath" must be "auto", "afxdp" or "socket"/],
  ['{ "xdpProgram": "theirs" }', /"xdpProgram" must be "own" or "device-plugin"/],
  ['{ "devicePluginSocket": "afxdp.sock" }', /"devicePluginSocket" must be "auto" or an absolute path/],
  ['{ "metricsListen": "9586" }', /"metricsListen" must be "off" or "HOST:PORT": "9586" is not a listen address/],
  ['{ "metricsListen": "[127.0.0.1]:9586" }', /"metricsListen" must be/],
  ['{ "metricsListen": "localhost:9586" }', /"metricsListen" must be/],
  ['{ "metricsListen": ":0" }', /"metricsListen" must be/],
  ['[1]', /top level must be an object/],
  ['{ "mode": ', /not valid JSON-C/],
];
for (const [text, message] of bad) {
  test(`refused: ${text}`, () => {
    assert.throws(
      () => parseDatapathConfig(text, '/etc/wireguard/wg0.datapath.jsonc'),
      (err: unknown) =>
        err instanceof DatapathConfigError && message.test(err.message) && err.message.startsWith('/etc/wireguard/wg0.datapath.jsonc: '),
    );
  });
}

test('metrics and device-plugin keys: accepted forms', () => {
  for (const listen of ['127.0.0.1:9586', ':9586', '0.0.0.0:1', '[::1]:9586', '[::]:65535', 'off']) {
    assert.equal(parseDatapathConfig(JSON.stringify({ metricsListen: listen }), 'f').metricsListen, listen);
  }
  const c = parseDatapathConfig('{ "xdpProgram": "device-plugin", "devicePluginSocket": "/tmp/afxdp_dp/eth1/afxdp.sock" }', 'f');
  assert.equal(c.xdpProgram, 'device-plugin');
  assert.equal(c.devicePluginSocket, '/tmp/afxdp_dp/eth1/afxdp.sock');
});

test('a JSON-C syntax error names the line and column in the file (comments counted), not a position', () => {
  const text = '{\n  // a comment, then a missing comma\n  "mode": "native"\n  "workers": 2\n}\n';
  assert.throws(
    () => parseDatapathConfig(text, '/etc/wireguard/wg0.datapath.jsonc'),
    (err: Error) => {
      assert.match(err.message, /^\/etc\/wireguard\/wg0\.datapath\.jsonc: not valid JSON-C: line 4, column 3: /);
      assert.doesNotMatch(err.message, /position/);
      return true;
    },
  );
});

test('the datapath file is looked for beside the wg config; XDPWG_DATAPATH overrides', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const os = await import('node:os');
  const { loadDatapathConfig } = await import('../../src/daemon/config/datapath-config.js');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dp-beside-'));
  try {
    writeFileSync(path.join(dir, 'wgx.datapath.jsonc'), '{ "mode": "generic" }');
    const beside = loadDatapathConfig('wgx', {}, dir);
    assert.equal(beside.file, path.join(dir, 'wgx.datapath.jsonc'));
    assert.equal(beside.config.mode, 'generic');
    assert.equal(loadDatapathConfig('wgy', {}, dir).file, undefined, 'none there: defaults');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('"afxdp": auto, on or off; XDPWG_AFXDP changes only the default (a file that sets it wins)', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const os = await import('node:os');
  const { loadDatapathConfig } = await import('../../src/daemon/config/datapath-config.js');
  assert.equal(DEFAULT_DATAPATH.afxdp, 'auto');
  for (const v of ['auto', 'on', 'off'] as const) assert.equal(parseDatapathConfig(`{ "afxdp": "${v}" }`, 'f').afxdp, v);
  assert.throws(() => parseDatapathConfig('{ "afxdp": "yes" }', 'f'), /"afxdp" must be "auto", "on" or "off"/);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dp-afxdp-'));
  try {
    assert.equal(loadDatapathConfig('none', { XDPWG_AFXDP: 'on' }, dir).config.afxdp, 'on', 'no file: the variable');
    assert.equal(loadDatapathConfig('none', { XDPWG_AFXDP: '' }, dir).config.afxdp, 'auto', 'empty: the default');
    writeFileSync(path.join(dir, 'off.datapath.jsonc'), '{ "afxdp": "off" }');
    writeFileSync(path.join(dir, 'other.datapath.jsonc'), '{ "mode": "generic" }');
    assert.equal(loadDatapathConfig('off', { XDPWG_AFXDP: 'on' }, dir).config.afxdp, 'off', 'the file wins');
    assert.equal(loadDatapathConfig('other', { XDPWG_AFXDP: 'on' }, dir).config.afxdp, 'on', 'a file without the key: the variable');
    assert.throws(() => loadDatapathConfig('none', { XDPWG_AFXDP: 'yes' }, dir), /XDPWG_AFXDP=yes: expected auto, on or off/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('"afxdp": "auto" declines virtual devices (sysfs /devices/virtual), keeps physical ones and unknown ones; "on" keeps all', async () => {
  const { mkdtempSync, mkdirSync, symlinkSync, rmSync } = await import('node:fs');
  const os = await import('node:os');
  const { afxdpDeclined, isVirtualDevice } = await import('../../src/daemon/xdp/afxdp-choice.js');
  const root = mkdtempSync(path.join(os.tmpdir(), 'sysfs-'));
  try {
    const classNet = path.join(root, 'class', 'net');
    mkdirSync(classNet, { recursive: true });
    for (const [name, target] of <Array<[string, string]>>[
      ['veth0', 'devices/virtual/net/veth0'],
      ['eth0', 'devices/pci0000:00/0000:00:03.0/virtio0/net/eth0'],
    ]) {
      mkdirSync(path.join(root, target), { recursive: true });
      symlinkSync(path.join(root, target), path.join(classNet, name));
    }
    assert.equal(isVirtualDevice('veth0', classNet), true);
    assert.equal(isVirtualDevice('eth0', classNet), false);
    assert.equal(isVirtualDevice('gone0', classNet), false, 'not in sysfs: not known to be virtual');
    assert.match(afxdpDeclined('auto', 'veth0', classNet) ?? '', /a virtual device: AF_XDP here is copy mode/);
    assert.equal(afxdpDeclined('auto', 'eth0', classNet), undefined);
    assert.equal(afxdpDeclined('auto', 'gone0', classNet), undefined);
    assert.equal(afxdpDeclined('on', 'veth0', classNet), undefined);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
