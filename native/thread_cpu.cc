// threadCpuSeconds(): CPU time (user + system) the calling thread has used,
// from CLOCK_THREAD_CPUTIME_ID. Each data-plane worker reads its own and
// reports it with its port counters (the xdpwg_worker_cpu_seconds_total
// metric): Node exposes no OS thread id to read /proc/self/task/TID from.
#include <time.h>
#include "modules.h"

namespace xdpwg {
namespace {

Napi::Value ThreadCpuSeconds(const Napi::CallbackInfo& info) {
  timespec ts{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return Napi::Number::New(info.Env(), 0);
  return Napi::Number::New(info.Env(), static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9);
}

}  // namespace

void InitThreadCpu(Napi::Env env, Napi::Object exports) {
  exports.Set("threadCpuSeconds", Napi::Function::New(env, ThreadCpuSeconds, "threadCpuSeconds"));
}

}  // namespace xdpwg
