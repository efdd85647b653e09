/**
 * The `get=1` answer of the real device (src/daemon/device/device.ts, no
 * workers), as the UAPI server makes it: the device's capture
 * (captureForGet, get-capture.ts) through the Buffer serializer
 * (serializeUapiGet, text-chunks.ts), held byte for byte to a naive
 * reference: the string serializer the daemon used before, run on the
 * device's getSnapshot. The peers vary in everything get prints. Also: the
 * byte-level IPv6 and number formatting against src/packet/ip-prefix.ts and
 * String() on seeded random input, and a snapshot that stays as it was while
 * the device changes under an answer still being written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serializeUapiGet } from '../../src/daemon/uapi/protocol.js';
import { TextChunks } from '../../src/daemon/uapi/text-chunks.js';
import { type DeviceSnapshot, type PeerSnapshot } from '../../src/daemon/config/device-config.js';
import { PEER_SETTING_LIST, type AnyPeerSetting } from '../../src/daemon/config/peer-settings.js';
import { formatIPv6, formatPrefix } from '../../src/packet/ip-prefix.js';
import { keyToHex } from '../../src/crypto/encoding.js';
import { PeerCounterSlab, PEER_SLOT_FIELDS, PEER_SLOT_WIDTH } from '../../src/datapath/peer-counters.js';
import { DeviceHarness } from '../helpers/device-harness.js';

// ---------------------------------------------------------------- the naive reference

const REF_AFTER = {
  public_key: PEER_SETTING_LIST.filter((s) => s.uapi.getAfter === 'public_key'),
  protocol_version: PEER_SETTING_LIST.filter((s) => s.uapi.getAfter === 'protocol_version'),
  rx_bytes: PEER_SETTING_LIST.filter((s) => s.uapi.getAfter === 'rx_bytes'),
};

function refLines(settings: readonly AnyPeerSetting[], p: PeerSnapshot): string {
  let out = '';
  for (const s of settings) {
    const value = p[s.name];
    if (value !== undefined && !s.isUnset(value)) out += `${s.uapi.key}=${s.uapi.format(value)}\n`;
    else if (s.uapi.getUnset !== null) out += `${s.uapi.key}=${s.uapi.getUnset}\n`;
  }
  return out;
}

/** The get body as the daemon wrote it before the Buffer serializer: strings, line by line. */
function referenceGet(s: DeviceSnapshot): string {
  let buf = '';
  if (s.privateKey && s.privateKey.some((b) => b !== 0)) buf += `private_key=${keyToHex(s.privateKey)}\n`;
  if (s.listenPort !== 0) buf += `listen_port=${s.listenPort}\n`;
  if (s.fwmark !== 0) buf += `fwmark=${s.fwmark}\n`;
  for (const p of s.peers) {
    buf += `public_key=${keyToHex(p.publicKey)}\n`;
    buf += refLines(REF_AFTER.public_key, p);
    buf += 'protocol_version=1\n';
    buf += refLines(REF_AFTER.protocol_version, p);
    buf += `last_handshake_time_sec=${p.lastHandshakeSec}\nlast_handshake_time_nsec=${p.lastHandshakeNsec}\n`;
    buf += `tx_bytes=${p.txBytes}\nrx_bytes=${p.rxBytes}\n`;
    buf += refLines(REF_AFTER.rx_bytes, p);
    for (const a of p.allowedIPs) buf += `allowed_ip=${formatPrefix(a)}\n`;
  }
  return buf;
}

/** serializeUapiGet's chunks as one latin1 string. */
function serialized(s: DeviceSnapshot, chunkSize?: number): string {
  return Buffer.concat([...serializeUapiGet(s, chunkSize)]).toString('latin1');
}

// ---------------------------------------------------------------- a device with varied peers

/** A seeded generator (xorshift32), so a failure reproduces. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const hex = (bytes: number, rand: () => number): string =>
  Array.from({ length: bytes }, () =>
    Math.floor(rand() * 256)
      .toString(16)
      .padStart(2, '0'),
  ).join('');

/** IPv6 words with runs of zeros (so '::' lands everywhere), or the v4-mapped and v4-compatible forms. */
function ipv6Bytes(rand: () => number): Uint8Array {
  const a = new Uint8Array(16);
  const kind = rand();
  if (kind < 0.1) {
    a[10] = 0xff;
    a[11] = 0xff;
    for (let i = 12; i < 16; i++) a[i] = Math.floor(rand() * 256);
    return a;
  }
  if (kind < 0.15) {
    for (let i = 12; i < 16; i++) a[i] = Math.floor(rand() * 256);
    return a;
  }
  for (let w = 0; w < 8; w++) {
    const r = rand();
    const v = r < 0.45 ? 0 : r < 0.6 ? Math.floor(rand() * 16) : r < 0.7 ? Math.floor(rand() * 4096) : Math.floor(rand() * 65536);
    a[2 * w] = v >> 8;
    a[2 * w + 1] = v & 0xff;
  }
  return a;
}

interface Poked {
  lastHandshakeWallMs: number;
  controlRxBytes: number;
  controlTxBytes: number;
  slot: number;
}

/** The device's peer objects (private to it), to give them handshake times and byte counts. */
function devicePeers(h: DeviceHarness): Poked[] {
  return [...(h.device as unknown as { peers: { values(): Iterable<Poked> } }).peers.values()];
}

/**
 * A device with `n` peers: every third with a PSK, endpoints v4, v6 and v6
 * link-local (the device keeps no zone), keepalives, from no allowed IP to a dozen of both families
 * (some v4-mapped, some re-inserted), handshake times with and without
 * milliseconds, counters from 0 to above 2^40; two workers' counter slabs.
 */
function variedDevice(h: DeviceHarness, n: number, seed: number): PeerCounterSlab[] {
  const rand = random(seed);
  const lines: string[] = ['listen_port=51820', 'fwmark=4660'];
  for (let i = 0; i < n; i++) {
    lines.push(`public_key=${hex(32, rand)}`);
    if (i % 3 === 0) lines.push(`preshared_key=${hex(32, rand)}`);
    const e = i % 4;
    if (e === 1) lines.push(`endpoint=${Math.floor(rand() * 256)}.0.${Math.floor(rand() * 256)}.1:${Math.floor(rand() * 65536)}`);
    if (e === 2) lines.push(`endpoint=[${formatIPv6(ipv6Bytes(rand))}]:${Math.floor(rand() * 65536)}`);
    if (e === 3 && i % 8 === 3) lines.push('endpoint=[fe80::1%eth0]:51820');
    if (i % 5 === 0) lines.push(`persistent_keepalive_interval=${i % 10 === 0 ? 25 : 65535}`);
    const prefixes = i % 7 === 0 ? 0 : Math.floor(rand() * 12) + 1;
    const mine: string[] = [];
    for (let k = 0; k < prefixes; k++) {
      const v4 = rand() < 0.5;
      const p = v4
        ? `${Math.floor(rand() * 224)}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}/${Math.floor(rand() * 33)}`
        : `${formatIPv6(ipv6Bytes(rand))}/${Math.floor(rand() * 129)}`;
      mine.push(p);
      lines.push(`allowed_ip=${p}`);
    }
    if (i % 11 === 0) lines.push(`allowed_ip=::ffff:10.${i & 255}.0.1/128`);
    if (mine.length > 1 && i % 2 === 0) lines.push(`allowed_ip=${mine[0]}`); // moves it last
  }
  h.set(lines.join('\n'));
  const peers = devicePeers(h);
  const slots = Math.max(...peers.map((p) => p.slot)) + 1;
  const slabs = [PeerCounterSlab.create(slots), PeerCounterSlab.create(slots)];
  const big = [0, 1, 9, 10, 99, 1_000_000_007, 2 ** 40 + 3, 2 ** 52 + 1];
  for (const [i, p] of peers.entries()) {
    if (i % 2 === 1) p.lastHandshakeWallMs = 1_700_000_000_000 + Math.floor(rand() * 1e9) * (i % 4 === 1 ? 1 : 1000);
    p.controlRxBytes = i % 3 === 0 ? 0 : 148 * (i % 50);
    p.controlTxBytes = i % 3 === 1 ? 0 : 92 * (i % 30);
    for (const [w, slab] of slabs.entries()) {
      const at = p.slot * PEER_SLOT_WIDTH;
      slab.view[at + PEER_SLOT_FIELDS.rxBytes] = big[(i + w) % big.length]! / (w + 1);
      slab.view[at + PEER_SLOT_FIELDS.txBytes] = big[(i * 3 + w) % big.length]!;
      slab.view[at + PEER_SLOT_FIELDS.rxPackets] = 1234; // not printed
    }
  }
  return slabs;
}

/** Runs fn with the device reading these counter slabs, as if its workers had written them. */
function withSlabs<T>(h: DeviceHarness, slabs: PeerCounterSlab[], fn: () => T): T {
  let out: T | undefined;
  h.withPool({ peerSlabs: slabs }, () => {
    out = fn();
  });
  return out!;
}

test('get=1 from the device capture is byte for byte the reference serializer on getSnapshot, for 600 varied peers, at any chunk size', async () => {
  const h = await DeviceHarness.start();
  try {
    const slabs = variedDevice(h, 600, 0x5eed);
    const { reference, captured, fromSnapshot } = withSlabs(h, slabs, () => ({
      reference: referenceGet(h.device.getSnapshot()),
      captured: h.device.captureForGet(),
      fromSnapshot: serialized(h.device.getSnapshot()),
    }));
    assert.ok(
      reference.includes('endpoint=[fe80::1]:51820') && reference.includes('allowed_ip=::ffff:10.'),
      'the sample covers link-local endpoints and v4-mapped prefixes',
    );
    assert.ok(
      /tx_bytes=\d{13,}\n/.test(reference) && /rx_bytes=\d{13,}\n/.test(reference) && /last_handshake_time_nsec=[1-9]/.test(reference),
    );
    assert.equal(serialized(captured), reference);
    assert.equal(fromSnapshot, reference);
    // Chunk boundaries anywhere: a capture reads back as often as it is serialized.
    for (const size of [1, 7, 64, 1000]) assert.equal(serialized(captured, size), reference, `chunks of ${size}`);
    const chunks = [...serializeUapiGet(captured, 4096)];
    assert.ok(chunks.length > 10 && chunks.slice(0, -1).every((c) => c.length > 4096 - 128 && c.length <= 4096));
  } finally {
    await h.close();
  }
});

test('a snapshot stays as it was while the device changes under an answer still being written (the PSK is not wiped in it)', async () => {
  const h = await DeviceHarness.start();
  try {
    const [k1, k2, psk1, psk2] = ['11', '22', '33', '44'].map((b) => b.repeat(32));
    h.set(`public_key=${k1}\npreshared_key=${psk1}\nendpoint=192.0.2.1:1\nallowed_ip=10.0.0.0/8\npublic_key=${k2}\nallowed_ip=fd00::/64`);
    const before = referenceGet(h.device.getSnapshot());
    const snapshot = h.device.getSnapshot();
    const capture = h.device.captureForGet();
    h.set(
      `public_key=${k1}\npreshared_key=${psk2}\nendpoint=[2001:db8::1]:2\nreplace_allowed_ips=true\nallowed_ip=10.1.0.0/16\npublic_key=${k2}\nremove=true`,
    );
    assert.notEqual(referenceGet(h.device.getSnapshot()), before, 'the device did change');
    assert.equal(serialized(capture), before);
    assert.equal(serialized(snapshot), before);
    assert.ok(before.includes(`preshared_key=${psk1}\n`));
  } finally {
    await h.close();
  }
});

test('a get capture in turns: the loop runs between chunks; a peer removed before its chunk is left out, one removed after stays, one added waits for the next get', async () => {
  const h = await DeviceHarness.start();
  const link = (h.device as unknown as { link: { pool: unknown } }).link;
  let ticker: NodeJS.Timeout | undefined;
  try {
    const slabs = variedDevice(h, 2000, 0xbeef);
    const uapi = (h.device as unknown as { uapi: { captureForGetInTurns(chunkMs: number, between: () => void): Promise<DeviceSnapshot> } })
      .uapi;
    link.pool = { peerSlabs: slabs, activity: [] }; // activity: the device tick may run between chunks
    const keys = [...h.device.getSnapshot().peers].map((p) => keyToHex(p.publicKey));
    const [first, late] = [keys[0]!, keys[keys.length - 1]!];
    // What the answer must be: the device at the start, less the peer removed before its chunk.
    const start = h.device.getSnapshot();
    const expected = referenceGet({ ...start, peers: [...start.peers].filter((p) => keyToHex(p.publicKey) !== late) });
    let turns = 0;
    let loopRan = 0;
    ticker = setInterval(() => loopRan++, 0);
    const captured = await uapi.captureForGetInTurns(0, () => {
      if (turns++ > 0) return;
      // The first chunk took the first peer; the last is not taken yet. The new peer may get a freed slot.
      // (The harness's set needs no counter slabs; the capture reads them again after.)
      link.pool = undefined;
      h.set(`public_key=${first}\nremove=true\npublic_key=${late}\nremove=true`);
      h.set(`public_key=${'55'.repeat(32)}\nallowed_ip=10.9.9.9/32\nendpoint=192.0.2.9:9`);
      link.pool = { peerSlabs: slabs, activity: [] }; // activity: the device tick may run between chunks
    });
    clearInterval(ticker);
    assert.ok(turns >= 5, `2,000 peers in chunks that check the clock every 256: ${turns} turns`);
    assert.ok(loopRan > 0, 'timers ran while the capture was being taken');
    const text = serialized(captured);
    assert.ok(text.includes(`public_key=${first}\n`) && !text.includes(`public_key=${late}\n`));
    assert.ok(!text.includes(`public_key=${'55'.repeat(32)}`));
    assert.equal(text, expected);
  } finally {
    clearInterval(ticker);
    link.pool = undefined;
    await h.close();
  }
});

test('IPv6 text from bytes matches formatIPv6 (wireguard-go style) on 20,000 seeded addresses; numbers match String()', () => {
  const rand = random(0xc0ffee);
  const samples: Uint8Array[] = [new Uint8Array(16), Uint8Array.from({ length: 16 }, () => 0xff)];
  const edge = new Uint8Array(16);
  edge[15] = 1;
  samples.push(edge, Uint8Array.from([0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]));
  for (let i = 0; i < 20_000; i++) samples.push(ipv6Bytes(rand));
  const out = new TextChunks(1024);
  const expected: string[] = [];
  for (const a of samples) {
    out.ipv6(a);
    out.byte(10);
    expected.push(formatIPv6(a, 'go'));
  }
  const numbers = [0, 1, 9, 10, 11, 99, 100, 65535, 999_999_999, 1_700_000_000, 2 ** 32, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER];
  for (let i = 0; i < 2000; i++) numbers.push(Math.floor(rand() * 10 ** Math.floor(rand() * 16)));
  for (const n of numbers) {
    out.uint(n);
    out.byte(10);
    expected.push(String(n));
  }
  out.uint(2n ** 64n - 1n);
  expected.push(String(2n ** 64n - 1n));
  assert.equal(Buffer.concat(out.takeRest()).toString('latin1'), expected.join('\n'));
  assert.deepEqual(out.takeRest(), []);
});
