// UMEM memory and the frame pool of an AF_XDP port (CNDP's "umem" + "mempool").
//
// The UMEM is one anonymous, page-aligned mapping cut into fixed-size frames.
// JavaScript sees it as one external ArrayBuffer, so the region must outlive
// both the socket and every ArrayBuffer that points into it: it is reference
// counted (shared_ptr) by the port and by the ArrayBuffer's finalizer.
//
// The pool tracks who owns each frame. A frame is in exactly one place: the
// pool, JavaScript, the kernel's fill ring or the kernel's tx ring. Frees and
// transmits of frames JavaScript does not own are refused and counted, so a
// bug in JS can never hand the kernel the same frame twice.
//
// Threading: a pool belongs to the thread that owns its port; no locking.
#pragma once
#include <sys/mman.h>
#include <unistd.h>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace xdpwg {

/**
 * One mapping; unmapped when the last owner lets go. Anonymous and private
 * for a port of its own; a shared memfd (whole file, map_size bytes) when
 * the UMEM is shared with another process (umem_share.h): size is then the
 * UMEM part at the front, and the memfd stays open as long as the region.
 */
class UmemRegion {
 public:
  /**
   * Maps size bytes; check ok() afterwards (errno tells why it failed).
   * Not populated: a page becomes resident when it is first written (a
   * datagram received into it, a packet built in it), so an idle port costs
   * only the pages it used. An AF_XDP UMEM still becomes resident as a
   * whole when the kernel pins it (XDP_UMEM_REG); a socket port's frames
   * (udp_port.cc: 64 KiB each) mostly never do.
   */
  explicit UmemRegion(size_t size) : size_(size), map_size_(size) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    base_ = p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
  }
  /** Maps map_size bytes of memfd (taken over: closed with the region), of which the first size are the UMEM. */
  UmemRegion(int memfd, size_t size, size_t map_size) : size_(size), map_size_(map_size), memfd_(memfd) {
    void* p = mmap(nullptr, map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, memfd, 0);
    base_ = p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
  }
  ~UmemRegion() {
    if (base_) munmap(base_, map_size_);
    if (memfd_ >= 0) close(memfd_);
  }
  UmemRegion(const UmemRegion&) = delete;
  UmemRegion& operator=(const UmemRegion&) = delete;

  bool ok() const { return base_ != nullptr; }
  uint8_t* base() const { return base_; }
  size_t size() const { return size_; }
  /** The memfd of a shared region, -1 for a private one. */
  int memfd() const { return memfd_; }
  /** What follows the UMEM in a shared region (umem_share.h's ShareControl). */
  uint8_t* tail() const { return base_ + size_; }

 private:
  uint8_t* base_ = nullptr;
  size_t size_;
  size_t map_size_;
  int memfd_ = -1;
};

/**
 * Where a frame currently is. kLent and kAway exist only with a shared UMEM
 * (umem_share.h): the anchor lent the frame to a member, or (in a member's
 * pool) the frame is not the member's.
 */
enum class FrameOwner : uint8_t { kPool = 0, kJs = 1, kFill = 2, kTx = 3, kLent = 4, kAway = 5 };

/**
 * Free list of frame start offsets (a LIFO stack: the most recently freed
 * frame is still warm in cache) plus an owner byte per frame.
 */
class FramePool {
 public:
  FramePool() = default;
  /** All frames in the pool; or, for a shared UMEM's member (away), none: every frame kAway. */
  FramePool(uint32_t frame_size, uint32_t frame_count, bool away = false)
      : frame_size_(frame_size), frame_count_(frame_count), owner_(frame_count, away ? FrameOwner::kAway : FrameOwner::kPool) {
    free_.reserve(frame_count);
    // Push in reverse so the first allocations come out in address order.
    if (!away)
      for (uint32_t i = frame_count; i-- > 0;) free_.push_back(uint64_t(i) * frame_size);
  }

  uint32_t frame_size() const { return frame_size_; }
  uint32_t frame_count() const { return frame_count_; }
  size_t available() const { return free_.size(); }
  uint64_t total_bytes() const { return uint64_t(frame_size_) * frame_count_; }

  /** Start of the frame that contains offset (any byte inside it). */
  uint64_t frame_of(uint64_t offset) const { return offset - offset % frame_size_; }
  bool in_range(uint64_t offset) const { return offset < total_bytes(); }
  FrameOwner owner(uint64_t offset) const { return owner_[offset / frame_size_]; }
  void set_owner(uint64_t offset, FrameOwner who) { owner_[offset / frame_size_] = who; }

  /** Takes one frame for the given owner; false when the pool is empty. */
  bool take(FrameOwner who, uint64_t* frame) {
    if (free_.empty()) return false;
    *frame = free_.back();
    free_.pop_back();
    owner_[*frame / frame_size_] = who;
    return true;
  }

  /** Returns a frame (already validated by the caller) to the pool. */
  void give_back(uint64_t frame) {
    owner_[frame / frame_size_] = FrameOwner::kPool;
    free_.push_back(frame);
  }

  /** Returns a frame JS owns; false (nothing changes) when offset is out of
   *  range or the frame is not JS-owned (double free, stale offset). */
  bool free_from_js(uint64_t offset) {
    if (!in_range(offset)) return false;
    uint64_t frame = frame_of(offset);
    if (owner(frame) != FrameOwner::kJs) return false;
    give_back(frame);
    return true;
  }

 private:
  uint32_t frame_size_ = 0;
  uint32_t frame_count_ = 0;
  std::vector<uint64_t> free_;
  std::vector<FrameOwner> owner_;
};

}  // namespace xdpwg
