/**
 * Seeded fuzzing of the parsers the wire fuzz test (wire.test.ts) and the
 * frame test (packet.test.ts) do not reach: the handshake consumers
 * (consumeInitiation, consumeResponse, CookieGenerator.consumeReply) fed
 * mutated real messages; the data path's inner-packet checks (PeerRouter);
 * and the control-path text parsers (UAPI set, wg-quick config, datapath
 * file) fed mutated valid input. Properties: nothing throws except the
 * parser's own typed error, and no mutated message is accepted unless the
 * mutation touched only bytes the parser is documented not to look at.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededPrng } from '../helpers/seeded-prng.js';
import { generateKeyPair, type X25519KeyPair } from '../../src/crypto/x25519.js';
import { keyToBase64 } from '../../src/crypto/encoding.js';
import { FakeClock } from '../../src/protocol/clock.js';
import { IndexTable } from '../../src/protocol/index-table.js';
import { CookieChecker, CookieGenerator } from '../../src/protocol/cookie.js';
import { Handshake, consumeResponse, createInitiation } from '../../src/protocol/noise.js';
import { consumeInitiation, createResponse } from '../helpers/noise-reference-responder.js';
import { PeerRouter } from '../../src/datapath/peer-router.js';
import { packAllowedIps } from '../../src/datapath/worker-messages.js';
import { parseUapiSet } from '../../src/daemon/uapi/protocol.js';
import { UapiError } from '../../src/daemon/config/device-config.js';
import { ConfigError, parseConfig } from '../../src/daemon/config/config-file.js';
import { DatapathConfigError, parseDatapathConfig } from '../../src/daemon/config/datapath-config.js';

/** A copy of msg with one of: bit flips, a truncation, an extension, a byte run overwritten. */
function mutate(rng: SeededPrng, msg: Uint8Array): Uint8Array {
  switch (rng.below(4)) {
    case 0: {
      const m = Uint8Array.from(msg);
      for (let k = 1 + rng.below(3); k > 0; k--) {
        const bit = rng.below(m.length * 8);
        m[bit >> 3]! ^= 1 << (bit & 7);
      }
      return m;
    }
    case 1:
      return msg.slice(0, rng.below(msg.length));
    case 2: {
      const m = new Uint8Array(msg.length + 1 + rng.below(64));
      m.set(msg);
      rng.fill(m.subarray(msg.length));
      return m;
    }
    default: {
      const m = Uint8Array.from(msg);
      const at = rng.below(m.length);
      rng.fill(m.subarray(at, Math.min(m.length, at + 1 + rng.below(16))));
      return m;
    }
  }
}

/** True when a and b (same length) differ only inside the given [from, to) ranges. */
function differsOnlyIn(a: Uint8Array, b: Uint8Array, ranges: Array<[number, number]>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !ranges.some(([f, t]) => i >= f && i < t)) return false;
  return true;
}

// Bytes the Noise consumers do not authenticate by design: the sender index (4..8; MAC1 covers
// it, checked before, whitepaper §5.4.4) and the MAC fields themselves (CookieChecker's job).
const INITIATION_UNCHECKED: Array<[number, number]> = [
  [4, 8],
  [116, 148],
];
const RESPONSE_UNCHECKED: Array<[number, number]> = [
  [4, 8],
  [60, 92],
];

test('handshake consumers: 3,000 mutated initiations, responses and cookie replies never throw; accepted only when the mutation hit bytes not authenticated by design', () => {
  const rng = new SeededPrng(0x5eed);
  const clock = new FakeClock(1_700_000_000_000);
  const initiator: X25519KeyPair = generateKeyPair();
  const responder: X25519KeyPair = generateKeyPair();
  const iIdx = new IndexTable<Handshake<string>>();
  const rIdx = new IndexTable<Handshake<string>>();
  // Every trial gets a fresh responder-side peer state, so the replay memory of one trial does not decide the next.
  const freshPeer = (): Handshake<string> => new Handshake('initiator', responder, initiator.publicKey);
  /** A genuine initiation, and the genuine response to it; the initiator's state waits for the response. */
  const pair = (): { iHs: Handshake<string>; init: Uint8Array; resp: Uint8Array } => {
    clock.advance(1000);
    const iHs = new Handshake('responder', initiator, responder.publicKey);
    const init = createInitiation(iHs, iIdx, clock)!;
    const rHs = consumeInitiation(init, responder, () => freshPeer(), clock);
    assert.ok(typeof rHs !== 'string', String(rHs));
    return { iHs, init, resp: createResponse(rHs, rIdx)! };
  };
  let cur = pair();
  let refusedInit = 0,
    refusedResp = 0,
    refusedCookie = 0;
  for (let i = 0; i < 1000; i++) {
    const m = mutate(rng, cur.init);
    const r = consumeInitiation(
      m,
      responder,
      (rs) => (Buffer.from(rs).equals(Buffer.from(initiator.publicKey)) ? freshPeer() : undefined),
      clock,
    );
    if (typeof r !== 'string') assert.ok(differsOnlyIn(m, cur.init, INITIATION_UNCHECKED), `mutated initiation accepted (case ${i})`);
    else refusedInit++;
  }
  for (let i = 0; i < 1000; i++) {
    const m = mutate(rng, cur.resp);
    const r = consumeResponse(m, (idx) => (idx === cur.iHs.localIndex ? cur.iHs : undefined));
    if (typeof r !== 'string') {
      assert.ok(differsOnlyIn(m, cur.resp, RESPONSE_UNCHECKED), `mutated response accepted (case ${i})`);
      cur = pair(); // that handshake is done: the next cases need one in flight
    } else refusedResp++;
  }
  // Cookie replies: a real one for a real MAC1, then mutations.
  const checker = new CookieChecker(responder.publicKey, clock);
  const gen = new CookieGenerator(responder.publicKey, clock);
  const source = new Uint8Array([10, 0, 0, 1, 0xca, 0x6c]);
  for (let i = 0; i < 1000; i++) {
    const msg = Uint8Array.from(cur.init);
    gen.addMacs(msg);
    const reply = checker.createReply(msg, source)!;
    const m = mutate(rng, reply);
    // The receiver index (4..8) only routes the reply to a peer; the AEAD covers the rest.
    if (gen.consumeReply(m) === 'ok') assert.ok(differsOnlyIn(m, reply, [[4, 8]]), `mutated cookie reply accepted (case ${i})`);
    else refusedCookie++;
  }
  console.log(
    `parser-fuzz handshake: refused ${refusedInit}/1000 initiations, ${refusedResp}/1000 responses, ${refusedCookie}/1000 cookie replies`,
  );
  assert.ok(refusedInit > 700 && refusedResp > 700 && refusedCookie > 700, 'most mutations hit authenticated bytes');
});

test('data path inner-packet checks: 50,000 random and mutated plaintexts never throw and stay in bounds', () => {
  const rng = new SeededPrng(42);
  const router = new PeerRouter();
  router.replace(
    packAllowedIps([
      [new Uint8Array([10, 0, 0, 0]), 8, 1],
      [new Uint8Array([192, 168, 1, 7]), 32, 2],
      [new Uint8Array([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 8, 3],
    ]),
  );
  const valid4 = new Uint8Array([0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 1, 2, 3, 192, 168, 1, 7, 0, 1, 0, 2, 0, 8, 0, 0]);
  const buf = new Uint8Array(2048);
  let accepted = 0;
  for (let i = 0; i < 50_000; i++) {
    const pkt = i % 2 === 0 ? mutate(rng, valid4) : rng.fill(new Uint8Array(rng.below(80)));
    // Sits at a random offset with random bytes after it (padding, or another packet's leftovers).
    const off = rng.below(64);
    rng.fill(buf);
    buf.set(pkt, off);
    const len = pkt.length;
    const inner = len > 0 ? router.innerLength(buf, off, len) : -1;
    assert.ok(inner === -1 || (inner >= 20 && inner <= len), `innerLength ${inner} for ${len} bytes`);
    if (inner > 0) {
      accepted++;
      const src = router.lookupSource(buf, off);
      assert.ok(src === -1 || (src >= 1 && src <= 3));
    }
    const dst = router.lookupDestination(buf, off, len);
    assert.ok(dst === -1 || dst === -2 || (dst >= 1 && dst <= 3));
  }
  assert.ok(accepted > 0);
});

test('control-path text parsers: 20,000 mutated UAPI bodies, configs and datapath files throw only their typed errors', () => {
  const rng = new SeededPrng(7);
  const k = (): string => Buffer.from(rng.fill(new Uint8Array(32))).toString('hex');
  const uapi = `private_key=${k()}\nlisten_port=51820\nfwmark=0\nreplace_peers=true\npublic_key=${k()}\npreshared_key=${k()}\nendpoint=[fd00::1]:51820\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=10.0.0.0/8\nallowed_ip=fd00::/64\nprotocol_version=1\n`;
  const conf = `[Interface]\nPrivateKey = ${keyToBase64(generateKeyPair().privateKey)}\nListenPort = 51820\nAddress = 10.0.0.1/24, fd00::1/64\nDNS = 1.1.1.1\nMTU = 1420\nTable = off\n\n[Peer]\nPublicKey = ${keyToBase64(generateKeyPair().publicKey)}\nAllowedIPs = 10.0.0.2/32, fd00::2/128\nEndpoint = 192.0.2.1:51820\nPersistentKeepalive = 25\n`;
  const dp = `{\n  // comment\n  "afxdp": "auto", "mode": "generic", "zeroCopy": false, "umemFrames": 4096, "frameSize": 2048,\n  "workers": 2, "busyPoll": false, "crypto": "native",\n}\n`;
  const enc = new TextEncoder(),
    dec = new TextDecoder();
  const cases: Array<[string, string, (s: string) => unknown, new (...a: never[]) => Error]> = [
    ['uapi', uapi, parseUapiSet, UapiError],
    ['config', conf, (s) => parseConfig(s, 'fuzz.conf'), ConfigError],
    ['datapath', dp, (s) => parseDatapathConfig(s, 'fuzz.jsonc'), DatapathConfigError],
  ];
  const outcome: Record<string, { ok: number; refused: number }> = {};
  for (const [name, text, parse, Typed] of cases) {
    assert.doesNotThrow(() => parse(text), `${name}: the unmutated input must parse`);
    const o = (outcome[name] = { ok: 0, refused: 0 });
    for (let i = 0; i < 6700; i++) {
      // Half byte-level mutations, half line-level (a line dropped, duplicated or swapped with another).
      let s: string;
      if (i % 2 === 0) s = dec.decode(mutate(rng, enc.encode(text)));
      else {
        const lines = text.split('\n');
        const a = rng.below(lines.length),
          b = rng.below(lines.length);
        if (rng.below(3) === 0) lines.splice(a, 1);
        else if (rng.below(2) === 0) lines.splice(a, 0, lines[b]!);
        else [lines[a], lines[b]] = [lines[b]!, lines[a]!];
        s = lines.join('\n');
      }
      try {
        parse(s);
        o.ok++;
      } catch (err) {
        assert.ok(
          err instanceof Typed,
          `${name}: ${(err as Error).constructor.name}: ${(err as Error).message} for ${JSON.stringify(s.slice(0, 120))}`,
        );
        o.refused++;
      }
    }
  }
  console.log(`parser-fuzz text: ${JSON.stringify(outcome)}`);
});
