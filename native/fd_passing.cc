// SOCK_SEQPACKET unix sockets that carry file descriptors (SCM_RIGHTS), and
// XSKMAP updates through a map fd received that way: what the AF_XDP device
// plugin's Unix-socket protocol needs (src/daemon/xdp/device-plugin-client.ts).
// Node's net module can neither open SEQPACKET sockets nor receive fds.
//
// Every call is synchronous and bounded: waits go through poll() with the
// caller's timeout, so a plugin that never answers costs that long and no
// more. Sockets are non-blocking and close-on-exec; received fds too
// (MSG_CMSG_CLOEXEC). Called on the main thread during start-up (the client)
// and on a test's worker thread (the test's stand-in for the plugin).
//
//   seqpacketConnect(path, timeoutMs) -> fd
//   seqpacketListen(path) -> fd                    (backlog 1, mode 0600)
//   seqpacketAccept(listenFd, timeoutMs) -> fd
//   seqpacketSend(fd, text, passFd = -1, timeoutMs)
//   seqpacketRecv(fd, timeoutMs) -> { text, fd (-1: none), closed }
//   closeFd(fd)
//   bpfMapInfo(fd) -> { type, maxEntries, name }   (BPF_MAP_TYPE_XSKMAP is 17)
//   xskMapSet(mapFd, queue, xskFd) / xskMapDelete(mapFd, queue)
//   udpSocketPort(fd) -> port of a UDP socket of our namespace bound to a wildcard address
#include <bpf/bpf.h>
#include <fcntl.h>
#include <poll.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <string>
#include "modules.h"
#include "sys_error.h"

namespace xdpwg {
namespace {

/** Longest message read: the plugin's buffer is 64 bytes; anything longer is garbage, reported as such. */
constexpr size_t kMaxMessage = 512;

bool ArgInt(const Napi::CallbackInfo& info, size_t i, const char* usage, int* out) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    ThrowType(info.Env(), usage);
    return false;
  }
  *out = info[i].As<Napi::Number>().Int32Value();
  return true;
}

bool ArgPath(const Napi::CallbackInfo& info, const char* usage, sockaddr_un* addr, socklen_t* len) {
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowType(info.Env(), usage);
    return false;
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  if (path.empty() || path.size() >= sizeof addr->sun_path) {
    ThrowRange(info.Env(), "unix socket path must be 1.." + std::to_string(sizeof addr->sun_path - 1) + " bytes: " + path);
    return false;
  }
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  memcpy(addr->sun_path, path.data(), path.size());
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return true;
}

/** poll() for one event, restarting on EINTR with the time left; 0 on timeout, <0 -errno. */
int WaitFor(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    int r = poll(&p, 1, timeout_ms);
    if (r >= 0) return r;
    if (errno != EINTR) return -errno;
  }
}

Napi::Value SeqpacketConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sockaddr_un addr;
  socklen_t len;
  int timeout = 0;
  if (!ArgPath(info, "seqpacketConnect(path: string, timeoutMs: number)", &addr, &len) ||
      !ArgInt(info, 1, "seqpacketConnect(path: string, timeoutMs: number)", &timeout))
    return env.Undefined();
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowSysError(env, "socket", errno);
    return env.Undefined();
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    int err = errno;
    // A unix connect either completes at once or finds the backlog full (EAGAIN):
    // then wait for room as for any non-blocking connect.
    if (err == EAGAIN || err == EINPROGRESS) {
      int r = WaitFor(fd, POLLOUT, timeout);
      int soerr = 0;
      socklen_t sl = sizeof soerr;
      if (r > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) return Napi::Number::New(env, fd);
      err = r == 0 ? ETIMEDOUT : r < 0 ? -r : soerr;
    }
    close(fd);
    ThrowSysError(env, "connect", err, addr.sun_path);
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

// The socket appears at path only once it listens: it is bound under a
// private name (path + ".<pid>.tmp"), made 0600, put to listen, and then
// renamed over path (atomically replacing a dead one). A process sweeping
// stale sockets (src/daemon/xdp/uplink-share.ts) thus never finds at path a
// socket that refuses connections because it does not listen yet.
Napi::Value SeqpacketListen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sockaddr_un addr;
  socklen_t len;
  if (!ArgPath(info, "seqpacketListen(path: string)", &addr, &len)) return env.Undefined();
  const std::string path = addr.sun_path;
  const std::string tmp = path + "." + std::to_string(getpid()) + ".tmp";
  if (tmp.size() >= sizeof addr.sun_path) {
    ThrowRange(env, "unix socket path must leave room for a temporary name: " + path);
    return env.Undefined();
  }
  memcpy(addr.sun_path, tmp.c_str(), tmp.size() + 1);
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + tmp.size() + 1);
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowSysError(env, "socket", errno);
    return env.Undefined();
  }
  unlink(tmp.c_str());  // ours from an earlier run with this pid, never anyone else's
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || chmod(tmp.c_str(), 0600) != 0 || listen(fd, 1) != 0 ||
      rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    close(fd);
    unlink(tmp.c_str());
    ThrowSysError(env, "bind/listen", err, path.c_str());
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

Napi::Value SeqpacketAccept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int lfd = -1, timeout = 0;
  const char* usage = "seqpacketAccept(listenFd: number, timeoutMs: number)";
  if (!ArgInt(info, 0, usage, &lfd) || !ArgInt(info, 1, usage, &timeout)) return env.Undefined();
  int r = WaitFor(lfd, POLLIN, timeout);
  if (r <= 0) {
    ThrowSysError(env, "accept", r == 0 ? ETIMEDOUT : -r);
    return env.Undefined();
  }
  int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    ThrowSysError(env, "accept", errno);
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

Napi::Value SeqpacketSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "seqpacketSend(fd: number, text: string, passFd: number, timeoutMs: number)";
  int fd = -1, pass = -1, timeout = 0;
  if (!ArgInt(info, 0, usage, &fd) || info.Length() < 2 || !info[1].IsString() || !ArgInt(info, 2, usage, &pass) ||
      !ArgInt(info, 3, usage, &timeout)) {
    ThrowType(env, usage);
    return env.Undefined();
  }
  std::string text = info[1].As<Napi::String>().Utf8Value();
  iovec iov{text.data(), text.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (pass >= 0) {
    memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &pass, sizeof(int));
  }
  for (;;) {
    if (sendmsg(fd, &msg, MSG_NOSIGNAL) >= 0) return env.Undefined();
    if (errno == EINTR) continue;
    if (errno != EAGAIN) break;
    int r = WaitFor(fd, POLLOUT, timeout);
    if (r <= 0) {
      ThrowSysError(env, "sendmsg", r == 0 ? ETIMEDOUT : -r);
      return env.Undefined();
    }
  }
  ThrowSysError(env, "sendmsg", errno);
  return env.Undefined();
}

Napi::Value SeqpacketRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "seqpacketRecv(fd: number, timeoutMs: number)";
  int fd = -1, timeout = 0;
  if (!ArgInt(info, 0, usage, &fd) || !ArgInt(info, 1, usage, &timeout)) return env.Undefined();
  char buf[kMaxMessage];
  // Room for a few fds: a peer that sends more than one gets the extras closed, not leaked.
  alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))];
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  ssize_t n;
  for (;;) {
    msg = msghdr{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      ThrowSysError(env, "recvmsg", errno);
      return env.Undefined();
    }
    int r = WaitFor(fd, POLLIN, timeout);
    if (r <= 0) {
      ThrowSysError(env, "recvmsg", r == 0 ? ETIMEDOUT : -r);
      return env.Undefined();
    }
  }
  int received = -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int one;
      memcpy(&one, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (received < 0)
        received = one;
      else
        close(one);
    }
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("text", Napi::String::New(env, buf, static_cast<size_t>(n)));
  out.Set("fd", Napi::Number::New(env, received));
  out.Set("closed", Napi::Boolean::New(env, n == 0 && received < 0));
  out.Set("truncated", Napi::Boolean::New(env, (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0));
  return out;
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int fd = -1;
  if (!ArgInt(info, 0, "closeFd(fd: number)", &fd)) return info.Env().Undefined();
  if (fd >= 0) close(fd);
  return info.Env().Undefined();
}

Napi::Value BpfMapInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!ArgInt(info, 0, "bpfMapInfo(fd: number)", &fd)) return env.Undefined();
  bpf_map_info mi{};
  __u32 len = sizeof mi;
  int err = bpf_obj_get_info_by_fd(fd, &mi, &len);
  if (err != 0) {
    ThrowSysError(env, "bpf_obj_get_info_by_fd", -err, "fd " + std::to_string(fd) + " is not a BPF map");
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("type", Napi::Number::New(env, mi.type));
  out.Set("maxEntries", Napi::Number::New(env, mi.max_entries));
  out.Set("name", Napi::String::New(env, mi.name));
  return out;
}

Napi::Value XskMapSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "xskMapSet(mapFd: number, queue: number, xskFd: number)";
  int map = -1, queue = -1, xsk = -1;
  if (!ArgInt(info, 0, usage, &map) || !ArgInt(info, 1, usage, &queue) || !ArgInt(info, 2, usage, &xsk)) return env.Undefined();
  __u32 key = static_cast<__u32>(queue);
  __u32 value = static_cast<__u32>(xsk);
  int err = bpf_map_update_elem(map, &key, &value, 0);
  if (err != 0) ThrowSysError(env, "bpf_map_update_elem", -err, "XSKMAP queue " + std::to_string(queue));
  return env.Undefined();
}

Napi::Value XskMapDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int map = -1, queue = -1;
  if (!ArgInt(info, 0, "xskMapDelete(mapFd: number, queue: number)", &map) ||
      !ArgInt(info, 1, "xskMapDelete(mapFd: number, queue: number)", &queue))
    return env.Undefined();
  __u32 key = static_cast<__u32>(queue);
  // ENOENT: nothing bound there; that is the state asked for.
  int err = bpf_map_delete_elem(map, &key);
  if (err != 0 && err != -ENOENT) ThrowSysError(env, "bpf_map_delete_elem", -err, "XSKMAP queue " + std::to_string(queue));
  return env.Undefined();
}

}  // namespace

// udpSocketPort(fd): what a member of a shared uplink proves its listen port
// with (src/daemon/xdp/uplink-share.ts): the fd it passed us (SCM_RIGHTS) must be
// a UDP socket of our network namespace, bound to a wildcard address (all
// of the port, not one address of it), without SO_REUSEPORT or SO_REUSEADDR
// (with which another socket could hold the same port too). A process can
// only pass a socket it has, and the kernel gives one such socket per port:
// so the port is the member's, and steering it to the member takes nothing
// from anybody else. Returns the port; throws (code EPERM) saying why not.
Napi::Value UdpSocketPort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!ArgInt(info, 0, "udpSocketPort(fd: number)", &fd)) return env.Undefined();
  auto refuse = [&](const std::string& why) {
    ThrowCode(env, "EPERM", "not proof of a UDP port: " + why);
    return env.Undefined();
  };
  int type = 0, proto = 0, reuse_port = 0, reuse_addr = 0;
  socklen_t l = sizeof(int);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) != 0) return refuse(std::string("not a socket (") + strerror(errno) + ")");
  l = sizeof(int);
  if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l) != 0 || type != SOCK_DGRAM || proto != IPPROTO_UDP)
    return refuse("not a UDP socket");
  l = sizeof(int);
  getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &reuse_port, &l);
  l = sizeof(int);
  getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse_addr, &l);
  if (reuse_port || reuse_addr) return refuse("SO_REUSEPORT or SO_REUSEADDR is set: the port may be shared");
  sockaddr_storage ss = {};
  l = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &l) != 0) return refuse(std::string("getsockname: ") + strerror(errno));
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    if (a->sin_addr.s_addr != htonl(INADDR_ANY)) return refuse("bound to one address, not the whole port");
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    if (!IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr)) return refuse("bound to one address, not the whole port");
    port = ntohs(a->sin6_port);
  }
  if (port == 0) return refuse("not bound");
  // Same network namespace as ours: a port of another namespace is another port.
  int ns = ioctl(fd, SIOCGSKNS);
  if (ns < 0) return refuse(std::string("cannot tell its network namespace: ") + strerror(errno));
  struct stat theirs = {}, ours = {};
  bool same =
      fstat(ns, &theirs) == 0 && stat("/proc/self/ns/net", &ours) == 0 && theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev;
  close(ns);
  if (!same) return refuse("a socket of another network namespace");
  return Napi::Number::New(env, port);
}

void InitFdPassing(Napi::Env env, Napi::Object exports) {
  exports.Set("seqpacketConnect", Napi::Function::New(env, SeqpacketConnect, "seqpacketConnect"));
  exports.Set("seqpacketListen", Napi::Function::New(env, SeqpacketListen, "seqpacketListen"));
  exports.Set("seqpacketAccept", Napi::Function::New(env, SeqpacketAccept, "seqpacketAccept"));
  exports.Set("seqpacketSend", Napi::Function::New(env, SeqpacketSend, "seqpacketSend"));
  exports.Set("seqpacketRecv", Napi::Function::New(env, SeqpacketRecv, "seqpacketRecv"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("bpfMapInfo", Napi::Function::New(env, BpfMapInfo, "bpfMapInfo"));
  exports.Set("xskMapSet", Napi::Function::New(env, XskMapSet, "xskMapSet"));
  exports.Set("xskMapDelete", Napi::Function::New(env, XskMapDelete, "xskMapDelete"));
  exports.Set("udpSocketPort", Napi::Function::New(env, UdpSocketPort, "udpSocketPort"));
}

}  // namespace xdpwg
