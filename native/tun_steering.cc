// TUN queue steering; see tun_steering.h.
#include "tun_steering.h"

#include <bpf/libbpf.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <cerrno>
#include <cstring>

#include "bpf_object_path.h"

namespace xdpwg {

namespace {
constexpr const char* kObjectFile = "tun_steering.o";
constexpr const char* kProgName = "xdpwg_tun_steer";  // the SEC("socket") function's name
}  // namespace

std::string AttachTunSteering(int fd) {
  std::string path = BpfObjectPath(kObjectFile);
  bpf_object* obj = bpf_object__open_file(path.c_str(), nullptr);
  if (!obj) return "cannot open " + path + ": " + strerror(errno);
  std::string why;
  bpf_program* prog = bpf_object__find_program_by_name(obj, kProgName);
  if (!prog) {
    why = std::string(path) + " has no program " + kProgName;
  } else if (int err = bpf_object__load(obj); err != 0) {
    why = "loading " + path + ": " + strerror(-err);
  } else {
    int progFd = bpf_program__fd(prog);
    if (ioctl(fd, TUNSETSTEERINGEBPF, &progFd) < 0) why = std::string("TUNSETSTEERINGEBPF: ") + strerror(errno);
  }
  bpf_object__close(obj);  // the TUN keeps its own reference to the program
  return why;
}

}  // namespace xdpwg
