// The responder's half of Noise_IKpsk2 as plain C++ calls (noise_ikpsk2.cc),
// for the handshake crew's threads (handshake_crew.cc), which answer
// initiations without JavaScript. The N-API functions of noise_ikpsk2.cc are
// thin wrappers over the same calls.
//
// Threading: any thread; each call uses only its arguments and the calling
// thread's own contexts and ephemeral pool (thread_local).
#pragma once

#include <cstddef>
#include <cstdint>

#include "x25519.h"

namespace xdpwg {
namespace noise {

constexpr size_t kKey = 32;                                           // keys, hashes, chaining keys
constexpr size_t kTag = 16;                                           // Poly1305 tag
constexpr size_t kState = 2 * kKey;                                   // ck ‖ h
constexpr size_t kTimestamp = 12;                                     // TAI64N
constexpr size_t kMessageA = kKey + kKey + kTag + kTimestamp + kTag;  // e ‖ AEAD(s) ‖ AEAD(t): 108 bytes

// The numbers JavaScript sees (src/protocol/noise-ikpsk2-native.ts maps 1–4, 5 is NOISE_REPLAYED).
enum Status : int { kOk = 0, kInvalidPublicKey = 1, kDecryptFailed = 2, kTruncated = 3, kInternal = 4, kReplayed = 5 };

// Tokens e, es, s of message A (m: n bytes, e ‖ AEAD(s) ‖ …) over state (ck ‖ h after "<- s",
// updated in place); the initiator's static key into rs.
Status ReadMessageA1(uint8_t state[kState], const X25519Key* local, const uint8_t* m, size_t n, uint8_t rs[kKey]);

// The rest after ReadMessageA1 and the peer look-up: tokens ss, {t} (t into timestamp); kReplayed,
// writing nothing more, when t is not after notAfter (zeros: nothing seen); then message B
// (e, ee, se, psk, {}) into out (e.pub ‖ AEAD(ε), 48 bytes) with `ephemeral` (tests), else one
// from this thread's pool, else a fresh one; and Split(): keys = T(i→r) ‖ T(r→i). The state is
// wiped on every exit; keys on failure.
Status RespondToMessageA(uint8_t state[kState], const uint8_t staticStatic[kKey], const uint8_t psk[kKey], const uint8_t m[kMessageA],
                         const uint8_t rs[kKey], const uint8_t notAfter[kTimestamp], const X25519Key* ephemeral, uint8_t out[kKey + kTag],
                         uint8_t keys[2 * kKey], uint8_t timestamp[kTimestamp]);

// The calling thread's pool of ready ephemerals: one more pair (false: full, or the generation
// failed), and wiping it.
bool EphemeralPoolAddOne();
void EphemeralPoolWipe();

}  // namespace noise
}  // namespace xdpwg
