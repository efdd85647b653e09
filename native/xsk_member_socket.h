// An AF_XDP socket that joins another socket's buffer pool (XDP_SHARED_UMEM)
// on the same (device, queue): a member of a shared UMEM (umem_share.h).
//
// libxdp cannot make one across processes: its xsk_umem registers the UMEM
// on the fd it is given, and the anchor's socket has one registered already.
// So the member's socket is made with the raw socket API here: its own rx
// and tx rings, no fill or completion ring (the kernel refuses them on a
// socket that shares the pool; the anchor's serve both).
//
// Threading: as the XskPort that owns it.
#pragma once
#include <xdp/xsk.h>
#include <cstddef>
#include <cstdint>

namespace xdpwg {

struct MemberSocket {
  int fd = -1;
  void* rx_map = nullptr;
  size_t rx_map_len = 0;
  void* tx_map = nullptr;
  size_t tx_map_len = 0;
};

/**
 * Opens a socket on (ifindex, queue) sharing anchor_fd's buffer pool, with
 * rx/tx rings of the given sizes (powers of two), and points rx and tx at
 * them. Returns 0, or -errno of the step that failed (*step names it).
 */
int OpenMemberSocket(int ifindex, uint32_t queue, int anchor_fd, uint32_t rx_size, uint32_t tx_size, struct xsk_ring_cons* rx,
                     struct xsk_ring_prod* tx, MemberSocket* out, const char** step);

/** Unmaps the rings and closes the socket (the kernel then drops its XSKMAP entries). */
void CloseMemberSocket(MemberSocket* s);

}  // namespace xdpwg
