// Netlink (NETLINK_ROUTE), raw sockets, no libnl: link, address, route and
// neighbour queries and changes for IPv4 and IPv6, and a monitor of change
// events. JavaScript: linkInfo, linkSetUp, linkSetMtu, addrAdd, addrDel,
// addrList, routeAdd, routeDel, routeGet, neighGet, netnsEnter, class
// NetlinkMonitor (see src/native/binding.ts).
//
// Control path only: every request opens its own socket (in the calling
// thread's network namespace), waits for the kernel's answer and throws a
// JS error naming the operation, the errno and the kernel's extended-ack
// message when it refuses.
//
// Threading: the functions may be called from any thread. A NetlinkMonitor
// belongs to the thread that created it.
#pragma once
#include <napi.h>
#include <cstdint>

#include "env_bound.h"

namespace xdpwg {

class NetlinkMonitor : public EnvBound<NetlinkMonitor> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NetlinkMonitor(const Napi::CallbackInfo& info);
  ~NetlinkMonitor() override;

 private:
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  friend class EnvBound<NetlinkMonitor>;
  /** Frees what the object holds (idempotent); EnvBound::Release calls it. */
  void FreeResources();

  int fd_ = -1;
};

}  // namespace xdpwg
