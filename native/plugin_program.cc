// xskDefaultProgram(ifname) -> XSKMAP fd: loads libxdp's default AF_XDP
// program on an interface (every frame of a queue whose XSKMAP slot is set
// goes to that socket) and returns its map, exactly as the AF_XDP device
// plugin for Kubernetes does on Allocate (xsk_setup_xdp_prog) before it hands
// the map fd to the pod. xdpwg itself never calls it: the device-plugin tests
// play the plugin with it (test/helpers/fake-device-plugin.ts). The program
// goes when the interface does, or with `xdp-loader unload`.
#include <net/if.h>
#include <xdp/xsk.h>
#include <string>
#include "modules.h"
#include "sys_error.h"

namespace xdpwg {
namespace {

Napi::Value XskDefaultProgram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowType(env, "xskDefaultProgram(ifname: string)");
    return env.Undefined();
  }
  std::string ifname = info[0].As<Napi::String>().Utf8Value();
  int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (ifindex == 0) {
    ThrowSysError(env, "if_nametoindex", errno, ifname);
    return env.Undefined();
  }
  int map_fd = -1;
  int err = xsk_setup_xdp_prog(ifindex, &map_fd);
  if (err != 0 || map_fd < 0) {
    ThrowSysError(env, "xsk_setup_xdp_prog", err < 0 ? -err : EINVAL, ifname);
    return env.Undefined();
  }
  return Napi::Number::New(env, map_fd);
}

}  // namespace

void InitPluginProgram(Napi::Env env, Napi::Object exports) {
  exports.Set("xskDefaultProgram", Napi::Function::New(env, XskDefaultProgram, "xskDefaultProgram"));
}

}  // namespace xdpwg
