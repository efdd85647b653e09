// GSO lessons per destination for the UDP port (udp_port.h): what a refused
// UDP_SEGMENT group taught about one destination's path, for a while, in a
// table of fixed size.
#pragma once
#include <netinet/in.h>
#include <sys/socket.h>
#include <array>
#include <cstdint>
#include <cstring>

namespace xdpwg {

/**
 * What refused GSO groups taught, per destination (address, port, scope):
 * segments of max_seg bytes or more are not grouped to it (0: no grouping)
 * until until_ms (CLOCK_MONOTONIC). Fixed size, 4-way set associative: a
 * new destination takes a free or expired way of its set, else the way that
 * expires first. Owned by the port's thread, like the port.
 */
class GsoLearnTable {
 public:
  static constexpr uint32_t kSets = 16, kWays = 4;
  static constexpr uint32_t kNoLimit = 65535;
  static constexpr size_t kKeySize = 24;  // 16 address + 2 port + 4 scope id + 2 zero
  /** The key of a destination (the sendmsg name: sockaddr_in6, or sockaddr_in on an IPv4 socket). */
  static void KeyOf(const sockaddr_in6& name, uint8_t key[kKeySize]);
  /** Segment size limit for key now: kNoLimit when nothing (unexpired) is known. */
  uint32_t Limit(const uint8_t key[kKeySize], uint64_t now_ms);
  /** Segments of max_seg or more bytes fail to key: remember until now_ms + ttl_ms. */
  void Learn(const uint8_t key[kKeySize], uint32_t max_seg, uint64_t now_ms, uint64_t ttl_ms);
  /** Whether any entry may be live (the fast path skips the lookup while none is). */
  bool Empty() const { return used_ == 0; }

 private:
  struct Entry {
    uint8_t key[kKeySize];
    uint32_t max_seg;
    uint64_t until_ms;  // 0 = free
  };
  static uint32_t SetOf(const uint8_t key[kKeySize]);
  std::array<Entry, kSets * kWays> e_{};
  uint32_t used_ = 0;  // entries not free (some may have expired unseen)
};

inline void GsoLearnTable::KeyOf(const sockaddr_in6& name, uint8_t key[kKeySize]) {
  memset(key, 0, kKeySize);
  if (name.sin6_family == AF_INET) {
    const auto* s4 = reinterpret_cast<const sockaddr_in*>(&name);
    key[10] = key[11] = 0xff;  // IPv4 as ::ffff:a.b.c.d, as on a dual-stack socket
    memcpy(key + 12, &s4->sin_addr, 4);
    memcpy(key + 16, &s4->sin_port, 2);
    return;
  }
  memcpy(key, &name.sin6_addr, 16);
  memcpy(key + 16, &name.sin6_port, 2);
  memcpy(key + 18, &name.sin6_scope_id, 4);
}

inline uint32_t GsoLearnTable::SetOf(const uint8_t key[kKeySize]) {
  // FNV-1a: a colliding destination only shares a set of four ways.
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < kKeySize; i++) h = (h ^ key[i]) * 16777619u;
  return (h ^ (h >> 16)) % kSets;
}

inline uint32_t GsoLearnTable::Limit(const uint8_t key[kKeySize], uint64_t now_ms) {
  Entry* set = &e_[SetOf(key) * kWays];
  for (uint32_t w = 0; w < kWays; w++) {
    Entry& e = set[w];
    if (e.until_ms == 0 || memcmp(e.key, key, kKeySize) != 0) continue;
    if (now_ms < e.until_ms) return e.max_seg;
    e.until_ms = 0;  // expired: try the full size again
    used_--;
    return kNoLimit;
  }
  return kNoLimit;
}

inline void GsoLearnTable::Learn(const uint8_t key[kKeySize], uint32_t max_seg, uint64_t now_ms, uint64_t ttl_ms) {
  Entry* set = &e_[SetOf(key) * kWays];
  Entry* slot = nullptr;
  for (uint32_t w = 0; w < kWays && !slot; w++)
    if (set[w].until_ms != 0 && memcmp(set[w].key, key, kKeySize) == 0) slot = &set[w];
  if (slot) {
    // Known and still live: keep the smaller limit.
    if (now_ms < slot->until_ms && slot->max_seg < max_seg) max_seg = slot->max_seg;
  } else {
    // A free way, else the one that expires first (an expired one expires "first" too).
    slot = &set[0];
    for (uint32_t w = 0; w < kWays && slot->until_ms != 0; w++)
      if (set[w].until_ms < slot->until_ms) slot = &set[w];
    if (slot->until_ms == 0) used_++;
    memcpy(slot->key, key, kKeySize);
  }
  slot->max_seg = max_seg;
  slot->until_ms = now_ms + ttl_ms;
}

}  // namespace xdpwg
