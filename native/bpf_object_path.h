// Where the addon finds the BPF objects that native/bpf/Makefile builds.
#pragma once
#include <string>

namespace xdpwg {

/**
 * <repo>/native/bpf/<file>, found from the addon's own path
 * (<repo>/build/Release/xdpwg.node), so the daemon works from any working
 * directory; "native/bpf/<file>" when the addon's path is unknown.
 */
std::string BpfObjectPath(const char* file);

}  // namespace xdpwg
