/**
 * Set semantics (update_only, replace_peers, replace_allowed_ips, remove,
 * allowed_ip=-prefix) applied through the parser to the in-memory device.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseUapiSet } from '../../src/daemon/uapi/protocol.js';
import { peerKey } from '../../src/daemon/config/device-config.js';
import { formatPrefix } from '../../src/packet/ip-prefix.js';
import { keyToHex } from '../../src/crypto/encoding.js';
import { MemoryDevice, publicKeyOf } from '../helpers/memory-device.js';

const A = 'a'.repeat(64),
  B = 'b'.repeat(64),
  C = 'c'.repeat(64);

function set(dev: MemoryDevice, ...lines: string[]): void {
  dev.applySet(parseUapiSet(lines.join('\n') + '\n\n'));
}

function allowed(dev: MemoryDevice, hex: string): string[] {
  const peer = dev.peers.get(hex);
  assert.ok(peer, `peer ${hex.slice(0, 4)} exists`);
  return [...peer.allowedIPs.values()].map((p) => formatPrefix(p));
}

test('a public_key block creates the peer; update_only never creates one but updates an existing one', () => {
  const dev = new MemoryDevice();
  set(dev, `public_key=${A}`, 'update_only=true', 'allowed_ip=10.0.0.1/32');
  assert.equal(dev.peers.size, 0, 'update_only on an unknown peer creates nothing');
  set(dev, `public_key=${A}`, 'allowed_ip=10.0.0.1/32');
  assert.equal(dev.peers.size, 1);
  set(dev, `public_key=${A}`, 'update_only=true', 'persistent_keepalive_interval=15', 'allowed_ip=10.0.0.2/32');
  assert.equal(dev.peers.get(A)!.persistentKeepalive, 15);
  assert.deepEqual(allowed(dev, A), ['10.0.0.1/32', '10.0.0.2/32']);
});

test('replace_peers removes every peer before the blocks that follow', () => {
  const dev = new MemoryDevice();
  set(dev, `public_key=${A}`, `public_key=${B}`, 'allowed_ip=10.0.0.2/32');
  assert.equal(dev.peers.size, 2);
  set(dev, 'replace_peers=true', `public_key=${C}`, 'allowed_ip=10.0.0.2/32');
  assert.deepEqual([...dev.peers.keys()], [C]);
  assert.deepEqual(allowed(dev, C), ['10.0.0.2/32']);
});

test('allowed IPs accumulate; replace_allowed_ips starts over; -prefix removes one', () => {
  const dev = new MemoryDevice();
  set(dev, `public_key=${A}`, 'allowed_ip=10.0.0.0/24', 'allowed_ip=fd00::/64');
  set(dev, `public_key=${A}`, 'allowed_ip=10.1.0.0/16');
  assert.deepEqual(allowed(dev, A), ['10.0.0.0/24', 'fd00::/64', '10.1.0.0/16']);
  set(dev, `public_key=${A}`, 'allowed_ip=-fd00::/64', 'allowed_ip=-192.168.0.0/16');
  assert.deepEqual(allowed(dev, A), ['10.0.0.0/24', '10.1.0.0/16']);
  set(dev, `public_key=${A}`, 'replace_allowed_ips=true', 'allowed_ip=172.16.0.0/12');
  assert.deepEqual(allowed(dev, A), ['172.16.0.0/12']);
  set(dev, `public_key=${A}`, 'replace_allowed_ips=true');
  assert.deepEqual(allowed(dev, A), []);
});

test('an allowed IP belongs to one peer: giving it to another moves it; removing it from a non-owner does nothing', () => {
  const dev = new MemoryDevice();
  set(dev, `public_key=${A}`, 'allowed_ip=10.0.0.1/32', 'allowed_ip=10.0.0.2/32');
  set(dev, `public_key=${B}`, 'allowed_ip=10.0.0.1/32');
  assert.deepEqual(allowed(dev, A), ['10.0.0.2/32']);
  assert.deepEqual(allowed(dev, B), ['10.0.0.1/32']);
  set(dev, `public_key=${A}`, 'allowed_ip=-10.0.0.1/32');
  assert.deepEqual(allowed(dev, B), ['10.0.0.1/32']);
  // host bits are cleared, and re-inserting moves a prefix last (wireguard-go's per-peer list)
  set(dev, `public_key=${A}`, 'allowed_ip=10.9.9.9/8', 'allowed_ip=10.0.0.2/32');
  assert.deepEqual(allowed(dev, A), ['10.0.0.0/8', '10.0.0.2/32']);
});

test('remove deletes the peer and its allowed IPs; the rest of its block has no effect', () => {
  const dev = new MemoryDevice();
  set(dev, `public_key=${A}`, 'allowed_ip=10.0.0.1/32', `public_key=${B}`);
  set(dev, `public_key=${A}`, 'remove=true', 'allowed_ip=10.0.0.9/32', 'persistent_keepalive_interval=5');
  assert.deepEqual([...dev.peers.keys()], [B]);
  set(dev, `public_key=${B}`, 'allowed_ip=10.0.0.1/32');
  assert.deepEqual(allowed(dev, B), ['10.0.0.1/32'], 'the removed peer no longer owned 10.0.0.1');
  set(dev, `public_key=${C}`, 'remove=true');
  assert.equal(dev.peers.size, 1, 'removing an unknown peer is not an error and creates nothing');
});

test('preshared key, endpoint and keepalive: set, overwritten, cleared with zeros / 0', () => {
  const dev = new MemoryDevice();
  set(dev, `public_key=${A}`, `preshared_key=${C}`, 'endpoint=192.0.2.1:1', 'endpoint=[2001:db8::2]:2', 'persistent_keepalive_interval=25');
  const p = dev.peers.get(A)!;
  assert.equal(keyToHex(p.presharedKey!), C);
  assert.equal(p.endpoint!.port, 2);
  set(dev, `public_key=${A}`, `preshared_key=${'0'.repeat(64)}`, 'persistent_keepalive_interval=0');
  assert.equal(dev.peers.get(A)!.presharedKey, undefined);
  assert.equal(dev.peers.get(A)!.persistentKeepalive, undefined, 'an interval of 0 is kept as unset, as an all-zero key is');
  assert.equal(dev.peers.get(A)!.endpoint!.port, 2, 'an endpoint is never cleared by a set');
});

test('the device ignores a peer with its own public key, and a new private key drops such a peer', () => {
  const dev = new MemoryDevice();
  const priv = new Uint8Array(32).fill(7);
  const own = keyToHex(publicKeyOf(priv));
  set(dev, `public_key=${own}`, `public_key=${A}`);
  assert.equal(dev.peers.size, 2);
  set(dev, `private_key=${keyToHex(priv)}`);
  assert.deepEqual([...dev.peers.keys()], [A]);
  set(dev, `public_key=${own}`, 'allowed_ip=10.0.0.1/32');
  assert.deepEqual([...dev.peers.keys()], [A]);
  assert.equal(peerKey(dev.publicKey!), own);
  set(dev, `private_key=${'0'.repeat(64)}`);
  assert.equal(dev.privateKey, undefined);
});
