// Argument checks shared by the addon's functions that take raw key and
// message bytes (x25519.cc, noise_ikpsk2.cc, handshake_crew.cc).
#pragma once
#include <napi.h>

#include <cstddef>

namespace xdpwg {

/** A Uint8Array of exactly `length` bytes. */
inline bool IsBytes(const Napi::Value& v, size_t length) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array &&
         v.As<Napi::Uint8Array>().ByteLength() == length;
}

/** A Uint8Array of at least `length` bytes. */
inline bool IsBytesAtLeast(const Napi::Value& v, size_t length) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array &&
         v.As<Napi::Uint8Array>().ByteLength() >= length;
}

/** Throws a TypeError naming the function's usage; returns undefined for the caller to return. */
inline Napi::Value FailUsage(Napi::Env env, const char* usage) {
  Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace xdpwg
