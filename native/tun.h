// TUN queues: creation (multi-queue, one non-blocking fd per worker), adoption
// of an inherited fd (WG_TUN_FD), and burst read/write into frames.
// JavaScript functions: tunOpen, tunAdopt, tunReadBurst, tunWriteBurst
// (see src/native/binding.ts).
//
// Fds are plain process-wide numbers owned by the caller (close them with
// fs.closeSync); the TUN device disappears when its last queue closes.
// Threading: any thread may use any fd; one reader per fd at a time.
#pragma once
#include <napi.h>

namespace xdpwg {

/** Most packets one tunReadBurst/tunWriteBurst call moves. */
constexpr uint32_t kTunMaxBurst = 256;

}  // namespace xdpwg
