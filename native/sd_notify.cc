// sd_notify(3)'s wire protocol: one datagram of newline-separated
// VARIABLE=value lines to the AF_UNIX socket systemd names in NOTIFY_SOCKET
// (a path, or an abstract name written with a leading '@'). Node has no
// unix datagram sockets, and linking libsystemd for one sendto() is not
// worth a dependency.
//
// JS: sdNotify(socketPath, message) -> undefined; throws with errno.
#include <napi.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include "modules.h"
#include "sys_error.h"

namespace xdpwg {

namespace {

Napi::Value SdNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString())
    return ThrowType(env, "sdNotify(socketPath, message): two strings required"), env.Undefined();
  std::string where = info[0].As<Napi::String>().Utf8Value();
  std::string msg = info[1].As<Napi::String>().Utf8Value();
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (where.empty() || (where[0] != '/' && where[0] != '@') || where.size() >= sizeof(sa.sun_path))
    return ThrowRange(env, "sdNotify: NOTIFY_SOCKET must be an absolute path or @abstract name shorter than 108 bytes"), env.Undefined();
  memcpy(sa.sun_path, where.data(), where.size());
  if (where[0] == '@') sa.sun_path[0] = '\0';  // abstract namespace: no trailing NUL counted
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + where.size());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowSysError(env, "sdNotify: socket(AF_UNIX)", errno), env.Undefined();
  ssize_t n = sendto(fd, msg.data(), msg.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sa), len);
  int err = errno;
  close(fd);
  if (n < 0) return ThrowSysError(env, "sdNotify: sendto(" + where + ")", err), env.Undefined();
  if (static_cast<size_t>(n) != msg.size()) return ThrowSysError(env, "sdNotify: short datagram to " + where, EMSGSIZE), env.Undefined();
  return env.Undefined();
}

}  // namespace

void InitSdNotify(Napi::Env env, Napi::Object exports) { exports.Set("sdNotify", Napi::Function::New(env, SdNotify, "sdNotify")); }

}  // namespace xdpwg
