// BLAKE2s (RFC 7693) in plain C++, for the handshake's hash chain
// (noise_ikpsk2.cc): ~20 HMACs per handshake of inputs of one or two blocks,
// where OpenSSL's EVP digest costs more in its per-call set-up than in the
// compression itself. Unkeyed and keyed, any output length 1..32.
// Threading: a Blake2s object belongs to one thread; the functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>

namespace xdpwg {

class Blake2s {
 public:
  static constexpr size_t kBlock = 64;
  static constexpr size_t kMaxOut = 32;

  // outLength 1..32; key (keyLength 0..32 bytes) makes it the keyed BLAKE2s of RFC 7693 §2.5.
  explicit Blake2s(size_t outLength = kMaxOut, const uint8_t* key = nullptr, size_t keyLength = 0);
  ~Blake2s();
  void Update(const uint8_t* data, size_t n);
  // Writes outLength bytes; the object is spent afterwards.
  void Final(uint8_t* out);

 private:
  void Compress(bool last);
  uint32_t h_[8];
  uint64_t t_ = 0;  // bytes compressed so far, plus those in buf_ at the final block
  uint8_t buf_[kBlock];
  size_t used_ = 0;  // bytes waiting in buf_ (the last block is compressed only by Final)
  size_t outLength_;
};

}  // namespace xdpwg
