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
#include <linux/if_link.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <set>
#include <vector>

#include "bpf_object_path.h"
#include "libxdp_diag.h"
#include "modules.h"
#include "run_dir.h"
#include "sys_error.h"
#include "umem_share.h"

namespace xdpwg {
namespace {

constexpr const char* kProgName = "xdpwg_filter";  // the SEC("xdp") function's name
constexpr const char* kLockDir = kRunDir;

std::string DefaultObjectPath() { return BpfObjectPath("xdpwg_filter.o"); }

// Why libxdp attached our program alone instead of as a dispatcher component,
// in libxdp's own words, picked from its diagnostics of the attach. libxdp
// checks the kernel once per process and caches the answer, so the first
// reason found is kept for the process's later filters.
//
// On a kernel that refuses BPF trampolines the check fails with "Operation
// not permitted": the dispatcher's components are freplace programs
// (BPF_PROG_TYPE_EXT), and their BPF_PROG_LOAD is refused before the
// verifier runs (fentry programs likewise; kprobe, tracepoint, raw_tp and
// iterator programs load). Without a bpffs libxdp cannot pin the dispatcher
// and says "No bpffs found". See README "Several xdpwg interfaces on one uplink".
std::string g_dispatcher_reason;

void NoteDispatcherReason(const std::string& diag) {
  static const char* const kClues[] = {"Compatibility check for dispatcher program failed", "No bpffs found"};
  for (const char* clue : kClues) {
    size_t at = diag.find(clue);
    if (at == std::string::npos) continue;
    size_t end = diag.find('\n', at);
    std::string line = diag.substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (g_dispatcher_reason.find(line) == std::string::npos) g_dispatcher_reason += (g_dispatcher_reason.empty() ? "" : "; ") + line;
  }
}

std::string DispatcherReason() {
  return g_dispatcher_reason.empty() ? "libxdp attached the program alone" : "libxdp: " + g_dispatcher_reason;
}

const char* ModeName(enum xdp_attach_mode m) {
  switch (m) {
    case XDP_MODE_NATIVE:
      return "native";
    case XDP_MODE_SKB:
      return "generic";
    case XDP_MODE_HW:
      return "hw";
    default:
      return "none";
  }
}

// Ownership of a program of ours: a lock file named by its program id, which
// the owning process holds (flock) for as long as the program is attached.
// The kernel drops the lock when its holder dies, however it dies, so a
// program whose lock is free (or whose file is gone) was left by a dead
// process. Program ids are unique while the program is loaded.
//
// Only root can open these files (kLockDir is 0700, the files 0600), so only
// the owner holds the lock. Versions before that made them 0644 in a 0755
// directory, where anyone could open one read-only and hold its lock; such a
// file (its mode still loose: only its owner rewrites it) counts as held by a
// live owner only when the pid its owner wrote there is also alive.
std::string OwnerLockPath(ino_t netns, int ifindex, uint32_t prog_id) {
  return std::string(kLockDir) + "/filter-" + std::to_string(netns) + "-" + std::to_string(ifindex) + "-prog" + std::to_string(prog_id) +
         ".lock";
}

// Whether a program's owner-lock file is one of ours: a regular file owned by
// us. A file someone else made (possible while kLockDir was 0755) neither
// marks a program as ours nor keeps one alive.
bool IsOwnerLock(const std::string& path) {
  struct stat st = {};
  return lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid();
}

// The pid of the live owner of a program of ours, or 0 when its owner is dead.
long LiveOwner(ino_t netns, int ifindex, uint32_t prog_id) {
  std::string path = OwnerLockPath(netns, ifindex, prog_id);
  // Read-only and without fixing its mode: the file is its owner's.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return 0;
  struct stat st = {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
    close(fd);
    return 0;
  }
  bool legacy = (st.st_mode & 077) != 0;
  long pid = 0;
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {0};
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    pid = atol(buf);
    if (pid <= 0) pid = -1;  // alive, pid unknown
    if (legacy && (pid <= 0 || (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH))) pid = 0;
  }
  close(fd);
  return pid;
}

// Whether this thread's effective capabilities include CAP_SYS_PTRACE (bit 19 of CapEff).
bool HasSysPtrace() {
  FILE* f = fopen("/proc/thread-self/status", "re");
  if (!f) return false;
  char line[256];
  unsigned long long eff = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "CapEff: %llx", &eff) == 1) break;
  fclose(f);
  return (eff >> 19) & 1;
}

// The network namespaces that still exist: those of live processes and
// those kept by a bind mount where ip(8) and container runtimes put them.
// `complete` is false when some process's namespace could not be read for
// want of privilege: without CAP_SYS_PTRACE (the daemon drops it) the
// kernel refuses /proc/PID/ns/net of most processes, and a namespace held
// only by such a process would look gone. (With CAP_SYS_PTRACE a refusal
// comes from elsewhere, a security module or a sandbox's init, and is
// not taken for a hole in the view.)
std::set<ino_t> LiveNamespaces(bool& complete) {
  std::set<ino_t> live;
  complete = true;
  const bool privileged = HasSysPtrace();
  struct stat st = {};
  auto add_dir = [&](const std::string& dir, const char* suffix) {
    DIR* d = opendir(dir.c_str());
    if (!d) return;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      if (stat((dir + "/" + e->d_name + suffix).c_str(), &st) == 0)
        live.insert(st.st_ino);
      else if ((errno == EACCES || errno == EPERM) && !privileged)
        complete = false;
    }
    closedir(d);
  };
  add_dir("/proc", "/ns/net");
  add_dir("/run/netns", "");
  add_dir("/run/docker/netns", "");
  return live;
}

// Lock files of namespaces that are gone (a pod per namespace, test runs,
// kill -9 before a detach) would pile up in kLockDir for ever: a file of a
// namespace no process or mount keeps, whose lock nobody holds, is removed.
// Nothing can attach in a namespace that no longer exists, so no setup or
// owner lock removed here can be one in use. That holds only if every
// namespace was seen: with an incomplete view (LiveNamespaces) nothing is
// removed, since unlinking a live namespace's free setup lock would let two
// processes hold "the" lock on two different files. The daemon therefore
// sweeps once at start, before it drops its capabilities (sweepDeadNamespaceLocks).
// Returns the number of files removed, or -1 when the view was incomplete.
int SweepDeadNamespaceLocks() {
  DIR* d = opendir(kLockDir);
  if (!d) return 0;
  std::set<ino_t> live;
  bool scanned = false, complete = true;
  int removed = 0;
  while (dirent* e = readdir(d)) {
    if (strncmp(e->d_name, "filter-", 7) != 0) continue;
    ino_t ns = static_cast<ino_t>(strtoull(e->d_name + 7, nullptr, 10));
    if (!scanned) {
      live = LiveNamespaces(complete);
      scanned = true;
      if (!complete) break;
    }
    if (live.count(ns)) continue;
    std::string path = std::string(kLockDir) + "/" + e->d_name;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) continue;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0 && unlink(path.c_str()) == 0) removed++;
    close(fd);
  }
  closedir(d);
  return complete ? removed : -1;
}

Napi::Value SweepDeadNamespaceLocksJs(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), SweepDeadNamespaceLocks()); }

struct StaleScan {
  int removed = 0;    // programs of dead owners detached
  long live_pid = 0;  // a live xdpwg's pid (or -1: unknown) when one owns a program here
  int err = 0;        // -errno of a failed detach
};

// Removes programs of ours whose owner died (kill -9 never runs a detach)
// and notes a live one. Only called under the interface's setup lock, so no
// program found here is one a starting process has attached but not yet
// locked.
//
// A program attached directly (no dispatcher) is found over netlink
// (bpf_xdp_query, CAP_NET_ADMIN) and known as ours by its owner-lock file:
// that works without CAP_SYS_ADMIN, which the daemon drops. Components of
// libxdp's dispatcher can only be listed through libxdp, which opens
// programs by id (BPF_PROG_GET_FD_BY_ID needs CAP_SYS_ADMIN); without it
// they are left alone.
StaleScan DetachStale(ino_t netns, int ifindex) {
  StaleScan r;
  LIBBPF_OPTS(bpf_xdp_query_opts, q);
  if (bpf_xdp_query(ifindex, 0, &q) == 0) {
    const std::pair<uint32_t, uint32_t> direct[] = {{q.drv_prog_id, XDP_FLAGS_DRV_MODE}, {q.skb_prog_id, XDP_FLAGS_SKB_MODE}};
    for (const auto& [id, flags] : direct) {
      if (!id || !IsOwnerLock(OwnerLockPath(netns, ifindex, id))) continue;  // none, or not ours
      long owner = LiveOwner(netns, ifindex, id);
      if (owner != 0) {
        r.live_pid = owner;
        continue;
      }
      int err = bpf_xdp_detach(ifindex, flags, nullptr);
      if (err) {
        r.err = err;
        return r;
      }
      unlink(OwnerLockPath(netns, ifindex, id).c_str());
      r.removed++;
    }
  }
  struct xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(ifindex);
  if (!mp || libxdp_get_error(mp)) return r;  // nothing attached, or no CAP_SYS_ADMIN
  if (!xdp_multiprog__is_legacy(mp)) {
    std::vector<struct xdp_program*> ours;
    for (struct xdp_program* p = xdp_multiprog__next_prog(nullptr, mp); p; p = xdp_multiprog__next_prog(p, mp))
      if (strcmp(xdp_program__name(p), kProgName) == 0) ours.push_back(p);
    for (struct xdp_program* p : ours) {
      uint32_t id = xdp_program__id(p);
      long owner = LiveOwner(netns, ifindex, id);
      if (owner != 0) {
        r.live_pid = owner;
        continue;
      }
      int err = xdp_program__detach(p, ifindex, xdp_multiprog__attach_mode(mp), 0);
      if (err) {
        r.err = err;
        break;
      }
      unlink(OwnerLockPath(netns, ifindex, id).c_str());
      r.removed++;
    }
  }
  xdp_multiprog__close(mp);
  return r;
}

// Makes a hash map's contents equal to `entries` (key bytes -> one-byte
// value). Adds first, then deletes what is no longer wanted, so a key that
// stays never has a gap. Returns 0 or -errno.
int SyncEntries(int map_fd, size_t key_size, const std::map<std::string, uint8_t>& entries) {
  for (const auto& [k, v] : entries)
    if (bpf_map_update_elem(map_fd, k.data(), &v, BPF_ANY) != 0) return -errno;
  std::vector<std::string> stale;
  std::string key(key_size, '\0'), next(key_size, '\0');
  const void* prev = nullptr;
  while (bpf_map_get_next_key(map_fd, prev, &next[0]) == 0) {
    if (!entries.count(next)) stale.push_back(next);
    key = next;
    prev = key.data();
  }
  for (const std::string& k : stale) bpf_map_delete_elem(map_fd, k.data());
  return 0;
}

}  // namespace

Napi::Function XdpFilter::Define(Napi::Env env) {
  return DefineClass(env, "XdpFilter",
                     {
                         InstanceMethod<&XdpFilter::BindQueue>("bindQueue"),
                         InstanceMethod<&XdpFilter::UnbindQueue>("unbindQueue"),
                         InstanceMethod<&XdpFilter::SetPorts>("setPorts"),
                         InstanceMethod<&XdpFilter::SetMemberPort>("setMemberPort"),
                         InstanceMethod<&XdpFilter::SetLocalAddresses>("setLocalAddresses"),
                         InstanceMethod<&XdpFilter::SetPassData>("setPassData"),
                         InstanceMethod<&XdpFilter::Info>("info"),
                         InstanceMethod<&XdpFilter::Close>("close"),
                     });
}

XdpFilter::XdpFilter(const Napi::CallbackInfo& info) : EnvBound<XdpFilter>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "XdpFilter: expected an options object { ifname, mode, ports }").ThrowAsJavaScriptException();
    return;
  }
  if (!Open(env, info[0].As<Napi::Object>())) {
    Release();
    return;
  }
  BindToEnv();
}

XdpFilter::~XdpFilter() { Release(); }

bool XdpFilter::Open(Napi::Env env, const Napi::Object& o) {
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
  std::string path = o.Get("objectPath").IsString() ? o.Get("objectPath").As<Napi::String>().Utf8Value() : DefaultObjectPath();
  if (access(path.c_str(), R_OK) != 0) {
    ThrowCode(env, "ENOENT", "XdpFilter: BPF object " + path + " not found; run 'npm run build:native'");
    return false;
  }

  // The setup lock, one per (network namespace, ifindex), held only while
  // this process scans for stale programs and attaches its own: a program
  // attached but not yet locked by its owner is never taken for stale.
  struct stat ns = {};
  if (stat("/proc/self/ns/net", &ns) != 0) ns.st_ino = 0;
  netns_ = ns.st_ino;
  std::string dir_err = EnsurePrivateDir(kLockDir);
  if (!dir_err.empty()) {
    ThrowCode(env, "EACCES", "XdpFilter: " + dir_err);
    return false;
  }
  // Named apart from older versions' "filter-NS-IFINDEX.lock": that one was
  // world-openable, and a descriptor someone opened then survives any chmod.
  std::string setup_path = std::string(kLockDir) + "/filter-" + std::to_string(netns_) + "-" + std::to_string(ifindex_) + "-setup.lock";
  std::string why;
  int setup_fd = OpenPrivateFile(setup_path, true, &why);
  if (setup_fd < 0) {
    ThrowCode(env, "EACCES", "XdpFilter: lock: " + why);
    return false;
  }
  // Another process attaching holds it for well under a second; the wait is
  // bounded all the same, since this is the daemon's main thread (UAPI,
  // handshakes and timers wait with it).
  int lerr = LockWithin(setup_fd, kLockWaitMs);
  if (lerr) {
    close(setup_fd);
    ThrowCode(env, lerr == -ETIMEDOUT ? "ETIMEDOUT" : "EACCES",
              "XdpFilter: the setup lock " + setup_path + " of " + ifname_ +
                  (lerr == -ETIMEDOUT ? " is still held by another process after " + std::to_string(kLockWaitMs / 1000) +
                                            " s (see: fuser -v " + setup_path + ")"
                                      : std::string(": ") + strerror(-lerr)));
    return false;
  }
  SweepDeadNamespaceLocks();
  bool ok = AttachLocked(env, mode, path);
  close(setup_fd);  // releases the setup lock
  if (!ok) return false;
  return ApplyPorts(env, o.Get("ports"));
}

bool XdpFilter::AttachLocked(Napi::Env env, const std::string& mode, const std::string& path) {
  // libxdp's and libbpf's lines of this attach (libxdp_diag.h), for the
  // error we throw; a success's fallback chatter (no dispatcher) is dropped.
  DiagCollector diag;
  StaleScan scan = DetachStale(netns_, ifindex_);
  if (scan.err) {
    ThrowCode(env, "XDP_DETACH",
              "XdpFilter: cannot remove a stale xdpwg filter from " + ifname_ + ": " + strerror(-scan.err) + diag.TakeSuffix());
    return false;
  }
  replaced_ = scan.removed;

  std::vector<enum xdp_attach_mode> modes;
  if (mode != "generic") modes.push_back(XDP_MODE_NATIVE);
  if (mode != "native") modes.push_back(XDP_MODE_SKB);
  std::string tried;
  for (enum xdp_attach_mode m : modes) {
    NoteDispatcherReason(diag.text());
    struct xdp_program* prog = xdp_program__open_file(path.c_str(), "xdp", nullptr);
    long perr = libxdp_get_error(prog);
    if (!prog || perr) {
      ThrowCode(env, "XDP_LOAD", "XdpFilter: cannot open " + path + ": " + strerror(perr ? -perr : EINVAL) + diag.TakeSuffix());
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
  NoteDispatcherReason(diag.text());
  if (!prog_) {
    bool busy = tried.find("Device or resource busy") != std::string::npos || tried.find("File exists") != std::string::npos;
    if (busy && scan.live_pid != 0) {
      ThrowCode(env, "EBUSY",
                "XdpFilter: " + ifname_ + " is already served by another xdpwg process (pid " +
                    (scan.live_pid > 0 ? std::to_string(scan.live_pid) : std::string("?")) +
                    ") and libxdp's dispatcher, which lets both run, is unavailable (" + DispatcherReason() + ")");
      return false;
    }
    if (busy) {
      ThrowCode(env, "XDP_ATTACH",
                "XdpFilter: another XDP program owns " + ifname_ + " and libxdp's dispatcher is unavailable (" + DispatcherReason() +
                    ") [" + tried + "]");
      return false;
    }
    ThrowCode(env, "XDP_ATTACH", "XdpFilter: cannot attach to " + ifname_ + " (" + tried + ")" + diag.TakeSuffix());
    return false;
  }
  {
    struct xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(ifindex_);
    if (mp && !libxdp_get_error(mp)) {
      dispatcher_ = !xdp_multiprog__is_legacy(mp);
      xdp_multiprog__close(mp);
    }
  }
  if (!dispatcher_) dispatcher_error_ = DispatcherReason();
  // Our program's owner lock, held until Detach (see OwnerLockPath).
  lock_path_ = OwnerLockPath(netns_, ifindex_, xdp_program__id(prog_));
  // The id is new, so a file already there is a dead process's (ids are
  // reused only once their program is gone): made afresh, so no descriptor
  // anyone may still have of the old one counts.
  unlink(lock_path_.c_str());
  std::string why;
  lock_fd_ = OpenPrivateFile(lock_path_, true, &why);
  if (lock_fd_ < 0) {
    ThrowCode(env, "EACCES", "XdpFilter: lock: " + why);
    return false;
  }
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    ThrowCode(env, "EACCES", "XdpFilter: cannot lock " + lock_path_ + ": " + strerror(errno));
    return false;
  }
  std::string me = std::to_string(getpid());
  if (ftruncate(lock_fd_, 0) == 0) (void)!pwrite(lock_fd_, me.data(), me.size(), 0);
  struct bpf_object* obj = xdp_program__bpf_obj(prog_);
  xsks_map_fd_ = obj ? bpf_object__find_map_fd_by_name(obj, "xsks_map") : -1;
  ports_map_fd_ = obj ? bpf_object__find_map_fd_by_name(obj, "xdpwg_ports") : -1;
  local4_map_fd_ = obj ? bpf_object__find_map_fd_by_name(obj, "xdpwg_local4") : -1;
  local6_map_fd_ = obj ? bpf_object__find_map_fd_by_name(obj, "xdpwg_local6") : -1;
  config_map_fd_ = obj ? bpf_object__find_map_fd_by_name(obj, "xdpwg_config") : -1;
  if (xsks_map_fd_ < 0 || ports_map_fd_ < 0 || local4_map_fd_ < 0 || local6_map_fd_ < 0 || config_map_fd_ < 0) {
    ThrowCode(env, "XDP_LOAD",
              "XdpFilter: " + path + " lacks the xsks_map / xdpwg_ports / xdpwg_local4 / xdpwg_local6 / xdpwg_config maps");
    return false;
  }
  return true;
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
      Napi::RangeError::New(env, "XdpFilter: port " + p.ToString().Utf8Value() + " is not in 1..65535").ThrowAsJavaScriptException();
      return false;
    }
    ports.push_back(static_cast<uint16_t>(d));
  }
  if (ports.size() > 64) {
    Napi::RangeError::New(env, "XdpFilter: at most 64 ports").ThrowAsJavaScriptException();
    return false;
  }
  own_ports_ = ports;
  return SyncPorts(env);
}

// The port map: our ports at slot 0, then the members' (a member's port
// never displaces one of ours).
bool XdpFilter::SyncPorts(Napi::Env env) {
  std::map<std::string, uint8_t> entries;
  auto key = [](uint16_t p) { return std::string(reinterpret_cast<const char*>(&p), sizeof(p)); };
  for (const auto& [p, slot] : member_ports_) entries[key(p)] = slot;
  for (uint16_t p : own_ports_) entries[key(p)] = 0;
  int err = SyncEntries(ports_map_fd_, sizeof(uint16_t), entries);
  if (err) {
    ThrowCode(env, "XDP_MAP", std::string("XdpFilter: cannot update the port map: ") + strerror(-err));
    return false;
  }
  return true;
}

// setLocalAddresses(addrs: Uint8Array[]): the namespace's local addresses,
// 4 bytes (IPv4) or 16 (IPv6) each, network byte order. Only UDP addressed
// to one of them is steered (see the BPF program).
Napi::Value XdpFilter::SetLocalAddresses(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return env.Undefined();
  if (info.Length() < 1 || !info[0].IsArray()) {
    Napi::TypeError::New(env, "XdpFilter.setLocalAddresses(addrs): an array of 4- or 16-byte Uint8Arrays expected")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array arr = info[0].As<Napi::Array>();
  std::map<std::string, uint8_t> v4, v6;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value a = arr.Get(i);
    if (!a.IsTypedArray() || a.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      Napi::TypeError::New(env, "XdpFilter.setLocalAddresses: element " + std::to_string(i) + " is not a Uint8Array")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Uint8Array b = a.As<Napi::Uint8Array>();
    if (b.ByteLength() != 4 && b.ByteLength() != 16) {
      Napi::RangeError::New(env, "XdpFilter.setLocalAddresses: element " + std::to_string(i) + " has " + std::to_string(b.ByteLength()) +
                                     " bytes, not 4 or 16")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    (b.ByteLength() == 4 ? v4 : v6)[std::string(reinterpret_cast<const char*>(b.Data()), b.ByteLength())] = 1;
  }
  int err = SyncEntries(local4_map_fd_, 4, v4);
  if (!err) err = SyncEntries(local6_map_fd_, 16, v6);
  if (err) ThrowCode(env, "XDP_MAP", std::string("XdpFilter: cannot update the local-address maps: ") + strerror(-err));
  return env.Undefined();
}

// setPassData(on): the receive path "socket" (src/datapath/rx-path.ts): peers'
// data messages pass to the kernel stack and the daemon's UDP socket instead
// of the AF_XDP sockets (the program's XDPWG_PASS_DATA flag).
Napi::Value XdpFilter::SetPassData(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return env.Undefined();
  if (info.Length() < 1 || !info[0].IsBoolean()) {
    Napi::TypeError::New(env, "XdpFilter.setPassData(on: boolean)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t key = 0, flags = info[0].As<Napi::Boolean>().Value() ? 1u : 0u;  // XDPWG_PASS_DATA
  if (bpf_map_update_elem(config_map_fd_, &key, &flags, BPF_ANY) != 0)
    ThrowCode(env, "XDP_MAP", std::string("XdpFilter: cannot update the config map: ") + strerror(errno));
  return env.Undefined();
}

// Also run by the env cleanup hook (EnvBound): process exit or the owning
// environment ending detaches the program, so a filter is only left behind
// by a process that could not run any code.
void XdpFilter::FreeResources() {
  if (prog_) {
    if (dispatcher_) {
      xdp_program__detach(prog_, ifindex_, mode_, 0);
    } else {
      // Directly over netlink, and only if the attached program is still
      // ours: libxdp's detach would first look the program up by id, which
      // needs the CAP_SYS_ADMIN the daemon has dropped.
      LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = xdp_program__fd(prog_));
      bpf_xdp_detach(ifindex_, mode_ == XDP_MODE_NATIVE ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE, &opts);
    }
    xdp_program__close(prog_);
    prog_ = nullptr;
  }
  xsks_map_fd_ = ports_map_fd_ = local4_map_fd_ = local6_map_fd_ = config_map_fd_ = -1;  // owned by the bpf object, closed with it
  if (lock_fd_ >= 0) {
    unlink(lock_path_.c_str());
    close(lock_fd_);  // releases the flock
    lock_fd_ = -1;
  }
}

Napi::Value XdpFilter::BindQueue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return env.Undefined();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "XdpFilter.bindQueue(queue, xskFd, slot = 0): numbers expected").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t q = info[0].As<Napi::Number>().Uint32Value();
  int fd = info[1].As<Napi::Number>().Int32Value();
  uint32_t slot = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : 0;
  if (slot >= kShareMembers) {
    Napi::RangeError::New(env, "XdpFilter.bindQueue: slot must be below " + std::to_string(kShareMembers)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t key = q * kShareMembers + slot;  // as the BPF program's redirect key
  if (bpf_map_update_elem(xsks_map_fd_, &key, &fd, BPF_ANY) != 0) {
    ThrowCode(env, "XDP_MAP",
              "XdpFilter: cannot bind fd " + std::to_string(fd) + " to queue " + std::to_string(q) + ": " + strerror(errno));
  }
  return env.Undefined();
}

Napi::Value XdpFilter::UnbindQueue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!prog_ || info.Length() < 1 || !info[0].IsNumber()) return env.Undefined();
  uint32_t q = info[0].As<Napi::Number>().Uint32Value();
  uint32_t slot = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
  uint32_t key = q * kShareMembers + slot;
  bpf_map_delete_elem(xsks_map_fd_, &key);
  return env.Undefined();
}

// setMemberPort(port, slot): steer a member process's listen port to its
// sockets (slot 1..); slot 0 removes the port (umem_share.h).
Napi::Value XdpFilter::SetMemberPort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return env.Undefined();
  double port = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  double slot = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
  if (port < 1 || port > 65535 || port != static_cast<uint16_t>(port) || slot < 0 || slot >= kShareMembers ||
      slot != static_cast<uint8_t>(slot)) {
    Napi::RangeError::New(env, "XdpFilter.setMemberPort(port 1..65535, slot 0.." + std::to_string(kShareMembers - 1) + ")")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (slot == 0)
    member_ports_.erase(static_cast<uint16_t>(port));
  else
    member_ports_[static_cast<uint16_t>(port)] = static_cast<uint8_t>(slot);
  SyncPorts(env);
  return env.Undefined();
}

bool XdpFilter::RequireOpen(Napi::Env env) {
  if (prog_) return true;
  ThrowCode(env, "ERR_CLOSED", "XdpFilter: filter is closed");
  return false;
}

Napi::Value XdpFilter::SetPorts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return env.Undefined();
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
  if (prog_ && !dispatcher_) o.Set("dispatcherError", dispatcher_error_);
  o.Set("replacedStale", replaced_);
  o.Set("programId", prog_ ? xdp_program__id(prog_) : 0);
  return o;
}

Napi::Value XdpFilter::Close(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

void InitXdpFilter(Napi::Env env, Napi::Object exports) {
  exports.Set("XdpFilter", XdpFilter::Define(env));
  exports.Set("sweepDeadNamespaceLocks", Napi::Function::New(env, SweepDeadNamespaceLocksJs, "sweepDeadNamespaceLocks"));
}

}  // namespace xdpwg
