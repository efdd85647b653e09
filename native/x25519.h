// X25519 keys held by the addon (x25519.cc), shared with the handshake
// (noise_ikpsk2.cc). The scalar multiplications are libsodium's.
#pragma once

#include <cstdint>

namespace xdpwg {

// A private scalar (as given: libsodium clamps a copy on every use, RFC 7748
// §5). Wiped (sodium_memzero) when the key is freed. Threading: immutable
// once made, so any thread may derive with it; it is freed by the thread
// whose GC owns the External.
struct X25519Key {
  uint8_t scalar[32];
};

// X25519(key, peerPublic) into out (32 bytes); false, with out zeroed, when
// the result is all zeros (a small-order peer key: RFC 7748 §6.1,
// whitepaper §5.4).
bool X25519DeriveRaw(const X25519Key* key, const uint8_t peerPublic[32], uint8_t out[32]);

// The public key of key (X25519(key, 9)) into pub; false (pub zeroed) only
// for a scalar whose clamped value gives zero, which no clamped scalar does.
bool X25519PublicRaw(const X25519Key* key, uint8_t pub[32]);

// A fresh random key and its public key (an ephemeral).
bool X25519GenerateRaw(X25519Key* key, uint8_t pub[32]);

// Wipes a key's scalar.
void X25519WipeRaw(X25519Key* key);

}  // namespace xdpwg
