// XdpFilter: loads native/bpf/xdpwg_filter.o with libxdp and manages its maps.
//
// Attach order for mode "auto": native (driver) XDP, then generic (skb).
// libxdp runs the program as a component of its dispatcher where the kernel
// and a bpffs allow it (so other XDP programs keep running), and otherwise
// attaches it alone; info().dispatcher says which happened.
#include "xdp_filter.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "bpf_object_path.h"
#include "modules.h"

namespace xdpwg {
namespace {

constexpr const char* kProgName = "xdpwg_filter";  // the SEC("xdp") function's name
constexpr const char* kLockDir = "/run/xdpwg";

// libxdp and libbpf print their diagnostics to stderr by default. We keep the
// last few lines instead and put them into the error we throw, so a failure
// says why in one place and a success prints nothing.
thread_local std::string g_diag;

int CollectLibxdp(enum libxdp_print_level level, const char* fmt, va_list args) {
  if (level == LIBXDP_DEBUG) return 0;
  char buf[512];
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  if (g_diag.size() > 2048) g_diag.erase(0, g_diag.size() - 1024);
  g_diag += buf;
  return n;
}

int CollectLibbpf(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[512];
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  if (g_diag.size() > 2048) g_diag.erase(0, g_diag.size() - 1024);
  g_diag += buf;
  return n;
}

std::string TakeDiag() {
  std::string d;
  d.swap(g_diag);
  while (!d.empty() && (d.back() == '\n' || d.back() == ' ')) d.pop_back();
  for (auto& ch : d)
    if (ch == '\n') ch = ';';
  return d.empty() ? "" : " [" + d + "]";
}

void ThrowCode(Napi::Env env, const char* code, const std::string& msg) {
  Napi::Error err = Napi::Error::New(env, msg);
  err.Set("code", Napi::String::New(env, code));
  err.ThrowAsJavaScriptException();
}

std::string DefaultObjectPath() { return BpfObjectPath("xdpwg_filter.o"); }

const char* ModeName(enum xdp_attach_mode m) {
  switch (m) {
    case XDP_MODE_NATIVE: return "native";
    case XDP_MODE_SKB: return "generic";
    case XDP_MODE_HW: return "hw";
    default: return "none";
  }
}

// Removes programs of ours left on the interface (by a process killed with
// -9, which never ran its detach). Only called while holding the lock, so no
// live xdpwg owns them. Returns how many were removed, or -errno.
int DetachStale(int ifindex) {
  struct xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(ifindex);
  if (!mp || libxdp_get_error(mp)) return 0;  // nothing attached
  int removed = 0;
  if (xdp_multiprog__is_legacy(mp)) {
    struct xdp_program* main = xdp_multiprog__main_prog(mp);
    if (main && strcmp(xdp_program__name(main), kProgName) == 0) {
      int err = xdp_multiprog__detach(mp);
      if (err) {
        xdp_multiprog__close(mp);
        return err;
      }
      removed++;
    }
  } else {
    enum xdp_attach_mode mode = xdp_multiprog__attach_mode(mp);
    std::vector<struct xdp_program*> ours;
    for (struct xdp_program* p = xdp_multiprog__next_prog(nullptr, mp); p; p = xdp_multiprog__next_prog(p, mp))
      if (strcmp(xdp_program__name(p), kProgName) == 0) ours.push_back(p);
    for (struct xdp_program* p : ours) {
      int err = xdp_program__detach(p, ifindex, mode, 0);
      if (err) {
        xdp_multiprog__close(mp);
        return err;
      }
      removed++;
    }
  }
  xdp_multiprog__close(mp);
  return removed;
}

}  // namespace

Napi::Function XdpFilter::Define(Napi::Env env) {
  return DefineClass(env, "XdpFilter",
                     {
                         InstanceMethod<&XdpFilter::BindQueue>("bindQueue"),
                         InstanceMethod<&XdpFilter::UnbindQueue>("unbindQueue"),
                         InstanceMethod<&XdpFilter::SetPorts>("setPorts"),
                         InstanceMethod<&XdpFilter::Info>("info"),
                         InstanceMethod<&XdpFilter::Close>("close"),
                     });
}

XdpFilter::XdpFilter(const Napi::CallbackInfo& info) : Napi::ObjectWrap<XdpFilter>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "XdpFilter: expected an options object { ifname, mode, ports }")
        .ThrowAsJavaScriptException();
    return;
  }
  if (!Open(env, info[0].As<Napi::Object>())) {
    Detach();
    return;
  }
  env_ = env;
  napi_add_env_cleanup_hook(env, CleanupHook, this);
  hook_registered_ = true;
}

XdpFilter::~XdpFilter() {
  if (hook_registered_) napi_remove_env_cleanup_hook(env_, CleanupHook, this);
  Detach();
}

// Process exit (or the owning environment ending) detaches the program, so a
// filter is only left behind by a process that could not run any code.
void XdpFilter::CleanupHook(void* arg) {
  auto* self = static_cast<XdpFilter*>(arg);
  self->hook_registered_ = false;
  self->Detach();
}

bool XdpFilter::Open(Napi::Env env, const Napi::Object& o) {
  libxdp_set_print(CollectLibxdp);
  libbpf_set_print(CollectLibbpf);
  g_diag.clear();

  if (!o.Get("ifname").IsString()) {
    Napi::TypeError::New(env, "XdpFilter: option ifname must be a string").ThrowAsJavaScriptException();
    return false;
  }
  ifname_ = o.Get("ifname").As<Napi::String>().Utf8Value();
  ifindex_ = static_cast<int>(if_nametoindex(ifname_.c_str()));
  if (ifindex_ == 0) {
    ThrowCode(env, "ENODEV", "XdpFilter: no interface named '" + ifname_ + "'");
    return false;
  }
  std::string mode = "auto";
  if (o.Get("mode").IsString()) mode = o.Get("mode").As<Napi::String>().Utf8Value();
  if (mode != "auto" && mode != "native" && mode != "generic") {
    Napi::RangeError::New(env, "XdpFilter: mode must be 'auto', 'native' or 'generic'").ThrowAsJavaScriptException();
    return false;
  }
  std::string path = o.Get("objectPath").IsString() ? o.Get("objectPath").As<Napi::String>().Utf8Value()
                                                     : DefaultObjectPath();
  if (access(path.c_str(), R_OK) != 0) {
    ThrowCode(env, "ENOENT", "XdpFilter: BPF object " + path + " not found; run 'npm run build:native'");
    return false;
  }

  // The lock: one per (network namespace, ifindex); the kernel drops it when
  // its holder dies, however it dies.
  struct stat ns = {};
  if (stat("/proc/self/ns/net", &ns) != 0) ns.st_ino = 0;
  mkdir(kLockDir, 0755);
  std::string lock_path = std::string(kLockDir) + "/filter-" + std::to_string(ns.st_ino) + "-" +
                          std::to_string(ifindex_) + ".lock";
  lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) {
    ThrowCode(env, "EACCES", "XdpFilter: cannot open lock " + lock_path + ": " + strerror(errno));
    return false;
  }
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {0};
    ssize_t n = pread(lock_fd_, pid, sizeof(pid) - 1, 0);
    pid[n > 0 ? n : 0] = 0;
    close(lock_fd_);
    lock_fd_ = -1;
    ThrowCode(env, "EBUSY",
              "XdpFilter: " + ifname_ + " is already served by another xdpwg process (pid " +
                  std::string(pid[0] ? pid : "?") + ")");
    return false;
  }
  std::string me = std::to_string(getpid());
  if (ftruncate(lock_fd_, 0) == 0) (void)!pwrite(lock_fd_, me.data(), me.size(), 0);

  int stale = DetachStale(ifindex_);
  if (stale < 0) {
    ThrowCode(env, "XDP_DETACH",
              "XdpFilter: cannot remove a stale xdpwg filter from " + ifname_ + ": " + strerror(-stale) + TakeDiag());
    return false;
  }
  replaced_ = stale;

  std::vector<enum xdp_attach_mode> modes;
  if (mode != "generic") modes.push_back(XDP_MODE_NATIVE);
  if (mode != "native") modes.push_back(XDP_MODE_SKB);
  std::string tried;
  for (enum xdp_attach_mode m : modes) {
    struct xdp_program* prog = xdp_program__open_file(path.c_str(), "xdp", nullptr);
    long perr = libxdp_get_error(prog);
    if (!prog || perr) {
      ThrowCode(env, "XDP_LOAD", "XdpFilter: cannot open " + path + ": " + strerror(perr ? -perr : EINVAL) + TakeDiag());
      return false;
    }
    int err = xdp_program__attach(prog, ifindex_, m, 0);
    if (!err) {
      prog_ = prog;
      mode_ = m;
      break;
    }
    xdp_program__close(prog);
    tried += std::string(tried.empty() ? "" : "; ") + ModeName(m) + ": " + strerror(-err);
  }
  if (!prog_) {
    ThrowCode(env, "XDP_ATTACH",
              "XdpFilter: cannot attach to " + ifname_ + " (" + tried + ")" + TakeDiag() +
                  (tried.find("Device or resource busy") != std::string::npos || tried.find("File exists") != std::string::npos
                       ? " — another XDP program owns the interface and libxdp's dispatcher is unavailable"
                       : ""));
    return false;
  }
  {
    struct xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(ifindex_);
    if (mp && !libxdp_get_error(mp)) {
      dispatcher_ = !xdp_multiprog__is_legacy(mp);
      xdp_multiprog__close(mp);
    }
  }
  struct bpf_object* obj = xdp_program__bpf_obj(prog_);
  xsks_map_fd_ = obj ? bpf_object__find_map_fd_by_name(obj, "xsks_map") : -1;
  ports_map_fd_ = obj ? bpf_object__find_map_fd_by_name(obj, "xdpwg_ports") : -1;
  if (xsks_map_fd_ < 0 || ports_map_fd_ < 0) {
    ThrowCode(env, "XDP_LOAD", "XdpFilter: " + path + " lacks the xsks_map / xdpwg_ports maps");
    return false;
  }
  g_diag.clear();  // fallback chatter (no dispatcher) is not an error
  return ApplyPorts(env, o.Get("ports"));
}

bool XdpFilter::ApplyPorts(Napi::Env env, const Napi::Value& v) {
  if (!v.IsArray()) {
    Napi::TypeError::New(env, "XdpFilter: ports must be an array of UDP port numbers").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Array arr = v.As<Napi::Array>();
  std::vector<uint16_t> ports;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value p = arr.Get(i);
    double d = p.IsNumber() ? p.As<Napi::Number>().DoubleValue() : -1;
    if (d < 1 || d > 65535 || d != static_cast<uint16_t>(d)) {
      Napi::RangeError::New(env, "XdpFilter: port " + p.ToString().Utf8Value() + " is not in 1..65535")
          .ThrowAsJavaScriptException();
      return false;
    }
    ports.push_back(static_cast<uint16_t>(d));
  }
  if (ports.size() > 64) {
    Napi::RangeError::New(env, "XdpFilter: at most 64 ports").ThrowAsJavaScriptException();
    return false;
  }
  // Add the new set first, then remove what is no longer wanted, so a port
  // that stays configured never has a gap.
  uint8_t one = 1;
  for (uint16_t p : ports) {
    if (bpf_map_update_elem(ports_map_fd_, &p, &one, BPF_ANY) != 0) {
      ThrowCode(env, "XDP_MAP", std::string("XdpFilter: cannot add port to map: ") + strerror(errno));
      return false;
    }
  }
  std::vector<uint16_t> stale;
  uint16_t key = 0, next = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(ports_map_fd_, prev, &next) == 0) {
    bool keep = false;
    for (uint16_t p : ports) keep |= p == next;
    if (!keep) stale.push_back(next);
    key = next;
    prev = &key;
  }
  for (uint16_t p : stale) bpf_map_delete_elem(ports_map_fd_, &p);
  return true;
}

void XdpFilter::Detach() {
  if (prog_) {
    xdp_program__detach(prog_, ifindex_, mode_, 0);
    xdp_program__close(prog_);
    prog_ = nullptr;
  }
  xsks_map_fd_ = ports_map_fd_ = -1;  // owned by the bpf object, closed with it
  if (lock_fd_ >= 0) {
    close(lock_fd_);  // releases the flock
    lock_fd_ = -1;
  }
}

Napi::Value XdpFilter::BindQueue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!prog_) {
    ThrowCode(env, "ERR_CLOSED", "XdpFilter: filter is closed");
    return env.Undefined();
  }
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "XdpFilter.bindQueue(queue, xskFd): two numbers expected").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t q = info[0].As<Napi::Number>().Uint32Value();
  int fd = info[1].As<Napi::Number>().Int32Value();
  if (bpf_map_update_elem(xsks_map_fd_, &q, &fd, BPF_ANY) != 0) {
    ThrowCode(env, "XDP_MAP",
              "XdpFilter: cannot bind fd " + std::to_string(fd) + " to queue " + std::to_string(q) + ": " +
                  strerror(errno));
  }
  return env.Undefined();
}

Napi::Value XdpFilter::UnbindQueue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!prog_ || info.Length() < 1 || !info[0].IsNumber()) return env.Undefined();
  uint32_t q = info[0].As<Napi::Number>().Uint32Value();
  bpf_map_delete_elem(xsks_map_fd_, &q);
  return env.Undefined();
}

Napi::Value XdpFilter::SetPorts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!prog_) {
    ThrowCode(env, "ERR_CLOSED", "XdpFilter: filter is closed");
    return env.Undefined();
  }
  ApplyPorts(env, info.Length() ? info[0] : env.Undefined());
  return env.Undefined();
}

Napi::Value XdpFilter::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("ifname", ifname_);
  o.Set("ifindex", ifindex_);
  o.Set("mode", prog_ ? ModeName(mode_) : "none");
  o.Set("dispatcher", dispatcher_);
  o.Set("replacedStale", replaced_);
  o.Set("programId", prog_ ? xdp_program__id(prog_) : 0);
  return o;
}

Napi::Value XdpFilter::Close(const Napi::CallbackInfo& info) {
  Detach();
  return info.Env().Undefined();
}

void InitXdpFilter(Napi::Env env, Napi::Object exports) { exports.Set("XdpFilter", XdpFilter::Define(env)); }

}  // namespace xdpwg
