// Module entry point. The addon is context-aware: every worker thread that
// loads it gets its own instance, and each module registers its own env
// cleanup hooks so resources die with the worker that owns them.
#include <napi.h>
#include "modules.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  xdpwg::InitXskPort(env, exports);
  xdpwg::InitUmemShare(env, exports);
  xdpwg::InitXdpFilter(env, exports);
  xdpwg::InitUdpPort(env, exports);
  xdpwg::InitTun(env, exports);
  xdpwg::InitNetlink(env, exports);
  xdpwg::InitWaiter(env, exports);
  xdpwg::InitAeadBurst(env, exports);
  xdpwg::InitAeadCrew(env, exports);
  xdpwg::InitAffinity(env, exports);
  xdpwg::InitThreadRoles(env, exports);
  xdpwg::InitCapabilities(env, exports);
  xdpwg::InitSdNotify(env, exports);
  xdpwg::InitX25519(env, exports);
  xdpwg::InitBlake2s(env, exports);
  xdpwg::InitNoiseIkpsk2(env, exports);
  xdpwg::InitHandshakeCrew(env, exports);
  xdpwg::InitFdPassing(env, exports);
  xdpwg::InitThreadCpu(env, exports);
  xdpwg::InitIdleMemory(env, exports);
  xdpwg::InitPluginProgram(env, exports);
  xdpwg::InitLinkGro(env, exports);
  return exports;
}

NODE_API_MODULE(xdpwg, Init)
