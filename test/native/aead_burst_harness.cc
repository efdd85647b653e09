// Standalone harness for native/aead_burst.cc's core (no Node): built with
// AddressSanitizer + UBSan by test/native/run-aead-burst-asan.sh and by
// test/unit/aead-burst-asan.test.ts, so every byte the burst code touches is
// checked — in particular that bad descriptors never read or write outside
// the buffer. Packet buffers are heap blocks of exactly the buffer size, so an
// access one byte past the end is an ASan report, not silent.
//
//   aead_burst_harness          run the checks; exit 0 when all pass
//   aead_burst_harness --bench  also time seal/open per backend, with and without the key cache
//   aead_burst_harness --cold   also time one 96-byte seal per backend right after a 16 ms sleep
//                               (caches and TLB cold, as for a worker's first packet after a wait)
//
// Every check runs once per AeadBackend (auto, OpenSSL only, libsodium only),
// and TestBackendsAgree seals with one implementation and opens with the other.
#include "../../native/aead_burst.h"
#include "harness_check.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <unistd.h>

using namespace xdpwg;

namespace {

std::vector<uint8_t> Hex(const char* s) {
  std::vector<uint8_t> out;
  for (; *s; s++) {
    if (*s == ' ' || *s == '\n') continue;
    unsigned v;
    std::sscanf(s, "%2x", &v);
    out.push_back(static_cast<uint8_t>(v));
    s++;
  }
  return out;
}

// A heap buffer of exactly `size` bytes so ASan sees any overrun.
struct ExactBuffer {
  uint8_t* p;
  size_t size;
  explicit ExactBuffer(size_t n) : p(static_cast<uint8_t*>(std::malloc(n ? n : 1))), size(n) {}
  ~ExactBuffer() { std::free(p); }
};

AeadBurstArgs Args(ExactBuffer& b, const std::vector<uint32_t>& desc, const std::vector<uint8_t>& keys,
                   const std::vector<uint16_t>& keyIndex, const std::vector<uint64_t>& counters, std::vector<uint8_t>& results) {
  AeadBurstArgs a{};
  a.buffer = b.p;
  a.bufferSize = b.size;
  a.desc = desc.data();
  a.n = desc.size() / 2;
  a.keys = keys.data();
  a.keyCount = keys.size() / kAeadKeySize;
  a.keyIndex = keyIndex.data();
  a.keyIndexWidth = 2;
  a.counters64 = counters.data();
  a.results = results.data();
  return a;
}

// Packets of length 0, step, 2*step, ... up to maxLen, back to back in one
// exact buffer, each followed by its tag (the last ends at the buffer's end),
// filled with a reproducible pattern, with a key table and per-packet key
// index and counter chosen by the test.
struct PackedBurst {
  static std::vector<uint32_t> Descriptors(uint32_t maxLen, uint32_t step) {
    std::vector<uint32_t> d;
    size_t at = 0;
    for (uint32_t len = 0; len <= maxLen; len += step) {
      d.push_back(static_cast<uint32_t>(at));
      d.push_back(len);
      at += len + kAeadTagSize;
    }
    return d;
  }
  static size_t End(const std::vector<uint32_t>& d) { return d.empty() ? 0 : d[d.size() - 2] + d.back() + kAeadTagSize; }

  PackedBurst(uint32_t maxLen, uint32_t step, unsigned fill, size_t keyCount, uint16_t (*keyOf)(size_t), uint64_t (*counterOf)(size_t))
      : desc(Descriptors(maxLen, step)),
        n(desc.size() / 2),
        total(End(desc)),
        b(total),
        keys(keyCount * kAeadKeySize),
        ki(n),
        ctr(n),
        res(n, 0xee) {
    for (size_t i = 0; i < total; i++) b.p[i] = static_cast<uint8_t>(i * fill + 3);
    original.assign(b.p, b.p + total);
    for (size_t i = 0; i < keys.size(); i++) keys[i] = static_cast<uint8_t>(i * 7 + fill);
    for (size_t i = 0; i < n; i++) {
      ki[i] = keyOf(i);
      ctr[i] = counterOf(i);
    }
  }
  AeadBurstArgs Args() { return ::Args(b, desc, keys, ki, ctr, res); }

  const std::vector<uint32_t> desc;
  const size_t n;
  const size_t total;
  ExactBuffer b;
  std::vector<uint8_t> original, keys;
  std::vector<uint16_t> ki;
  std::vector<uint64_t> ctr;
  std::vector<uint8_t> res;
};

// RFC 8439 §2.8.2, through the burst with its AAD and nonce constant.
void TestRfcVector(AeadBurstContext* ctx) {
  const auto key = Hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  const auto aad = Hex("50515253c0c1c2c3c4c5c6c7");
  const char* plain = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
  const auto expected =
      Hex("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b"
          "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
          "3ff4def08e4b7a9de576d26586cec64b6116"
          "1ae10b594f09e26a7e902ecbd0600691");
  const size_t len = std::strlen(plain);
  ExactBuffer b(len + kAeadTagSize);
  std::memcpy(b.p, plain, len);
  std::vector<uint32_t> desc{0, static_cast<uint32_t>(len)};
  std::vector<uint16_t> ki{0};
  std::vector<uint64_t> ctr{0x4746454443424140ull};
  std::vector<uint8_t> res(1, 0xee);
  AeadBurstArgs a = Args(b, desc, key, ki, ctr, res);
  a.aad = aad.data();
  a.aadSize = aad.size();
  a.noncePrefix = 7;
  CHECK(AeadSealBurst(ctx, a) == 1 && res[0] == kAeadOk);
  CHECK(std::memcmp(b.p, expected.data(), expected.size()) == 0);
  CHECK(AeadOpenBurst(ctx, a) == 1 && res[0] == kAeadOk);
  CHECK(std::memcmp(b.p, plain, len) == 0);
}

// A burst where every packet sits flush against the end of its own exact
// buffer would need many buffers; instead the burst packs packets of every
// length 0..300 back to back, the last one ending exactly at the buffer end.
void TestRoundTripAndTamper(AeadBurstContext* ctx) {
  // Runs of one key (five packets each): exercises the key cache both ways.
  PackedBurst p(
      300, 1, 13, 3, [](size_t i) { return static_cast<uint16_t>((i / 5) % 3); },
      [](size_t i) { return (i % 2) ? uint64_t(i) : ~uint64_t(i); });
  const std::vector<uint32_t>& desc = p.desc;
  const size_t n = p.n, total = p.total;
  ExactBuffer& b = p.b;
  const std::vector<uint8_t>& original = p.original;
  std::vector<uint8_t>& res = p.res;
  AeadBurstArgs a = p.Args();
  CHECK(AeadSealBurst(ctx, a) == n);
  std::vector<uint8_t> sealed(b.p, b.p + total);
  CHECK(AeadOpenBurst(ctx, a) == n);
  for (size_t i = 0; i < n; i++) {
    CHECK(res[i] == kAeadOk);
    CHECK(std::memcmp(b.p + desc[2 * i], original.data() + desc[2 * i], desc[2 * i + 1]) == 0);
  }
  // Tamper every third packet (one bit of ciphertext or tag); those fail, are zeroed.
  std::memcpy(b.p, sealed.data(), total);
  for (size_t i = 0; i < n; i += 3) b.p[desc[2 * i] + (i * 31) % (desc[2 * i + 1] + kAeadTagSize)] ^= 0x10;
  CHECK(AeadOpenBurst(ctx, a) == n - (n + 2) / 3);
  for (size_t i = 0; i < n; i++) {
    const bool bad = i % 3 == 0;
    CHECK(res[i] == (bad ? kAeadAuthFailed : kAeadOk));
    if (bad) {
      for (uint32_t j = 0; j < desc[2 * i + 1]; j++) CHECK(b.p[desc[2 * i] + j] == 0);
    } else {
      CHECK(std::memcmp(b.p + desc[2 * i], original.data() + desc[2 * i], desc[2 * i + 1]) == 0);
    }
  }
}

void TestBadDescriptors(AeadBurstContext* ctx) {
  const size_t size = 1000;
  ExactBuffer b(size);
  std::memset(b.p, 0x33, size);
  std::vector<uint8_t> keys(kAeadKeySize, 9);
  std::vector<uint32_t> desc{
      0,
      10,  // ok
      static_cast<uint32_t>(size),
      0,  // starts at the end: no room for a tag
      static_cast<uint32_t>(size - 16),
      1,  // tag one byte past the end
      0xfffffff0u,
      0x20,  // offset + length wraps 32 bits
      0,
      0x80000000u,  // length above INT_MAX
      static_cast<uint32_t>(size - 16 - 5),
      5,  // exact fit at the end: ok
      100,
      10,  // key index beyond the table
  };
  std::vector<uint16_t> ki{0, 0, 0, 0, 0, 0, 1};
  std::vector<uint64_t> ctr(7, 1);
  std::vector<uint8_t> res(7, 0xee);
  AeadBurstArgs a = Args(b, desc, keys, ki, ctr, res);
  const uint8_t expected[] = {kAeadOk, kAeadBadDescriptor, kAeadBadDescriptor, kAeadBadDescriptor, kAeadBadDescriptor,
                              kAeadOk, kAeadBadKeyIndex};
  CHECK(AeadSealBurst(ctx, a) == 2);
  CHECK(std::memcmp(res.data(), expected, sizeof expected) == 0);
  CHECK(AeadOpenBurst(ctx, a) == 2);
  CHECK(std::memcmp(res.data(), expected, sizeof expected) == 0);
  for (size_t i = 0; i < size; i++) {
    const bool tagOfGood = (i >= 10 && i < 26) || i >= size - 16;
    if (!tagOfGood) CHECK(b.p[i] == 0x33);
  }
  // A zero-sized (detached) buffer: every packet is a bad descriptor.
  AeadBurstArgs empty = a;
  empty.buffer = nullptr;
  empty.bufferSize = 0;
  CHECK(AeadSealBurst(ctx, empty) == 0);
  for (size_t i = 0; i < 7; i++) CHECK(res[i] == kAeadBadDescriptor);  // bounds are checked before keys
}

void TestCounterForms(AeadBurstContext* ctx) {
  ExactBuffer b1(200), b2(200);
  for (int i = 0; i < 200; i++) b1.p[i] = b2.p[i] = static_cast<uint8_t>(i);
  std::vector<uint8_t> keys(kAeadKeySize, 4);
  std::vector<uint32_t> desc{0, 100, 116, 60};
  std::vector<uint16_t> ki16{0, 0};
  const uint32_t ki32[] = {0, 0};
  std::vector<uint64_t> ctr64{0x0123456789abcdefull, 0xfffffffffffffffeull};
  const uint32_t ctr32[] = {0x89abcdef, 0x01234567, 0xfffffffe, 0xffffffff};
  std::vector<uint8_t> res(2);
  AeadBurstArgs a = Args(b1, desc, keys, ki16, ctr64, res);
  CHECK(AeadSealBurst(ctx, a) == 2);
  AeadBurstArgs c = Args(b2, desc, keys, ki16, ctr64, res);
  c.counters64 = nullptr;
  c.counters32 = ctr32;
  c.keyIndex = ki32;
  c.keyIndexWidth = 4;
  CHECK(AeadSealBurst(ctx, c) == 2);
  CHECK(std::memcmp(b1.p, b2.p, 200) == 0);
}

// The two implementations produce the same messages: each opens what the other
// sealed, for every length up to past an MTU, and the auto rule's two sides of
// its length threshold (a lone large packet, a bulk burst) give OpenSSL's bytes.
void TestBackendsAgree(AeadBurstContext* ctx) {
  PackedBurst p(
      1500, 7, 29, 2, [](size_t i) { return static_cast<uint16_t>(i % 2); }, [](size_t i) { return uint64_t(i) * 0x10001; });
  const std::vector<uint32_t>& desc = p.desc;
  const size_t n = p.n, total = p.total;
  ExactBuffer& b = p.b;
  const std::vector<uint8_t>& original = p.original;
  std::vector<uint8_t>& res = p.res;
  std::vector<uint16_t>& ki = p.ki;
  std::vector<uint64_t>& ctr = p.ctr;
  AeadBurstArgs a = p.Args();
  const AeadBackend pairs[2][2] = {{AeadBackend::kOpenSsl, AeadBackend::kSodium}, {AeadBackend::kSodium, AeadBackend::kOpenSsl}};
  std::vector<uint8_t> sealedBy[2];
  for (int k = 0; k < 2; k++) {
    std::memcpy(b.p, original.data(), total);
    AeadBurstContextSetBackend(ctx, pairs[k][0]);
    CHECK(AeadSealBurst(ctx, a) == n);
    sealedBy[k].assign(b.p, b.p + total);
    AeadBurstContextSetBackend(ctx, pairs[k][1]);
    CHECK(AeadOpenBurst(ctx, a) == n);
    for (size_t i = 0; i < n; i++) {
      CHECK(res[i] == kAeadOk);
      CHECK(std::memcmp(b.p + desc[2 * i], original.data() + desc[2 * i], desc[2 * i + 1]) == 0);
    }
  }
  CHECK(sealedBy[0] == sealedBy[1]);
  // Auto: the whole burst (bulk: large packets on OpenSSL, small on libsodium), then
  // each large packet alone (a lone packet: libsodium) — the same bytes either way.
  AeadBurstContextSetBackend(ctx, AeadBackend::kAuto);
  std::memcpy(b.p, original.data(), total);
  CHECK(AeadSealBurst(ctx, a) == n);
  CHECK(std::memcmp(b.p, sealedBy[0].data(), total) == 0);
  std::memcpy(b.p, original.data(), total);
  for (size_t i = 0; i < n; i++) {
    AeadBurstArgs one = a;
    one.desc = desc.data() + 2 * i;
    one.n = 1;
    one.keyIndex = ki.data() + i;
    one.counters64 = ctr.data() + i;
    one.results = res.data() + i;
    CHECK(AeadSealBurst(ctx, one) == 1);
  }
  CHECK(std::memcmp(b.p, sealedBy[0].data(), total) == 0);
}

double Seconds() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Per-packet cost of the core at burst 64: one key vs a key per packet, key
// cache on/off. Each figure is the fastest of 7 interleaved repetitions (the
// machine is shared, so the minimum is the figure least disturbed).
void Bench(AeadBurstContext* ctx) {
  for (AeadBackend backend : {AeadBackend::kOpenSsl, AeadBackend::kSodium})
    for (uint32_t size : {64u, 1420u}) {
      AeadBurstContextSetBackend(ctx, backend);
      const char* name = backend == AeadBackend::kOpenSsl ? "openssl" : "sodium ";
      const size_t n = 64, frame = 2048;
      ExactBuffer b(n * frame);
      std::memset(b.p, 0x42, b.size);
      std::vector<uint32_t> desc;
      for (size_t i = 0; i < n; i++) desc.insert(desc.end(), {static_cast<uint32_t>(i * frame + 64), size});
      std::vector<uint8_t> keys(8 * kAeadKeySize);
      for (size_t i = 0; i < keys.size(); i++) keys[i] = static_cast<uint8_t>(i);
      std::vector<uint64_t> ctr(n);
      for (size_t i = 0; i < n; i++) ctr[i] = i;
      std::vector<uint8_t> res(n);
      std::vector<uint16_t> one(n, 0), mixed(n);
      for (size_t i = 0; i < n; i++) mixed[i] = static_cast<uint16_t>(i % 8);
      double best[2][2][2];  // [mixed][cache][open]
      for (auto& x : best)
        for (auto& y : x)
          for (auto& z : y) z = 1e9;
      for (int rep = 0; rep < 7; rep++) {
        for (int m = 0; m < 2; m++) {
          for (int cache = 0; cache < 2; cache++) {
            AeadBurstContextSetKeyCache(ctx, cache == 1);
            AeadBurstArgs a = Args(b, desc, keys, m ? mixed : one, ctr, res);
            const int rounds = size == 64 ? 2000 : 500;
            double t0 = Seconds();
            for (int r = 0; r < rounds; r++) AeadSealBurst(ctx, a);
            double t1 = Seconds();
            // Open right after one seal: every packet authentic; re-seal cost excluded by timing open alone.
            double openTotal = 0;
            for (int r = 0; r < rounds; r++) {
              AeadSealBurst(ctx, a);
              double o0 = Seconds();
              AeadOpenBurst(ctx, a);
              openTotal += Seconds() - o0;
            }
            best[m][cache][0] = std::min(best[m][cache][0], (t1 - t0) / (rounds * n));
            best[m][cache][1] = std::min(best[m][cache][1], openTotal / (rounds * n));
          }
        }
      }
      for (int m = 0; m < 2; m++)
        for (int cache = 1; cache >= 0; cache--)
          for (int op = 0; op < 2; op++)
            std::printf("%s %s %4u B, burst 64, %s keys, key cache %-3s: %5.0f ns/packet  %5.2f Gbit/s\n", name, op ? "open" : "seal", size,
                        m ? "mixed" : "one  ", cache ? "on" : "off", best[m][cache][op] * 1e9, size * 8 / best[m][cache][op] / 1e9);
    }
  AeadBurstContextSetKeyCache(ctx, true);
  AeadBurstContextSetBackend(ctx, AeadBackend::kAuto);
}

// The cost a lone packet pays when its worker wakes from a sleep: the median of
// 200 single-packet seals, each after 16 ms asleep (an idle ping's spacing),
// the backends alternated so both see the same machine.
void BenchCold(AeadBurstContext* ctx) {
  ExactBuffer b(96 + kAeadTagSize);
  std::memset(b.p, 0x42, b.size);
  std::vector<uint32_t> desc{0, 96};
  std::vector<uint8_t> keys(kAeadKeySize, 3);
  std::vector<uint16_t> ki{0};
  std::vector<uint64_t> ctr{0};
  std::vector<uint8_t> res(1);
  const AeadBackend backends[2] = {AeadBackend::kOpenSsl, AeadBackend::kSodium};
  std::vector<double> took[2];
  for (int i = 0; i < 200; i++) {
    for (int k = 0; k < 2; k++) {
      AeadBurstContextSetBackend(ctx, backends[k]);
      ctr[0] = static_cast<uint64_t>(i);
      AeadBurstArgs a = Args(b, desc, keys, ki, ctr, res);
      usleep(16000);
      const double t0 = Seconds();
      AeadSealBurst(ctx, a);
      took[k].push_back(Seconds() - t0);
    }
  }
  for (int k = 0; k < 2; k++) {
    std::sort(took[k].begin(), took[k].end());
    std::printf("%s one 96 B seal after 16 ms asleep: median %.1f us, p90 %.1f us\n", k ? "sodium " : "openssl", took[k][100] * 1e6,
                took[k][180] * 1e6);
  }
  AeadBurstContextSetBackend(ctx, AeadBackend::kAuto);
}

}  // namespace

int main(int argc, char** argv) {
  AeadBurstContext* ctx = AeadBurstContextNew();
  if (ctx == nullptr) {
    std::fprintf(stderr, "FAIL: no ChaCha20-Poly1305 in libcrypto\n");
    return 1;
  }
  for (AeadBackend backend : {AeadBackend::kAuto, AeadBackend::kOpenSsl, AeadBackend::kSodium}) {
    AeadBurstContextSetBackend(ctx, backend);
    TestRfcVector(ctx);
    TestRoundTripAndTamper(ctx);
    TestBadDescriptors(ctx);
    TestCounterForms(ctx);
  }
  TestBackendsAgree(ctx);
  if (argc > 1 && std::strcmp(argv[1], "--bench") == 0) Bench(ctx);
  if (argc > 1 && std::strcmp(argv[1], "--cold") == 0) BenchCold(ctx);
  AeadBurstContextFree(ctx);
  if (harness_failures) {
    std::fprintf(stderr, "%d check(s) failed\n", harness_failures);
    return 1;
  }
  std::printf("aead_burst harness: all checks passed\n");
  return 0;
}
