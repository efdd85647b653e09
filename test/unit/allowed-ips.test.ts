/**
 * Allowed IPs (whitepaper §2): fixed cases, the 130,000-prefix scale
 * requirement, and a comparison with the naive linear-scan reference on
 * 120,000 seeded random operations. Prefix text: test/unit/ip-prefix.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AllowedIps, AllowedIpsError } from '../../src/protocol/allowed-ips.js';
import { formatPrefix, parsePrefix, type IpFamily, type IpPrefix } from '../../src/packet/ip-prefix.js';
import { NaiveAllowedIps } from '../helpers/naive-allowed-ips.js';
import { SeededPrng } from '../helpers/seeded-prng.js';

/** A prefix the test writes as text ("10.0.0.0/24", or a bare address for a host prefix). */
function prefix(text: string): IpPrefix {
  const p = parsePrefix(text, 'wg-config');
  if (!p) throw new Error(`test prefix ${text} does not parse`);
  return p;
}

function insertText<P>(table: AllowedIps<P>, text: string, peer: P): void {
  const p = prefix(text);
  table.insert(p.family, p.address, p.bits, peer);
}

const formatIpPrefix = (p: IpPrefix): string => formatPrefix(p);

function look<P>(table: AllowedIps<P>, ip: string): P | undefined {
  const bytes = prefix(ip).address;
  // Place the address at an offset inside a larger buffer, as a worker does with a packet.
  const packet = new Uint8Array(64);
  packet.set(bytes, 20);
  return table.lookup(bytes.length === 4 ? 4 : 6, packet, 20);
}

test('allowed-ips: longest prefix wins, IPv4 and IPv6', () => {
  const t = new AllowedIps<string>();
  insertText(t, '192.168.4.0/24', 'a');
  insertText(t, '192.168.4.4/32', 'b');
  insertText(t, '192.168.0.0/16', 'c');
  insertText(t, '192.95.5.64/27', 'd');
  insertText(t, '0.0.0.0/0', 'default');
  insertText(t, '2607:5300:60:6b0::c05f:543/128', 'e');
  insertText(t, '2607:5300:60:6b0::/64', 'f');
  insertText(t, '2001:db8::/32', 'g');
  insertText(t, '::/0', 'default6');
  assert.equal(look(t, '192.168.4.20'), 'a');
  assert.equal(look(t, '192.168.4.4'), 'b');
  assert.equal(look(t, '192.168.200.182'), 'c');
  assert.equal(look(t, '192.95.5.68'), 'd');
  assert.equal(look(t, '192.95.5.96'), 'default');
  assert.equal(look(t, '8.8.8.8'), 'default');
  assert.equal(look(t, '2607:5300:60:6b0::c05f:543'), 'e');
  assert.equal(look(t, '2607:5300:60:6b0::c05f:544'), 'f');
  assert.equal(look(t, '2001:db8:ffff::1'), 'g');
  assert.equal(look(t, '2001:db9::1'), 'default6');
  assert.equal(t.size, 9);
});

test('allowed-ips: no match without a covering prefix; families are separate', () => {
  const t = new AllowedIps<string>();
  insertText(t, '10.0.0.0/8', 'a');
  assert.equal(look(t, '11.0.0.1'), undefined);
  assert.equal(look(t, '::a00:1'), undefined);
  insertText(t, '::/0', 'six');
  assert.equal(look(t, '11.0.0.1'), undefined);
});

test('allowed-ips: host bits are masked on insert, as wg does', () => {
  const t = new AllowedIps<string>();
  insertText(t, '10.1.2.7/24', 'a');
  insertText(t, 'fd00::1234/16', 'a');
  assert.deepEqual(t.listByPeer('a').map(formatIpPrefix), ['10.1.2.0/24', 'fd00::/16']);
  assert.equal(look(t, '10.1.2.200'), 'a');
  // The same prefix written with other host bits is the same entry.
  insertText(t, '10.1.2.9/24', 'b');
  assert.deepEqual(t.listByPeer('a').map(formatIpPrefix), ['fd00::/16']);
  assert.deepEqual(t.listByPeer('b').map(formatIpPrefix), ['10.1.2.0/24']);
  assert.equal(t.size, 2);
});

test('allowed-ips: remove, remove only if owner, and removeByPeer fall back to shorter prefixes', () => {
  const t = new AllowedIps<string>();
  insertText(t, '10.0.0.0/8', 'a');
  insertText(t, '10.1.0.0/16', 'b');
  insertText(t, '10.1.1.0/24', 'a');
  insertText(t, '10.1.1.1/32', 'b');
  assert.equal(look(t, '10.1.1.1'), 'b');
  const p = prefix('10.1.1.1/32');
  assert.equal(t.remove(p.family, p.address, p.bits, 'a'), false, 'a does not own 10.1.1.1/32');
  assert.equal(t.remove(p.family, p.address, p.bits, 'b'), true);
  assert.equal(look(t, '10.1.1.1'), 'a');
  assert.equal(t.removeByPeer('a'), 2);
  assert.equal(look(t, '10.1.1.1'), 'b');
  assert.equal(look(t, '10.2.0.0'), undefined);
  assert.deepEqual(t.listByPeer('a'), []);
  assert.equal(t.removeByPeer('a'), 0);
  const q = prefix('10.1.0.0/16');
  assert.equal(t.remove(q.family, q.address, q.bits), true);
  assert.equal(t.remove(q.family, q.address, q.bits), false);
  assert.equal(t.size, 0);
  assert.equal(look(t, '10.1.1.1'), undefined);
});

test('allowed-ips: an intermediate prefix can be inserted and removed around existing ones', () => {
  const t = new AllowedIps<string>();
  insertText(t, '10.0.0.0/24', 'x');
  insertText(t, '10.0.1.0/24', 'y'); // forces a joining node at /23
  insertText(t, '10.0.0.0/23', 'z'); // becomes exactly that joining node
  assert.equal(look(t, '10.0.1.5'), 'y');
  t.removeByPeer('y');
  assert.equal(look(t, '10.0.1.5'), 'z');
  t.removeByPeer('z');
  assert.equal(look(t, '10.0.1.5'), undefined);
  assert.equal(look(t, '10.0.0.5'), 'x');
});

test('allowed-ips: control-path errors say what was wrong', () => {
  const t = new AllowedIps<string>();
  assert.throws(() => t.insert(4, new Uint8Array(16), 8, 'a'), AllowedIpsError);
  assert.throws(() => t.insert(4, new Uint8Array(4), 33, 'a'), /prefix length must be 0..32/);
  assert.throws(() => t.insert(6, new Uint8Array(16), -1, 'a'), AllowedIpsError);
});

test('allowed-ips: 130,000 prefixes for one peer are set, listed and removed fast', () => {
  const t = new AllowedIps<object>();
  const peer = {};
  const rng = new SeededPrng(130_000);
  const address = new Uint8Array(16);
  const started = performance.now();
  for (let i = 0; i < 65_000; i++) {
    // Distinct /32s in 10.0.0.0/8 and distinct /128s in fd00::/8.
    t.insert(4, Uint8Array.of(10, (i >>> 16) & 0xff, (i >>> 8) & 0xff, i & 0xff), 32, peer);
    rng.fill(address);
    address[0] = 0xfd;
    address[1] = i >>> 8;
    address[2] = i & 0xff;
    t.insert(6, address, 128, peer);
  }
  const inserted = performance.now();
  const listed = t.listByPeer(peer);
  const listTime = performance.now();
  assert.equal(listed.length, 130_000);
  assert.equal(t.size, 130_000);
  assert.equal(t.lookupV4(Uint8Array.of(10, 0, 250, 0), 0), peer);
  assert.equal(t.removeByPeer(peer), 130_000);
  const removed = performance.now();
  assert.equal(t.size, 0);
  const insertMs = inserted - started;
  const listMs = listTime - inserted;
  const removeMs = removed - listTime;
  console.log(`130k prefixes: insert ${insertMs.toFixed(0)} ms, list ${listMs.toFixed(0)} ms, removeByPeer ${removeMs.toFixed(0)} ms`);
  assert.ok(insertMs < 2000 && listMs < 1000 && removeMs < 1000, `too slow: ${insertMs} / ${listMs} / ${removeMs} ms`);
});

test('allowed-ips: matches the naive reference on 120,000 seeded operations', () => {
  const rng = new SeededPrng(0xa11_0ed);
  const fast = new AllowedIps<number>();
  const naive = new NaiveAllowedIps<number>();
  const PEERS = 6;
  // A small universe of base addresses so prefixes nest, overlap and repeat.
  const bases: Record<IpFamily, Uint8Array[]> = { 4: [], 6: [] };
  for (let i = 0; i < 24; i++) {
    bases[4].push(rng.fill(new Uint8Array(4)));
    bases[6].push(rng.fill(new Uint8Array(16)));
  }
  const near = (family: IpFamily): Uint8Array => {
    const a = Uint8Array.from(bases[family][rng.below(24)]!);
    // Flip a few random bits, mostly low ones, so addresses share long prefixes.
    for (let k = rng.below(3); k > 0; k--) {
      const bit = a.length * 8 - 1 - Math.min(a.length * 8 - 1, Math.floor(-Math.log(1 - rng.next()) * 6));
      a[bit >> 3]! ^= 0x80 >> (bit & 7);
    }
    return a;
  };
  const cidrFor = (family: IpFamily): number => {
    const max = family === 4 ? 32 : 128;
    const r = rng.below(10);
    return r < 3 ? max : r < 4 ? rng.below(9) : rng.below(max + 1);
  };
  let hits = 0;
  let ops = 0;
  for (; ops < 120_000; ops++) {
    const family: IpFamily = rng.below(2) === 0 ? 4 : 6;
    const r = rng.below(100);
    if (r < 35) {
      const a = near(family);
      const cidr = cidrFor(family);
      const peer = rng.below(PEERS);
      fast.insert(family, a, cidr, peer);
      naive.insert(family, a, cidr, peer);
    } else if (r < 50) {
      const a = near(family);
      const cidr = cidrFor(family);
      const owner = rng.below(2) === 0 ? undefined : rng.below(PEERS);
      assert.equal(fast.remove(family, a, cidr, owner), naive.remove(family, a, cidr, owner), `op ${ops}: remove`);
    } else if (r < 51) {
      const peer = rng.below(PEERS);
      assert.equal(fast.removeByPeer(peer), naive.removeByPeer(peer), `op ${ops}: removeByPeer`);
    } else {
      const a = rng.below(4) === 0 ? rng.fill(new Uint8Array(family === 4 ? 4 : 16)) : near(family);
      const buffer = new Uint8Array(a.length + 7);
      buffer.set(a, 7);
      const expected = naive.lookup(family, buffer, 7);
      const got = fast.lookup(family, buffer, 7);
      if (got !== expected) assert.fail(`op ${ops}: lookup of IPv${family} ${Array.from(a)} gave ${got}, reference ${expected}`);
      if (expected !== undefined) hits++;
    }
    if (ops % 2000 === 0) {
      assert.equal(fast.size, naive.size, `op ${ops}: size`);
      for (let p = 0; p < PEERS; p++) {
        const mine = fast.listByPeer(p).map(formatIpPrefix).sort();
        const theirs = naive.listByPeer(p).map(formatIpPrefix).sort();
        assert.deepEqual(mine, theirs, `op ${ops}: listByPeer(${p})`);
      }
    }
  }
  assert.ok(hits > 10_000, `only ${hits} lookups matched anything: the input is not exercising the trie`);
  assert.ok(naive.size > 50, `table ended with ${naive.size} entries`);
});
