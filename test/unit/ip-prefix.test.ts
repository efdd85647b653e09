/**
 * IP address and prefix text (src/packet/ip-prefix.ts): what wireguard-go's
 * UAPI (Go net/netip) and wg(8)'s config syntax accept and refuse, and
 * RFC 5952 formatting checked against the WHATWG URL serializer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { formatIPv6, formatPrefix, maskPrefix, parseIPv4, parseIPv6, parsePrefix, type PrefixSyntax } from '../../src/packet/ip-prefix.js';

test('IPv4 text is parsed as strictly as Go netip', () => {
  assert.deepEqual(parseIPv4('0.0.0.0'), new Uint8Array(4));
  assert.deepEqual(parseIPv4('255.1.10.100'), new Uint8Array([255, 1, 10, 100]));
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1..2.3', '1.2.3.4 ', '-1.2.3.4', 'a.b.c.d']) {
    assert.equal(parseIPv4(bad), null, bad);
  }
});

test('IPv6 parse and RFC 5952 format agree with the WHATWG URL serializer on random addresses', () => {
  for (let i = 0; i < 5000; i++) {
    const a = new Uint8Array(randomBytes(16));
    // Zero out random runs of groups so '::' compression gets exercised.
    const start = (i * 7) % 8,
      len = i % 9;
    a.fill(0, start * 2, Math.min(16, (start + len) * 2));
    if (i % 11 === 0) (a.fill(0, 0, 10), (a[10] = 0xff), (a[11] = 0xff)); // v4-mapped
    const text = formatIPv6(a);
    assert.ok(isIPv6(text), text);
    assert.deepEqual(parseIPv6(text), a, text);
    const reference = new URL(`http://[${text}]/`).hostname.slice(1, -1);
    const mapped = a.subarray(0, 10).every((b) => b === 0) && a[10] === 0xff && a[11] === 0xff;
    if (!mapped) assert.equal(text, reference);
    else assert.deepEqual(parseIPv6(reference), a);
  }
  for (const bad of [
    '',
    ':',
    ':::',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    '12345::',
    '1:2:3:4:5:6:7:8::',
    '::ffff:1.2.3',
    'g::',
    '1:2:3:4:5:6:1.2.3.4:1',
  ]) {
    assert.equal(parseIPv6(bad), null, bad);
  }
  assert.equal(formatIPv6(parseIPv6('::1.2.3.4')!, 'go'), '::102:304');
  assert.equal(formatIPv6(parseIPv6('::1.2.3.4')!, 'libc'), '::1.2.3.4');
  assert.equal(formatIPv6(parseIPv6('1:0:0:1:0:0:0:1')!), '1:0:0:1::1');
  assert.equal(formatIPv6(parseIPv6('1:0:0:1:1:0:0:1')!), '1::1:1:0:0:1');
  assert.equal(formatIPv6(parseIPv6('1:2:3:4:5:6:7::')!), '1:2:3:4:5:6:7:0');
});

/** The prefix as text, or null when `syntax` refuses it. */
function read(text: string, syntax: PrefixSyntax): string | null {
  const p = parsePrefix(text, syntax);
  return p && formatPrefix(p);
}

test('prefix: host bits are kept as given (the table masks them), and maskPrefix clears them', () => {
  for (const syntax of ['uapi', 'wg-config'] as const) {
    assert.equal(read('10.1.2.3/8', syntax), '10.1.2.3/8', syntax);
    assert.equal(read('fd00::1/64', syntax), 'fd00::1/64', syntax);
  }
  assert.equal(formatPrefix(maskPrefix(parsePrefix('10.1.2.3/8')!)), '10.0.0.0/8');
  assert.equal(formatPrefix(maskPrefix(parsePrefix('fd00::1/64')!)), 'fd00::/64');
});

test('prefix: the length is at most 32 (IPv4) or 128 (IPv6)', () => {
  for (const syntax of ['uapi', 'wg-config'] as const) {
    assert.equal(read('10.0.0.0/32', syntax), '10.0.0.0/32');
    assert.equal(read('10.0.0.0/33', syntax), null, `/33 ${syntax}`);
    assert.equal(read('::/128', syntax), '::/128');
    assert.equal(read('::/129', syntax), null, `/129 ${syntax}`);
    assert.equal(read('10.0.0.0/-1', syntax), null);
    assert.equal(read('10.0.0.0/', syntax), null);
    assert.equal(read('10.0.0.0/1000', syntax), null);
  }
});

test('prefix: ::ffff:a.b.c.d stays an IPv6 prefix, printed as wireguard-go prints it', () => {
  for (const syntax of ['uapi', 'wg-config'] as const) {
    const p = parsePrefix('::ffff:192.0.2.1/128', syntax)!;
    assert.equal(p.family, 6);
    assert.equal(p.address.length, 16);
    assert.equal(formatPrefix(p), '::ffff:192.0.2.1/128');
    assert.equal(read('::ffff:192.0.2.1/129', syntax), null);
    assert.equal(read('::ffff:192.0.2.256/128', syntax), null);
  }
});

test('prefix: leading zeros: never in IPv4 octets; in the length only in wg(8) syntax', () => {
  for (const syntax of ['uapi', 'wg-config'] as const) {
    assert.equal(read('010.0.0.0/8', syntax), null, syntax);
    assert.equal(read('10.0.0.01/32', syntax), null, syntax);
    // IPv6 groups are up to four hex digits, zeros included.
    assert.equal(read('0fd0:0000::0001/128', syntax), 'fd0::1/128');
    assert.equal(read('00fd0::/16', syntax), null);
  }
  // Go's netip refuses "/024"; wg(8) reads the length with strtoul.
  assert.equal(read('10.0.0.0/024', 'uapi'), null);
  assert.equal(read('10.0.0.0/024', 'wg-config'), '10.0.0.0/24');
  assert.equal(read('10.0.0.0/00', 'wg-config'), '10.0.0.0/0');
  assert.equal(read('10.0.0.0/0024', 'wg-config'), null);
});

test('prefix: a bare address is a host prefix in wg(8) syntax only', () => {
  assert.equal(read('10.0.0.1', 'uapi'), null);
  assert.equal(read('fd00::1', 'uapi'), null);
  assert.equal(read('10.0.0.1', 'wg-config'), '10.0.0.1/32');
  assert.equal(read('fd00::1', 'wg-config'), 'fd00::1/128');
});

test('prefix: no whitespace, zone, or other junk anywhere (callers trim list items)', () => {
  for (const syntax of ['uapi', 'wg-config'] as const) {
    for (const bad of [
      ' 10.0.0.0/8',
      '10.0.0.0/8 ',
      '10.0.0.0 /8',
      '10.0.0.0/ 8',
      '10.0.0.0/8\n',
      '\t::/0',
      'fe80::1%eth0/64',
      '10.0.0/8',
      '10.0.0.256/32',
      '1::2::3/64',
      'g::1/64',
      '1:2:3:4:5:6:7:8:9/128',
      '10.0.0.0/8/8',
      '/8',
      '',
      '10.0.0.0/0x8',
    ]) {
      assert.equal(read(bad, syntax), null, `${JSON.stringify(bad)} ${syntax}`);
    }
  }
});

test('prefix: parse and format round trip (RFC 5952 compression)', () => {
  const cases: [string, string][] = [
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['::/0', '::/0'],
    ['2001:DB8:0:0:0:0:0:1/64', '2001:db8::1/64'],
    ['2001:db8:0:1:1:1:1:1/128', '2001:db8:0:1:1:1:1:1/128'],
    ['2001:0:0:1:0:0:0:1/128', '2001:0:0:1::1/128'],
    ['fe80::/10', 'fe80::/10'],
  ];
  for (const [input, expected] of cases) assert.equal(read(input, 'uapi'), expected, input);
});
