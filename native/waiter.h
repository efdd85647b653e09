// Wait/wake for a data-plane worker: one poll(2) over the worker's fds (XSK,
// TUN queue, UDP socket...) plus an eventfd that any thread can signal.
// JavaScript class: Waiter, module function: wakeFd (see src/native/binding.ts).
//
// Threading: a Waiter belongs to the thread that created it and is the only
// one that waits on it; wakeFd(waiter.eventFd) may be called from any thread.
#pragma once
#include <napi.h>
#include <poll.h>
#include <cstdint>

namespace xdpwg {

/** Bit of the wait() result that says the eventfd was signalled (and drained). */
constexpr uint32_t kWaiterWakeBit = 30;
/** Most fds one wait() watches: bits 0..29 of the result. */
constexpr uint32_t kWaiterMaxFds = 30;

class Waiter : public Napi::ObjectWrap<Waiter> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Waiter(const Napi::CallbackInfo& info);
  ~Waiter() override;

 private:
  Napi::Value Wait(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetEventFd(const Napi::CallbackInfo& info);
  void Release();
  static void CleanupHook(void* arg);

  int event_fd_ = -1;
  napi_env env_ = nullptr;
  bool hook_registered_ = false;
  pollfd pfds_[kWaiterMaxFds + 1] = {};
};

}  // namespace xdpwg
