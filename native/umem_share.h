// Sharing one AF_XDP UMEM between xdpwg processes (two WireGuard interfaces,
// two processes, one uplink).
//
// Why: libxdp's dispatcher, which would let each process attach its own XDP
// program, needs freplace programs, and some kernels refuse them (see
// DispatcherReason in xdp_filter.cc). Without it a device runs one XDP
// program; and whatever the program, the kernel keeps one AF_XDP buffer pool
// per (device, queue): a second socket on a queue is only accepted with
// XDP_SHARED_UMEM and the first socket's fd, and then shares its fill and
// completion rings. So the processes share the first one's program (its port
// map names each port's member slot, its XSKMAP has one entry per (queue,
// slot): native/bpf/xdpwg_filter.bpf.c) and, per queue, its UMEM.
//
// The design:
//   - The anchor (the first process's port on a queue) creates the UMEM in a
//     memfd, mapped MAP_SHARED, followed by a ShareControl page block. The
//     memfd and the anchor socket's fd go to a member over a Unix socket
//     (SCM_RIGHTS). A member maps the same memfd: frame offsets mean the same
//     bytes in both processes.
//   - The anchor alone produces the fill ring and consumes the completion
//     ring (they are single-producer / single-consumer rings, and sharing
//     them would need a cross-process lock on the fast path). A member has
//     its own rx and tx rings only.
//   - Frames move between anchor and member through two single-producer,
//     single-consumer rings per member in ShareControl:
//       grant  (anchor -> member): free frames the member may use (to send);
//       ret    (member -> anchor): frames the member is done with (received
//                                 ones after processing, granted ones unused).
//     A frame the member sends is forgotten by it at submit time; its
//     completion comes back on the anchor's completion ring.
//   - Ownership: the anchor's FramePool marks frames it granted kLent; a frame
//     the kernel delivers to a member was kFill in the anchor's pool. Both
//     return to the anchor's pool through ret or the completion ring. The
//     member's own FramePool starts with every frame kAway (not its own) and
//     tracks only what it holds. A member is another xdpwg of this host,
//     trusted as the kernel trusts the socket it lets share the pool; the
//     anchor still refuses a returned frame that is not kFill or kLent.
//   - Liveness: a member marks its slot joined after bind and gone when it
//     closes. A member killed with -9 never says gone; its process's exit
//     closes its socket, and its main thread's Unix connection ends, which the
//     anchor's process sees (src/daemon/uplink-share.ts) and marks the slot
//     gone; the anchor then takes back the grants it had not taken. Frames the
//     dead member held (its cache, rx and tx rings) stay lost to the anchor
//     until the anchor's port is reopened (not counted yet).
//     An anchor that dies leaves the member's socket with a pool nobody
//     fills: the member's process sees its Unix connection end, closes its
//     shared ports and opens its own (the log says so).
//   - Wake-up: the anchor's worker sleeps in poll; a member writes the
//     anchor's wake eventfd (in the anchor port's epoll set, pollFd) when it
//     drew from the fill ring, sent, returned frames or runs low on grants.
//
// Threading: the grant ring has one writer (the anchor's worker thread) and
// one reader (the member's worker thread), ret the reverse; each index is
// written by one side only (release store) and read by the other (acquire
// load). state is written by the member (joined, gone) and by the anchor's
// process on a lost connection (gone); the anchor's worker only reads it.
#pragma once
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace xdpwg {

/** Member slots per shared program and UMEM, the anchor's (0) included: XDPWG_MEMBERS in the BPF program. */
constexpr uint32_t kShareMembers = 4;
/** Frames one grant or ret ring holds. */
constexpr uint32_t kShareRingSize = 1024;
constexpr uint32_t kShareMagic = 0x78777368;  // "xwsh"

/** A single-producer, single-consumer ring of frame offsets in shared memory. */
struct ShareRing {
  alignas(64) std::atomic<uint32_t> prod;
  alignas(64) std::atomic<uint32_t> cons;
  alignas(64) uint64_t slots[kShareRingSize];

  /** Producer: adds one offset; false when full. */
  bool push(uint64_t v) {
    uint32_t p = prod.load(std::memory_order_relaxed);
    if (p - cons.load(std::memory_order_acquire) >= kShareRingSize) return false;
    slots[p % kShareRingSize] = v;
    prod.store(p + 1, std::memory_order_release);
    return true;
  }
  /** Consumer: takes one offset; false when empty. */
  bool pop(uint64_t* v) {
    uint32_t c = cons.load(std::memory_order_relaxed);
    if (c == prod.load(std::memory_order_acquire)) return false;
    *v = slots[c % kShareRingSize];
    cons.store(c + 1, std::memory_order_release);
    return true;
  }
  uint32_t count() const { return prod.load(std::memory_order_acquire) - cons.load(std::memory_order_acquire); }
};

enum ShareSlotState : uint32_t { kSlotFree = 0, kSlotJoined = 1, kSlotGone = 2 };

struct ShareMember {
  std::atomic<uint32_t> state;
  std::atomic<uint32_t> pid;
  ShareRing grant;
  ShareRing ret;
};

/** Lies right after the UMEM frames in the memfd (page aligned). Slot 0 (the anchor) has no rings in use. */
struct ShareControl {
  uint32_t magic;
  uint32_t frame_size;
  uint32_t frame_count;
  uint32_t reserved;
  ShareMember members[kShareMembers];
};

/** Bytes of the memfd: frames, then ShareControl rounded up to a page. */
inline size_t ShareMemfdSize(uint64_t umem_bytes) {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return umem_bytes + (sizeof(ShareControl) + page - 1) / page * page;
}

}  // namespace xdpwg
