// releaseIdleMemory(): gives the calling thread's spare memory back to the
// system when the thread has gone quiet (src/native/idle-memory.ts decides
// when). Two parts, because two allocators hold it:
//  - V8: LowMemoryNotification() runs full, compacting collections of this
//    thread's isolate, so heap pages that start-up or a traffic burst filled
//    with garbage are unmapped instead of waiting for V8's memory reducer,
//    which may never run on a thread that allocates nothing while idle.
//  - glibc malloc: malloc_trim(0) returns the free pages of every arena
//    (native buffers of a burst, the GRO and GSO scratch of the ports) that
//    free() alone keeps mapped below the trim threshold.
// It takes a few milliseconds on this machine, so it runs once per quiet
// spell, never on the packet path.
#include <malloc.h>
#include <v8.h>
#include "modules.h"

namespace xdpwg {
namespace {

Napi::Value ReleaseIdleMemory(const Napi::CallbackInfo& info) {
  // Called from JavaScript, so the thread is inside its isolate.
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate != nullptr) isolate->LowMemoryNotification();
  malloc_trim(0);
  return info.Env().Undefined();
}

}  // namespace

void InitIdleMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("releaseIdleMemory", Napi::Function::New(env, ReleaseIdleMemory, "releaseIdleMemory"));
}

}  // namespace xdpwg
