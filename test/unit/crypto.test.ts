/**
 * The primitives against published vectors (RFC 8439 §2.8.2, draft-irtf-cfrg-
 * xchacha-03 §A.3.1, RFC 7693 / BLAKE2 KAT, RFC 7748 §5.2 and §6.1) and
 * against independent reference implementations (tweetnacl, @noble/ciphers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac } from '@noble/hashes/hmac.js';
import {
  nodeAead,
  nobleAead,
  aeadSeal,
  aeadOpen,
  counterNonce,
  xaeadSeal,
  xaeadOpen,
  hash,
  mac,
  macReference,
  hmacBlake2s,
  kdf1,
  kdf2,
  kdf3,
  keyPairFromPrivate,
  generateKeyPair,
  hasSmallOrder,
  generatePrivateKey,
  sharedSecret,
  clampPrivateKey,
  publicKeyOf,
  nativeX25519,
  nodeX25519,
  x25519Backend,
  tai64n,
  compareTai64n,
  TAI64N_WHITENING_NS,
  keyToBase64,
  keyFromBase64,
  keyToHex,
  keyFromHex,
  KeyFormatError,
  hexToBytes,
  bytesToHex,
  equalConstantTime,
  isAllZero,
  wipe,
} from '../../src/crypto/index.js';
import { native } from '../../src/native/binding.js';

const hex = hexToBytes;
const SUNSCREEN = new TextEncoder().encode(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);
const KEY_80_9F = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
const AD_5051 = hex('50515253c0c1c2c3c4c5c6c7');

test('ChaCha20-Poly1305: RFC 8439 §2.8.2 on both backends', () => {
  const nonce = hex('070000004041424344454647');
  const expected = hex(
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b' +
      '1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
      '3ff4def08e4b7a9de576d26586cec64b6116' +
      '1ae10b594f09e26a7e902ecbd0600691',
  );
  for (const backend of [nodeAead, nobleAead]) {
    const sealed = backend.seal(KEY_80_9F, nonce, SUNSCREEN, AD_5051);
    assert.deepEqual(bytesToHex(sealed), bytesToHex(expected), backend.name);
    assert.deepEqual(backend.open(KEY_80_9F, nonce, expected, AD_5051), SUNSCREEN, backend.name);
    const tampered = Uint8Array.from(expected);
    tampered[10]! ^= 1;
    assert.equal(backend.open(KEY_80_9F, nonce, tampered, AD_5051), null, `${backend.name} tampered ciphertext`);
    assert.equal(backend.open(KEY_80_9F, nonce, expected, hex('00')), null, `${backend.name} wrong AD`);
    assert.equal(backend.open(KEY_80_9F, nonce, expected.subarray(0, 15), AD_5051), null, `${backend.name} shorter than a tag`);
  }
});

test('ChaCha20-Poly1305: node and noble backends agree on random inputs with counter nonces', () => {
  for (let i = 0; i < 200; i++) {
    const key = randomBytes(32);
    const counter = i === 0 ? 0 : i === 1 ? 2 ** 53 - 1 : randomBytes(4).readUInt32LE() * 7;
    const pt = randomBytes(i % 3 === 0 ? 0 : (i * 37) % 1500);
    const ad = randomBytes(i % 40);
    const a = nodeAead.seal(key, counterNonce(counter), pt, ad);
    const b = nobleAead.seal(key, counterNonce(counter), pt, ad);
    assert.deepEqual(a, b);
    assert.deepEqual(nobleAead.open(key, counterNonce(counter), a, ad), new Uint8Array(pt));
    assert.deepEqual(aeadOpen(key, counter, aeadSeal(key, counter, pt, ad), ad), new Uint8Array(pt));
  }
});

test('counter nonce: 4 zero bytes then 64-bit little-endian counter; bigint and number agree', () => {
  assert.equal(bytesToHex(counterNonce(0x0102030405n)), '000000000504030201000000');
  assert.deepEqual(counterNonce(0x0102030405), counterNonce(0x0102030405n));
  assert.equal(bytesToHex(counterNonce(0xffffffffffffffffn)), '00000000ffffffffffffffff');
  assert.throws(() => counterNonce(-1), RangeError);
});

test('XChaCha20-Poly1305: draft-irtf-cfrg-xchacha-03 §A.3.1', () => {
  const nonce = hex('404142434445464748494a4b4c4d4e4f5051525354555657');
  const expected = hex(
    'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39' +
      'ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9' +
      '21f9664c97637da9768812f615c68b13b52e' +
      'c0875924c1c7987947deafd8780acf49',
  );
  assert.equal(bytesToHex(xaeadSeal(KEY_80_9F, nonce, SUNSCREEN, AD_5051)), bytesToHex(expected));
  assert.deepEqual(xaeadOpen(KEY_80_9F, nonce, expected, AD_5051), SUNSCREEN);
  assert.equal(xaeadOpen(KEY_80_9F, nonce, expected, new Uint8Array(0)), null);
  assert.equal(xaeadOpen(KEY_80_9F, nonce.subarray(1), expected, AD_5051), null);
});

test('BLAKE2s: RFC 7693 Appendix B "abc" and the keyed KAT', () => {
  assert.equal(bytesToHex(hash(new TextEncoder().encode('abc'))), '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982');
  // hash of parts equals hash of the concatenation
  assert.deepEqual(hash(hex('6162'), hex('63')), hash(hex('616263')));
  // BLAKE2 reference KAT (blake2s-kat.txt): key = 00..1f, 32-byte output.
  const key = Uint8Array.from({ length: 32 }, (_, i) => i);
  const keyed32 = (input: Uint8Array): string => bytesToHex(mac32(key, input));
  assert.equal(keyed32(new Uint8Array(0)), '48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49');
  assert.equal(keyed32(hex('00')), '40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1');
  // MAC = keyed BLAKE2s-128: 16-byte output (digest length is a parameter, not a truncation).
  // Expected value computed with CPython's hashlib.blake2s(digest_size=16, key=00..1f).
  assert.equal(
    bytesToHex(
      mac(
        key,
        Uint8Array.from({ length: 64 }, (_, i) => i),
      ),
    ),
    'f1efa90d2547036841ecd3627fafbc36',
  );
});

// 32-byte keyed BLAKE2s through the same library, for the KAT only.
function mac32(key: Uint8Array, input: Uint8Array): Uint8Array {
  return blake2s(input, { key });
}

test('MAC through the addon (native/blake2s.cc) agrees with @noble/hashes: KAT, random keys, lengths and splits', () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i);
  const out32 = new Uint8Array(32);
  native().blake2sMac(key, new Uint8Array(0), out32);
  assert.equal(bytesToHex(out32), '48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49');
  native().blake2sMac(key, hex('00'), out32);
  assert.equal(bytesToHex(out32), '40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1');
  for (let i = 0; i < 400; i++) {
    // Lengths around the 64-byte block edges matter most (the last block is compressed with the final flag).
    const data = randomBytes(i < 200 ? i : 64 * (i % 7) + (i % 3) - 1 + 1);
    const k = randomBytes(1 + (i % 32));
    const cut = i % (data.length + 1);
    assert.deepEqual(mac(k, data.subarray(0, cut), data.subarray(cut)), macReference(k, data), `length ${data.length}, key ${k.length}`);
  }
  assert.throws(() => native().blake2sMac(new Uint8Array(0), new Uint8Array(1), new Uint8Array(16)), TypeError);
});

test('HASH and HMAC (node:crypto) agree with the @noble/hashes reference on random inputs', () => {
  for (let i = 0; i < 300; i++) {
    const data = randomBytes(i * 3);
    const key = randomBytes(1 + (i % 64));
    assert.deepEqual(hash(data), blake2s(data));
    assert.deepEqual(hash(data.subarray(0, i), data.subarray(i)), blake2s(data));
    assert.deepEqual(hmacBlake2s(key, data), hmac(blake2s, key, data));
  }
});

test('HMAC-BLAKE2s and KDF1/2/3 follow RFC 2104 / RFC 5869 as the whitepaper §5.4 defines them', () => {
  // HMAC from its definition: H((K ^ opad) ‖ H((K ^ ipad) ‖ m)), block 64.
  const key = randomBytes(32);
  const msg = randomBytes(77);
  const block = new Uint8Array(64);
  block.set(key);
  const ipad = block.map((b) => b ^ 0x36);
  const opad = block.map((b) => b ^ 0x5c);
  const naive = hash(opad, hash(ipad, msg));
  assert.deepEqual(hmacBlake2s(key, msg), naive);
  // KDFn from its definition.
  const t0 = hmacBlake2s(key, msg);
  const t1 = hmacBlake2s(t0, hex('01'));
  const t2 = hmacBlake2s(t0, Uint8Array.from([...t1, 2]));
  const t3 = hmacBlake2s(t0, Uint8Array.from([...t2, 3]));
  assert.deepEqual(kdf1(key, msg), t1);
  assert.deepEqual(kdf2(key, msg), [t1, t2]);
  assert.deepEqual(kdf3(key, msg), [t1, t2, t3]);
});

// Both backends: the addon's OpenSSL EVP (the default) and node:crypto (the fallback).
for (const backend of [nativeX25519(), nodeX25519]) {
  test(`X25519 (${backend.name}): RFC 7748 §5.2 and §6.1 vectors`, () => {
    const pair = keyPairFromPrivate(hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'), backend);
    assert.equal(
      bytesToHex(sharedSecret(pair, hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'))!),
      'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
    );
    const alice = keyPairFromPrivate(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'), backend);
    const bob = keyPairFromPrivate(hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'), backend);
    assert.equal(bytesToHex(alice.publicKey), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    assert.equal(bytesToHex(bob.publicKey), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    const k = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
    assert.equal(bytesToHex(sharedSecret(alice, bob.publicKey)!), k);
    assert.equal(bytesToHex(sharedSecret(bob, alice.publicKey)!), k);
  });

  test(`X25519 (${backend.name}): agrees with tweetnacl on random keys`, () => {
    for (let i = 0; i < 20; i++) {
      const a = i % 2 ? generateKeyPair(backend) : keyPairFromPrivate(randomBytes(32), backend);
      const bPriv = generatePrivateKey();
      const bPub = nacl.scalarMult.base(bPriv);
      assert.deepEqual(nacl.scalarMult.base(a.privateKey), a.publicKey);
      assert.deepEqual(sharedSecret(a, bPub), nacl.scalarMult(a.privateKey, bPub));
    }
  });

  test(`X25519 (${backend.name}): small-order public keys give no shared secret`, () => {
    const me = generateKeyPair(backend);
    const smallOrder = [
      '0000000000000000000000000000000000000000000000000000000000000000',
      '0100000000000000000000000000000000000000000000000000000000000000',
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ];
    for (const p of smallOrder) assert.equal(sharedSecret(me, hex(p)), null, p);
  });
}

test('X25519: the default backend is the native one where the addon loads; publicKeyOf agrees with it', () => {
  assert.equal(x25519Backend().name, 'native');
  const a = generateKeyPair();
  assert.deepEqual(publicKeyOf(a.privateKey), a.publicKey);
  assert.deepEqual(keyPairFromPrivate(a.privateKey, nodeX25519).publicKey, a.publicKey);
});

test('X25519: clamping as RFC 7748 decodeScalar25519; generated keys are clamped', () => {
  const k = clampPrivateKey(new Uint8Array(32).fill(0xff));
  assert.equal(k[0], 0xf8);
  assert.equal(k[31], 0x7f);
  const z = clampPrivateKey(new Uint8Array(32));
  assert.equal(z[31], 0x40);
  for (let i = 0; i < 50; i++) {
    const g = generatePrivateKey();
    assert.equal(g[0]! & 7, 0);
    assert.equal(g[31]! & 0xc0, 0x40);
  }
  // An unclamped key is clamped in the pair's copy and has the same public key.
  const raw = new Uint8Array(32).fill(0xff);
  const pair = keyPairFromPrivate(raw);
  assert.equal(raw[0], 0xff, "the caller's array is not modified");
  assert.deepEqual(pair.publicKey, publicKeyOf(k));
});

test('TAI64N: 2^62 + 10 + Unix seconds big-endian (as the kernel and wireguard-go), whitened nanoseconds big-endian, ordered bytewise', () => {
  const t = tai64n(Date.UTC(2020, 0, 1));
  assert.equal(bytesToHex(t), '400000005e0be10a' + '00000000');
  const later = tai64n(Date.UTC(2020, 0, 1) + 500);
  const nanos = new DataView(later.buffer).getUint32(8, false);
  assert.equal(nanos, 500_000_000 - (500_000_000 % TAI64N_WHITENING_NS));
  assert.equal(compareTai64n(later, t), 1);
  assert.equal(compareTai64n(t, later), -1);
  assert.equal(compareTai64n(t, tai64n(Date.UTC(2020, 0, 1) + 10)), 0, 'within one whitening step');
  assert.equal(compareTai64n(tai64n(Date.UTC(2020, 0, 1) + 20), t), 1, '20 ms later is always later');
  assert.equal(compareTai64n(tai64n(Date.UTC(2020, 0, 2)), later), 1);
});

test('key codecs: canonical base64 (44 chars) and hex (64 digits) only', () => {
  for (let i = 0; i < 100; i++) {
    const key = randomBytes(32);
    const b64 = keyToBase64(key);
    assert.equal(b64.length, 44);
    assert.equal(b64, Buffer.from(key).toString('base64'));
    assert.deepEqual(keyFromBase64(b64), new Uint8Array(key));
    assert.deepEqual(keyFromHex(keyToHex(key)), new Uint8Array(key));
    assert.deepEqual(keyFromHex(keyToHex(key).toUpperCase()), new Uint8Array(key));
  }
  const good = keyToBase64(new Uint8Array(32).fill(7));
  for (const bad of [
    '',
    good.slice(0, 43),
    good + '=',
    good.slice(0, 42) + 'B=',
    good.replace('B', '-'),
    ' ' + good.slice(1),
    good.slice(0, 43) + 'A',
  ]) {
    assert.throws(() => keyFromBase64(bad), KeyFormatError, JSON.stringify(bad));
  }
  for (const bad of ['', '0'.repeat(63), '0'.repeat(65), 'g'.repeat(64)]) {
    assert.throws(() => keyFromHex(bad), KeyFormatError, JSON.stringify(bad));
  }
  assert.throws(() => keyToBase64(new Uint8Array(31)), RangeError);
});

test('constant-time compare, zero check and wipe', () => {
  const a = randomBytes(16);
  const b = Uint8Array.from(a);
  assert.equal(equalConstantTime(a, b), true);
  b[15]! ^= 0x80;
  assert.equal(equalConstantTime(a, b), false);
  assert.equal(equalConstantTime(a, a.subarray(1)), false);
  assert.equal(isAllZero(new Uint8Array(32)), true);
  assert.equal(isAllZero(b), false);
  wipe(b, null, undefined);
  assert.equal(isAllZero(b), true);
});

test('hasSmallOrder lists exactly the public keys whose DH is zero (the peer set refuses them without a DH)', () => {
  const me = generateKeyPair();
  const enc = (u: bigint, topBit = false): Uint8Array => {
    const b = new Uint8Array(32);
    for (let i = 0; i < 32; i++) b[i] = Number((u >> BigInt(8 * i)) & 0xffn);
    if (topBit) b[31]! |= 0x80;
    return b;
  };
  const p = (1n << 255n) - 19n;
  const listed = [
    0n,
    1n,
    p - 1n,
    p,
    p + 1n,
    325606250916557431795983626356110631294008115727848805560023387167927233504n,
    39382357235489614581723060781553021112529911719440698176882885853963445705823n,
  ];
  for (const u of listed) {
    for (const top of [false, true]) {
      assert.equal(hasSmallOrder(enc(u, top)), true, `u=${u}`);
      assert.equal(sharedSecret(me, enc(u, top)), null, `DH with u=${u} is zero`);
    }
  }
  for (let i = 0; i < 200; i++) {
    const k = generateKeyPair().publicKey;
    assert.equal(hasSmallOrder(k), false);
    assert.notEqual(sharedSecret(me, k), null);
  }
  // Near misses: p−2, p+2, 2 are ordinary points (or twist points of large order).
  for (const u of [2n, p - 2n, p + 2n]) assert.equal(hasSmallOrder(enc(u)), sharedSecret(me, enc(u)) === null);
});

test('X25519 (native, libsodium): RFC 7748 §5.2 iterated vector (1 and 1,000 iterations)', () => {
  // k = u = 9; each step (k, u) = (X25519(k, u), k). Every step's k is the last output, unclamped: the backend clamps.
  const backend = nativeX25519();
  let k: Uint8Array = hex('0900000000000000000000000000000000000000000000000000000000000000');
  let u: Uint8Array = Uint8Array.from(k);
  for (let i = 1; i <= 1000; i++) {
    const out = sharedSecret(keyPairFromPrivate(k, backend), u)!;
    u = k;
    k = out;
    if (i === 1) assert.equal(bytesToHex(k), '422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079');
  }
  assert.equal(bytesToHex(k), '684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51');
});
