// TUN queue steering; see tun_steering.h.
#include "tun_steering.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <cerrno>
#include <cstring>

#include "bpf_object_path.h"
#include "sys_error.h"

namespace xdpwg {

namespace {
constexpr const char* kObjectFile = "tun_steering.o";
constexpr const char* kProgName = "xdpwg_tun_steer";  // the SEC("socket") function's name
constexpr const char* kSpreadMap = "xdpwg_tun_spread";
constexpr const char* kWriterMap = "xdpwg_tun_writer";
}  // namespace

std::string AttachTunSteering(int fd, int* spreadMapFd, int* writerMapFd) {
  *spreadMapFd = -1;
  *writerMapFd = -1;
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
    if (ioctl(fd, TUNSETSTEERINGEBPF, &progFd) < 0) {
      why = std::string("TUNSETSTEERINGEBPF: ") + strerror(errno);
    } else {
      // Our own fds of the maps, so they outlive the object closed below.
      int map = bpf_object__find_map_fd_by_name(obj, kSpreadMap);
      *spreadMapFd = map >= 0 ? fcntl(map, F_DUPFD_CLOEXEC, 0) : -1;
      map = bpf_object__find_map_fd_by_name(obj, kWriterMap);
      *writerMapFd = map >= 0 ? fcntl(map, F_DUPFD_CLOEXEC, 0) : -1;
    }
  }
  bpf_object__close(obj);  // the TUN keeps its own reference to the program
  return why;
}

namespace {

// tunSteeringSpread(mapFd, queues): flows spread over the first `queues` TUN
// queues from now on (0: all of them).
Napi::Value TunSteeringSpread(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    ThrowType(env, "tunSteeringSpread(mapFd, queues)");
    return env.Undefined();
  }
  int mapFd = info[0].As<Napi::Number>().Int32Value();
  uint32_t queues = info[1].As<Napi::Number>().Uint32Value();
  uint32_t key = 0;
  if (bpf_map_update_elem(mapFd, &key, &queues, BPF_ANY) != 0) ThrowSysError(env, "tunSteeringSpread", errno);
  return env.Undefined();
}

}  // namespace

void InitTunSteering(Napi::Env env, Napi::Object exports) {
  exports.Set("tunSteeringSpread", Napi::Function::New(env, TunSteeringSpread, "tunSteeringSpread"));
}

}  // namespace xdpwg
