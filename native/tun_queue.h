// TUN queues: burst read/write into frames, one TunQueue per queue fd.
// JavaScript: the class TunQueue (readBurst, writeBurst, close), TUN_MAX_BURST,
// tunOffloadStats, tunOffloadSplit, tunOffloadCoalesce (see src/native/binding.ts).
//
// A TunQueue borrows a queue fd (tunOpen/tunAdopt, tun.cc): it reads and
// writes it but never closes it.
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
#include "env_bound.h"
#include "tun_writer_marks.h"

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

class TunQueue : public EnvBound<TunQueue> {
 public:
  static Napi::Function Define(Napi::Env env);
  /**
   * new TunQueue({ fd, vnetHdr, udpGso, writerMapFd?, queue? }): checks the fd's IFF_VNET_HDR against
   * vnetHdr; with writerMapFd (the steering program's writer map, tunOpen) each packet written is
   * marked as this queue's (tun_writer_marks.h).
   */
  explicit TunQueue(const Napi::CallbackInfo& info);
  ~TunQueue() override;

 private:
  Napi::Value ReadBurst(const Napi::CallbackInfo& info);
  Napi::Value WriteBurst(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetVnetHdr(const Napi::CallbackInfo& info);
  Napi::Value GetUdpGso(const Napi::CallbackInfo& info);

  friend class EnvBound<TunQueue>;
  /** Frees what the object holds (idempotent); EnvBound::Release calls it. */
  void FreeResources();

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
  /** Which queue wrote each flow bucket last, for the steering program (unmapped: no steering map). */
  TunWriterMarks marks_;
};

/** Exports TunQueue, TUN_MAX_BURST and the tunOffload* functions (called by InitTun). */
void InitTunQueue(Napi::Env env, Napi::Object exports);

}  // namespace xdpwg
