import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  UapiSetParser,
  parseUapiGet,
  parseUapiSet,
  serializeUapiGet,
  serializeUapiSet,
  uapiStatus,
} from '../../src/daemon/uapi/protocol.js';
import {
  Errno,
  UapiError,
  formatEndpoint,
  parseEndpoint,
  type DeviceSnapshot,
  type UapiSetOp,
} from '../../src/daemon/config/device-config.js';
import { formatPrefix, maskPrefix, parsePrefix } from '../../src/packet/ip-prefix.js';
import { keyFromHex } from '../../src/crypto/encoding.js';

const K1 = '2b9d0cef39c20b6aa564b6cff94f8d7a5dda41dfc6240ee856a4e8b5e851910d';
const K2 = '188f214d6e41102dbe5c02ff509b357b4c3713bfe0f72ae1b4683f691ef73a50';
const K3 = 'e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a';

const pfx = (s: string) => parsePrefix(s)!;
const ep = (s: string) => parseEndpoint(s)!;

test('a set body with every key parses into the operations wireguard-go would perform', () => {
  const body =
    [
      `private_key=${K2}`,
      'listen_port=51820',
      'fwmark=0',
      'replace_peers=true',
      `public_key=${K1.toUpperCase()}`,
      'update_only=true',
      `preshared_key=${K3}`,
      'endpoint=[2001:db8::1]:51821',
      'persistent_keepalive_interval=25',
      'allowed_ip=10.0.0.0/8',
      'replace_allowed_ips=true',
      'allowed_ip=10.1.0.0/16',
      'allowed_ip=-fd00::/64',
      'protocol_version=1',
      `public_key=${K3}`,
      'endpoint=192.0.2.1:9',
      'remove=true',
      'allowed_ip=1.2.3.4/32',
    ].join('\n') + '\n\n';
  const ops = parseUapiSet(body);
  const expected: UapiSetOp[] = [
    { kind: 'private_key', privateKey: keyFromHex(K2) },
    { kind: 'listen_port', port: 51820 },
    { kind: 'fwmark', fwmark: 0 },
    { kind: 'replace_peers' },
    {
      kind: 'peer',
      publicKey: keyFromHex(K1),
      remove: false,
      updateOnly: true,
      presharedKey: keyFromHex(K3),
      endpoint: ep('[2001:db8::1]:51821'),
      persistentKeepalive: 25,
      replaceAllowedIPs: true,
      // replace_allowed_ips drops the prefixes given before it in the same block
      allowedIPs: [
        { prefix: pfx('10.1.0.0/16'), remove: false },
        { prefix: pfx('fd00::/64'), remove: true },
      ],
    },
    // remove=true: the peer goes; lines after it are checked but have no effect
    { kind: 'peer', publicKey: keyFromHex(K3), remove: true, updateOnly: false, replaceAllowedIPs: false, allowedIPs: [] },
  ];
  assert.deepEqual(ops, expected);
  // wg(8) writes the same operations back as the same request.
  assert.deepEqual(parseUapiSet(serializeUapiSet(ops).slice('set=1\n'.length)), ops);
});

/** Bad lines: the errno wireguard-go answers (checked against Debian's wireguard-go 0.0.20220316). */
const BAD_LINES: [string, number, RegExp][] = [
  ['listen_port=99999', Errno.EINVAL, /listen_port/],
  ['listen_port=-1', Errno.EINVAL, /listen_port/],
  ['listen_port=', Errno.EINVAL, /listen_port/],
  ['fwmark=4294967296', Errno.EINVAL, /fwmark/],
  ['private_key=abcd', Errno.EINVAL, /private_key: not 64 hex digits/],
  ['replace_peers=false', Errno.EINVAL, /replace_peers: invalid value/],
  ['foo=bar', Errno.EINVAL, /invalid UAPI device key/],
  ['noequals', Errno.EPROTO, /failed to parse line/],
  ['update_only=true', Errno.EINVAL, /invalid UAPI device key/], // a peer key before any public_key
  [`public_key=${K1.slice(2)}`, Errno.EINVAL, /public_key: not 64 hex digits/],
];
const BAD_PEER_LINES: [string, number, RegExp][] = [
  ['endpoint=192.0.2.1', Errno.EINVAL, /endpoint/],
  ['endpoint=2001:db8::1:51820', Errno.EINVAL, /endpoint/],
  ['endpoint=[192.0.2.1]:5', Errno.EINVAL, /endpoint/],
  ['endpoint=host.example:5', Errno.EINVAL, /endpoint/],
  ['endpoint=192.0.2.1:65536', Errno.EINVAL, /endpoint/],
  ['allowed_ip=10.0.0.1', Errno.EINVAL, /allowed_ip/],
  ['allowed_ip=10.0.0.0/33', Errno.EINVAL, /allowed_ip/],
  ['allowed_ip=010.0.0.0/8', Errno.EINVAL, /allowed_ip/],
  ['allowed_ip=10.0.0.0/08', Errno.EINVAL, /allowed_ip/],
  ['allowed_ip=fe80::1%eth0/64', Errno.EINVAL, /allowed_ip/],
  ['persistent_keepalive_interval=65536', Errno.EINVAL, /persistent_keepalive_interval/],
  ['preshared_key=zz', Errno.EINVAL, /preshared_key/],
  ['remove=yes', Errno.EINVAL, /remove: invalid value/],
  ['update_only=1', Errno.EINVAL, /update_only: invalid value/],
  ['replace_allowed_ips=false', Errno.EINVAL, /replace_allowed_ips: invalid value/],
  ['protocol_version=2', Errno.EINVAL, /invalid protocol version/],
  ['listen_port=1', Errno.EINVAL, /invalid UAPI peer key/], // device key after a peer
  ['last_handshake_time_sec=1', Errno.EINVAL, /invalid UAPI peer key/],
];

test('bad keys and values fail with the errno wireguard-go reports, keeping what came before', () => {
  for (const [line, errno, what] of BAD_LINES) {
    const parser = new UapiSetParser();
    parser.line('fwmark=7');
    assert.throws(
      () => parser.line(line),
      (e: unknown) => e instanceof UapiError && e.errno === errno && what.test(e.message),
      line,
    );
    assert.deepEqual(parser.ops, [{ kind: 'fwmark', fwmark: 7 }], `ops before ${line}`);
  }
  for (const [line, errno, what] of BAD_PEER_LINES) {
    const parser = new UapiSetParser();
    parser.line(`public_key=${K1}`);
    assert.throws(
      () => parser.line(line),
      (e: unknown) => e instanceof UapiError && e.errno === errno && what.test(e.message),
      line,
    );
    assert.equal(parser.ops.length, 1);
  }
});

test('numbers are read as Go strconv.ParseUint does: leading zeros fine, signs and spaces not', () => {
  assert.deepEqual(parseUapiSet('listen_port=051820\n'), [{ kind: 'listen_port', port: 51820 }]);
  assert.throws(() => parseUapiSet('listen_port=+1\n'), UapiError);
  assert.throws(() => parseUapiSet('listen_port= 1\n'), UapiError);
});

test('the errno trailer is negative, as wg(8) expects', () => {
  assert.equal(uapiStatus(0), 'errno=0\n\n');
  assert.equal(uapiStatus(Errno.EINVAL), 'errno=-22\n\n');
  assert.equal(uapiStatus(Errno.EADDRINUSE), 'errno=-98\n\n');
});

test('get=1 serializes byte for byte as wireguard-go does (golden answer captured from wireguard-go)', () => {
  // State built through wireguard-go 0.0.20220316 with: allowed_ip=10.1.2.3/8, 10.0.0.0/8, 1.2.3.4/32,
  // 10.0.0.0/8 (moves last), ::ffff:1.2.3.4/128, ::1.2.3.4/128; endpoint=[::ffff:1.2.3.4]:5.
  const golden = `listen_port=46799
public_key=${K1}
preshared_key=${'0'.repeat(64)}
protocol_version=1
endpoint=[::ffff:1.2.3.4]:5
last_handshake_time_sec=0
last_handshake_time_nsec=0
tx_bytes=0
rx_bytes=0
persistent_keepalive_interval=0
allowed_ip=1.2.3.4/32
allowed_ip=10.0.0.0/8
allowed_ip=::ffff:1.2.3.4/128
allowed_ip=::102:304/128
errno=0

`;
  const snapshot: DeviceSnapshot = {
    listenPort: 46799,
    fwmark: 0,
    peers: [
      {
        publicKey: keyFromHex(K1),
        endpoint: ep('[::ffff:1.2.3.4]:5'),
        lastHandshakeSec: 0,
        lastHandshakeNsec: 0,
        rxBytes: 0n,
        txBytes: 0n,
        persistentKeepalive: 0,
        allowedIPs: ['1.2.3.4/32', '10.0.0.0/8', '::ffff:1.2.3.4/128', '::1.2.3.4/128'].map(pfx),
      },
    ],
  };
  assert.equal([...serializeUapiGet(snapshot)].join('') + uapiStatus(0), golden);

  const full: DeviceSnapshot = {
    privateKey: keyFromHex(K2),
    listenPort: 51820,
    fwmark: 0x20,
    peers: [
      {
        publicKey: keyFromHex(K1),
        presharedKey: keyFromHex(K3),
        endpoint: ep('192.0.2.1:51820'),
        lastHandshakeSec: 1_700_000_000,
        lastHandshakeNsec: 123_456_789,
        rxBytes: 2n ** 40n,
        txBytes: 5,
        persistentKeepalive: 25,
        allowedIPs: [pfx('fd00::/64')],
      },
    ],
  };
  assert.equal(
    [...serializeUapiGet(full)].join(''),
    `private_key=${K2}
listen_port=51820
fwmark=32
public_key=${K1}
preshared_key=${K3}
protocol_version=1
endpoint=192.0.2.1:51820
last_handshake_time_sec=1700000000
last_handshake_time_nsec=123456789
tx_bytes=5
rx_bytes=1099511627776
persistent_keepalive_interval=25
allowed_ip=fd00::/64
`,
  );
  const back = parseUapiGet([...serializeUapiGet(full)].join('') + uapiStatus(0));
  assert.equal(back.errno, 0);
  assert.deepEqual(back.snapshot.privateKey, full.privateKey);
  const p = back.snapshot.peers[0]!;
  assert.equal(p.rxBytes, 2n ** 40n);
  assert.equal(p.lastHandshakeNsec, 123_456_789);
  assert.equal(formatEndpoint(p.endpoint!), '192.0.2.1:51820');
  assert.deepEqual(
    p.allowedIPs.map((a) => formatPrefix(a)),
    ['fd00::/64'],
  );
  assert.equal(parseUapiGet('errno=-22\n\n').errno, Errno.EINVAL);
});

test('prefixes mask as a routing table does; endpoints format as get prints them', () => {
  assert.equal(formatPrefix(maskPrefix(pfx('10.1.2.3/8'))), '10.0.0.0/8');
  assert.equal(formatPrefix(maskPrefix(pfx('10.1.255.3/17'))), '10.1.128.0/17');
  assert.equal(formatPrefix(maskPrefix(pfx('fd00:1:2:3:4:5:6:7/63'))), 'fd00:1:2:2::/63');
  assert.equal(formatPrefix(maskPrefix(pfx('1.2.3.4/0'))), '0.0.0.0/0');
  assert.equal(formatEndpoint(ep('[fe80::1%eth0]:51820')), '[fe80::1%eth0]:51820');
  assert.equal(formatEndpoint(ep('[2001:DB8:0:0::1]:1')), '[2001:db8::1]:1');
  assert.equal(formatEndpoint(ep('192.0.2.1:051820')), '192.0.2.1:51820');
});

function bigBody(peers: number, perPeer: number): string {
  const lines = ['set=1', `private_key=${K2}`, 'listen_port=51820', 'replace_peers=true'];
  for (let p = 0; p < peers; p++) {
    lines.push(`public_key=${(p + 1).toString(16).padStart(64, '0')}`, 'replace_allowed_ips=true');
    for (let i = 0; i < perPeer; i++) {
      const n = p * perPeer + i;
      lines.push(
        i % 2
          ? `allowed_ip=10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}/32`
          : `allowed_ip=fd00::${(n >> 16).toString(16)}:${(n & 0xffff).toString(16)}/128`,
      );
    }
  }
  return lines.join('\n') + '\n\n';
}

test('large requests parse and serialize fast: 130,000 prefixes on one peer, 40 peers × 52', () => {
  for (const [peers, perPeer, budgetMs] of [
    [1, 130_000, 2000],
    [40, 52, 200],
  ] as const) {
    const body = bigBody(peers, perPeer);
    const t0 = performance.now();
    const ops = parseUapiSet(body.slice('set=1\n'.length));
    const t1 = performance.now();
    const snapshot: DeviceSnapshot = {
      listenPort: 51820,
      fwmark: 0,
      peers: ops.flatMap((o) =>
        o.kind === 'peer'
          ? [
              {
                publicKey: o.publicKey,
                lastHandshakeSec: 0,
                lastHandshakeNsec: 0,
                rxBytes: 0,
                txBytes: 0,
                persistentKeepalive: 0,
                allowedIPs: o.allowedIPs.map((a) => a.prefix),
              },
            ]
          : [],
      ),
    };
    const text = [...serializeUapiGet(snapshot)].join('');
    const t2 = performance.now();
    assert.equal(ops.filter((o) => o.kind === 'peer').length, peers);
    assert.equal(text.split('\nallowed_ip=').length - 1, peers * perPeer);
    const back = parseUapiGet(text + uapiStatus(0));
    assert.equal(
      back.snapshot.peers.reduce((n, p) => n + p.allowedIPs.length, 0),
      peers * perPeer,
    );
    assert.ok(
      t1 - t0 < budgetMs && t2 - t1 < budgetMs,
      `${peers}×${perPeer}: parse ${(t1 - t0).toFixed(0)} ms, serialize ${(t2 - t1).toFixed(0)} ms`,
    );
  }
});

test('parse errors never quote key material: a private or preshared key on a bad line is described by its length', () => {
  const base64Key = Buffer.from(keyFromHex(K1)).toString('base64'); // what a user pastes from `wg genkey`
  const bad: Array<[string, boolean]> = [
    [base64Key, false], // a key pasted as a line: no '=' before its padding
    [`private_key=${base64Key}`, false], // base64 where hex is expected
    [`private_key=${K1.slice(0, 63)}`, false], // one hex digit short
    [`listen_port=${K1}`, false], // a key given to the wrong key
    [`preshared_key=${K2}x`, true],
  ];
  for (const [line, inPeer] of bad) {
    const parser = new UapiSetParser();
    if (inPeer) parser.line(`public_key=${K3}`);
    assert.throws(
      () => parser.line(line),
      (e: unknown) => {
        assert.ok(e instanceof UapiError, line);
        for (const secret of [base64Key, K1, K2, base64Key.slice(0, 20), K1.slice(0, 20), K2.slice(0, 20)]) {
          assert.ok(!e.message.includes(secret), `${JSON.stringify(e.message)} quotes key material`);
        }
        return true;
      },
    );
  }
  // Short harmless input is still quoted, so errors stay useful.
  assert.throws(() => new UapiSetParser().line('listen_port=abc'), /listen_port: not a port number: "abc"/);
});
