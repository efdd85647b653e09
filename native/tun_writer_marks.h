// Which TUN queue last wrote a packet of each bucket of flow hashes: the
// input of the steering program's "quiet flows follow their writer"
// (native/bpf/tun_steering.bpf.c). The program's map xdpwg_tun_writer is
// mapped into the writing thread's memory, so a mark is a plain store.
//
// Protocol: each word is written by the TUN queues' threads (any of them:
// the last writer of a bucket wins, which is the point) with relaxed atomic
// stores, and read by the steering program; a stale or torn-free old value
// only sends one packet to a worker that is still a valid choice.
#pragma once
#include <cstdint>

namespace xdpwg {

/** Buckets of flow hashes (the program's FLOW_BUCKETS). */
constexpr uint32_t kTunFlowBuckets = 4096;

/**
 * The bucket of an IP packet's flow, exactly as the steering program
 * computes it (the same symmetric key and mix, so a packet and its reply
 * land in one bucket); -1 for what the program does not hash (not IPv4/6,
 * too short).
 */
int32_t TunFlowBucketOf(const uint8_t* pkt, uint32_t len);

class TunWriterMarks {
 public:
  TunWriterMarks() = default;
  ~TunWriterMarks() { Unmap(); }
  TunWriterMarks(const TunWriterMarks&) = delete;
  TunWriterMarks& operator=(const TunWriterMarks&) = delete;

  /** Maps the map behind mapFd (borrowed) for queue `queue`; false (errno set) when it cannot. */
  bool Map(int mapFd, uint32_t queue);
  void Unmap();
  bool mapped() const { return words_ != nullptr; }

  /** Marks the packet's bucket as written by this queue (before the write: its reply may be steered during it). */
  void Mark(const uint8_t* pkt, uint32_t len) {
    if (!words_) return;
    int32_t b = TunFlowBucketOf(pkt, len);
    if (b >= 0 && __atomic_load_n(&words_[b], __ATOMIC_RELAXED) != tag_) __atomic_store_n(&words_[b], tag_, __ATOMIC_RELAXED);
  }

 private:
  uint64_t* words_ = nullptr;  // the map's values (64-bit: a mapped array's elements are 8-byte aligned)
  uint64_t tag_ = 0;           // 1 + the queue
};

}  // namespace xdpwg
