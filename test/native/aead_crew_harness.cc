// Standalone harness for native/aead_crew.cc (no Node), built with
// ThreadSanitizer by test/unit/aead-crew-tsan.test.ts: two owner threads
// issue bursts at once through one crew of two threads, with the crew
// restarted in between, and every result must equal the same burst run by one
// thread alone. A data race on a burst, its results or the job fields is a
// TSan report; a wrong protocol (an owner returning before its crew is done)
// is a mismatch. Prints "all checks passed" and exits 0 when all pass.
#include "../../native/aead_burst.h"
#include "../../native/aead_crew.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

using namespace xdpwg;

namespace {

std::atomic<int> failures{0};

constexpr size_t kN = 48, kSlot = 320;

struct Burst {
  std::vector<uint8_t> buf = std::vector<uint8_t>(kN * kSlot);
  std::vector<uint32_t> desc = std::vector<uint32_t>(2 * kN);
  std::vector<uint8_t> keys = std::vector<uint8_t>(64);
  std::vector<uint16_t> keyIndex = std::vector<uint16_t>(kN);
  std::vector<uint64_t> counters = std::vector<uint64_t>(kN);
  std::vector<uint8_t> results = std::vector<uint8_t>(kN);
  AeadBurstArgs args() {
    AeadBurstArgs a{};
    a.buffer = buf.data();
    a.bufferSize = buf.size();
    a.desc = desc.data();
    a.n = kN;
    a.keys = keys.data();
    a.keyCount = 2;
    a.keyIndex = keyIndex.data();
    a.keyIndexWidth = 2;
    a.counters64 = counters.data();
    a.results = results.data();
    return a;
  }
};

void Fill(Burst& b, unsigned seed) {
  for (size_t i = 0; i < b.buf.size(); i++) b.buf[i] = static_cast<uint8_t>(i * 31 + seed);
  for (size_t i = 0; i < 64; i++) b.keys[i] = static_cast<uint8_t>(i + seed);
  for (size_t i = 0; i < kN; i++) {
    b.desc[2 * i] = static_cast<uint32_t>(i * kSlot);
    b.desc[2 * i + 1] = static_cast<uint32_t>(1 + (i * 37 + seed) % (kSlot - 16));
    b.keyIndex[i] = static_cast<uint16_t>((i + seed) % 2);
    b.counters[i] = seed * 1000 + i;
  }
  b.desc[2 * 5] = static_cast<uint32_t>(b.buf.size());  // a bad descriptor in every burst
}

void Owner(unsigned id, int rounds) {
  AeadBurstContext* ctx = AeadBurstContextNew();
  AeadBurstContext* ref = AeadBurstContextNew();
  for (int r = 0; r < rounds; r++) {
    const unsigned seed = id * 100000 + static_cast<unsigned>(r);
    Burst shared, alone;
    Fill(shared, seed);
    Fill(alone, seed);
    const size_t okShared = AeadCrewSeal(ctx, shared.args());
    const size_t okAlone = AeadSealBurst(ref, alone.args());
    if (okShared != okAlone || shared.buf != alone.buf || shared.results != alone.results) {
      std::fprintf(stderr, "FAIL seal mismatch owner %u round %d\n", id, r);
      failures++;
    }
    if (r % 3 == 0) shared.buf[kSlot + 2] ^= 1;  // a forged packet now and then
    alone.buf = shared.buf;
    const size_t openShared = AeadCrewOpen(ctx, shared.args());
    const size_t openAlone = AeadOpenBurst(ref, alone.args());
    if (openShared != openAlone || shared.buf != alone.buf || shared.results != alone.results) {
      std::fprintf(stderr, "FAIL open mismatch owner %u round %d\n", id, r);
      failures++;
    }
  }
  AeadBurstContextFree(ctx);
  AeadBurstContextFree(ref);
}

}  // namespace

int main() {
  for (int phase = 0; phase < 3; phase++) {
    AeadCrewSettings s;
    s.threads = phase == 1 ? 1 : 2;
    s.minBurst = 2;
    s.spinUs = phase == 2 ? 0 : 200;  // phase 2: the crew sleeps on the futex between bursts
    if (!AeadCrewConfigure(s)) {
      std::fprintf(stderr, "FAIL crew did not start\n");
      return 1;
    }
    std::thread a(Owner, 1, 300), b(Owner, 2, 300);
    a.join();
    b.join();
  }
  const AeadCrewStats st = AeadCrewGetStats();
  AeadCrewSettings off;
  AeadCrewConfigure(off);
  std::printf("bursts shared %llu, packets %llu, by the crew %llu, alone %llu\n", (unsigned long long)st.bursts,
              (unsigned long long)st.packets, (unsigned long long)st.crewPackets, (unsigned long long)st.alone);
  if (st.crewPackets == 0) {
    std::fprintf(stderr, "FAIL the crew never took part\n");
    failures++;
  }
  if (failures.load() != 0) return 1;
  std::printf("all checks passed\n");
  return 0;
}
