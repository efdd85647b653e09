// Dropping capabilities after set-up. dropCapabilities(keep: number[])
// removes every other capability from the calling thread's bounding,
// permitted, effective, inheritable and ambient sets. Linux keeps these per
// thread: the daemon calls it on its main thread before it starts the
// workers, which inherit the reduced sets (threads Node started earlier, such
// as the libuv pool, keep theirs; they never touch packets or sockets).
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include "modules.h"

namespace xdpwg {
namespace {

int LastCap() {
  std::ifstream f("/proc/sys/kernel/cap_last_cap");
  int last = 40;
  if (f) f >> last;
  return last;
}

Napi::Value DropCapabilities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    Napi::TypeError::New(env, "dropCapabilities(keep: number[])").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array list = info[0].As<Napi::Array>();
  uint64_t keep = 0;
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    int cap = v.IsNumber() ? v.As<Napi::Number>().Int32Value() : -1;
    if (cap < 0 || cap > 63) {
      Napi::RangeError::New(env, "dropCapabilities: capability numbers are 0..63").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    keep |= uint64_t{1} << cap;
  }
  const int last = LastCap();
  for (int cap = 0; cap <= last; cap++) {
    if (keep & (uint64_t{1} << cap)) continue;
    // EINVAL: a capability this kernel does not know. EPERM: no CAP_SETPCAP,
    // so whoever started us already set the bounding set (systemd, setpriv);
    // permitted and effective are still narrowed below.
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL && errno != EPERM) {
      Napi::Error::New(env, std::string("dropCapabilities: PR_CAPBSET_DROP ") + std::to_string(cap) + ": " + strerror(errno))
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capget, &hdr, data) != 0) {
    Napi::Error::New(env, std::string("dropCapabilities: capget: ") + strerror(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  for (int w = 0; w < 2; w++) {
    uint32_t mask = static_cast<uint32_t>(keep >> (32 * w));
    data[w].effective &= mask;
    data[w].permitted &= mask;
    data[w].inheritable &= mask;
  }
  if (syscall(SYS_capset, &hdr, data) != 0) {
    Napi::Error::New(env, std::string("dropCapabilities: capset: ") + strerror(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return env.Undefined();
}

// raiseMemlockLimit() -> true when RLIMIT_MEMLOCK is (now) unlimited.
// As the systemd unit's LimitMEMLOCK=infinity: UMEM pages count against it
// once CAP_IPC_LOCK is gone. Raising it needs CAP_SYS_RESOURCE; where that is
// missing the caller keeps CAP_IPC_LOCK instead.
Napi::Value RaiseMemlockLimit(const Napi::CallbackInfo& info) {
  rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
  if (setrlimit(RLIMIT_MEMLOCK, &unlimited) == 0) return Napi::Boolean::New(info.Env(), true);
  rlimit now{};
  getrlimit(RLIMIT_MEMLOCK, &now);
  return Napi::Boolean::New(info.Env(), now.rlim_cur == RLIM_INFINITY);
}

}  // namespace

void InitCapabilities(Napi::Env env, Napi::Object exports) {
  exports.Set("dropCapabilities", Napi::Function::New(env, DropCapabilities, "dropCapabilities"));
  exports.Set("raiseMemlockLimit", Napi::Function::New(env, RaiseMemlockLimit, "raiseMemlockLimit"));
}

}  // namespace xdpwg
