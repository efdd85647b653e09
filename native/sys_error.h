// The addon's one error module: every native file throws through these.
// ThrowSysError: a JS Error whose message names the operation and the errno,
// with `code` (e.g. 'EEXIST'), `errno` and `syscall` set as Node's own
// system errors do, so callers can branch on err.code. ThrowCode: an Error
// with a code of the addon's own ('XSK_UMEM', 'ERR_CLOSED', ...) or an errno
// name, when the message already says what failed. ThrowType/ThrowRange:
// bad arguments. All leave a pending JS exception; callers return right after
// (the addon is built without C++ exceptions).
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

/** Throws an Error with err.code = code (the message says the rest). */
inline void ThrowCode(Napi::Env env, const char* code, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.ThrowAsJavaScriptException();
}

/** Throws a TypeError (bad argument type or shape). */
inline void ThrowType(Napi::Env env, const std::string& msg) { Napi::TypeError::New(env, msg).ThrowAsJavaScriptException(); }

/** Throws a RangeError (argument out of its allowed range). */
inline void ThrowRange(Napi::Env env, const std::string& msg) { Napi::RangeError::New(env, msg).ThrowAsJavaScriptException(); }

}  // namespace xdpwg
