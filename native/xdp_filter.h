// Our XDP filter on one interface (see native/bpf/xdpwg_filter.bpf.c):
// attach through libxdp, the port map, and the XSKMAP that workers' sockets
// are bound into. JavaScript class: XdpFilter (see src/native/binding.ts).
//
// One filter per interface per process, owned by the main thread. Several
// processes (one per WireGuard interface) each attach their own program,
// with its own maps, through libxdp's dispatcher where the kernel has one;
// where it has not (a kernel that refuses BPF trampolines, see
// DispatcherReason in xdp_filter.cc), the first process owns the interface
// and the others are refused with EBUSY and that reason. A lock file per program
// (held by its owner) tells a program left behind by a killed process (lock
// free: replace it) from one a live process owns (lock held: keep it).
#pragma once
#include <napi.h>
#include <xdp/libxdp.h>
#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "env_bound.h"

namespace xdpwg {

class XdpFilter : public EnvBound<XdpFilter> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit XdpFilter(const Napi::CallbackInfo& info);
  ~XdpFilter() override;

 private:
  Napi::Value BindQueue(const Napi::CallbackInfo& info);
  Napi::Value UnbindQueue(const Napi::CallbackInfo& info);
  Napi::Value SetPorts(const Napi::CallbackInfo& info);
  Napi::Value SetMemberPort(const Napi::CallbackInfo& info);
  Napi::Value SetLocalAddresses(const Napi::CallbackInfo& info);
  Napi::Value SetPassData(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  bool Open(Napi::Env env, const Napi::Object& opts);
  bool AttachLocked(Napi::Env env, const std::string& mode, const std::string& path);
  bool ApplyPorts(Napi::Env env, const Napi::Value& ports);
  bool SyncPorts(Napi::Env env);
  bool RequireOpen(Napi::Env env);  // false (ERR_CLOSED thrown) once closed
  friend class EnvBound<XdpFilter>;
  /** Frees what the object holds (idempotent); EnvBound::Release calls it. */
  void FreeResources();

  struct xdp_program* prog_ = nullptr;
  enum xdp_attach_mode mode_ = XDP_MODE_UNSPEC;
  std::string ifname_;
  int ifindex_ = 0;
  ino_t netns_ = 0;
  int lock_fd_ = -1;  // owner lock of our program (see OwnerLockPath)
  std::string lock_path_;
  int xsks_map_fd_ = -1;
  int ports_map_fd_ = -1;
  int local4_map_fd_ = -1;
  int local6_map_fd_ = -1;
  int config_map_fd_ = -1;
  std::vector<uint16_t> own_ports_;           // slot 0 (ApplyPorts)
  std::map<uint16_t, uint8_t> member_ports_;  // other processes' ports -> their slot (SetMemberPort)
  int replaced_ = 0;                          // stale programs of ours removed at start
  bool dispatcher_ = false;                   // attached as a libxdp dispatcher component
  std::string dispatcher_error_;              // why not, in libxdp's words (see DispatcherReason)
};

}  // namespace xdpwg
