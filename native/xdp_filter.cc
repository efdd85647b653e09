// PLACEHOLDER: being written (see native/modules.h). Replace this whole file.
#include "modules.h"
namespace xdpwg {
void InitXdpFilter(Napi::Env env, Napi::Object exports) {}
}  // namespace xdpwg
