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

#include "env_bound.h"

namespace xdpwg {

/** Bit of the wait() result that says the eventfd was signalled (and drained). */
constexpr uint32_t kWaiterWakeBit = 30;
/** Most fds one wait() watches: bits 0..29 of the result. */
constexpr uint32_t kWaiterMaxFds = 30;
/** Longest spin one wait() does before it sleeps (microseconds). */
constexpr int64_t kWaiterMaxSpinUs = 10'000;

class Waiter : public EnvBound<Waiter> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Waiter(const Napi::CallbackInfo& info);
  ~Waiter() override;

 private:
  Napi::Value Wait(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetEventFd(const Napi::CallbackInfo& info);
  friend class EnvBound<Waiter>;
  /** Frees what the object holds (idempotent); EnvBound::Release calls it. */
  void FreeResources();

  int event_fd_ = -1;
  pollfd pfds_[kWaiterMaxFds + 1] = {};
};

}  // namespace xdpwg
