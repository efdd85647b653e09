// UDP port: the AF_XDP port's burst interface over a kernel UDP socket
// (recvmmsg/sendmmsg). JavaScript class: UdpPort (see src/native/binding.ts).
//
// It is the path when AF_XDP cannot be used (loopback, a device without XDP,
// no privileges), for packets larger than an XSK frame, and while a
// neighbour is unresolved. Frames live in one anonymous mapping exposed to JS
// as an external ArrayBuffer, exactly as the XSK port's UMEM.
//
// Sticky source: every received packet reports the local address it reached
// (IP_PKTINFO / IPV6_PKTINFO) and a transmit may name the source address to
// use, so replies leave from the address the peer talks to, as the kernel
// WireGuard module does. A send from an address that has gone away is retried
// with the kernel's choice and counted (tx_src_fallback).
//
// UDP GSO on transmit: consecutive datagrams of one burst to the same
// destination from the same source, all of one size but the last, go out as
// one message with UDP_SEGMENT (one trip down the stack for up to 64 of them),
// where the kernel offers it. A group the kernel refuses (a segment larger
// than the path MTU: EINVAL/EMSGSIZE; a device that cannot checksum: EIO) is
// sent datagram by datagram instead (tx_gso_fallback); segments that large
// are then not grouped again to that destination (EIO: no grouping to it at
// all) for a while (gsoLearnTtlMs, 60 s by default), then the full size is
// tried again: paths change, and one peer's small path MTU (or a spoofed
// ICMP "fragmentation needed") must not slow the others. What is learned
// sits in a small fixed table (GsoLearnTable) that never grows with the
// number of peers: a full set forgets its oldest entry, which costs at most
// one more refused group. Other errors (no route, a gone source) teach
// nothing.
//
// UDP GRO on receive (option "gro": true; udp_gro.h): the kernel may coalesce
// a sender's datagrams into one message; rxBurst cuts it into one frame per
// datagram, so JS sees datagrams either way. Only the port that receives
// may ask for it: the option is the socket's, shared by every duplicate.
//
// Threading: a port belongs to the thread (JS environment) that created it.
#pragma once
#include <napi.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cstdint>
#include <memory>
#include <vector>
#include "gso_learn_table.h"
#include "udp_addr_record.h"
#include "udp_sticky_source.h"
#include "umem.h"
#include "env_bound.h"

namespace xdpwg {

/** Most packets one rxBurst/txBurst call moves: one recvmmsg/sendmmsg batch. */
constexpr uint32_t kUdpMaxBurst = 256;
/** Default headroom: eth 14 + ipv6 40 + udp 8 + wireguard 16 = 78, rounded up to 128. */
constexpr uint32_t kUdpDefaultHeadroom = 128;

/** Counters in CNDP's lport_stats_t names plus the socket's own reasons. */
struct UdpPortCounters {
  uint64_t ipackets = 0, opackets = 0, ibytes = 0, obytes = 0;
  uint64_t ierrors = 0, oerrors = 0, imissed = 0, odropped = 0;
  uint64_t rx_invalid = 0, tx_invalid = 0;
  uint64_t rx_truncated = 0;               // datagram larger than the frame: dropped (part of rx_invalid)
  uint64_t rx_no_frames = 0;               // rxBurst found the pool empty (JS holds every frame)
  uint64_t tx_src_fallback = 0;            // sticky source gone: sent from the kernel's choice instead
  uint64_t tx_would_block = 0;             // send buffer full: the rest of the burst stayed with JS
  uint64_t tx_no_route = 0;                // ENETUNREACH / EHOSTUNREACH (part of oerrors)
  uint64_t tx_too_big = 0;                 // EMSGSIZE (part of oerrors)
  uint64_t free_invalid = 0;               // freeFrames offsets that were not JS-owned frames
  uint64_t tx_gso_sends = 0;               // messages that carried several datagrams (UDP_SEGMENT)
  uint64_t tx_gso_datagrams = 0;           // datagrams sent in those messages
  uint64_t tx_gso_fallback = 0;            // groups the kernel refused, resent one datagram at a time
  uint64_t tx_gso_learned = 0;             // limits learned for one destination (smaller segments, or GSO off)
  uint64_t tx_bulk_via_socket_bursts = 0;  // txBurstFrom calls: bulk runs sent from another buffer (a UMEM)
  uint64_t tx_bulk_via_socket_bytes = 0;   // UDP payload bytes those calls sent
  uint64_t rx_gro_receives = 0;            // messages the kernel coalesced (UDP_GRO), cut into datagrams here
  uint64_t rx_gro_datagrams = 0;           // datagrams those messages held
  uint64_t rx_gro_invalid = 0;             // coalesced messages with impossible sizes: dropped (part of rx_invalid)
  uint64_t rx_gro_no_frames = 0;           // datagrams of coalesced messages dropped for want of a frame
  uint64_t rx_bursts = 0, tx_bursts = 0;
};

class UdpPort : public EnvBound<UdpPort> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit UdpPort(const Napi::CallbackInfo& info);
  ~UdpPort() override;

 private:
  Napi::Value RxBurst(const Napi::CallbackInfo& info);
  // rxBurst with UDP GRO on (udp_gro.cc).
  uint32_t RxBurstGro(uint32_t* d, uint8_t* rec_base, uint32_t max);
  uint32_t EmitPending(uint32_t* d, uint8_t* rec_base, uint32_t out, uint32_t max);
  uint32_t SplitCoalesced(uint32_t i, uint32_t len, uint32_t seg, uint32_t* d, uint8_t* rec_base, uint32_t out, uint32_t max);
  void EmitDatagram(uint64_t frame, uint32_t len, const uint8_t* rec, uint32_t* d, uint8_t* rec_base, uint32_t* out, uint32_t max);
  bool EnableGro(Napi::Env env);
  void FreeGro();
  Napi::Value TxBurst(const Napi::CallbackInfo& info);
  Napi::Value TxBurstFrom(const Napi::CallbackInfo& info);
  void ReturnFrame(uint64_t frame);
  Napi::Value AllocFrames(const Napi::CallbackInfo& info);
  Napi::Value FreeFrames(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value ReleaseIdle(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value SetMark(const Napi::CallbackInfo& info);
  Napi::Value GetBuffer(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetPort(const Napi::CallbackInfo& info);
  Napi::Value GetFrameSize(const Napi::CallbackInfo& info);
  Napi::Value GetHeadroom(const Napi::CallbackInfo& info);
  Napi::Value GetRxPending(const Napi::CallbackInfo& info);

  bool Open(Napi::Env env, const Napi::Object& opts);
  bool SetupSocket(Napi::Env env, const Napi::Object& opts, bool adopted);
  bool ApplyMark(Napi::Env env, uint32_t mark);
  friend class EnvBound<UdpPort>;
  /** Frees what the object holds (idempotent); EnvBound::Release calls it. */
  void FreeResources();
  void ReadDrops();
  bool CheckOpen(Napi::Env env);
  // txBurst in steps (udp_port.cc); the GSO ones in udp_gso.cc.
  struct TxBurstArgs {
    uint32_t* desc;  // JS's descriptors (offset, length) per datagram
    uint8_t* addr;   // JS's address records, one per descriptor
    uint32_t n;      // descriptors in this burst
    uint8_t* src;    // txBurstFrom: the caller's buffer the datagrams lie in (null: our own frames)
    size_t src_len;
  };
  uint32_t BuildTxMessages(const TxBurstArgs& a);
  bool TakeTxFrame(const TxBurstArgs& a, uint32_t i, uint64_t* frame);
  void OpenTxMessage(uint32_t m, uint32_t k, uint32_t len);
  uint32_t SendTxMessages(const TxBurstArgs& a, uint32_t m);
  void CountTxSent(uint32_t done, int r);
  void CountTxError(int err, uint32_t* desc, uint32_t i);
  uint32_t ResendGroupSingly(uint32_t m, int err, const TxBurstArgs& a);
  bool CanJoin(uint32_t m, uint32_t len) const;
  void AddSegmentControl(uint32_t m);
  int SendGroupSingly(uint32_t m, uint32_t* desc, uint8_t* rec_base, bool* source_gone);
  uint32_t GsoLimitFor(const sockaddr_in6& name);
  void LearnGso(const sockaddr_in6& name, uint32_t max_seg);

  std::shared_ptr<UmemRegion> region_;
  FramePool pool_;
  Napi::Reference<Napi::ArrayBuffer> buffer_ref_;
  int fd_ = -1;
  int family_ = AF_INET6;  // socket family: AF_INET6 (dual-stack or v6) or AF_INET
  uint16_t port_ = 0;
  uint32_t headroom_ = kUdpDefaultHeadroom;
  UdpPortCounters c_;

  // Per-burst scratch, sized once at construction: no allocation per burst.
  struct Slot {
    sockaddr_in6 name;
    alignas(cmsghdr) uint8_t control[kStickyControlBytes];  // one in_pktinfo or in6_pktinfo (and room for both)
  };
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovs_;
  std::vector<Slot> slots_;
  std::vector<uint64_t> frames_;  // rx: frame per message; tx: frame per datagram (segment)
  std::vector<uint32_t> index_;   // tx: input descriptor index per datagram (segment)
  std::vector<uint8_t> retried_;  // tx: 1 = resent without its sticky source (per message)
  // tx, per message: its datagrams are segments [seg_first_, seg_first_ + seg_count_) of
  // iovs_/frames_/index_, each seg_size_ bytes but the last; pktinfo_len_ bytes of control
  // are the sticky source (the UDP_SEGMENT cmsg follows them).
  // seg_limit_: segments this large or larger are not grouped into it (learned for its destination).
  std::vector<uint32_t> seg_first_, seg_count_, seg_size_, msg_bytes_, pktinfo_len_, seg_limit_;
  // The burst in flight lies in a caller's buffer (txBurstFrom), not in our frames: nothing to give back.
  bool foreign_ = false;
  bool gso_ = false;                   // UDP_SEGMENT offered by the kernel (and not refused by the caller)
  GsoLearnTable gso_learned_;          // per destination: what refused groups taught
  uint32_t gso_learn_ttl_ms_ = 60000;  // how long a lesson holds before the full size is tried again

  // UDP GRO receive (udp_gro.cc). Each message's datagram lands in its frame and, past the
  // frame, in its own kUdpGroSpill slice of gro_spill_ (rx_iovs_: two per message). A
  // message's datagrams beyond what the caller's burst can take wait in pending_ (frames
  // already cut, owned by JS from then on) and come first in the next rxBurst.
  bool gro_ = false;
  uint8_t* gro_spill_ = nullptr;  // kUdpGroMessages * kUdpGroSpill bytes, mmap'd (touched as used)
  std::vector<iovec> rx_iovs_;
  struct PendingDatagram {
    uint64_t frame;
    uint32_t len;
    uint8_t rec[kUdpAddrRecordSize];
  };
  std::vector<PendingDatagram> pending_;
  size_t pending_head_ = 0;
  struct CutDatagram {
    uint64_t frame;
    uint32_t len;
  };
  std::vector<CutDatagram> cut_;  // SplitCoalesced's scratch: one message's datagrams 1..
};

/** udpGroSegments(len, segSize, cap): GroSegments (udp_gro.h) for the unit tests. */
Napi::Value GroSegmentsForTest(const Napi::CallbackInfo& info);

}  // namespace xdpwg
