// Where the addon finds its BPF objects; see bpf_object_path.h.
#include "bpf_object_path.h"

#include <dlfcn.h>

namespace xdpwg {

std::string BpfObjectPath(const char* file) {
  std::string fallback = std::string("native/bpf/") + file;
  Dl_info dl = {};
  if (!dladdr(reinterpret_cast<void*>(&BpfObjectPath), &dl) || !dl.dli_fname) return fallback;
  std::string p = dl.dli_fname;
  // Drop xdpwg.node, Release and build.
  for (int i = 0; i < 3; i++) {
    size_t slash = p.rfind('/');
    if (slash == std::string::npos) return fallback;
    p.resize(slash);
  }
  return p + "/" + fallback;
}

}  // namespace xdpwg
