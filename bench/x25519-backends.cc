// X25519 per call, OpenSSL's EVP (as native/x25519.cc did it: a peer
// EVP_PKEY per DH, EVP_PKEY_keygen plus a derive context per key pair)
// against libsodium (crypto_scalarmult_curve25519, and random bytes +
// crypto_scalarmult_curve25519_base for a key pair), 8 rounds of 4,000 calls
// each; the quietest rounds are the figures native/x25519.cc quotes.
//
//   g++ -O2 -o /tmp/x25519-backends bench/x25519-backends.cc -lcrypto -lsodium && taskset -c 1 /tmp/x25519-backends
#include <openssl/evp.h>
#include <sodium.h>
#include <chrono>
#include <cstdio>
#include <cstring>
using C = std::chrono::steady_clock;
int main() {
  if (sodium_init() < 0) return 1;
  for (int rep = 0; rep < 8; rep++) {
  const int N = 4000;
  uint8_t sk[32], pk[32], peer[32], out[32];
  randombytes_buf(sk, 32); randombytes_buf(peer, 32); peer[31] &= 127;
  // OpenSSL: keygen (as GenerateEphemeral)
  EVP_PKEY_CTX* kg = EVP_PKEY_CTX_new_from_name(nullptr, "X25519", nullptr); EVP_PKEY_keygen_init(kg);
  auto t = C::now();
  for (int i = 0; i < N; i++) { EVP_PKEY* k = nullptr; EVP_PKEY_keygen(kg, &k); size_t n = 32; EVP_PKEY_get_raw_public_key(k, pk, &n);
    EVP_PKEY_CTX* d = EVP_PKEY_CTX_new_from_pkey(nullptr, k, nullptr); EVP_PKEY_derive_init(d); EVP_PKEY_CTX_free(d); EVP_PKEY_free(k); }
  double ossl_kg = std::chrono::duration<double, std::micro>(C::now() - t).count() / N;
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, sk, 32);
  EVP_PKEY_CTX* d = EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr); EVP_PKEY_derive_init(d);
  t = C::now();
  for (int i = 0; i < N; i++) { EVP_PKEY* p = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer, 32); size_t l = 32;
    EVP_PKEY_derive_set_peer_ex(d, p, 0); EVP_PKEY_derive(d, out, &l); EVP_PKEY_free(p); peer[0] ^= out[0]; }
  double ossl_dh = std::chrono::duration<double, std::micro>(C::now() - t).count() / N;
  t = C::now();
  for (int i = 0; i < N; i++) { randombytes_buf(sk, 32); crypto_scalarmult_curve25519_base(pk, sk); }
  double na_kg = std::chrono::duration<double, std::micro>(C::now() - t).count() / N;
  t = C::now();
  for (int i = 0; i < N; i++) { (void)!crypto_scalarmult_curve25519(out, sk, peer); peer[0] ^= out[0]; }
  double na_dh = std::chrono::duration<double, std::micro>(C::now() - t).count() / N;
  std::printf("openssl keygen %.1f us  dh %.1f us | sodium base %.1f us  dh %.1f us\n", ossl_kg, ossl_dh, na_kg, na_dh);
  }
}
