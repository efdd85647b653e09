// EnvBound<T>: the lifecycle every wrapper class that owns kernel resources
// (sockets, fds, attached programs) shares, written once.
//
// Protocol (all on the JS thread of the object's environment, which is the
// only thread N-API allows the cleanup-hook calls on):
//   - the derived constructor calls BindToEnv() once its resources are open:
//     the env cleanup hook is registered then, so a worker's environment that
//     ends while the object is still reachable releases them with it;
//   - Release() (close(), a failed open, the destructor) removes the hook if
//     registered and then frees the resources (T::FreeResources, idempotent);
//   - the hook itself marks the hook gone first (N-API has already dropped
//     it) and frees the resources; the finalizer later finds nothing to do.
// hooked_ is set only when napi_add_env_cleanup_hook returned napi_ok, so a
// hook that was never registered is never removed.
//
// The base cannot free in its own destructor (T's members are gone by then),
// so each T's destructor is `~T() override { Release(); }`.
#pragma once
#include <napi.h>

namespace xdpwg {

template <typename T>
class EnvBound : public Napi::ObjectWrap<T> {
 public:
  explicit EnvBound(const Napi::CallbackInfo& info) : Napi::ObjectWrap<T>(info), env_(info.Env()) {}

  /** Removes the env cleanup hook (when registered) and frees T's resources. */
  void Release() {
    if (hooked_ && napi_remove_env_cleanup_hook(env_, &EnvBound::OnEnvCleanup, this) == napi_ok) hooked_ = false;
    static_cast<T*>(this)->FreeResources();
  }

 protected:
  /** Registers the env cleanup hook (once; later calls do nothing). */
  void BindToEnv() {
    if (hooked_) return;
    if (napi_add_env_cleanup_hook(env_, &EnvBound::OnEnvCleanup, this) == napi_ok) hooked_ = true;
  }

  napi_env env() const { return env_; }

 private:
  static void OnEnvCleanup(void* arg) {
    auto* self = static_cast<EnvBound*>(arg);
    self->hooked_ = false;  // N-API removes a hook as it runs it
    static_cast<T*>(self)->FreeResources();
  }

  napi_env env_;
  bool hooked_ = false;
};

}  // namespace xdpwg
