// X25519 (RFC 7748) through libsodium, for the handshake.
//
// Why native: node:crypto's diffieHellman() costs ~45 µs a call here with
// ready key objects, plus ~40 µs to import a raw private key and ~6 µs per
// raw public key (JWK).
//
// Why libsodium, not OpenSSL's EVP (which this file used before): measured
// per call on this 2-core machine (bench/x25519-backends.cc, quiet runs),
// a DH is ~31 µs with crypto_scalarmult_curve25519 against ~35 µs through
// EVP (a peer EVP_PKEY allocated per DH), and a fresh key pair ~28 µs
// (random bytes + crypto_scalarmult_curve25519_base) against ~40 µs
// (EVP_PKEY_keygen plus its derive context). A responder handshake does one
// key generation and three DHs: ~120 µs instead of ~145.
//
// A key is an External owning the raw scalar (no library object), wiped
// when the GC frees it. Every call here is reentrant: any thread may use it.
#include <napi.h>

#include <sodium.h>

#include <cstring>

#include "x25519.h"
#include "byte_args.h"

namespace xdpwg {

bool X25519DeriveRaw(const X25519Key* key, const uint8_t peerPublic[32], uint8_t out[32]) {
  // libsodium returns -1 for an all-zero result; the explicit check below is
  // the contract whatever a library version does.
  bool ok = crypto_scalarmult_curve25519(out, key->scalar, peerPublic) == 0;
  uint8_t any = 0;
  for (size_t i = 0; ok && i < 32; i++) any |= out[i];
  if (!ok || any == 0) {
    sodium_memzero(out, 32);
    return false;
  }
  return true;
}

bool X25519PublicRaw(const X25519Key* key, uint8_t pub[32]) {
  if (crypto_scalarmult_curve25519_base(pub, key->scalar) != 0) {
    sodium_memzero(pub, 32);
    return false;
  }
  return true;
}

bool X25519GenerateRaw(X25519Key* key, uint8_t pub[32]) {
  randombytes_buf(key->scalar, sizeof key->scalar);
  // Clamped as `wg genkey` does (the multiplication clamps a copy anyway).
  key->scalar[0] &= 248;
  key->scalar[31] &= 127;
  key->scalar[31] |= 64;
  if (X25519PublicRaw(key, pub)) return true;
  X25519WipeRaw(key);
  return false;
}

void X25519WipeRaw(X25519Key* key) { sodium_memzero(key->scalar, sizeof key->scalar); }

namespace {

constexpr size_t kX25519KeySize = 32;

void FreeKey(Napi::Env, X25519Key* key) {
  X25519WipeRaw(key);
  delete key;
}

// x25519KeyFromPrivate(private: Uint8Array(32), publicOut: Uint8Array(32)) → External
// The private scalar is clamped as RFC 7748 §5 says (by libsodium, on a
// copy, at each use); its public key is written to publicOut.
Napi::Value KeyFromPrivate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !IsBytes(info[0], kX25519KeySize) || !IsBytes(info[1], kX25519KeySize)) {
    Napi::TypeError::New(env, "x25519KeyFromPrivate(private: Uint8Array(32), publicOut: Uint8Array(32))").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto priv = info[0].As<Napi::Uint8Array>();
  auto pubOut = info[1].As<Napi::Uint8Array>();
  auto* key = new X25519Key();
  std::memcpy(key->scalar, priv.Data(), kX25519KeySize);
  if (!X25519PublicRaw(key, pubOut.Data())) {
    FreeKey(env, key);
    Napi::Error::New(env, "x25519KeyFromPrivate: libsodium refused the key").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::External<X25519Key>::New(env, key, FreeKey);
}

// x25519Derive(key: External, peerPublic: Uint8Array(32), out: Uint8Array(32)) → boolean
// False when the shared secret is all zeros (a small-order peer key:
// RFC 7748 §6.1, whitepaper §5.4); out is then zeroed.
Napi::Value Derive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsExternal() || !IsBytes(info[1], kX25519KeySize) || !IsBytes(info[2], kX25519KeySize)) {
    Napi::TypeError::New(env, "x25519Derive(key: External, peerPublic: Uint8Array(32), out: Uint8Array(32))").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  X25519Key* key = info[0].As<Napi::External<X25519Key>>().Data();
  auto peerPublic = info[1].As<Napi::Uint8Array>();
  auto out = info[2].As<Napi::Uint8Array>();
  return Napi::Boolean::New(env, X25519DeriveRaw(key, peerPublic.Data(), out.Data()));
}

}  // namespace

void InitX25519(Napi::Env env, Napi::Object exports) {
  // Idempotent and thread-safe; picks the fastest implementation for this CPU once per process.
  if (sodium_init() < 0) {
    Napi::Error::New(env, "libsodium failed to initialise").ThrowAsJavaScriptException();
    return;
  }
  exports.Set("x25519KeyFromPrivate", Napi::Function::New(env, KeyFromPrivate, "x25519KeyFromPrivate"));
  exports.Set("x25519Derive", Napi::Function::New(env, Derive, "x25519Derive"));
}

}  // namespace xdpwg
