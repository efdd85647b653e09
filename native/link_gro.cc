// linkGro(ifname): whether a device has GRO on (ETHTOOL_GGRO), or null when
// the device cannot say (gone, or no ethtool support). The receive path
// choice (src/datapath/rx-path.ts) asks: with GRO on, MTU frames that pass
// our XDP filter reach the kernel socket coalesced.
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "modules.h"
#include "sys_error.h"

namespace xdpwg {
namespace {

Napi::Value LinkGro(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) return ThrowType(env, "linkGro(ifname: string)"), env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name.empty() || name.size() >= IFNAMSIZ) return ThrowType(env, "linkGro: ifname must be 1-15 characters"), env.Undefined();
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowSysError(env, "linkGro: socket", errno), env.Undefined();
  ethtool_value v{};
  v.cmd = ETHTOOL_GGRO;
  ifreq ifr{};
  memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_data = reinterpret_cast<char*>(&v);
  int r = ioctl(fd, SIOCETHTOOL, &ifr);
  close(fd);
  if (r < 0) return env.Null();
  return Napi::Boolean::New(env, v.data != 0);
}

}  // namespace

void InitLinkGro(Napi::Env env, Napi::Object exports) { exports.Set("linkGro", Napi::Function::New(env, LinkGro, "linkGro")); }

}  // namespace xdpwg
