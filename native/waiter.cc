// Wait/wake; see waiter.h.
#include "waiter.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <string>
#include "modules.h"
#include "sys_error.h"

namespace xdpwg {

Napi::Function Waiter::Define(Napi::Env env) {
  return DefineClass(env, "Waiter",
                     {
                         InstanceMethod<&Waiter::Wait>("wait"),
                         InstanceMethod<&Waiter::Close>("close"),
                         InstanceAccessor<&Waiter::GetEventFd>("eventFd"),
                     });
}

Waiter::Waiter(const Napi::CallbackInfo& info) : EnvBound<Waiter>(info) {
  event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0) {
    ThrowSysError(info.Env(), "Waiter: eventfd", errno);
    return;
  }
  BindToEnv();
}

Waiter::~Waiter() { Release(); }

void Waiter::FreeResources() {
  if (event_fd_ >= 0) close(event_fd_);
  event_fd_ = -1;
}

namespace {
int64_t MonotonicNs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}
}  // namespace

// wait(fds: Int32Array, nfds, timeoutMs, spinUs = 0) -> bitmask
// Bit i: fds[i] is readable, or has an error/hang-up the caller must read to
// see (a deleted TUN reports POLLERR; its read then fails with EBADFD).
// Bit 30: the eventfd was signalled; it is drained here. 0: timed out (or
// interrupted by a signal). timeoutMs < 0 waits forever, 0 only checks.
// Negative fds are ignored, as poll(2) does.
// spinUs > 0 (with timeoutMs != 0): first checks without sleeping, again and
// again, for up to spinUs microseconds, and only then sleeps in poll. A
// thread that sleeps on an idle vCPU is woken late (the wake-up IPI, the
// vCPU leaving halt: tens of microseconds on a VM), so right after a burst
// a worker stays awake a moment for the reply or the next packet. Bounded
// here (kWaiterMaxSpinUs) and only asked for by a worker that just moved
// packets (src/datapath/spin.ts): an idle daemon never spins.
Napi::Value Waiter::Wait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (event_fd_ < 0) {
    Napi::Error::New(env, "Waiter: closed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsNumber() || !info[2].IsNumber()) {
    ThrowType(env, "wait(fds: Int32Array, nfds: number, timeoutMs: number)");
    return env.Undefined();
  }
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_int32_array) {
    ThrowType(env, "wait: fds must be an Int32Array");
    return env.Undefined();
  }
  Napi::Int32Array fds = info[0].As<Napi::Int32Array>();
  uint32_t nfds = info[1].As<Napi::Number>().Uint32Value();
  if (nfds > fds.ElementLength()) nfds = fds.ElementLength();
  if (nfds > kWaiterMaxFds) {
    ThrowRange(env, "wait: at most " + std::to_string(kWaiterMaxFds) + " fds");
    return env.Undefined();
  }
  int timeout = info[2].As<Napi::Number>().Int32Value();
  int64_t spinUs = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int64Value() : 0;
  if (spinUs > kWaiterMaxSpinUs) spinUs = kWaiterMaxSpinUs;
  const int32_t* f = fds.Data();
  for (uint32_t i = 0; i < nfds; i++) {
    pfds_[i].fd = f[i];
    pfds_[i].events = POLLIN;
    pfds_[i].revents = 0;
  }
  pfds_[nfds].fd = event_fd_;
  pfds_[nfds].events = POLLIN;
  pfds_[nfds].revents = 0;

  int r = 0;
  if (spinUs > 0 && timeout != 0) {
    const int64_t until = MonotonicNs() + spinUs * 1000;
    do r = poll(pfds_, nfds + 1, 0);
    while (r == 0 && MonotonicNs() < until);
  }
  if (r == 0) r = poll(pfds_, nfds + 1, timeout);
  if (r < 0) {
    if (errno == EINTR) return Napi::Number::New(env, 0);
    ThrowSysError(env, "Waiter: poll", errno);
    return env.Undefined();
  }
  uint32_t mask = 0;
  if (r > 0) {
    for (uint32_t i = 0; i < nfds; i++)
      if (pfds_[i].revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL)) mask |= 1u << i;
    if (pfds_[nfds].revents & POLLIN) {
      uint64_t v;
      // Drains every wake posted so far: wakes coalesce into one.
      while (read(event_fd_, &v, sizeof(v)) < 0 && errno == EINTR) {
      }
      mask |= 1u << kWaiterWakeBit;
    }
  }
  return Napi::Number::New(env, mask);
}

Napi::Value Waiter::Close(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value Waiter::GetEventFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), event_fd_); }

namespace {

/**
 * True when fd is an eventfd. Fd numbers are reused: a worker that exited
 * closed its eventfd and the number may now be a socket or a TUN queue, which
 * must never receive the 8-byte wake value.
 */
bool IsEventFd(int fd) {
  char path[64], target[64];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, target, sizeof(target) - 1);
  if (n < 0) return false;
  target[n] = 0;
  return strcmp(target, "anon_inode:[eventfd]") == 0;
}

// wakeFd(eventFd) -> boolean. Any thread. False when fd is not (or no longer)
// an eventfd, so waking a worker that already exited is harmless.
Napi::Value WakeFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    ThrowType(env, "wakeFd(eventFd: number)");
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd < 0 || !IsEventFd(fd)) return Napi::Boolean::New(env, false);
  uint64_t one = 1;
  ssize_t w;
  do w = write(fd, &one, sizeof(one));
  while (w < 0 && errno == EINTR);
  // EAGAIN: the counter is saturated, so a wake is already pending.
  return Napi::Boolean::New(env, w == sizeof(one) || errno == EAGAIN);
}

}  // namespace

void InitWaiter(Napi::Env env, Napi::Object exports) {
  exports.Set("Waiter", Waiter::Define(env));
  exports.Set("wakeFd", Napi::Function::New(env, WakeFd, "wakeFd"));
  exports.Set("WAITER_WAKE_BIT", Napi::Number::New(env, kWaiterWakeBit));
  exports.Set("WAITER_MAX_FDS", Napi::Number::New(env, kWaiterMaxFds));
}

}  // namespace xdpwg
