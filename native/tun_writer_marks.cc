// See tun_writer_marks.h. The key below mirrors xdpwg_tun_steer() in
// native/bpf/tun_steering.bpf.c line for line; test/netns/tun.test.ts checks
// that a reply is read on the queue that wrote its request.
#include "tun_writer_marks.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace xdpwg {

namespace {

inline uint32_t Mix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

inline bool HasPorts(uint8_t proto) {
  return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP || proto == IPPROTO_UDPLITE;
}

// sport ^ dport as the program loads them (two raw 16-bit words); 0 when the packet ends first.
inline uint32_t PortsOf(const uint8_t* pkt, uint32_t len, uint32_t offset) {
  if (offset + 4 > len) return 0;
  uint16_t p[2];
  std::memcpy(p, pkt + offset, sizeof p);
  return uint32_t(p[0]) ^ uint32_t(p[1]);
}

}  // namespace

int32_t TunFlowBucketOf(const uint8_t* pkt, uint32_t len) {
  if (len < 1) return -1;
  uint32_t key;
  if ((pkt[0] >> 4) == 4) {
    if (len < 20) return -1;
    uint32_t ihl = (pkt[0] & 0x0f) * 4;
    uint16_t frag = uint16_t(pkt[6] << 8 | pkt[7]);
    uint8_t proto = pkt[9];
    uint32_t src, dst;
    std::memcpy(&src, pkt + 12, 4);
    std::memcpy(&dst, pkt + 16, 4);
    key = (src ^ dst) + proto;
    if (ihl >= 20 && !(frag & 0x3fff) && HasPorts(proto)) key ^= Mix32(PortsOf(pkt, len, ihl));
  } else if ((pkt[0] >> 4) == 6) {
    if (len < 40) return -1;
    uint32_t h[10];
    std::memcpy(h, pkt, sizeof h);
    uint8_t next = uint8_t(ntohl(h[1]) >> 8);
    key = (h[2] ^ h[6]) + Mix32(h[3] ^ h[7]) + Mix32(Mix32(h[4] ^ h[8]) + (h[5] ^ h[9])) + next;
    if (HasPorts(next)) key ^= Mix32(PortsOf(pkt, len, 40));
  } else {
    return -1;
  }
  return int32_t(Mix32(key) & (kTunFlowBuckets - 1));
}

bool TunWriterMarks::Map(int mapFd, uint32_t queue) {
  Unmap();
  void* p = mmap(nullptr, kTunFlowBuckets * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, mapFd, 0);
  if (p == MAP_FAILED) return false;
  words_ = static_cast<uint64_t*>(p);
  tag_ = queue + 1;
  return true;
}

void TunWriterMarks::Unmap() {
  if (words_) munmap(words_, kTunFlowBuckets * sizeof(uint64_t));
  words_ = nullptr;
}

}  // namespace xdpwg
