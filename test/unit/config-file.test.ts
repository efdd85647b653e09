import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ConfigError,
  parseConfig,
  serializeConfig,
  setconfOps,
  syncconfOps,
  toDeviceConfig,
  resolveEndpoints,
  configFromSnapshot,
  type PeerSection,
} from '../../src/daemon/config/config-file.js';
import { peerKey, type UapiPeerOp } from '../../src/daemon/config/device-config.js';
import { formatPrefix } from '../../src/packet/ip-prefix.js';
import { keyFromBase64 } from '../../src/crypto/encoding.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PRIV = 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';
const PUB1 = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
const PUB2 = 'TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=';
const PSK = 'FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=';

const FULL = `# a comment line
[Interface]
privatekey = ${PRIV}   # trailing comment
ListenPort=51820
FWMARK = 0x1234
Address = 10.0.0.1/24, fd00::1/64
Address = 10.0.1.1
DNS = 1.1.1.1, 2606:4700::1111, example.org
MTU = 1380
Table = off
PreUp = echo pre-up %i
PostUp = iptables -A FORWARD -i %i -j ACCEPT; echo "a = b"
PostUp = echo second
PreDown = echo down
PostDown = echo post-down
SaveConfig = true

[Peer]
PublicKey = ${PUB1}
PresharedKey = ${PSK}
AllowedIPs = 10.0.0.2/32, fd00::2/128
AllowedIPs = 192.168.0.0/16
Endpoint = 192.0.2.1:51820
PersistentKeepalive = 25

[peer]
publickey = ${PUB2}
endpoint = [2001:db8::1]:51821
allowedips =
persistentkeepalive = off
`;

test('parses every wg(8) and wg-quick key, case-insensitively, with comments and lists', () => {
  const f = parseConfig(FULL, 'wg0.conf');
  const i = f.interface;
  assert.equal(i.line, 2);
  assert.deepEqual(i.privateKey, keyFromBase64(PRIV));
  assert.equal(i.listenPort, 51820);
  assert.equal(i.fwmark, 0x1234);
  assert.deepEqual(
    i.addresses.map((a) => formatPrefix(a)),
    ['10.0.0.1/24', 'fd00::1/64', '10.0.1.1/32'],
  );
  assert.deepEqual(i.dns, ['1.1.1.1', '2606:4700::1111']);
  assert.deepEqual(i.dnsSearch, ['example.org']);
  assert.equal(i.mtu, 1380);
  assert.equal(i.table, 'off');
  assert.deepEqual(i.preUp, ['echo pre-up %i']);
  assert.deepEqual(i.postUp, ['iptables -A FORWARD -i %i -j ACCEPT; echo "a = b"', 'echo second']);
  assert.deepEqual(i.preDown, ['echo down']);
  assert.deepEqual(i.postDown, ['echo post-down']);
  assert.equal(i.saveConfig, true);
  assert.equal(f.peers.length, 2);
  const [a, b] = f.peers;
  assert.equal(a!.line, 18);
  assert.deepEqual(a!.publicKey, keyFromBase64(PUB1));
  assert.deepEqual(a!.presharedKey, keyFromBase64(PSK));
  assert.deepEqual(
    a!.allowedIPs.map((p) => formatPrefix(p)),
    ['10.0.0.2/32', 'fd00::2/128', '192.168.0.0/16'],
  );
  assert.equal(a!.endpoint, '192.0.2.1:51820');
  assert.equal(a!.persistentKeepalive, 25);
  assert.equal(b!.endpoint, '[2001:db8::1]:51821');
  assert.deepEqual(b!.allowedIPs, []);
  assert.equal(b!.persistentKeepalive, 0);
});

test('the shipped conf/example.conf parses', () => {
  const f = parseConfig(readFileSync(path.join(root, 'conf', 'example.conf'), 'utf8'), 'example.conf');
  assert.equal(f.peers.length, 2);
  assert.equal(f.interface.listenPort, 51820);
  assert.equal(f.peers[1]!.persistentKeepalive, 25);
});

test('endpoints keep their text: IPv4, bracketed IPv6 and host names', () => {
  for (const ep of ['192.0.2.1:1', '[2001:db8::1]:65535', '[fe80::1%eth0]:51820', 'vpn.example.com:51820', 'localhost:0']) {
    const f = parseConfig(`[Peer]\nPublicKey = ${PUB1}\nEndpoint = ${ep}\n`, 'x.conf');
    assert.equal(f.peers[0]!.endpoint, ep);
  }
});

/** Each malformed line: [config text, line number of the error, what the message must say]. */
const MALFORMED: [string, number, RegExp][] = [
  [`[Interface]\nPrivateKey = notakey\n`, 2, /PrivateKey: `notakey` is not a valid key/],
  [`[Interface]\nPrivateKey = ${PRIV.slice(0, 42)}B=\n`, 2, /PrivateKey: .* is not a valid key/], // non-canonical last char
  [`[Interface]\nPrivateKey =\n`, 2, /PrivateKey: no key given/],
  [`[Interface]\nListenPort = 65536\n`, 2, /ListenPort: `65536` is not a port number 0-65535/],
  [`[Interface]\nListenPort = -1\n`, 2, /ListenPort: `-1` is not a port number/],
  [`[Interface]\nListenPort = 51820x\n`, 2, /ListenPort: `51820x`/],
  [`[Interface]\nFwMark = 0x100000000\n`, 2, /FwMark: `0x100000000` is neither off nor 0-0xffffffff/],
  [`[Interface]\nAddress = 10.0.0.1/33\n`, 2, /Address: `10.0.0.1\/33` is not an interface address/],
  [`[Interface]\nAddress = 10.0.0.256/24\n`, 2, /Address: `10.0.0.256\/24`/],
  [`[Interface]\nMTU = 40\n`, 2, /MTU: `40` is not an MTU 68-65535/],
  [`[Interface]\nTable = 1 2 3 x!\n`, 2, /Table: `1 2 3 x!` is not off, auto/],
  [`[Interface]\nSaveConfig = yes\n`, 2, /SaveConfig: `yes` is neither true nor false/],
  [`[Interface]\nDNS = 1.1.1.1, bad!name\n`, 2, /DNS: `bad!name` is neither an IP address nor a search domain/],
  [`[Interface]\nListenPort = 1\nListenPort = 2\n`, 3, /duplicate `ListenPort` \(already set on line 2\)/],
  [`[Interface]\nColour = blue\n`, 2, /unknown key `Colour` in \[Interface\]/],
  [`[Interface]\nPublicKey = ${PUB1}\n`, 2, /`PublicKey` belongs in \[Peer\], not \[Interface\]/],
  [`[Peer]\nPublicKey = ${PUB1}\nListenPort = 1\n`, 3, /`ListenPort` belongs in \[Interface\], not \[Peer\]/],
  [`ListenPort = 1\n[Interface]\n`, 1, /`ListenPort` is outside any section/],
  [`[Interface]\n[Peers]\n`, 2, /unknown section \[Peers\]/],
  [`[Interface]\nthis line has no equals sign\n`, 2, /expected "Key = Value"/],
  [`[Interface]\n\n[Interface]\n`, 3, /second \[Interface\] section \(the first is on line 1\)/],
  [`[Interface]\n\n[Peer]\nEndpoint = 192.0.2.1:1\n`, 3, /\[Peer\] has no PublicKey/],
  [`[Peer]\nPublicKey = ${PUB1}\nPublicKey = ${PUB2}\n`, 3, /duplicate `PublicKey`/],
  [`[Peer]\nPublicKey = ${PUB1}\nPresharedKey = short=\n`, 3, /PresharedKey: `short=` is not a valid key/],
  [`[Peer]\nPublicKey = ${PUB1}\nAllowedIPs = 10.0.0.0/8, 10.1.0.0/40\n`, 3, /AllowedIPs: `10.1.0.0\/40` is not an IP prefix/],
  [`[Peer]\nPublicKey = ${PUB1}\nAllowedIPs = fd00::/129\n`, 3, /AllowedIPs: `fd00::\/129`/],
  [`[Peer]\nPublicKey = ${PUB1}\nAllowedIPs = 300.1.1.1/32\n`, 3, /AllowedIPs: `300.1.1.1\/32`/],
  [`[Peer]\nPublicKey = ${PUB1}\nEndpoint = 192.0.2.1\n`, 3, /Endpoint: `192.0.2.1` has no port/],
  [`[Peer]\nPublicKey = ${PUB1}\nEndpoint = 192.0.2.1:70000\n`, 3, /Endpoint: `70000` in `192.0.2.1:70000` is not a port number/],
  [`[Peer]\nPublicKey = ${PUB1}\nEndpoint = 2001:db8::1:51820\n`, 3, /Endpoint: .* an IPv6 endpoint needs brackets/],
  [`[Peer]\nPublicKey = ${PUB1}\nEndpoint = [192.0.2.1]:5\n`, 3, /Endpoint: `192.0.2.1` in brackets is not an IPv6 address/],
  [`[Peer]\nPublicKey = ${PUB1}\nEndpoint = [2001:db8::1]\n`, 3, /Endpoint: .* has no port/],
  [`[Peer]\nPublicKey = ${PUB1}\nPersistentKeepalive = 65536\n`, 3, /PersistentKeepalive: `65536` is not off or 0-65535 seconds/],
  [`[Peer]\nPublicKey = ${PUB1}\nPersistentKeepalive = 1\nPersistentKeepalive = 2\n`, 4, /duplicate `PersistentKeepalive`/],
];

test('each malformed line gives its own message naming the file and the line', () => {
  const messages = new Set<string>();
  for (const [text, line, what] of MALFORMED) {
    let err: unknown;
    try {
      parseConfig(text, '/etc/wireguard/wg9.conf');
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError, `expected a ConfigError for ${JSON.stringify(text)}`);
    assert.equal(err.line, line, `line number for ${JSON.stringify(text)}: ${err.message}`);
    assert.equal(err.file, '/etc/wireguard/wg9.conf');
    assert.ok(err.message.startsWith(`/etc/wireguard/wg9.conf:${line}: `), err.message);
    assert.match(err.message, what);
    messages.add(err.problem);
  }
  assert.equal(messages.size, MALFORMED.length, 'every case has a distinct message');
});

test('CRLF line ends and a byte-order mark are accepted', () => {
  const f = parseConfig(`\ufeff[Interface]\r\nPrivateKey = ${PRIV}\r\n[ Peer ]\r\nPublicKey = ${PUB1}\r\n`, 'win.conf');
  assert.equal(f.peers.length, 1);
  assert.deepEqual(f.interface.privateKey, keyFromBase64(PRIV));
});

test('the setconf dialect refuses wg-quick keys and accepts wg(8) keys', () => {
  assert.throws(() => parseConfig(`[Interface]\nAddress = 10.0.0.1/24\n`, 's.conf', 'setconf'), /s\.conf:2: `Address` is a wg-quick key/);
  const f = parseConfig(`[Interface]\nPrivateKey = ${PRIV}\n[Peer]\nPublicKey = ${PUB1}\n`, 's.conf', 'setconf');
  assert.equal(f.peers.length, 1);
});

test('parse → serialize → parse is the identity (both dialects)', () => {
  const first = parseConfig(FULL, 'wg0.conf');
  const text = serializeConfig(first);
  const second = parseConfig(text, 'wg0.conf');
  assert.deepEqual({ ...second.interface, line: 0 }, { ...first.interface, line: 0 });
  // PersistentKeepalive = off is written as no line at all (as wg showconf does): absent ≡ 0.
  const norm = (p: PeerSection) => ({ ...p, line: 0, endpointLine: 0, persistentKeepalive: p.persistentKeepalive ?? 0 });
  assert.deepEqual(second.peers.map(norm), first.peers.map(norm));
  // The setconf form carries only wg(8) keys and parses in the strict dialect.
  const wgOnly = serializeConfig(first, 'setconf');
  assert.doesNotMatch(wgOnly, /Address|DNS|MTU|Table|PostUp|SaveConfig/);
  const third = parseConfig(wgOnly, 'wg0.conf', 'setconf');
  assert.deepEqual(third.interface.privateKey, first.interface.privateKey);
  assert.equal(third.peers.length, 2);
  assert.equal(serializeConfig(third, 'setconf'), wgOnly);
});

test('serialize in setconf form follows wg showconf layout', () => {
  const f = parseConfig(
    `[Interface]\nPrivateKey = ${PRIV}\nListenPort = 51820\nFwMark = 4660\n\n[Peer]\nPublicKey = ${PUB1}\nAllowedIPs = 10.0.0.2/32, ::ffff:10.0.0.3/128\nEndpoint = 192.0.2.1:5\nPersistentKeepalive = 25\n`,
    'x',
  );
  assert.equal(
    serializeConfig(f, 'setconf'),
    `[Interface]\nListenPort = 51820\nFwMark = 0x1234\nPrivateKey = ${PRIV}\n\n[Peer]\nPublicKey = ${PUB1}\nAllowedIPs = 10.0.0.2/32, ::ffff:10.0.0.3/128\nEndpoint = 192.0.2.1:5\nPersistentKeepalive = 25\n`,
  );
});

test('large files parse fast: one peer with 130,000 allowed IPs', () => {
  const prefixes: string[] = [];
  for (let i = 0; i < 130_000; i++) prefixes.push(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`);
  const text = `[Interface]\nPrivateKey = ${PRIV}\n[Peer]\nPublicKey = ${PUB1}\nAllowedIPs = ${prefixes.join(', ')}\n`;
  const t0 = performance.now();
  const f = parseConfig(text, 'big.conf');
  const out = serializeConfig(f, 'setconf');
  const ms = performance.now() - t0;
  assert.equal(f.peers[0]!.allowedIPs.length, 130_000);
  assert.equal(formatPrefix(f.peers[0]!.allowedIPs[129_999]!), prefixes[129_999]);
  assert.ok(out.includes(prefixes[65_432]!));
  assert.ok(ms < 3000, `parse+serialize took ${ms.toFixed(0)} ms`);
});

test('toDeviceConfig, setconfOps and syncconfOps describe what wg setconf/syncconf send', async () => {
  const f = parseConfig(FULL, 'wg0.conf');
  const resolved = await resolveEndpoints(f);
  const config = toDeviceConfig(f, resolved);
  assert.equal(config.listenPort, 51820);
  assert.equal(config.peers.size, 2);
  const ops = setconfOps(config);
  assert.deepEqual(
    ops.slice(0, 4).map((o) => o.kind),
    ['private_key', 'listen_port', 'fwmark', 'replace_peers'],
  );
  const peerOps = ops.filter((o): o is UapiPeerOp => o.kind === 'peer');
  assert.equal(peerOps.length, 2);
  assert.ok(peerOps.every((p) => p.replaceAllowedIPs && !p.remove));
  assert.equal(peerOps[0]!.allowedIPs.length, 3);

  // syncconf: a peer that is gone is removed, the rest updated in place, no replace_peers.
  const current = {
    privateKey: config.privateKey!,
    listenPort: 51820,
    fwmark: 0x1234,
    peers: [
      {
        publicKey: keyFromBase64(PUB1),
        lastHandshakeSec: 0,
        lastHandshakeNsec: 0,
        rxBytes: 0,
        txBytes: 0,
        persistentKeepalive: 0,
        allowedIPs: [],
      },
      {
        publicKey: keyFromBase64(PSK),
        lastHandshakeSec: 0,
        lastHandshakeNsec: 0,
        rxBytes: 0,
        txBytes: 0,
        persistentKeepalive: 0,
        allowedIPs: [],
      },
    ],
  };
  const sync = syncconfOps(current, config);
  assert.ok(!sync.some((o) => o.kind === 'replace_peers' || o.kind === 'listen_port' || o.kind === 'private_key'));
  const removed = sync.filter((o): o is UapiPeerOp => o.kind === 'peer' && o.remove);
  assert.deepEqual(
    removed.map((o) => peerKey(o.publicKey)),
    [peerKey(keyFromBase64(PSK))],
  );

  // showconf of a snapshot parses back to the same peers.
  const shown = configFromSnapshot({ ...current, peers: current.peers.slice(0, 1) });
  assert.match(serializeConfig(shown, 'setconf'), new RegExp(`PublicKey = ${PUB1.replace(/[+/]/g, '\\$&')}`));
});

test('a host-name endpoint must be resolved before it reaches the device', async () => {
  const f = parseConfig(`[Peer]\nPublicKey = ${PUB1}\nEndpoint = localhost:51820\n`, 'h.conf');
  assert.throws(() => toDeviceConfig(f), /h\.conf:3: Endpoint: `localhost:51820` is a host name that was not resolved/);
  const resolved = await resolveEndpoints(f);
  const ep = resolved.get(f.peers[0]!);
  assert.equal(ep?.port, 51820);
  const bad = parseConfig(`[Peer]\nPublicKey = ${PUB1}\nEndpoint = no-such-host.invalid:51820\n`, 'h.conf');
  await assert.rejects(resolveEndpoints(bad), /h\.conf:3: Endpoint: cannot resolve `no-such-host\.invalid`/);
});
