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
//
// Frame accounting per slot (the holder table): so that frames a member
// holds come back however it ends, the memfd carries one byte per frame,
// holder[frame], between the frames and ShareControl:
//     0          the anchor's business (its pool, fill ring, rx, tx, JS);
//     s          member slot s holds it (its pool, its JS, its ret ring);
//     kHeldTx|s  member s put it on its tx ring: the kernel has it, and its
//                completion comes back on the anchor's completion ring.
//   Who writes what, and when:
//     anchor  s          before pushing the frame onto s's grant ring;
//     member  s          for a frame it reads from its rx ring, before it
//                        releases that rx entry (so a frame it took off the
//                        ring is never unmarked);
//     member  kHeldTx|s  before submitting the frame on its tx ring;
//     anchor  0          when the frame reaches its pool: taken from a ret
//                        ring, or completed on the completion ring.
//   A member never clears a byte: a frame it hands back keeps s until the
//   anchor has it (clearing it first would lose it if the member died in
//   between; clearing it after would race the anchor's next use).
//   A slot that turns gone is released by the anchor's worker
//   (ServeMembers) in this order: ret ring drained, grant ring drained (the
//   member no longer reads it), then every frame whose byte is exactly s is
//   taken back (kLent or kFill in the anchor's pool; anything else is
//   counted share_invalid), then the slot is marked free. This is sound
//   because gone is only set once nothing of the member can run any more:
//   by the member itself as the last step of closing its port (after it
//   has marked its rx ring's frames and flushed its tx ring), or by the
//   anchor's process when the member's Unix connection ended, which for a
//   dead process happens after its memory is gone (exit_mm before
//   exit_files), and which a live member's process does only after its
//   workers' shared ports are closed (Device.close stops the workers before
//   UplinkShareMember.close). The anchor's process must never mark a slot
//   gone for a member that still runs: its frames would be reused under it.
//   Frames marked kHeldTx|s are left alone: the kernel holds them and
//   completes them on the shared completion ring.
//   In-flight bound: a member that closes normally gives back every frame
//   (its pool, JS's, its rx ring's; its tx ring is kicked until the kernel
//   has taken it). A member killed with -9 loses to the anchor only what the
//   kernel held for its socket at that instant: descriptors on its rx ring it
//   had not read yet (or that the kernel put there before its socket left
//   the XSKMAP), tx descriptors the kernel had not taken, a tx burst it had
//   marked but not submitted yet: at most rxSize + txSize frames, none for a
//   member that was idle. These stay lost until the anchor's port is
//   reopened (not counted yet). JS of a closing member must not touch its
//   frames after close (the daemon's worker closes its port last).
//
// Liveness: a member marks its slot joined after bind and gone when it
// closes. A member killed with -9 never says gone; its process's exit
// closes its socket, and its main thread's Unix connection ends, which the
// anchor's process sees (src/daemon/xdp/uplink-share.ts) and marks the slot
// gone. Both write the anchor's wake eventfd, so an idle anchor's worker
// frees the slot at once, and a rejoin does not find it still gone (a
// member that does retries for a moment, as a bind retries EBUSY).
// An anchor that dies leaves the member's socket with a pool nobody
// fills: the member's process sees its Unix connection end, closes its
// shared ports and opens its own (the log says so).
//
// Wake-up: the anchor's worker sleeps in poll; a member writes the anchor's
// wake eventfd (in the anchor port's epoll set, pollFd) when it drew from
// the fill ring, sent, returned frames, runs low on grants or leaves.
//
// Threading: the grant ring has one writer (the anchor's worker thread) and
// one reader (the member's worker thread), ret the reverse; each index is
// written by one side only (release store) and read by the other (acquire
// load). holder bytes are relaxed stores ordered by the ring index stores
// that follow them (grant/ret push, rx release, tx submit). state is written
// by the member (joined, gone) and by the anchor's process on a lost
// connection (gone); the anchor's worker only reads it.
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
// Shared UMEM (umem_share.h): frames the anchor keeps granted to each member,
// and frames a member keeps for its own sends before returning the rest.
constexpr uint32_t kShareGrantTarget = 256;
constexpr uint32_t kShareMemberCache = 256;

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

/** holder[frame] bit: the member put the frame on its tx ring (the low bits name the slot). */
constexpr uint8_t kHeldTx = 0x80;

enum ShareSlotState : uint32_t { kSlotFree = 0, kSlotJoined = 1, kSlotGone = 2 };

struct ShareMember {
  std::atomic<uint32_t> state;
  std::atomic<uint32_t> pid;
  ShareRing grant;
  ShareRing ret;
};

/** Lies at the memfd's end, after the frames and the holder table (page aligned). Slot 0 (the anchor) has no rings in use. */
struct ShareControl {
  uint32_t magic;
  uint32_t frame_size;
  uint32_t frame_count;
  uint32_t reserved;
  ShareMember members[kShareMembers];
};

inline size_t SharePageRound(size_t bytes) {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page * page;
}
/** Bytes of the holder table (one per frame) that follows the frames. */
inline size_t ShareHolderBytes(uint32_t frame_count) { return SharePageRound(frame_count); }
/** Bytes of ShareControl at the memfd's end. */
inline size_t ShareControlBytes() { return SharePageRound(sizeof(ShareControl)); }
/** Bytes of the memfd: frames, the holder table, ShareControl (each page aligned). */
inline size_t ShareMemfdSize(uint64_t umem_bytes, uint32_t frame_count) {
  return umem_bytes + ShareHolderBytes(frame_count) + ShareControlBytes();
}

// A zero-filled memfd for a shared UMEM of frame_count frames of frame_size
// (every slot free, every holder byte 0), or -1 (errno set). umem_share.cc.
int MakeShareMemfd(uint32_t frame_size, uint32_t frame_count);

}  // namespace xdpwg
