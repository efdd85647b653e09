// See xsk_member_socket.h. Ring layout and set-up order follow
// Documentation/networking/af_xdp.rst: ring sizes by setsockopt, offsets by
// getsockopt(XDP_MMAP_OFFSETS), rings by mmap at their page offsets, then
// bind (XDP_SHARED_UMEM takes no other bind flag: the pool's need-wakeup
// and copy mode are the anchor's).
#include "xsk_member_socket.h"

#include <errno.h>
#include <linux/if_xdp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif

namespace xdpwg {
namespace {

void* MapRing(int fd, const struct xdp_ring_offset& off, uint32_t size, size_t entry, off_t pgoff, size_t* len) {
  *len = off.desc + size * entry;
  void* p = mmap(nullptr, *len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pgoff);
  return p == MAP_FAILED ? nullptr : p;
}

// Points a libxdp ring struct (xsk_ring_prod and xsk_ring_cons share the layout) at a mapped ring.
template <typename Ring>
void PointRing(uint8_t* m, const struct xdp_ring_offset& off, uint32_t size, Ring* r) {
  r->mask = size - 1;
  r->size = size;
  r->producer = reinterpret_cast<uint32_t*>(m + off.producer);
  r->consumer = reinterpret_cast<uint32_t*>(m + off.consumer);
  r->flags = reinterpret_cast<uint32_t*>(m + off.flags);
  r->ring = m + off.desc;
  r->cached_prod = *r->producer;
  r->cached_cons = *r->consumer;
}

}  // namespace

int OpenMemberSocket(int ifindex, uint32_t queue, int anchor_fd, uint32_t rx_size, uint32_t tx_size, struct xsk_ring_cons* rx,
                     struct xsk_ring_prod* tx, MemberSocket* out, const char** step) {
  MemberSocket s;
  int err = 0;
  struct xdp_mmap_offsets off = {};
  socklen_t optlen = sizeof(off);
  struct sockaddr_xdp sxdp = {};

  *step = "socket(AF_XDP)";
  s.fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (s.fd < 0) return -errno;
  *step = "setsockopt(XDP_RX_RING / XDP_TX_RING)";
  if (setsockopt(s.fd, SOL_XDP, XDP_RX_RING, &rx_size, sizeof(rx_size)) ||
      setsockopt(s.fd, SOL_XDP, XDP_TX_RING, &tx_size, sizeof(tx_size)))
    goto fail;
  *step = "getsockopt(XDP_MMAP_OFFSETS)";
  if (getsockopt(s.fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen)) goto fail;
  *step = "mmap(rx ring)";
  s.rx_map = MapRing(s.fd, off.rx, rx_size, sizeof(struct xdp_desc), XDP_PGOFF_RX_RING, &s.rx_map_len);
  if (!s.rx_map) goto fail;
  *step = "mmap(tx ring)";
  s.tx_map = MapRing(s.fd, off.tx, tx_size, sizeof(struct xdp_desc), XDP_PGOFF_TX_RING, &s.tx_map_len);
  if (!s.tx_map) goto fail;
  *step = "bind(XDP_SHARED_UMEM)";
  sxdp.sxdp_family = AF_XDP;
  sxdp.sxdp_ifindex = static_cast<uint32_t>(ifindex);
  sxdp.sxdp_queue_id = queue;
  sxdp.sxdp_flags = XDP_SHARED_UMEM;
  sxdp.sxdp_shared_umem_fd = static_cast<uint32_t>(anchor_fd);
  if (bind(s.fd, reinterpret_cast<struct sockaddr*>(&sxdp), sizeof(sxdp))) goto fail;

  // The same fields libxdp's xsk_socket__create fills in, so its inline ring helpers work on them.
  PointRing(static_cast<uint8_t*>(s.rx_map), off.rx, rx_size, rx);
  PointRing(static_cast<uint8_t*>(s.tx_map), off.tx, tx_size, tx);
  tx->cached_cons += tx_size;  // a producer's cached_cons runs one ring ahead (libxdp's convention)
  *out = s;
  return 0;

fail:
  err = -errno;
  CloseMemberSocket(&s);
  return err;
}

void CloseMemberSocket(MemberSocket* s) {
  if (s->rx_map) munmap(s->rx_map, s->rx_map_len);
  if (s->tx_map) munmap(s->tx_map, s->tx_map_len);
  if (s->fd >= 0) close(s->fd);
  *s = MemberSocket();
}

}  // namespace xdpwg
