// TUN queues: creation (multi-queue, one non-blocking fd per worker), adoption
// of an inherited fd (WG_TUN_FD), and burst read/write into frames.
// JavaScript: tunOpen, tunAdopt, the class TunQueue (readBurst, writeBurst),
// tunOffloadStats, tunOffloadSplit, tunOffloadCoalesce (see src/native/binding.ts).
//
// Fds are plain process-wide numbers owned by the caller (close them with
// fs.closeSync); the TUN device disappears when its last queue closes.
// A TunQueue borrows one of them: it reads and writes the fd but never
// closes it.
//
// Offloads (tunOpen offload: true, or an adopted IFF_VNET_HDR fd): whether
// a queue carries virtio_net_hdr, whether its device takes UDP_L4 super
// packets, and its half-handed-out super packet live in its TunQueue. A
// read burst that fills every frame may leave segments there, where poll
// cannot see them: read again before waiting.
// Packet logic: tun_offload.h. Also tunOffloadStats (process-wide counters
// every queue adds to), and tunOffloadSplit / tunOffloadCoalesce (the same
// logic on memory, for tests and benchmarks).
//
// Threading: a TunQueue belongs to the thread (JS environment) that created
// it; its native state is freed by close(), by the garbage collector, or when
// that thread's environment ends, whichever comes first. One TunQueue per fd
// at a time: two would each hold half of a cut super packet.
#pragma once
#include <napi.h>
#include <cstdint>
#include <memory>
#include "tun_offload.h"

namespace xdpwg {

/** Most packets one readBurst/writeBurst call moves. */
constexpr uint32_t kTunMaxBurst = 256;

/** A super packet read from an offload queue and not yet wholly handed out. */
struct SuperPacketCut {
  /** Read staging: super packets are assembled here and cut from here. */
  std::unique_ptr<uint8_t[]> scratch;
  GsoPlan plan;
  uint32_t nextSegment = 0;
  bool pending = false;
};

class TunQueue : public Napi::ObjectWrap<TunQueue> {
 public:
  static Napi::Function Define(Napi::Env env);
  /** new TunQueue({ fd, vnetHdr, udpGso }): checks the fd's IFF_VNET_HDR against vnetHdr. */
  explicit TunQueue(const Napi::CallbackInfo& info);
  ~TunQueue() override;

 private:
  Napi::Value ReadBurst(const Napi::CallbackInfo& info);
  Napi::Value WriteBurst(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetVnetHdr(const Napi::CallbackInfo& info);
  Napi::Value GetUdpGso(const Napi::CallbackInfo& info);

  void Release();
  static void CleanupHook(void* arg);

  /** The borrowed queue fd; -1 once closed (bursts then report EBADF). */
  int fd_ = -1;
  bool vnetHdr_ = false;
  /**
   * Writes may carry GSO_UDP_L4 super packets: the device took the USO
   * offloads (tunOpen/tunAdopt report it as udpGso).
   */
  bool udpGso_ = false;
  /** Offload queues only (vnetHdr); null for a plain queue and once closed. */
  std::unique_ptr<SuperPacketCut> cut_;
  napi_env env_ = nullptr;
  bool hook_registered_ = false;
};

}  // namespace xdpwg
