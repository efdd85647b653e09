// Which threads of the daemon the scheduler should favour.
//
// nameThread(name): names the calling thread (at most 15 bytes): the
// data-path workers call it for themselves ("xdpwg-w0", ...), as the native
// crews name theirs ("xdpwg-hs", "xdpwg-crew"), so ps -T and top -H show what
// each thread is, and lowerHelperThreads can tell ours from the runtime's.
//
// lowerHelperThreads() -> number: moves to SCHED_IDLE every thread of the
// process except the main thread and threads named "xdpwg-*": that is Node's
// and V8's helpers (the platform's four threads that run TurboFan
// compilations and the GC's parallel and concurrent tasks, libuv's pool, the
// inspector's). Why: on a small machine a compilation or marking task (1-10
// ms) that lands on the CPU a worker wakes on delays the packet in hand by
// that much. A SCHED_IDLE thread is preempted at once by any normal thread
// that wakes, and a CPU running only such threads counts as idle when the
// scheduler places a waking thread; a mere nice 19 was not enough (the
// scheduler still let a nice-19 compile job finish its ~4 ms slice before a
// woken worker got the CPU). The tasks still run whenever a CPU has nothing
// better to do. Returns how many threads it moved (where SCHED_IDLE is
// refused, nice 19 instead). Only threads that exist now: libuv starts its
// pool on first use, later (rare file operations; left as they are).
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include "modules.h"

namespace xdpwg {
namespace {

constexpr char kOurPrefix[] = "xdpwg-";

Napi::Value NameThread(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "nameThread(name: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name.empty() || name.size() > 15) {
    Napi::RangeError::New(env, "nameThread: 1..15 bytes").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int err = pthread_setname_np(pthread_self(), name.c_str());
  if (err != 0) {
    Napi::Error::New(env, std::string("nameThread: ") + strerror(err)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return env.Undefined();
}

/** The thread's name (its comm), or "" when it has gone. */
std::string ThreadName(const char* tid) {
  std::string path = std::string("/proc/self/task/") + tid + "/comm";
  FILE* f = fopen(path.c_str(), "re");
  if (f == nullptr) return "";
  char buf[32] = {0};
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == 0)) buf[--n] = 0;
  return std::string(buf, n);
}

Napi::Value LowerHelperThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) {
    Napi::Error::New(env, std::string("lowerHelperThreads: /proc/self/task: ") + strerror(errno)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const long self = static_cast<long>(getpid());
  int lowered = 0;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long tid = strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != 0 || tid == self) continue;
    if (ThreadName(e->d_name).rfind(kOurPrefix, 0) == 0) continue;
    // A thread that ended meanwhile (ESRCH) is simply not counted.
    sched_param none{};
    if (sched_setscheduler(static_cast<pid_t>(tid), SCHED_IDLE, &none) == 0 || setpriority(PRIO_PROCESS, static_cast<id_t>(tid), 19) == 0)
      lowered++;
  }
  closedir(d);
  return Napi::Number::New(env, lowered);
}

}  // namespace

void InitThreadRoles(Napi::Env env, Napi::Object exports) {
  exports.Set("nameThread", Napi::Function::New(env, NameThread, "nameThread"));
  exports.Set("lowerHelperThreads", Napi::Function::New(env, LowerHelperThreads, "lowerHelperThreads"));
}

}  // namespace xdpwg
