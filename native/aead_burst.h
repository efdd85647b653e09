// Batched ChaCha20-Poly1305 (RFC 8439) for WireGuard transport data messages,
// sealed and opened in place inside one big packet buffer (a UMEM or a frame
// buffer). This header is the N-API-free core, so a plain C++ harness (and an
// ASan build of it) can exercise exactly the code the addon runs.
//
// Per packet i of a burst:
//   region   = buffer[desc[2i] .. desc[2i] + desc[2i+1])   plaintext / ciphertext
//   tag      = buffer[region end .. region end + 16)        Poly1305 tag
//   key      = keys[32 * keyIndex[i] .. + 32)               the keypair's send or receive key
//   nonce    = 4 zero bytes || counter[i] as 64-bit LE       (whitepaper §5.4.6)
//   AAD      = empty (RFC 8439 generality: optional per-burst AAD and nonce prefix)
// Seal encrypts the region in place and writes the tag after it; open
// verifies the tag and decrypts the region in place. Each packet gets a status;
// a bad packet never stops the burst and never throws (the data path drops and
// counts it).
//
// Threading: an AeadBurstContext belongs to one thread (one N-API environment,
// or one crypto crew thread); never share one between threads. One burst may
// be shared between threads by ranges (aead_crew.h): each range is run with
// its own thread's context and writes only its own packets and results.
#pragma once
#include <cstddef>
#include <cstdint>

#if defined(XDPWG_DEBUG) || defined(DEBUG) || defined(__SANITIZE_ADDRESS__)
#include <cassert>
// Internal invariants, live in debug and sanitizer builds (as sodium-native's
// C asserts). Release builds validate the same facts and fail the packet.
#define XDPWG_AEAD_ASSERT(cond) assert(cond)
#else
#define XDPWG_AEAD_ASSERT(cond) ((void)0)
#endif

namespace xdpwg {

constexpr size_t kAeadKeySize = 32;    // ChaCha20 key (RFC 8439 §2.3)
constexpr size_t kAeadTagSize = 16;    // Poly1305 tag (RFC 8439 §2.5)
constexpr size_t kAeadNonceSize = 12;  // 32-bit zero prefix + 64-bit counter (RFC 8439 §2.8, whitepaper §5.4.6)

// Per-packet outcome, written into results[i]. Values are part of the JS
// contract (src/crypto/aead-burst.ts AeadStatus): never renumber.
enum AeadStatus : uint8_t {
  kAeadOk = 0,
  kAeadAuthFailed = 1,     // open: tag mismatch (forged, corrupted or wrong key)
  kAeadBadDescriptor = 2,  // region + tag not inside the buffer
  kAeadBadKeyIndex = 3,    // keyIndex[i] beyond the key table
  kAeadCryptoError = 4,    // OpenSSL or libsodium refused an operation (should never happen)
};

// The caller's burst, as plain pointers into JS-owned typed arrays.
struct AeadBurstArgs {
  uint8_t* buffer;       // packet buffer base
  size_t bufferSize;     // its length in bytes
  const uint32_t* desc;  // 2*n entries: offset, length
  size_t n;              // packets in the burst
  const uint8_t* keys;   // key table, keyCount * 32 bytes
  size_t keyCount;
  const void* keyIndex;  // n entries of keyIndexWidth bytes (2 or 4)
  unsigned keyIndexWidth;
  const uint64_t* counters64;  // n counters, or null when counters32 is used
  const uint32_t* counters32;  // 2*n words: low, high (avoids BigInt in JS)
  uint8_t* results;            // n statuses
  // RFC 8439 generality, unused by WireGuard (both zero there): associated
  // data authenticated for every packet, and the 32-bit constant that leads
  // the nonce (RFC 8439 §2.8 "constant"), as a little-endian word.
  const uint8_t* aad;
  size_t aadSize;
  uint32_t noncePrefix;
};

struct AeadBurstContext;

// Creates a context (two cached EVP_CIPHER_CTX: one sealing, one opening).
// Returns null when OpenSSL cannot provide ChaCha20-Poly1305 or libsodium
// cannot initialise. Its backend is kAuto, or what XDPWG_AEAD_BACKEND
// ("auto", "openssl", "sodium") names.
AeadBurstContext* AeadBurstContextNew();
void AeadBurstContextFree(AeadBurstContext* ctx);
// Re-keying is skipped while consecutive packets carry the same key bytes;
// disabling that exists only to measure what it saves (harness --bench).
void AeadBurstContextSetKeyCache(AeadBurstContext* ctx, bool enabled);

// Which ChaCha20-Poly1305 implementation runs a packet. Both compute RFC 8439
// exactly (the harness checks each against the RFC vector and against the
// other); they differ in cost:
//   - OpenSSL (EVP, AVX-512): fastest on large packets when its code is
//     cached (1420 B: ~0.92 against ~1.41 us, this machine, hot loop), but
//     its provider plumbing makes a call that finds the caches cold, as the
//     first packet after a worker slept does, cost ~22 us on the 2-vCPU VM
//   - libsodium: faster up to ~512 B hot (64 B: ~0.29 against ~0.40 us) and
//     ~11 us cold
// kAuto (the default) gives libsodium every packet of up to
// kAeadCompactMaxLen bytes and every packet of a burst of at most
// kAeadCompactMaxBurst (a wake's lone packet: an idle ping, a handshake's
// first data), OpenSSL the large packets of bulk bursts. The other two
// force one implementation (measurement; the harness; XDPWG_AEAD_BACKEND).
enum class AeadBackend : uint8_t { kAuto = 0, kOpenSsl = 1, kSodium = 2 };
constexpr size_t kAeadCompactMaxLen = 512;
constexpr size_t kAeadCompactMaxBurst = 2;
void AeadBurstContextSetBackend(AeadBurstContext* ctx, AeadBackend backend);

// Seals every packet of the burst in place; returns how many succeeded.
size_t AeadSealBurst(AeadBurstContext* ctx, const AeadBurstArgs& args);
// Opens every packet of the burst in place; returns how many authenticated.
// A packet that fails authentication has its region zeroed, so unverified
// plaintext never lies in the buffer.
size_t AeadOpenBurst(AeadBurstContext* ctx, const AeadBurstArgs& args);
// The same over packets [begin, end) only (the crypto crew's share of a
// burst, aead_crew.h): writes results[begin..end) and nothing else.
size_t AeadSealRange(AeadBurstContext* ctx, const AeadBurstArgs& args, size_t begin, size_t end);
size_t AeadOpenRange(AeadBurstContext* ctx, const AeadBurstArgs& args, size_t begin, size_t end);
// Cleanses the context's cached copies of keys (the next packet re-keys).
void AeadBurstContextForgetKeys(AeadBurstContext* ctx);

}  // namespace xdpwg
