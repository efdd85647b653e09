// The responder's half of Noise_IKpsk2 (src/protocol/noise-ikpsk2.ts) in C:
// reading message A and writing message B, over a state of ck ‖ h (64 bytes)
// that JavaScript initialises and keeps. Noise tokens as the spec writes
// them (§7.5 IK, §9 psk2), with WireGuard's primitives (whitepaper §5.4):
//
//   -> e, es, s, ss, {payload}      noiseReadA1: e, es, s   noiseReadA2: ss, {payload}
//   <- e, ee, se, psk, {payload}    noiseWriteB
//
// Message A is read in two calls because "ss" needs the static-static DH of
// the initiator the "s" token names: JavaScript looks the peer up between
// them and passes its cached DH (and later its PSK).
//
// Why native: a responder handshake in JavaScript spent ~390 µs on the main
// thread, about half in node:crypto's per-call overheads (an object per HMAC,
// per hash, per AEAD; ~20 HMAC-BLAKE2s per handshake) and garbage. Here the
// hash chain is a few µs and the X25519s are libsodium's (native/x25519.cc).
//
// Threading: no shared state besides the per-thread digest and cipher
// contexts (thread_local), so the calls may run on any thread.
#include <napi.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <cstring>

#include "blake2s.h"
#include "byte_args.h"
#include "noise_ikpsk2.h"
#include "x25519.h"

namespace xdpwg {

namespace {

using namespace noise;
constexpr size_t kBlock = 64;  // BLAKE2s block, the HMAC block size

// Per-thread OpenSSL contexts, fetched once: no algorithm fetch per call.
struct Contexts {
  EVP_CIPHER* chacha = nullptr;
  EVP_CIPHER_CTX* aead = nullptr;
  bool ready = false;
  Contexts() {
    chacha = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
    aead = EVP_CIPHER_CTX_new();
    ready = chacha && aead;
  }
  ~Contexts() {
    EVP_CIPHER_CTX_free(aead);
    EVP_CIPHER_free(chacha);
  }
};

Contexts& Ctx() {
  thread_local Contexts contexts;
  return contexts;
}

// HASH(a ‖ b) (BLAKE2s-256) into out (may alias a). Our own BLAKE2s
// (blake2s.cc): through EVP each of the ~40 hashes of a handshake paid more
// for the digest's set-up than for its one or two compressions.
bool Hash2(const uint8_t* a, size_t an, const uint8_t* b, size_t bn, uint8_t out[kKey]) {
  Blake2s h;
  h.Update(a, an);
  if (bn > 0) h.Update(b, bn);
  h.Final(out);
  return true;
}

// HMAC-BLAKE2s(key (32 bytes), data) (RFC 2104 with a 64-byte block).
bool Hmac(const uint8_t key[kKey], const uint8_t* data, size_t n, uint8_t out[kKey]) {
  uint8_t pad[kBlock];
  uint8_t inner[kKey];
  for (size_t i = 0; i < kBlock; i++) pad[i] = (i < kKey ? key[i] : 0) ^ 0x36;
  bool ok = Hash2(pad, kBlock, data, n, inner);
  for (size_t i = 0; i < kBlock; i++) pad[i] = (i < kKey ? key[i] : 0) ^ 0x5c;
  ok = ok && Hash2(pad, kBlock, inner, kKey, out);
  OPENSSL_cleanse(pad, sizeof pad);
  OPENSSL_cleanse(inner, sizeof inner);
  return ok;
}

// KDFn(key, input) (HKDF with HMAC-BLAKE2s, whitepaper §5.4): outputs τ1..τn
// into outs[0..n). outs may alias key.
bool Kdf(const uint8_t key[kKey], const uint8_t* input, size_t n, uint8_t* const* outs, int count) {
  uint8_t prk[kKey];
  uint8_t block[kKey + 1];
  bool ok = Hmac(key, input, n, prk);
  block[0] = 1;
  ok = ok && Hmac(prk, block, 1, outs[0]);
  for (int i = 1; ok && i < count; i++) {
    std::memcpy(block, outs[i - 1], kKey);
    block[kKey] = static_cast<uint8_t>(i + 1);
    ok = Hmac(prk, block, kKey + 1, outs[i]);
  }
  OPENSSL_cleanse(prk, sizeof prk);
  OPENSSL_cleanse(block, sizeof block);
  return ok;
}

// ChaCha20-Poly1305 with nonce 0 (every handshake key is used once, Noise
// resets n on MixKey) and h as the associated data. Seal writes n + 16 bytes.
bool Aead(bool seal, const uint8_t key[kKey], const uint8_t* in, size_t n, const uint8_t ad[kKey], uint8_t* out) {
  Contexts& c = Ctx();
  static const uint8_t kZeroNonce[12] = {};
  int len = 0;
  uint8_t tag[kTag];
  if (!seal) std::memcpy(tag, in + n, kTag);
  bool ok = EVP_CipherInit_ex2(c.aead, c.chacha, key, kZeroNonce, seal ? 1 : 0, nullptr) == 1 &&
            (seal || EVP_CIPHER_CTX_ctrl(c.aead, EVP_CTRL_AEAD_SET_TAG, kTag, tag) == 1) &&
            EVP_CipherUpdate(c.aead, nullptr, &len, ad, kKey) == 1 &&
            (n == 0 || EVP_CipherUpdate(c.aead, out, &len, in, static_cast<int>(n)) == 1) &&
            EVP_CipherFinal_ex(c.aead, out + n, &len) == 1 &&
            (!seal || EVP_CIPHER_CTX_ctrl(c.aead, EVP_CTRL_AEAD_GET_TAG, kTag, out + n) == 1);
  return ok;
}

// The symmetric state: ck ‖ h as JavaScript holds it, plus the current k.
struct Symmetric {
  uint8_t* ck;
  uint8_t* h;
  uint8_t k[kKey];
  ~Symmetric() { OPENSSL_cleanse(k, sizeof k); }
  bool MixHash(const uint8_t* data, size_t n) { return Hash2(h, kKey, data, n, h); }
  // MixKey(input): (ck, k) = KDF2(ck, input)
  bool MixKey(const uint8_t* input, size_t n) {
    uint8_t* outs[2] = {ck, k};
    return Kdf(ck, input, n, outs, 2);
  }
  // The "e" token with a psk modifier (§9.2): MixHash(e.pub), MixKey(e.pub).
  bool MixEphemeral(const uint8_t e[kKey]) { return MixHash(e, kKey) && MixKey(e, kKey); }
  // MixKey(DH(ours, theirs)); kInvalidPublicKey when the DH is zero.
  Status MixDh(const X25519Key* ours, const uint8_t theirs[kKey]) {
    uint8_t dh[kKey];
    if (!X25519DeriveRaw(ours, theirs, dh)) return kInvalidPublicKey;
    bool ok = MixKey(dh, kKey);
    OPENSSL_cleanse(dh, sizeof dh);
    return ok ? kOk : kInternal;
  }
  // DecryptAndHash(c): the plaintext into out (c.len - 16 bytes).
  Status DecryptAndHash(const uint8_t* c, size_t n, uint8_t* out) {
    if (!Aead(false, k, c, n - kTag, h, out)) return kDecryptFailed;
    return MixHash(c, n) ? kOk : kInternal;
  }
  // EncryptAndHash(p): the ciphertext into out (p.len + 16 bytes).
  bool EncryptAndHash(const uint8_t* p, size_t n, uint8_t* out) { return Aead(true, k, p, n, h, out) && MixHash(out, n + kTag); }
};

// Message B (<- e, ee, se, psk, {payload}) after message A was read into ss:
// out = e.pub ‖ AEAD(payload) (48 + n bytes).
Status WriteMessageB(Symmetric& ss, const X25519Key* e, const uint8_t ePub[kKey], const uint8_t re[kKey], const uint8_t rs[kKey],
                     const uint8_t psk[kKey], const uint8_t* payload, size_t n, uint8_t* out) {
  std::memcpy(out, ePub, kKey);
  Status s = ss.MixEphemeral(ePub) ? kOk : kInternal;  // e
  if (s == kOk) s = ss.MixDh(e, re);                   // ee
  if (s == kOk) s = ss.MixDh(e, rs);                   // se
  if (s == kOk) {                                      // psk: (ck, τ, k) = KDF3(ck, psk); MixHash(τ)
    uint8_t tau[kKey];
    uint8_t* outs[3] = {ss.ck, tau, ss.k};
    s = Kdf(ss.ck, psk, kKey, outs, 3) && ss.MixHash(tau, kKey) ? kOk : kInternal;
    OPENSSL_cleanse(tau, sizeof tau);
  }
  if (s == kOk && !ss.EncryptAndHash(payload, n, out + kKey)) s = kInternal;  // {payload}
  return s;
}

// noiseReadA1(state: Uint8Array(64), localStatic: External, message: Uint8Array(≥ 96), remoteStaticOut: Uint8Array(32)) → Status
// Tokens e, es, s of message A (message = e ‖ AEAD(s) ‖ AEAD(payload)).
Napi::Value ReadA1(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !IsBytes(info[0], kState) || !info[1].IsExternal() || !info[2].IsTypedArray() || !IsBytes(info[3], kKey))
    return FailUsage(env,
                     "noiseReadA1(state: Uint8Array(64), localStatic: External, message: Uint8Array, remoteStaticOut: Uint8Array(32))");
  auto message = info[2].As<Napi::Uint8Array>();
  return Napi::Number::New(env, ReadMessageA1(info[0].As<Napi::Uint8Array>().Data(), info[1].As<Napi::External<X25519Key>>().Data(),
                                              message.Data(), message.ByteLength(), info[3].As<Napi::Uint8Array>().Data()));
}

// noiseReadA2(state: Uint8Array(64), staticStatic: Uint8Array(32), message, payloadOut: Uint8Array(message.length - 96)) → Status
// Tokens ss, {payload} of message A, after noiseReadA1.
Napi::Value ReadA2(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !IsBytes(info[0], kState) || !IsBytes(info[1], kKey) || !IsBytesAtLeast(info[2], 2 * kKey + 2 * kTag) ||
      !IsBytes(info[3], info[2].As<Napi::Uint8Array>().ByteLength() - (2 * kKey + 2 * kTag)))
    return FailUsage(env,
                     "noiseReadA2(state: Uint8Array(64), staticStatic: Uint8Array(32), message: Uint8Array, payloadOut: "
                     "Uint8Array(message.length - 96))");
  auto state = info[0].As<Napi::Uint8Array>();
  auto staticStatic = info[1].As<Napi::Uint8Array>();
  auto message = info[2].As<Napi::Uint8Array>();
  auto payload = info[3].As<Napi::Uint8Array>();
  if (!Ctx().ready) return Napi::Number::New(env, kInternal);
  Symmetric ss{state.Data(), state.Data() + kKey, {}};
  Status s = ss.MixKey(staticStatic.Data(), kKey) ? kOk : kInternal;  // ss
  const size_t at = 2 * kKey + kTag;
  if (s == kOk) s = ss.DecryptAndHash(message.Data() + at, message.ByteLength() - at, payload.Data());  // {payload}
  return Napi::Number::New(env, s);
}

// noiseWriteB(state: Uint8Array(64), ephemeral: External, ephemeralPublic: Uint8Array(32), remoteEphemeral: Uint8Array(32),
//             remoteStatic: Uint8Array(32), presharedKey: Uint8Array(32), payload: Uint8Array, out: Uint8Array(48 + payload.length)) →
//             Status
// Message B: e, ee, se, psk, {payload}; out = e ‖ AEAD(payload).
Napi::Value WriteB(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 8 || !IsBytes(info[0], kState) || !info[1].IsExternal() || !IsBytes(info[2], kKey) || !IsBytes(info[3], kKey) ||
      !IsBytes(info[4], kKey) || !IsBytes(info[5], kKey) || !info[6].IsTypedArray() ||
      !IsBytes(info[7], kKey + kTag + info[6].As<Napi::Uint8Array>().ByteLength()))
    return FailUsage(
        env,
        "noiseWriteB(state: Uint8Array(64), ephemeral: External, ephemeralPublic, remoteEphemeral, remoteStatic, presharedKey: "
        "Uint8Array(32), payload: Uint8Array, out: Uint8Array(48 + payload.length))");
  auto state = info[0].As<Napi::Uint8Array>();
  X25519Key* e = info[1].As<Napi::External<X25519Key>>().Data();
  const uint8_t* ePub = info[2].As<Napi::Uint8Array>().Data();
  const uint8_t* re = info[3].As<Napi::Uint8Array>().Data();
  const uint8_t* rs = info[4].As<Napi::Uint8Array>().Data();
  const uint8_t* psk = info[5].As<Napi::Uint8Array>().Data();
  auto payload = info[6].As<Napi::Uint8Array>();
  uint8_t* out = info[7].As<Napi::Uint8Array>().Data();
  if (!Ctx().ready) return Napi::Number::New(env, kInternal);
  Symmetric ss{state.Data(), state.Data() + kKey, {}};
  return Napi::Number::New(env, WriteMessageB(ss, e, ePub, re, rs, psk, payload.Data(), payload.ByteLength(), out));
}

// The pool of ready ephemerals: key pairs a thread makes while it has
// nothing else to do (the handshake crew's threads, handshake_crew.cc, once
// their queue is empty after they answered something; the tests through
// noiseEphemeralRefill), so a handshake that finds one skips the key
// generation (~28 µs).
//
// Protocol: one pool per thread (thread_local), touched only by that
// thread's calls, so no locking. A slot below `count` holds an unused key
// pair; Take() moves the top one out and zeroes its slot at once, so each
// key pair is handed out exactly once and no used scalar stays in the pool;
// the caller wipes its copy after the handshake. Slots at and above `count`
// are always all zeros (noiseEphemeralPoolState checks it for the tests).
// A crew thread wipes its pool after a few seconds without initiations
// (EphemeralPoolWipe): an unused pair does not wait in memory for long.
constexpr int kEphemeralPoolSize = 16;

struct EphemeralPool {
  X25519Key keys[kEphemeralPoolSize] = {};
  uint8_t publics[kEphemeralPoolSize][kKey] = {};
  int count = 0;
  ~EphemeralPool() { Wipe(); }
  void Wipe() {
    sodium_memzero(keys, sizeof keys);
    sodium_memzero(publics, sizeof publics);
    count = 0;
  }
  // Moves the newest unused pair into key/pub; false when empty.
  bool Take(X25519Key* key, uint8_t pub[kKey]) {
    if (count == 0) return false;
    count--;
    *key = keys[count];
    std::memcpy(pub, publics[count], kKey);
    X25519WipeRaw(&keys[count]);
    sodium_memzero(publics[count], kKey);
    return true;
  }
  // Makes one more pair; false when full or the generation failed.
  bool AddOne() {
    if (count == kEphemeralPoolSize || !X25519GenerateRaw(&keys[count], publics[count])) return false;
    count++;
    return true;
  }
};

EphemeralPool& Pool() {
  thread_local EphemeralPool pool;
  return pool;
}

// noiseEphemeralRefill(max: number) → number
// Makes up to max ephemerals into this thread's pool; returns the room left.
Napi::Value EphemeralRefill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return FailUsage(env, "noiseEphemeralRefill(max: number)");
  EphemeralPool& pool = Pool();
  int64_t max = info[0].As<Napi::Number>().Int64Value();
  for (int64_t i = 0; i < max && pool.AddOne(); i++) {
  }
  return Napi::Number::New(env, kEphemeralPoolSize - pool.count);
}

// noiseEphemeralPoolState() → { count, capacity, publics: Uint8Array(32 count), unusedSlotsZero: boolean }
// For the tests: what the pool holds (public halves only) and whether every
// slot not holding a key is all zeros. noiseEphemeralPoolState(true) empties
// (wipes) the pool first.
Napi::Value EphemeralPoolState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EphemeralPool& pool = Pool();
  if (info.Length() > 0 && info[0].ToBoolean().Value()) pool.Wipe();
  auto publics = Napi::Uint8Array::New(env, static_cast<size_t>(pool.count) * kKey);
  for (int i = 0; i < pool.count; i++) std::memcpy(publics.Data() + i * kKey, pool.publics[i], kKey);
  uint8_t any = 0;
  for (int i = pool.count; i < kEphemeralPoolSize; i++) {
    for (size_t j = 0; j < kKey; j++) any |= pool.keys[i].scalar[j] | pool.publics[i][j];
  }
  auto state = Napi::Object::New(env);
  state.Set("count", pool.count);
  state.Set("capacity", kEphemeralPoolSize);
  state.Set("publics", publics);
  state.Set("unusedSlotsZero", any == 0);
  return state;
}

// noiseRespond(state: Uint8Array(64), staticStatic: Uint8Array(32), presharedKey: Uint8Array(32), message: Uint8Array(108),
//              remoteStatic: Uint8Array(32), notAfter: Uint8Array(12), ephemeral: External | null, out: Uint8Array(48), keysOut:
//              Uint8Array(64), timestampOut: Uint8Array(12)) → Status
// The rest of the responder's handshake after noiseReadA1 and the peer
// look-up, in one call: tokens ss, {t} of message A (t into timestampOut);
// kReplayed, writing nothing more, when t is not after notAfter (TAI64N
// compares as big-endian bytes; zeros: nothing seen); then message B (e, ee,
// se, psk, {}) into out with an ephemeral — the given one (tests), else one
// from this thread's pool, else a fresh one; wiped here either way unless
// given — and Split(): keysOut = T(initiator→responder) ‖ T(responder→initiator).
// The state is wiped on every exit.
Napi::Value Respond(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 10 || !IsBytes(info[0], kState) || !IsBytes(info[1], kKey) || !IsBytes(info[2], kKey) ||
      !IsBytes(info[3], kMessageA) || !IsBytes(info[4], kKey) || !IsBytes(info[5], kTimestamp) ||
      !(info[6].IsNull() || info[6].IsExternal()) || !IsBytes(info[7], kKey + kTag) || !IsBytes(info[8], 2 * kKey) ||
      !IsBytes(info[9], kTimestamp))
    return FailUsage(
        env,
        "noiseRespond(state: Uint8Array(64), staticStatic, presharedKey: Uint8Array(32), message: Uint8Array(108), remoteStatic: "
        "Uint8Array(32), notAfter: Uint8Array(12), ephemeral: External | null, out: Uint8Array(48), keysOut: Uint8Array(64), "
        "timestampOut: Uint8Array(12))");
  const X25519Key* e = info[6].IsNull() ? nullptr : info[6].As<Napi::External<X25519Key>>().Data();
  return Napi::Number::New(env, RespondToMessageA(info[0].As<Napi::Uint8Array>().Data(), info[1].As<Napi::Uint8Array>().Data(),
                                                  info[2].As<Napi::Uint8Array>().Data(), info[3].As<Napi::Uint8Array>().Data(),
                                                  info[4].As<Napi::Uint8Array>().Data(), info[5].As<Napi::Uint8Array>().Data(), e,
                                                  info[7].As<Napi::Uint8Array>().Data(), info[8].As<Napi::Uint8Array>().Data(),
                                                  info[9].As<Napi::Uint8Array>().Data()));
}

}  // namespace

namespace noise {

Status ReadMessageA1(uint8_t state[kState], const X25519Key* local, const uint8_t* m, size_t n, uint8_t rs[kKey]) {
  if (!Ctx().ready) return kInternal;
  if (n < kKey + kKey + kTag + kTag) return kTruncated;
  Symmetric ss{state, state + kKey, {}};
  Status s = ss.MixEphemeral(m) ? kOk : kInternal;                 // e
  if (s == kOk) s = ss.MixDh(local, m);                            // es
  if (s == kOk) s = ss.DecryptAndHash(m + kKey, kKey + kTag, rs);  // s
  return s;
}

Status RespondToMessageA(uint8_t state[kState], const uint8_t staticStatic[kKey], const uint8_t psk[kKey], const uint8_t m[kMessageA],
                         const uint8_t rs[kKey], const uint8_t notAfter[kTimestamp], const X25519Key* ephemeral, uint8_t out[kKey + kTag],
                         uint8_t keys[2 * kKey], uint8_t timestamp[kTimestamp]) {
  Status s = Ctx().ready ? kOk : kInternal;
  {
    Symmetric ss{state, state + kKey, {}};
    if (s == kOk) s = ss.MixKey(staticStatic, kKey) ? kOk : kInternal;                       // ss
    if (s == kOk) s = ss.DecryptAndHash(m + 2 * kKey + kTag, kTimestamp + kTag, timestamp);  // {t}
    if (s == kOk && std::memcmp(timestamp, notAfter, kTimestamp) <= 0) s = kReplayed;
    if (s == kOk) {
      X25519Key own{};
      const X25519Key* e = ephemeral ? ephemeral : &own;
      uint8_t ePub[kKey];
      bool have = e == &own ? Pool().Take(&own, ePub) || X25519GenerateRaw(&own, ePub) : X25519PublicRaw(e, ePub);
      s = have ? WriteMessageB(ss, e, ePub, m, rs, psk, nullptr, 0, out) : kInternal;  // re = the first 32 bytes of message A
      X25519WipeRaw(&own);
      sodium_memzero(ePub, sizeof ePub);
    }
    if (s == kOk) {  // Split(): (T_i→r, T_r→i) = KDF2(ck, ε)
      uint8_t* outs[2] = {keys, keys + kKey};
      if (!Kdf(ss.ck, nullptr, 0, outs, 2)) s = kInternal;
    }
  }
  OPENSSL_cleanse(state, kState);
  if (s != kOk) OPENSSL_cleanse(keys, 2 * kKey);
  return s;
}

bool EphemeralPoolAddOne() { return Pool().AddOne(); }

void EphemeralPoolWipe() { Pool().Wipe(); }

}  // namespace noise

void InitNoiseIkpsk2(Napi::Env env, Napi::Object exports) {
  exports.Set("noiseReadA1", Napi::Function::New(env, ReadA1, "noiseReadA1"));
  exports.Set("noiseReadA2", Napi::Function::New(env, ReadA2, "noiseReadA2"));
  exports.Set("noiseWriteB", Napi::Function::New(env, WriteB, "noiseWriteB"));
  exports.Set("noiseRespond", Napi::Function::New(env, Respond, "noiseRespond"));
  exports.Set("noiseEphemeralRefill", Napi::Function::New(env, EphemeralRefill, "noiseEphemeralRefill"));
  exports.Set("noiseEphemeralPoolState", Napi::Function::New(env, EphemeralPoolState, "noiseEphemeralPoolState"));
}

}  // namespace xdpwg
