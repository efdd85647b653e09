/**
 * The per-peer settings table (src/daemon/config/peer-settings.ts), walked
 * entry by entry: every setting round-trips through the UAPI (set → the
 * device → get → parse), through a config file (parse → serialize → parse →
 * device config → setconf), and shows up in `wg show`. SAMPLES is typed by
 * the table's names, so a new setting does not compile until it has samples
 * here, and then it is tested like the others.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PEER_SETTINGS, PEER_SETTING_LIST, type PeerSettingName, type PeerSettingValue } from '../../src/daemon/config/peer-settings.js';
import { parseUapiGet, parseUapiSet, serializeUapiGet, serializeUapiSet, uapiStatus } from '../../src/daemon/uapi/protocol.js';
import { configFromSnapshot, parseConfig, serializeConfig, setconfOps, toDeviceConfig } from '../../src/daemon/config/config-file.js';
import { Errno, UapiError, parseEndpoint, peerKey, type UapiPeerOp } from '../../src/daemon/config/device-config.js';
import { formatField, formatPretty, SHOW_FIELDS } from '../../src/cli/show.js';
import { keyFromHex, keyToBase64 } from '../../src/crypto/encoding.js';
import { MemoryDevice } from '../helpers/memory-device.js';

const PEER = keyFromHex('2b9d0cef39c20b6aa564b6cff94f8d7a5dda41dfc6240ee856a4e8b5e851910d');
const PEER_HEX = '2b9d0cef39c20b6aa564b6cff94f8d7a5dda41dfc6240ee856a4e8b5e851910d';

/** Values each setting can be set to (none of them an "unset" value), and texts its UAPI set must refuse. */
const SAMPLES: { [N in PeerSettingName]: { set: PeerSettingValue<N>[]; badUapi: string[] } } = {
  presharedKey: {
    set: [keyFromHex('e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a'), new Uint8Array(32).fill(0xff)],
    badUapi: ['', 'abc', 'e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027', 'x'.repeat(64)],
  },
  endpoint: {
    set: ['192.0.2.1:51820', '[2001:db8::1]:1', '[fe80::1%eth0]:65535', '0.0.0.0:0'].map((t) => parseEndpoint(t)!),
    badUapi: ['', '192.0.2.1', '2001:db8::1:5', 'host:5', '[::1]:65536'],
  },
  persistentKeepalive: { set: [1, 25, 65535], badUapi: ['', '-1', '65536', 'off', '1.5'] },
};

const names = Object.keys(PEER_SETTINGS) as PeerSettingName[];

for (const name of names) {
  const s = PEER_SETTINGS[name];
  // Each sample, one setting at a time (the generic walk; the erased view is what the surfaces use).
  const entry = PEER_SETTING_LIST.find((e) => e.name === name)!;
  const samples: readonly unknown[] = SAMPLES[name].set;

  test(`${name}: UAPI set → device → get → parse round-trips, one line where wireguard-go prints it`, () => {
    for (const value of samples) {
      assert.equal(entry.isUnset(value), false, 'a sample must be a set value');
      const body = `public_key=${PEER_HEX}\n${s.uapi.key}=${entry.uapi.format(value)}`;
      const ops = parseUapiSet(body);
      assert.deepEqual((ops[0] as UapiPeerOp)[name], value);
      // wg(8)'s side writes the same request back.
      assert.equal(serializeUapiSet(ops), `set=1\n${body}\n\n`);

      const dev = new MemoryDevice();
      dev.applySet(ops);
      const text = [...serializeUapiGet(dev.getSnapshot())].join('');
      const lines = text.split('\n');
      assert.equal(lines.filter((l) => l.startsWith(`${s.uapi.key}=`)).length, 1, text);
      const at = lines.indexOf(`${s.uapi.key}=${entry.uapi.format(value)}`);
      const anchor = lines.findIndex((l) => l.startsWith(`${s.uapi.getAfter}=`));
      assert.ok(anchor >= 0 && at > anchor, `${s.uapi.key} after ${s.uapi.getAfter}:\n${text}`);
      const back = parseUapiGet(text + uapiStatus(0)).snapshot.peers[0]!;
      assert.deepEqual(back[name], value);
    }
  });

  test(`${name}: get when unset prints ${s.uapi.getUnset === null ? 'no line' : `"${s.uapi.getUnset}"`}; wg setconf's clearing value unsets it`, () => {
    const dev = new MemoryDevice();
    dev.applySet(parseUapiSet(`public_key=${PEER_HEX}\n${s.uapi.key}=${entry.uapi.format(samples[0])}`));
    if (s.uapi.clear !== undefined) {
      dev.applySet([
        { kind: 'peer', publicKey: PEER, remove: false, updateOnly: false, replaceAllowedIPs: false, allowedIPs: [], [name]: s.uapi.clear },
      ]);
    } else {
      dev.applySet([{ kind: 'peer', publicKey: PEER, remove: true, updateOnly: false, replaceAllowedIPs: false, allowedIPs: [] }]);
      dev.applySet([{ kind: 'peer', publicKey: PEER, remove: false, updateOnly: false, replaceAllowedIPs: false, allowedIPs: [] }]);
    }
    const lines = [...serializeUapiGet(dev.getSnapshot())].join('').split('\n');
    const mine = lines.filter((l) => l.startsWith(`${s.uapi.key}=`));
    assert.deepEqual(mine, s.uapi.getUnset === null ? [] : [`${s.uapi.key}=${s.uapi.getUnset}`]);
    const back = parseUapiGet(lines.join('\n') + uapiStatus(0)).snapshot.peers[0]!;
    assert.equal(back[name], undefined, 'what get prints for unset reads back as unset');
  });

  test(`${name}: a refused UAPI value is EINVAL naming ${s.uapi.key}, and no key material is quoted`, () => {
    for (const bad of SAMPLES[name].badUapi) {
      assert.throws(
        () => parseUapiSet(`public_key=${PEER_HEX}\n${s.uapi.key}=${bad}`),
        (e: unknown) => e instanceof UapiError && e.errno === Errno.EINVAL && e.message.startsWith(`${s.uapi.key}: `),
        JSON.stringify(bad),
      );
    }
  });

  test(`${name}: config file parse → serialize → parse round-trips, and reaches the device config and wg setconf`, () => {
    for (const value of samples) {
      const fileValue = entry.file.fromValue(value);
      const formatted = entry.file.format(fileValue);
      assert.notEqual(formatted, null, 'a set value is written');
      const text = `[Interface]\n\n[Peer]\nPublicKey = ${keyToBase64(PEER)}\n${s.file.key.toLowerCase()} =   ${formatted}\n`;
      const file = parseConfig(text, 'x.conf', 'setconf');
      assert.deepEqual(file.peers[0]![name], fileValue);
      const written = serializeConfig(file, 'setconf');
      assert.ok(written.includes(`\n${s.file.key} = ${formatted}\n`), written);
      assert.equal(serializeConfig(parseConfig(written, 'x.conf', 'setconf'), 'setconf'), written);

      const config = toDeviceConfig(file);
      assert.deepEqual(config.peers.get(peerKey(PEER))![name], value);
      const sent = setconfOps(config).find((o): o is UapiPeerOp => o.kind === 'peer')!;
      assert.deepEqual(sent[name], value);

      // wg showconf: the device's value as the file writes it.
      const dev = new MemoryDevice();
      dev.applySet(setconfOps(config));
      assert.equal(serializeConfig(configFromSnapshot(dev.getSnapshot()), 'setconf'), written);
    }
  });

  test(`${name}: wg show prints it as "${s.show.label}" and in \`wg show IF ${s.show.field}\``, () => {
    assert.ok(SHOW_FIELDS.includes(s.show.field));
    for (const value of samples) {
      const device = {
        listenPort: 0,
        fwmark: 0,
        peers: [{ publicKey: PEER, lastHandshakeSec: 0, lastHandshakeNsec: 0, rxBytes: 0n, txBytes: 0n, allowedIPs: [], [name]: value }],
      };
      const pretty = formatPretty('wg0', device, { now: 0, color: false, hideKeys: false });
      assert.ok(pretty.includes(`\n  ${s.show.label}: `), pretty);
      assert.equal(formatField('wg0', device, s.show.field, false), `${keyToBase64(PEER)}\t${entry.show.text(value)}\n`);
      const unset = { ...device, peers: [{ ...device.peers[0]!, [name]: undefined }] };
      assert.ok(!formatPretty('wg0', unset, { now: 0, color: false, hideKeys: false }).includes(`  ${s.show.label}: `));
      assert.equal(formatField('wg0', unset, s.show.field, false), `${keyToBase64(PEER)}\t${s.show.none}\n`);
    }
  });
}

test('the table: keys are unique on every surface and clash with no structural key', () => {
  const structural = {
    uapi: ['public_key', 'remove', 'update_only', 'replace_allowed_ips', 'allowed_ip', 'protocol_version'],
    file: ['publickey', 'allowedips'],
    field: ['public-key', 'private-key', 'listen-port', 'fwmark', 'peers', 'allowed-ips', 'latest-handshakes', 'transfer', 'dump'],
  };
  const uapi = PEER_SETTING_LIST.map((s) => s.uapi.key);
  const file = PEER_SETTING_LIST.map((s) => s.file.key.toLowerCase());
  const field = PEER_SETTING_LIST.map((s) => s.show.field);
  for (const [list, taken] of [
    [uapi, structural.uapi],
    [file, structural.file],
    [field, structural.field],
  ] as const) {
    assert.equal(new Set(list).size, list.length, list.join());
    for (const k of list) assert.ok(!taken.includes(k), k);
  }
});

test('a get answer with a malformed preshared_key is EPROTO like any other malformed line (was EINVAL)', () => {
  const text = `public_key=${PEER_HEX}\npreshared_key=abc\nerrno=0\n\n`;
  assert.throws(
    () => parseUapiGet(text),
    (e: unknown) => e instanceof UapiError && e.errno === Errno.EPROTO && /malformed get answer line/.test(e.message),
  );
});
