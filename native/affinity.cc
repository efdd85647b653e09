// Thread CPU pinning for data-plane workers (datapath config "cpus").
// setThreadAffinity(cpus: number[]) pins the calling thread (each worker
// calls it for itself: Node exposes no OS thread id to pin from outside).
#include <pthread.h>
#include <sched.h>
#include <cerrno>
#include <cstring>
#include <string>
#include "modules.h"

namespace xdpwg {
namespace {

Napi::Value SetThreadAffinity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    Napi::TypeError::New(env, "setThreadAffinity(cpus: number[])").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array list = info[0].As<Napi::Array>();
  cpu_set_t set;
  CPU_ZERO(&set);
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    int cpu = v.IsNumber() ? v.As<Napi::Number>().Int32Value() : -1;
    if (cpu < 0 || cpu >= CPU_SETSIZE) {
      Napi::RangeError::New(env, "setThreadAffinity: CPU numbers must be 0.." + std::to_string(CPU_SETSIZE - 1))
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    CPU_SET(cpu, &set);
  }
  int err = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  if (err != 0) {
    Napi::Error::New(env, std::string("setThreadAffinity: ") + strerror(err)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return env.Undefined();
}

}  // namespace

void InitAffinity(Napi::Env env, Napi::Object exports) {
  exports.Set("setThreadAffinity", Napi::Function::New(env, SetThreadAffinity, "setThreadAffinity"));
}

}  // namespace xdpwg
