// X25519 keys held by OpenSSL (x25519.cc), shared with the handshake
// (noise_ikpsk2.cc).
#pragma once

#include <openssl/evp.h>

#include <cstdint>

namespace xdpwg {

// A private key and one derive context bound to it (each derive swaps the
// peer key in). Threading: one thread at a time may derive with a key.
struct X25519Key {
  EVP_PKEY* pkey = nullptr;
  EVP_PKEY_CTX* derive = nullptr;
};

// X25519(key, peerPublic) into out (32 bytes); false, with out zeroed, when
// OpenSSL refuses the peer key or the result is all zeros (small order:
// RFC 7748 §6.1, whitepaper §5.4).
bool X25519DeriveRaw(X25519Key* key, const uint8_t peerPublic[32], uint8_t out[32]);

}  // namespace xdpwg
