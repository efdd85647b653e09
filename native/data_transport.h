// WireGuard transport data messages (whitepaper §5.4.6) sealed and opened a
// burst at a time, with everything around the cipher done here too: the
// keypair checks, padding, the send-counter reservation, the header, the
// re-check after sealing, the header checks and the replay window after
// opening. src/protocol/transport.ts is the same algorithm in JavaScript
// (the fallback without the addon, and the reference the tests compare this
// with byte for byte); its file comment lists the steps.
//
// Why in C: a worker ran all of it per packet in JavaScript around one AEAD
// call, and a quiet tunnel's packets ran that JavaScript in V8's interpreter
// and baseline tiers for its first seconds (issue 19, README "Idle ping"):
// one native call per burst leaves the runtime nothing to compile there.
//
// Keypairs are read where they live: each is one shared region
// (src/protocol/keypair.ts KeypairShared, KEYPAIR_SHARED_BYTES) that every
// worker maps, with this layout (little-endian):
//   0   u64  send counter (next to use), reserved with one atomic add per run
//   8   i32  flags (KeypairFlag: canSend 1, canReceive 2, received 4, sendExhausted 8)
//   12  u32  local index,  16  u32  remote index
//   32  32 B sending key,  64  32 B receiving key
//   96  the replay window (src/protocol/replay-window.ts): i32 lock word,
//       u32 greatest counter low, high, reserved, then 1024 u32 bitmap blocks
//
// Cross-thread protocol, the same as the JavaScript's (every access to a
// shared word is a sequentially consistent atomic, as JavaScript's Atomics):
// - nonce uniqueness: counters are reserved with one atomic fetch-add on the
//   send counter per run of packets on one keypair, so two workers never get
//   the same counter; a counter at or past REJECT_AFTER_MESSAGES is refused
//   and sets sendExhausted;
// - the replay window is changed only under its lock word (compare-exchange
//   0 -> 1, store 0), after the packet authenticated, in arrival order; the
//   JavaScript window takes the same lock, so both may share a keypair;
// - no key zeroed under a reader (src/protocol/key-retirement.ts): a key is
//   copied into this call's key table only for a packet whose keypair's flags
//   allowed it, the call runs inside the worker's burst (between its epoch
//   announcements), the table is wiped before the call returns, and a sealed
//   packet whose keypair was retired meanwhile is refused, not sent.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "aead_burst.h"

namespace xdpwg {

constexpr size_t kKeypairSharedBytes = 96 + (4 + 1024) * 4;  // keypair.ts KEYPAIR_SHARED_BYTES

// Why a packet was refused; index into TransportBurst::codes, which maps each
// to the caller's result value (transport.ts: the DropReason's code, negated).
// Never renumber without transport.ts's TRANSPORT_STATUS_REASONS.
enum TransportStatus : uint8_t {
  kSealKeypairUnusable = 0,
  kSealNoHeadroom,
  kSealNoTailroom,
  kSealCounterExhausted,
  kSealAeadFailed,
  kSealKeypairRetired,
  kOpenOutOfBounds,
  kOpenTooShort,
  kOpenBadHeader,
  kOpenWrongReceiverIndex,
  kOpenKeypairUnusable,
  kOpenCounterExhausted,
  kOpenAeadFailed,
  kOpenAuthFailed,
  kOpenReplay,
  kTransportStatusCount,
};

struct TransportBurst {
  uint8_t* buffer;  // packet memory
  size_t bufferSize;
  const uint32_t* desc;  // 2n: seal: plaintext offset, length; open: message offset, length
  size_t n;
  uint8_t* const* keypairs;  // the burst's distinct keypairs' shared regions (kKeypairSharedBytes each)
  size_t keypairCount;
  const uint16_t* keypairOf;  // n: index into keypairs (the caller checked it is < keypairCount)
  int32_t* results;           // n: seal: message length; open: plaintext length; else codes[status]
  uint8_t* firstReceipt;      // open: n, 1 when this was the first message authenticated with its keypair
  const int32_t* codes;       // kTransportStatusCount result values
};

// The arrays handed to the AEAD, reused between calls (one per thread).
struct TransportScratch {
  std::vector<uint32_t> desc;
  std::vector<uint16_t> keyIndex;
  std::vector<uint64_t> counters;
  std::vector<uint8_t> status;
  std::vector<uint32_t> packetOf;
  std::vector<uint8_t> keys;
  std::vector<uint8_t> keyCopied;
};

// Runs the cipher over a burst: AeadCrewSeal/Open in the addon, AeadSealBurst/
// OpenBurst in the harness.
using AeadRunFn = size_t (*)(AeadBurstContext*, const AeadBurstArgs&);

// Both return how many packets were sealed / accepted. Never throw; every
// packet gets a result.
size_t TransportSealBurst(AeadBurstContext* ctx, AeadRunFn run, TransportScratch& s, const TransportBurst& b, uint32_t mtu);
size_t TransportOpenBurst(AeadBurstContext* ctx, AeadRunFn run, TransportScratch& s, const TransportBurst& b);

// The replay window's check-and-update for one authenticated counter
// (replay-window.ts checkAndUpdate, RFC 6479). `window` is the keypair's region + 96.
bool ReplayCheckAndUpdate(uint8_t* window, uint64_t counter);

}  // namespace xdpwg
