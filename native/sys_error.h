// Control-path errors for the native modules written by the I/O layer (UDP
// port, TUN, netlink, waiter): a JS Error whose message names the operation
// and the errno, with `code` (e.g. 'EEXIST'), `errno` and `syscall` set as
// Node's own system errors do, so callers can branch on err.code.
#pragma once
#include <napi.h>
#include <cerrno>
#include <cstring>
#include <string>

namespace xdpwg {

/** Symbolic errno name ("EEXIST"); "E<n>" when the C library has none. */
inline std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name ? std::string(name) : "E" + std::to_string(err);
}

/**
 * Throws `<op>: <ENAME> (<strerror>)[: detail]` as a pending JS exception.
 * Callers return right after (the addon is built without C++ exceptions).
 */
inline void ThrowSysError(Napi::Env env, const std::string& op, int err, const std::string& detail = "") {
  std::string msg = op + ": " + ErrnoName(err) + " (" + strerror(err) + ")";
  if (!detail.empty()) msg += ": " + detail;
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, op));
  e.ThrowAsJavaScriptException();
}

/** Throws a TypeError (bad argument type or shape). */
inline void ThrowType(Napi::Env env, const std::string& msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
}

/** Throws a RangeError (argument out of its allowed range). */
inline void ThrowRange(Napi::Env env, const std::string& msg) {
  Napi::RangeError::New(env, msg).ThrowAsJavaScriptException();
}

}  // namespace xdpwg
