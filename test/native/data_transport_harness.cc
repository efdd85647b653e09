// Standalone harness for native/data_transport.cc's core (no Node): built with
// AddressSanitizer + UBSan by test/native/run-aead-burst-asan.sh. Packet
// buffers and keypair regions are heap blocks of exactly their size, so a
// read or write one byte outside them is an ASan report. Checks: a burst at
// the very end of its buffer, descriptors outside it, the round trip and its
// replay, counter exhaustion, the replay window's jumps, and two threads
// sealing with one keypair (every counter used once).
//
//   data_transport_harness   run the checks; exit 0 when all pass
#include "../../native/data_transport.h"
#include "harness_check.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

using namespace xdpwg;

namespace {

constexpr uint64_t kReject = ~uint64_t{0} - (uint64_t{1} << 13);

// A heap block of exactly n bytes (8-byte aligned, as a SharedArrayBuffer's).
struct Exact {
  uint8_t* p;
  size_t size;
  explicit Exact(size_t n) : p(static_cast<uint8_t*>(std::aligned_alloc(8, (n + 7) / 8 * 8))), size(n) { std::memset(p, 0, n); }
  ~Exact() { std::free(p); }
  Exact(const Exact&) = delete;
  Exact& operator=(const Exact&) = delete;
};

// Result values: a refused packet's result is -(100 + status).
int32_t codes[kTransportStatusCount];

// A sender's and a receiver's region for one key, indices 7 (receiver) and 9 (sender).
struct KeypairPair {
  Exact send{kKeypairSharedBytes};
  Exact receive{kKeypairSharedBytes};
  explicit KeypairPair(uint8_t seed) {
    for (int i = 0; i < 32; i++) send.p[32 + i] = receive.p[64 + i] = static_cast<uint8_t>(seed + i);
    const uint32_t flags = 1 | 2;  // canSend | canReceive
    std::memcpy(send.p + 8, &flags, 4);
    std::memcpy(receive.p + 8, &flags, 4);
    const uint32_t local = 7, remote = 9;
    std::memcpy(send.p + 16, &local, 4);  // the sender writes the receiver's index
    std::memcpy(receive.p + 12, &local, 4);
    std::memcpy(receive.p + 16, &remote, 4);
  }
  void SetCounter(uint64_t c) { std::memcpy(send.p, &c, 8); }
  uint64_t Counter() const {
    uint64_t c;
    std::memcpy(&c, send.p, 8);
    return c;
  }
};

struct Burst {
  std::vector<uint32_t> desc;
  std::vector<uint16_t> of;
  std::vector<int32_t> results;
  std::vector<uint8_t> first;
  std::vector<uint8_t*> keypairs;
  TransportBurst View(Exact& buf) {
    results.assign(of.size(), 0);
    first.assign(of.size(), 0);
    return TransportBurst{buf.p,           buf.size,  desc.data(),    of.size(),    keypairs.data(),
                          keypairs.size(), of.data(), results.data(), first.data(), codes};
  }
};

size_t Seal(AeadBurstContext* ctx, TransportScratch& s, Exact& buf, Burst& b, uint32_t mtu = 1420) {
  return TransportSealBurst(ctx, AeadSealBurst, s, b.View(buf), mtu);
}
size_t Open(AeadBurstContext* ctx, TransportScratch& s, Exact& buf, Burst& b) {
  return TransportOpenBurst(ctx, AeadOpenBurst, s, b.View(buf));
}

void TestEdgesOfTheBuffer(AeadBurstContext* ctx) {
  TransportScratch s;
  KeypairPair kp(1);
  // One 100-byte plaintext padded to 112 whose tag ends exactly at the buffer's end.
  Exact buf(16 + 112 + 16);
  Burst b;
  b.keypairs = {kp.send.p};
  b.desc = {16, 100};
  b.of = {0};
  CHECK(Seal(ctx, s, buf, b) == 1 && b.results[0] == 144);
  Burst r;
  r.keypairs = {kp.receive.p};
  r.desc = {0, 144};
  r.of = {0};
  CHECK(Open(ctx, s, buf, r) == 1 && r.results[0] == 112 && r.first[0] == 1);
  // One byte more of plaintext (113: padded 128) has no tailroom: refused, nothing written past the end.
  b.desc = {16, 113};
  CHECK(Seal(ctx, s, buf, b) == 0 && b.results[0] == -(100 + kSealNoTailroom));
  // No headroom; descriptors past the end, huge ones, and too short ones.
  b.desc = {15, 8};
  CHECK(Seal(ctx, s, buf, b) == 0 && b.results[0] == -(100 + kSealNoHeadroom));
  b.desc = {0xfffffff0u, 0xffffffffu};
  CHECK(Seal(ctx, s, buf, b) == 0);
  r.desc = {1, 144};
  CHECK(Open(ctx, s, buf, r) == 0 && r.results[0] == -(100 + kOpenOutOfBounds));
  r.desc = {0xffffffffu, 0xffffffffu};
  CHECK(Open(ctx, s, buf, r) == 0 && r.results[0] == -(100 + kOpenOutOfBounds));
  r.desc = {0, 31};
  CHECK(Open(ctx, s, buf, r) == 0 && r.results[0] == -(100 + kOpenTooShort));
}

void TestRoundTripReplayAndExhaustion(AeadBurstContext* ctx) {
  TransportScratch s;
  KeypairPair a(2), c(3);
  constexpr size_t kSlot = 256, kN = 40;
  Exact buf(kSlot * kN);
  Burst b;
  b.keypairs = {a.send.p, c.send.p};
  for (size_t i = 0; i < kN; i++) {
    b.desc.push_back(static_cast<uint32_t>(i * kSlot + 16));
    b.desc.push_back(static_cast<uint32_t>(i % 100));
    b.of.push_back(static_cast<uint16_t>(i % 3 == 0));
  }
  CHECK(Seal(ctx, s, buf, b) == kN);
  Burst r;
  r.keypairs = {a.receive.p, c.receive.p};
  for (size_t i = 0; i < kN; i++) {
    r.desc.push_back(static_cast<uint32_t>(i * kSlot));
    r.desc.push_back(static_cast<uint32_t>(b.results[i]));
    r.of.push_back(b.of[i]);
  }
  Exact copy(buf.size);
  std::memcpy(copy.p, buf.p, buf.size);
  CHECK(Open(ctx, s, buf, r) == kN);
  // The same messages again: every one a replay; a flipped bit: authentication fails first.
  copy.p[5 * kSlot + 20] ^= 1;
  CHECK(Open(ctx, s, copy, r) == 0);
  CHECK(r.results[5] == -(100 + kOpenAuthFailed) && r.results[6] == -(100 + kOpenReplay));
  // The counter space's end: two packets left, the third is refused and the keypair stops sending.
  a.SetCounter(kReject - 2);
  Burst e;
  e.keypairs = {a.send.p};
  e.desc = {16, 8, kSlot + 16, 8, 2 * kSlot + 16, 8};
  e.of = {0, 0, 0};
  CHECK(Seal(ctx, s, buf, e) == 2 && e.results[2] == -(100 + kSealCounterExhausted));
  CHECK(Seal(ctx, s, buf, e) == 0 && e.results[0] == -(100 + kSealKeypairUnusable));
}

void TestReplayWindowJumps() {
  Exact w(4 + 12 + 1024 * 4);
  CHECK(ReplayCheckAndUpdate(w.p, 0));
  CHECK(!ReplayCheckAndUpdate(w.p, 0));
  CHECK(ReplayCheckAndUpdate(w.p, uint64_t{1} << 40));  // far ahead: the whole bitmap cleared
  CHECK(!ReplayCheckAndUpdate(w.p, 5));                 // far behind
  CHECK(ReplayCheckAndUpdate(w.p, (uint64_t{1} << 40) - 32704));
  CHECK(!ReplayCheckAndUpdate(w.p, (uint64_t{1} << 40) - 32705));
  CHECK(!ReplayCheckAndUpdate(w.p, kReject));
  CHECK(ReplayCheckAndUpdate(w.p, kReject - 1));
}

void TestTwoThreadsOneKeypair() {
  KeypairPair kp(4);
  constexpr size_t kPerThread = 4000, kBurst = 32, kSlot = 64;
  std::vector<std::vector<uint64_t>> used(2);
  auto run = [&](int t) {
    AeadBurstContext* ctx = AeadBurstContextNew();
    TransportScratch s;
    Exact buf(kSlot * kBurst);
    for (size_t done = 0; done < kPerThread; done += kBurst) {
      Burst b;
      b.keypairs = {kp.send.p};
      for (size_t i = 0; i < kBurst; i++) {
        b.desc.push_back(static_cast<uint32_t>(i * kSlot + 16));
        b.desc.push_back(8);
        b.of.push_back(0);
      }
      Seal(ctx, s, buf, b);
      for (size_t i = 0; i < kBurst; i++) {
        uint64_t c;
        std::memcpy(&c, buf.p + i * kSlot + 8, 8);
        used[t].push_back(c);
      }
    }
    AeadBurstContextFree(ctx);
  };
  std::thread t0(run, 0), t1(run, 1);
  t0.join();
  t1.join();
  std::set<uint64_t> all(used[0].begin(), used[0].end());
  all.insert(used[1].begin(), used[1].end());
  CHECK(all.size() == 2 * kPerThread);
  CHECK(kp.Counter() == 2 * kPerThread);
}

}  // namespace

int main() {
  for (int k = 0; k < kTransportStatusCount; k++) codes[k] = -(100 + k);
  AeadBurstContext* ctx = AeadBurstContextNew();
  if (ctx == nullptr) {
    std::fprintf(stderr, "no AEAD context\n");
    return 1;
  }
  TestEdgesOfTheBuffer(ctx);
  TestRoundTripReplayAndExhaustion(ctx);
  TestReplayWindowJumps();
  TestTwoThreadsOneKeypair();
  AeadBurstContextFree(ctx);
  if (harness_failures > 0) {
    std::fprintf(stderr, "data_transport_harness: %d check(s) failed\n", harness_failures);
    return 1;
  }
  std::printf("data_transport_harness: all checks passed\n");
  return 0;
}
