// Batched in-place ChaCha20-Poly1305 for WireGuard data messages (see
// aead_burst.h for the per-packet layout). docs/DESIGN.md measured the per-call
// overhead of a native call (~3 µs) dominating the cipher (~0.8 µs at 1420 B),
// so one call here seals or opens a whole burst.
//
// Which implementation runs a packet (OpenSSL or libsodium) and why:
// AeadBackend in aead_burst.h. The notes below are the OpenSSL path's.
//
// Cost notes (test/native/aead_burst_harness.cc --bench, burst 64, this
// 2-core machine, best of 7): 64 B ~0.4 µs and 1420 B ~1.0-1.1 µs per packet.
// perf at 64 B: ~83% of the time is OpenSSL's AVX-512 ChaCha20 + Poly1305; the
// rest is EVP/provider parameter plumbing (strcmp in OSSL_PARAM_locate from
// the tag ctrl and CipherInit's iv/key length queries). EVP_CipherInit_ex
// with a NULL cipher reuses the provider implementation fetched once, so no
// algorithm fetch happens per packet. Re-keying is skipped while consecutive
// packets share the key bytes: ~10% at 64 B with one key (405 vs 453 ns),
// neutral for mixed keys.
#include "aead_burst.h"

#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <sodium.h>

#include <climits>
#include <cstdlib>
#include <cstring>

namespace xdpwg {

namespace {

// One direction's cached EVP context and the key it currently holds.
struct CachedCipher {
  EVP_CIPHER_CTX* evp = nullptr;
  uint8_t key[kAeadKeySize] = {};
  bool keyed = false;
};

}  // namespace

struct AeadBurstContext {
  EVP_CIPHER* cipher = nullptr;  // explicitly fetched once: no implicit fetch per init
  CachedCipher seal;
  CachedCipher open;
  bool keyCache = true;
  AeadBackend backend = AeadBackend::kAuto;
};

namespace {

bool PrepareCipher(EVP_CIPHER* cipher, CachedCipher& c, int enc) {
  c.evp = EVP_CIPHER_CTX_new();
  if (c.evp == nullptr) return false;
  // Bind the algorithm once; per packet only key and nonce are set.
  return EVP_CipherInit_ex(c.evp, cipher, nullptr, nullptr, nullptr, enc) == 1;
}

void ReleaseCipher(CachedCipher& c) {
  EVP_CIPHER_CTX_free(c.evp);  // cleanses the provider state (holds the key)
  c.evp = nullptr;
  OPENSSL_cleanse(c.key, sizeof c.key);
  c.keyed = false;
}

uint32_t KeyIndexAt(const AeadBurstArgs& a, size_t i) {
  return a.keyIndexWidth == 2 ? static_cast<const uint16_t*>(a.keyIndex)[i] : static_cast<const uint32_t*>(a.keyIndex)[i];
}

uint64_t CounterAt(const AeadBurstArgs& a, size_t i) {
  if (a.counters64 != nullptr) return a.counters64[i];
  return static_cast<uint64_t>(a.counters32[2 * i]) | (static_cast<uint64_t>(a.counters32[2 * i + 1]) << 32);
}

// WireGuard's nonce: 32 zero bits then the 64-bit counter, little-endian
// (whitepaper §5.4.6; RFC 8439 §2.8 leaves the layout to the protocol).
void BuildNonce(uint32_t prefix, uint64_t counter, uint8_t nonce[kAeadNonceSize]) {
  for (int b = 0; b < 4; b++) nonce[b] = static_cast<uint8_t>(prefix >> (8 * b));
  for (int b = 0; b < 8; b++) nonce[4 + b] = static_cast<uint8_t>(counter >> (8 * b));
}

// Resolves packet i to its region and key, or says why it cannot be used.
// Bounds are checked in 64-bit arithmetic so offset + length + tag never wraps.
AeadStatus LocatePacket(const AeadBurstArgs& a, size_t i, uint8_t** region, int* length, const uint8_t** key) {
  const uint64_t offset = a.desc[2 * i];
  const uint64_t len = a.desc[2 * i + 1];
  if (len > static_cast<uint64_t>(INT_MAX) || offset + len + kAeadTagSize > a.bufferSize) return kAeadBadDescriptor;
  const uint32_t k = KeyIndexAt(a, i);
  if (k >= a.keyCount) return kAeadBadKeyIndex;
  XDPWG_AEAD_ASSERT(a.buffer != nullptr);
  *region = a.buffer + offset;
  *length = static_cast<int>(len);
  *key = a.keys + static_cast<size_t>(k) * kAeadKeySize;
  return kAeadOk;
}

// Sets key (only when it differs from the cached one) and nonce.
bool Rekey(AeadBurstContext* ctx, CachedCipher& c, const uint8_t* key, const uint8_t* nonce, int enc) {
  const bool sameKey = ctx->keyCache && c.keyed && std::memcmp(c.key, key, kAeadKeySize) == 0;
  if (EVP_CipherInit_ex(c.evp, nullptr, nullptr, sameKey ? nullptr : key, nonce, enc) != 1) {
    c.keyed = false;
    return false;
  }
  if (!sameKey) {
    std::memcpy(c.key, key, kAeadKeySize);
    c.keyed = true;
  }
  return true;
}

AeadStatus SealOne(AeadBurstContext* ctx, const AeadBurstArgs& a, uint8_t* p, int len, const uint8_t* key, uint64_t counter) {
  CachedCipher& c = ctx->seal;
  uint8_t nonce[kAeadNonceSize];
  BuildNonce(a.noncePrefix, counter, nonce);
  if (!Rekey(ctx, c, key, nonce, 1)) return kAeadCryptoError;
  int outl = 0;
  if (a.aadSize > 0 && EVP_EncryptUpdate(c.evp, nullptr, &outl, a.aad, static_cast<int>(a.aadSize)) != 1) return kAeadCryptoError;
  // In place is allowed for stream ciphers: out == in exactly.
  if (len > 0 && (EVP_EncryptUpdate(c.evp, p, &outl, p, len) != 1 || outl != len)) return kAeadCryptoError;
  uint8_t none[16];  // a stream cipher emits nothing at final
  if (EVP_EncryptFinal_ex(c.evp, none, &outl) != 1 || outl != 0) return kAeadCryptoError;
  if (EVP_CIPHER_CTX_ctrl(c.evp, EVP_CTRL_AEAD_GET_TAG, kAeadTagSize, p + len) != 1) return kAeadCryptoError;
  return kAeadOk;
}

AeadStatus OpenOne(AeadBurstContext* ctx, const AeadBurstArgs& a, uint8_t* p, int len, const uint8_t* key, uint64_t counter) {
  CachedCipher& c = ctx->open;
  uint8_t nonce[kAeadNonceSize];
  BuildNonce(a.noncePrefix, counter, nonce);
  if (!Rekey(ctx, c, key, nonce, 0)) return kAeadCryptoError;
  uint8_t tag[kAeadTagSize];
  std::memcpy(tag, p + len, kAeadTagSize);
  if (EVP_CIPHER_CTX_ctrl(c.evp, EVP_CTRL_AEAD_SET_TAG, kAeadTagSize, tag) != 1) return kAeadCryptoError;
  int outl = 0;
  if (a.aadSize > 0 && EVP_DecryptUpdate(c.evp, nullptr, &outl, a.aad, static_cast<int>(a.aadSize)) != 1) return kAeadCryptoError;
  if (len > 0 && (EVP_DecryptUpdate(c.evp, p, &outl, p, len) != 1 || outl != len)) {
    OPENSSL_cleanse(p, static_cast<size_t>(len));
    return kAeadCryptoError;
  }
  uint8_t none[16];
  if (EVP_DecryptFinal_ex(c.evp, none, &outl) != 1) {
    // OpenSSL decrypts while it authenticates; wipe what it wrote so no
    // unauthenticated plaintext stays in the frame.
    if (len > 0) OPENSSL_cleanse(p, static_cast<size_t>(len));
    return kAeadAuthFailed;
  }
  return kAeadOk;
}

// libsodium's detached IETF construction is RFC 8439 with a 96-bit nonce:
// the same messages as the OpenSSL path, byte for byte.
AeadStatus SealCompact(AeadBurstContext*, const AeadBurstArgs& a, uint8_t* p, int len, const uint8_t* key, uint64_t counter) {
  uint8_t nonce[kAeadNonceSize];
  BuildNonce(a.noncePrefix, counter, nonce);
  if (crypto_aead_chacha20poly1305_ietf_encrypt_detached(p, p + len, nullptr, p, static_cast<unsigned long long>(len), a.aad, a.aadSize,
                                                         nullptr, nonce, key) != 0)
    return kAeadCryptoError;
  return kAeadOk;
}

AeadStatus OpenCompact(AeadBurstContext*, const AeadBurstArgs& a, uint8_t* p, int len, const uint8_t* key, uint64_t counter) {
  uint8_t nonce[kAeadNonceSize];
  BuildNonce(a.noncePrefix, counter, nonce);
  // libsodium verifies the tag before it decrypts: a forgery leaves the
  // ciphertext in place, zeroed here as the OpenSSL path does.
  if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(p, nullptr, p, static_cast<unsigned long long>(len), p + len, a.aad, a.aadSize,
                                                         nonce, key) != 0) {
    if (len > 0) sodium_memzero(p, static_cast<size_t>(len));
    return kAeadAuthFailed;
  }
  return kAeadOk;
}

// AeadBackend's rule (aead_burst.h): the burst's size, not the range's, so a
// crew's share of a bulk burst stays on OpenSSL.
bool UseCompact(const AeadBurstContext* ctx, const AeadBurstArgs& a, int len) {
  if (ctx->backend != AeadBackend::kAuto) return ctx->backend == AeadBackend::kSodium;
  return static_cast<size_t>(len) <= kAeadCompactMaxLen || a.n <= kAeadCompactMaxBurst;
}

using PacketOp = AeadStatus (*)(AeadBurstContext*, const AeadBurstArgs&, uint8_t*, int, const uint8_t*, uint64_t);

template <PacketOp Op, PacketOp Compact>
size_t RunBurst(AeadBurstContext* ctx, const AeadBurstArgs& a, size_t begin, size_t end) {
  XDPWG_AEAD_ASSERT(ctx != nullptr && ctx->seal.evp != nullptr && ctx->open.evp != nullptr);
  XDPWG_AEAD_ASSERT(a.keyIndexWidth == 2 || a.keyIndexWidth == 4);
  XDPWG_AEAD_ASSERT((a.counters64 == nullptr) != (a.counters32 == nullptr));
  XDPWG_AEAD_ASSERT(a.aadSize <= INT_MAX && (a.aadSize == 0 || a.aad != nullptr));
  XDPWG_AEAD_ASSERT(begin <= end && end <= a.n);
  size_t ok = 0;
  for (size_t i = begin; i < end; i++) {
    uint8_t* p = nullptr;
    int len = 0;
    const uint8_t* key = nullptr;
    AeadStatus s = LocatePacket(a, i, &p, &len, &key);
    if (s == kAeadOk) {
      XDPWG_AEAD_ASSERT(p >= a.buffer && p + len + kAeadTagSize <= a.buffer + a.bufferSize);
      s = (UseCompact(ctx, a, len) ? Compact : Op)(ctx, a, p, len, key, CounterAt(a, i));
    }
    a.results[i] = s;
    ok += s == kAeadOk;
  }
  return ok;
}

AeadBackend BackendFromEnvironment() {
  const char* v = std::getenv("XDPWG_AEAD_BACKEND");
  if (v != nullptr && std::strcmp(v, "openssl") == 0) return AeadBackend::kOpenSsl;
  if (v != nullptr && std::strcmp(v, "sodium") == 0) return AeadBackend::kSodium;
  return AeadBackend::kAuto;
}

}  // namespace

AeadBurstContext* AeadBurstContextNew() {
  // Idempotent and thread-safe; picks libsodium's fastest implementations for this CPU.
  if (sodium_init() < 0) return nullptr;
  auto* ctx = new AeadBurstContext();
  ctx->backend = BackendFromEnvironment();
  ctx->cipher = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  if (ctx->cipher == nullptr || !PrepareCipher(ctx->cipher, ctx->seal, 1) || !PrepareCipher(ctx->cipher, ctx->open, 0)) {
    AeadBurstContextFree(ctx);
    return nullptr;
  }
  return ctx;
}

void AeadBurstContextFree(AeadBurstContext* ctx) {
  if (ctx == nullptr) return;
  ReleaseCipher(ctx->seal);
  ReleaseCipher(ctx->open);
  EVP_CIPHER_free(ctx->cipher);
  delete ctx;
}

void AeadBurstContextSetBackend(AeadBurstContext* ctx, AeadBackend backend) { ctx->backend = backend; }

void AeadBurstContextSetKeyCache(AeadBurstContext* ctx, bool enabled) {
  ctx->keyCache = enabled;
  ctx->seal.keyed = ctx->open.keyed = false;
}

size_t AeadSealBurst(AeadBurstContext* ctx, const AeadBurstArgs& args) { return RunBurst<SealOne, SealCompact>(ctx, args, 0, args.n); }
size_t AeadOpenBurst(AeadBurstContext* ctx, const AeadBurstArgs& args) { return RunBurst<OpenOne, OpenCompact>(ctx, args, 0, args.n); }
size_t AeadSealRange(AeadBurstContext* ctx, const AeadBurstArgs& args, size_t begin, size_t end) {
  return RunBurst<SealOne, SealCompact>(ctx, args, begin, end);
}
size_t AeadOpenRange(AeadBurstContext* ctx, const AeadBurstArgs& args, size_t begin, size_t end) {
  return RunBurst<OpenOne, OpenCompact>(ctx, args, begin, end);
}

void AeadBurstContextForgetKeys(AeadBurstContext* ctx) {
  OPENSSL_cleanse(ctx->seal.key, sizeof ctx->seal.key);
  OPENSSL_cleanse(ctx->open.key, sizeof ctx->open.key);
  ctx->seal.keyed = ctx->open.keyed = false;
}

}  // namespace xdpwg

#ifndef XDPWG_AEAD_CORE_ONLY
// ---------------------------------------------------------------------------
// N-API glue. Argument shapes are checked here (a wrong shape is a programming
// error: TypeError/RangeError); per-packet problems are statuses, never throws.
#include "modules.h"
#include "aead_crew.h"

namespace xdpwg {
namespace {

// Per environment (= per worker thread) state, freed by the env cleanup hook.
struct AeadEnvState {
  AeadBurstContext* ctx = nullptr;
};

void FreeAeadEnvState(void* arg) {
  auto* state = static_cast<AeadEnvState*>(arg);
  AeadBurstContextFree(state->ctx);
  delete state;
}

Napi::Value Fail(Napi::Env env, bool range, const char* msg) {
  if (range)
    Napi::RangeError::New(env, msg).ThrowAsJavaScriptException();
  else
    Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

bool IsTyped(const Napi::Value& v, napi_typedarray_type type) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type;
}

// The element data of a typed array, already offset by its byteOffset. Asked
// of napi_get_typedarray_info directly because it also answers for views of a
// SharedArrayBuffer (napi_get_arraybuffer_info refuses a SharedArrayBuffer).
// Null if detached.
template <typename T>
T* TypedData(const Napi::Value& v) {
  void* data = nullptr;
  if (napi_get_typedarray_info(v.Env(), v, nullptr, nullptr, &data, nullptr, nullptr) != napi_ok) return nullptr;
  return static_cast<T*>(data);
}

// (buffer, desc, n, keys, keyIndex, counters, results[, aad[, noncePrefix]]) -> AeadBurstArgs.
// Returns a message when the shape is wrong; isRange says which error type.
const char* ParseBurstArgs(const Napi::CallbackInfo& info, AeadBurstArgs* a, bool* isRange) {
  *isRange = false;
  if (info.Length() < 7) return "expected (buffer, desc, n, keys, keyIndex, counters, results)";
  const Napi::Value buf = info[0];
  if (buf.IsArrayBuffer()) {
    auto ab = buf.As<Napi::ArrayBuffer>();
    a->buffer = static_cast<uint8_t*>(ab.Data());
    a->bufferSize = ab.ByteLength();
  } else if (buf.IsTypedArray()) {
    auto ta = buf.As<Napi::TypedArray>();
    a->buffer = TypedData<uint8_t>(buf);
    a->bufferSize = ta.ByteLength();
  } else {
    return "buffer must be an ArrayBuffer or a typed array (the packet buffer)";
  }
  if (a->buffer == nullptr) a->bufferSize = 0;  // detached: every descriptor fails its packet

  if (!IsTyped(info[1], napi_uint32_array)) return "desc must be a Uint32Array of (offset, length) pairs";
  if (!info[2].IsNumber()) return "n must be a number";
  const double n = info[2].As<Napi::Number>().DoubleValue();
  if (!(n >= 0) || n != static_cast<double>(static_cast<uint32_t>(n))) {
    *isRange = true;
    return "n must be a non-negative integer";
  }
  a->n = static_cast<size_t>(n);
  a->desc = TypedData<uint32_t>(info[1]);
  if (info[1].As<Napi::TypedArray>().ElementLength() < 2 * a->n) {
    *isRange = true;
    return "desc holds fewer than n (offset, length) pairs";
  }

  if (!IsTyped(info[3], napi_uint8_array)) return "keys must be a Uint8Array of 32-byte keys";
  const size_t keyBytes = info[3].As<Napi::TypedArray>().ByteLength();
  if (keyBytes % kAeadKeySize != 0) {
    *isRange = true;
    return "keys length must be a multiple of 32";
  }
  a->keys = TypedData<uint8_t>(info[3]);
  a->keyCount = keyBytes / kAeadKeySize;

  if (IsTyped(info[4], napi_uint16_array))
    a->keyIndexWidth = 2;
  else if (IsTyped(info[4], napi_uint32_array))
    a->keyIndexWidth = 4;
  else
    return "keyIndex must be a Uint16Array or Uint32Array";
  a->keyIndex = TypedData<uint8_t>(info[4]);
  if (info[4].As<Napi::TypedArray>().ElementLength() < a->n) {
    *isRange = true;
    return "keyIndex holds fewer than n entries";
  }

  a->counters64 = nullptr;
  a->counters32 = nullptr;
  const size_t counterLen = info[5].IsTypedArray() ? info[5].As<Napi::TypedArray>().ElementLength() : 0;
  if (IsTyped(info[5], napi_biguint64_array)) {
    a->counters64 = TypedData<uint64_t>(info[5]);
    if (counterLen < a->n) {
      *isRange = true;
      return "counters holds fewer than n entries";
    }
  } else if (IsTyped(info[5], napi_uint32_array)) {
    a->counters32 = TypedData<uint32_t>(info[5]);
    if (counterLen < 2 * a->n) {
      *isRange = true;
      return "counters (Uint32Array low, high pairs) holds fewer than n pairs";
    }
  } else {
    return "counters must be a BigUint64Array or a Uint32Array of (low, high) pairs";
  }

  if (!IsTyped(info[6], napi_uint8_array)) return "results must be a Uint8Array";
  a->results = TypedData<uint8_t>(info[6]);
  if (info[6].As<Napi::TypedArray>().ElementLength() < a->n) {
    *isRange = true;
    return "results holds fewer than n entries";
  }

  // Optional RFC 8439 generality (WireGuard passes neither): aad, noncePrefix.
  a->aad = nullptr;
  a->aadSize = 0;
  a->noncePrefix = 0;
  if (info.Length() > 7 && !info[7].IsUndefined()) {
    if (!IsTyped(info[7], napi_uint8_array)) return "aad must be a Uint8Array when given";
    a->aad = TypedData<uint8_t>(info[7]);
    a->aadSize = info[7].As<Napi::TypedArray>().ByteLength();
    if (a->aadSize > INT_MAX) {
      *isRange = true;
      return "aad too long";
    }
  }
  if (info.Length() > 8 && !info[8].IsUndefined()) {
    if (!info[8].IsNumber()) return "noncePrefix must be a number (little-endian 32-bit word)";
    const double prefix = info[8].As<Napi::Number>().DoubleValue();
    if (!(prefix >= 0) || prefix != static_cast<double>(static_cast<uint32_t>(prefix))) {
      *isRange = true;
      return "noncePrefix must be an integer in 0..2^32-1";
    }
    a->noncePrefix = static_cast<uint32_t>(prefix);
  }
  return nullptr;
}

template <size_t (*Burst)(AeadBurstContext*, const AeadBurstArgs&)>
Napi::Value BurstCall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* state = static_cast<AeadEnvState*>(info.Data());
  if (state->ctx == nullptr) {
    Napi::Error::New(env, "OpenSSL's libcrypto does not provide ChaCha20-Poly1305; use the node:crypto AEAD backend")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  AeadBurstArgs args{};
  bool isRange = false;
  if (const char* msg = ParseBurstArgs(info, &args, &isRange)) return Fail(env, isRange, msg);
  return Napi::Number::New(env, static_cast<double>(Burst(state->ctx, args)));
}

}  // namespace

void InitAeadBurst(Napi::Env env, Napi::Object exports) {
  auto* state = new AeadEnvState();
  state->ctx = AeadBurstContextNew();  // null is reported at the first call, not at addon load
  napi_add_env_cleanup_hook(env, FreeAeadEnvState, state);
  exports.Set("aeadSealBurst", Napi::Function::New(env, BurstCall<AeadCrewSeal>, "aeadSealBurst", state));
  exports.Set("aeadOpenBurst", Napi::Function::New(env, BurstCall<AeadCrewOpen>, "aeadOpenBurst", state));
  // The data transport's whole-burst calls use this environment's context too.
  InitDataTransport(env, exports, &state->ctx);
}

}  // namespace xdpwg
#endif  // XDPWG_AEAD_CORE_ONLY
