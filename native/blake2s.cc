// BLAKE2s, RFC 7693 §3 (compression function G, 10 rounds, message schedule
// SIGMA) with the parameter block of §2.5 reduced to digest and key length.
#include "blake2s.h"

#include <napi.h>
#include <openssl/crypto.h>

#include <cstring>

namespace xdpwg {

namespace {

// The SHA-256 initial values (RFC 7693 §2.6).
constexpr uint32_t kIv[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};

// Message word permutations of the 10 rounds (RFC 7693 §2.7).
constexpr uint8_t kSigma[10][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4}, {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13}, {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11}, {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5}, {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
};

inline uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

inline uint32_t Load32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

// The mixing function G (RFC 7693 §3.1) with BLAKE2s's rotations 16, 12, 8, 7.
inline void G(uint32_t v[16], int a, int b, int c, int d, uint32_t x, uint32_t y) {
  v[a] = v[a] + v[b] + x;
  v[d] = Rotr(v[d] ^ v[a], 16);
  v[c] = v[c] + v[d];
  v[b] = Rotr(v[b] ^ v[c], 12);
  v[a] = v[a] + v[b] + y;
  v[d] = Rotr(v[d] ^ v[a], 8);
  v[c] = v[c] + v[d];
  v[b] = Rotr(v[b] ^ v[c], 7);
}

}  // namespace

Blake2s::Blake2s(size_t outLength, const uint8_t* key, size_t keyLength) : outLength_(outLength) {
  std::memcpy(h_, kIv, sizeof h_);
  // Parameter block word 0: digest length, key length, fanout 1, depth 1.
  h_[0] ^= 0x01010000u ^ static_cast<uint32_t>(keyLength << 8) ^ static_cast<uint32_t>(outLength);
  if (keyLength > 0) {
    // The key, zero-padded, is the first block (RFC 7693 §3.3).
    uint8_t block[kBlock] = {};
    std::memcpy(block, key, keyLength);
    Update(block, kBlock);
    OPENSSL_cleanse(block, sizeof block);
  }
}

Blake2s::~Blake2s() {
  OPENSSL_cleanse(h_, sizeof h_);
  OPENSSL_cleanse(buf_, sizeof buf_);
}

void Blake2s::Compress(bool last) {
  uint32_t m[16];
  uint32_t v[16];
  for (int i = 0; i < 16; i++) m[i] = Load32(buf_ + 4 * i);
  for (int i = 0; i < 8; i++) {
    v[i] = h_[i];
    v[i + 8] = kIv[i];
  }
  v[12] ^= static_cast<uint32_t>(t_);
  v[13] ^= static_cast<uint32_t>(t_ >> 32);
  if (last) v[14] = ~v[14];
  for (const auto& s : kSigma) {
    G(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
    G(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
    G(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
    G(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
    G(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
    G(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
    G(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
    G(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
  }
  for (int i = 0; i < 8; i++) h_[i] ^= v[i] ^ v[i + 8];
  OPENSSL_cleanse(m, sizeof m);
  OPENSSL_cleanse(v, sizeof v);
}

void Blake2s::Update(const uint8_t* data, size_t n) {
  while (n > 0) {
    // A full buffer is compressed only once more data follows: the last block needs the final flag.
    if (used_ == kBlock) {
      t_ += kBlock;
      Compress(false);
      used_ = 0;
    }
    size_t take = kBlock - used_ < n ? kBlock - used_ : n;
    std::memcpy(buf_ + used_, data, take);
    used_ += take;
    data += take;
    n -= take;
  }
}

void Blake2s::Final(uint8_t* out) {
  t_ += used_;
  std::memset(buf_ + used_, 0, kBlock - used_);
  Compress(true);
  uint8_t full[kMaxOut];
  for (int i = 0; i < 8; i++) {
    full[4 * i] = static_cast<uint8_t>(h_[i]);
    full[4 * i + 1] = static_cast<uint8_t>(h_[i] >> 8);
    full[4 * i + 2] = static_cast<uint8_t>(h_[i] >> 16);
    full[4 * i + 3] = static_cast<uint8_t>(h_[i] >> 24);
  }
  std::memcpy(out, full, outLength_);
  OPENSSL_cleanse(full, sizeof full);
}

namespace {

// blake2sMac(key: Uint8Array(1..32), data: Uint8Array, out: Uint8Array(1..32)): keyed BLAKE2s, out.length bytes.
// The whitepaper's MAC (§5.4.4: MAC1, MAC2, cookies) is this with 16 bytes.
void Mac(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto isBytes = [](const Napi::Value& v, size_t min, size_t max) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) return false;
    size_t n = v.As<Napi::Uint8Array>().ByteLength();
    return n >= min && n <= max;
  };
  if (info.Length() < 3 || !isBytes(info[0], 1, Blake2s::kMaxOut) || !isBytes(info[1], 0, SIZE_MAX) ||
      !isBytes(info[2], 1, Blake2s::kMaxOut)) {
    Napi::TypeError::New(env, "blake2sMac(key: Uint8Array(1..32), data: Uint8Array, out: Uint8Array(1..32))").ThrowAsJavaScriptException();
    return;
  }
  auto key = info[0].As<Napi::Uint8Array>();
  auto data = info[1].As<Napi::Uint8Array>();
  auto out = info[2].As<Napi::Uint8Array>();
  Blake2s h(out.ByteLength(), key.Data(), key.ByteLength());
  h.Update(data.Data(), data.ByteLength());
  h.Final(out.Data());
}

}  // namespace

void InitBlake2s(Napi::Env env, Napi::Object exports) { exports.Set("blake2sMac", Napi::Function::New(env, Mac, "blake2sMac")); }

}  // namespace xdpwg
