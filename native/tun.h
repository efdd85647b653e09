// TUN queues: creation (multi-queue, one non-blocking fd per worker), adoption
// of an inherited fd (WG_TUN_FD), and burst read/write into frames.
// JavaScript functions: tunOpen, tunAdopt, tunReadBurst, tunWriteBurst,
// tunOffloadStats, tunOffloadSplit, tunOffloadCoalesce (see src/native/binding.ts).
//
// Fds are plain process-wide numbers owned by the caller (close them with
// fs.closeSync); the TUN device disappears when its last queue closes.
// Threading: any thread may use any fd; one reader per fd at a time.
//
// Offloads (tunOpen offload: true, or an adopted IFF_VNET_HDR fd): each fd's
// mode and its half-handed-out super packet live in a process-wide table by
// fd number, set by tunOpen/tunAdopt. A read burst that fills every frame may
// leave segments there, where poll cannot see them: read again before waiting.
// Packet logic: tun_offload.h. Also tunOffloadStats, and tunOffloadSplit /
// tunOffloadCoalesce (the same logic on memory, for tests and benchmarks).
#pragma once
#include <napi.h>

namespace xdpwg {

/** Most packets one tunReadBurst/tunWriteBurst call moves. */
constexpr uint32_t kTunMaxBurst = 256;

}  // namespace xdpwg
