// AF_XDP port (CNDP's lport): one XSK socket on one (netdev, queue) with its
// own UMEM and frame pool. JavaScript class: XskPort (see src/native/binding.ts).
//
// Threading: a port belongs to the thread (JS environment) that created it.
// Its fd is a process-wide number and may be handed to the main thread's
// XdpFilter.bindQueue().
#pragma once
#include <napi.h>
#include <xdp/xsk.h>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>
#include "umem.h"
#include "umem_share.h"
#include "xsk_member_socket.h"
#include "env_bound.h"

namespace xdpwg {

/** Counters in CNDP's lport_stats_t names plus ring counters. */
struct XskPortCounters {
  uint64_t ipackets = 0, opackets = 0, ibytes = 0, obytes = 0;
  uint64_t ierrors = 0, oerrors = 0, imissed = 0, odropped = 0;
  uint64_t rx_invalid = 0, tx_invalid = 0;
  uint64_t fq_empty = 0;      // refills that found the pool empty (JS holds too many frames)
  uint64_t fq_filled = 0;     // frames handed to the fill ring
  uint64_t tx_ring_full = 0;  // txBurst calls that could not reserve every slot
  uint64_t kicks = 0;         // sendto/recvfrom wakeups issued (need_wakeup said so)
  uint64_t kick_errors = 0;   // wakeups that failed with an unexpected errno
  uint64_t completions = 0;   // tx frames the kernel handed back
  uint64_t free_invalid = 0;  // freeFrames offsets that were not JS-owned frames
  uint64_t rx_bursts = 0, tx_bursts = 0;
  uint64_t share_granted = 0;   // anchor: frames granted to members
  uint64_t share_returned = 0;  // anchor: frames members gave back (returned or sent and completed are counted apart)
  uint64_t share_invalid = 0;   // frames a shared-UMEM partner handed over that were not its to give
};

/** XskPort's options, checked (XskPort::ParseOptions), for the later steps of Open. */
struct XskOpenOptions {
  uint32_t frame_size = 0, frame_count = 0;
  std::string mode = "auto";         // 'auto' | 'native' | 'generic'
  std::vector<uint16_t> copy_modes;  // bind flags to try, best first
  bool inhibit = false;              // inhibitProgLoad: an XdpFilter owns the program
  Napi::Object share;                // the share option when an object (empty otherwise)
  bool member = false;               // join another process's anchor (OpenMember)
  bool anchor = false;               // be an anchor (umem_share.h)
  int given_memfd = -1;              // anchor in the caller's memfd for our queue
  uint32_t busy_wait_ms = 0;         // how long BindSocket retries EBUSY
};

class XskPort : public EnvBound<XskPort> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit XskPort(const Napi::CallbackInfo& info);
  ~XskPort() override;

 private:
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value RxBurst(const Napi::CallbackInfo& info);
  Napi::Value TxBurst(const Napi::CallbackInfo& info);
  Napi::Value AllocFrames(const Napi::CallbackInfo& info);
  Napi::Value FreeFrames(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Poll(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value ReleaseMember(const Napi::CallbackInfo& info);
  Napi::Value GetUmem(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetUmemFd(const Napi::CallbackInfo& info);
  Napi::Value GetPollFd(const Napi::CallbackInfo& info);
  Napi::Value GetFrameSize(const Napi::CallbackInfo& info);
  Napi::Value GetHeadroom(const Napi::CallbackInfo& info);

  bool Open(Napi::Env env, const Napi::Object& opts);
  // Open's steps, in order (each throws and returns false on failure).
  bool ParseOptions(Napi::Env env, const Napi::Object& o, XskOpenOptions* opt);
  bool MapUmem(Napi::Env env, const XskOpenOptions& opt);
  bool MapAnchorUmem(Napi::Env env, uint32_t frame_size, uint32_t frame_count, int given_memfd);  // umem_share.cc
  bool CreateUmem(Napi::Env env, const XskOpenOptions& opt);
  bool BindSocket(Napi::Env env, const XskOpenOptions& opt);
  int TryBind(uint32_t xdp_flags, uint16_t bind_flags, bool inhibit);
  bool ConfigureSocket(Napi::Env env, const XskOpenOptions& opt);
  bool WatchMembers(Napi::Env env, const XskOpenOptions& opt);
  bool OpenMember(Napi::Env env, const Napi::Object& share);
  void ExportUmem(Napi::Env env);
  // Anchor side of the shared UMEM: umem_share.cc.
  void ServeMembers();
  void DrainMembersWake();
  void TakeBack(uint64_t offset);
  void ReclaimSlot(uint32_t slot);
  void SetHolder(uint64_t frame, uint8_t who);
  void LeaveShare();
  void TakeGrants(uint32_t want);
  void ReturnSurplus();
  bool OpenPollSet(int wake_fd);
  void WakeAnchor();
  friend class EnvBound<XskPort>;
  /** Frees what the object holds (idempotent); EnvBound::Release calls it. */
  void FreeResources();
  void ReclaimCompletions();
  void RefillFillRing();
  void KickTx();
  bool CheckOpen(Napi::Env env);

  std::shared_ptr<UmemRegion> region_;
  FramePool pool_;
  Napi::Reference<Napi::ArrayBuffer> umem_ref_;
  struct xsk_umem* umem_ = nullptr;
  struct xsk_socket* xsk_ = nullptr;
  struct xsk_ring_prod fq_ {};
  struct xsk_ring_cons cq_ {};
  struct xsk_ring_cons rx_ {};
  struct xsk_ring_prod tx_ {};
  int fd_ = -1;
  uint32_t fill_size_ = 0, comp_size_ = 0, rx_size_ = 0, tx_size_ = 0;
  uint32_t tx_outstanding_ = 0;   // frames in the tx ring not yet completed
  bool tx_kick_pending_ = false;  // last tx kick hit EAGAIN/EBUSY: retry on the next burst
  std::string ifname_;
  int ifindex_ = 0;
  uint32_t queue_ = 0;
  std::string mode_;  // "native" | "generic"
  bool zero_copy_ = false;
  bool busy_poll_ = false;
  bool need_wakeup_ = false;
  XskPortCounters c_;
  // Shared UMEM (umem_share.h): none, the anchor whose rings serve members, or a member.
  enum class ShareRole : uint8_t { kNone, kAnchor, kMember };
  ShareRole share_role_ = ShareRole::kNone;
  ShareControl* share_ = nullptr;  // in region_'s memfd
  uint8_t* holder_ = nullptr;      // the holder table (umem_share.h), in region_'s memfd
  uint32_t share_slot_ = 0;
  MemberSocket member_;
  int wake_fd_ = -1;  // anchor: members' wake eventfd (drained in DrainMembersWake); member: the anchor's (written)
  int poll_fd_ = -1;  // anchor with members: epoll over fd_ and wake_fd_, what the worker waits on
};

}  // namespace xdpwg
