// X25519 (RFC 7748) through OpenSSL's EVP, for the handshake.
//
// Why native: node:crypto's diffieHellman() costs ~45 µs a call here with
// ready key objects, plus ~40 µs to import a raw private key and ~6 µs per
// raw public key (JWK); through EVP with a cached derive context a DH is
// ~35 µs and a key pair from raw bytes ~40 µs (bench/protocol.ts; OpenSSL
// 3.0 derives an X25519 public key with a full scalar multiplication, not a
// fixed-base table). A responder handshake does one key generation and three
// DHs, so this is most of its CPU.
//
// A key is an External owning the EVP_PKEY and one derive context bound to
// it; each derive only swaps the peer key in. Threading: a key belongs to the
// thread (addon instance) that made it, as every EVP context.
#include <napi.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstring>

#include "x25519.h"

namespace xdpwg {

bool X25519DeriveRaw(X25519Key* key, const uint8_t peerPublic[32], uint8_t out[32]) {
  EVP_PKEY* peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peerPublic, 32);
  size_t length = 32;
  // validate_peer = 0: X25519 has no public key check beyond the zero result tested below.
  bool ok = peer != nullptr && EVP_PKEY_derive_set_peer_ex(key->derive, peer, 0) == 1 && EVP_PKEY_derive(key->derive, out, &length) == 1 &&
            length == 32;
  EVP_PKEY_free(peer);
  uint8_t any = 0;
  for (size_t i = 0; ok && i < 32; i++) any |= out[i];
  if (!ok || any == 0) {
    OPENSSL_cleanse(out, 32);
    return false;
  }
  return true;
}

namespace {

constexpr size_t kX25519KeySize = 32;

void FreeKey(Napi::Env, X25519Key* key) {
  EVP_PKEY_CTX_free(key->derive);
  EVP_PKEY_free(key->pkey);  // cleanses the private scalar
  delete key;
}

bool IsBytes(const Napi::Value& v, size_t length) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array &&
         v.As<Napi::Uint8Array>().ByteLength() == length;
}

// x25519KeyFromPrivate(private: Uint8Array(32), publicOut: Uint8Array(32)) → External
// The private scalar is clamped by OpenSSL as RFC 7748 §5 says; its public
// key is written to publicOut.
Napi::Value KeyFromPrivate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !IsBytes(info[0], kX25519KeySize) || !IsBytes(info[1], kX25519KeySize)) {
    Napi::TypeError::New(env, "x25519KeyFromPrivate(private: Uint8Array(32), publicOut: Uint8Array(32))").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto priv = info[0].As<Napi::Uint8Array>();
  auto pubOut = info[1].As<Napi::Uint8Array>();
  auto* key = new X25519Key();
  key->pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv.Data(), kX25519KeySize);
  size_t pubLength = kX25519KeySize;
  bool ok = key->pkey != nullptr && EVP_PKEY_get_raw_public_key(key->pkey, pubOut.Data(), &pubLength) == 1 && pubLength == kX25519KeySize;
  if (ok) {
    key->derive = EVP_PKEY_CTX_new_from_pkey(nullptr, key->pkey, nullptr);
    ok = key->derive != nullptr && EVP_PKEY_derive_init(key->derive) == 1;
  }
  if (!ok) {
    FreeKey(env, key);
    Napi::Error::New(env, "x25519KeyFromPrivate: OpenSSL refused the key").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::External<X25519Key>::New(env, key, FreeKey);
}

// x25519Derive(key: External, peerPublic: Uint8Array(32), out: Uint8Array(32)) → boolean
// False when the peer key is unusable or the shared secret is all zeros (a
// small-order peer key: RFC 7748 §6.1, whitepaper §5.4); out is then zeroed.
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
  exports.Set("x25519KeyFromPrivate", Napi::Function::New(env, KeyFromPrivate, "x25519KeyFromPrivate"));
  exports.Set("x25519Derive", Napi::Function::New(env, Derive, "x25519Derive"));
}

}  // namespace xdpwg
