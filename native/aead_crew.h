// The crypto crew: a few process-wide native threads that share the AEAD
// work of one burst with the thread that owns it, so one peer's packets
// (which RSS and the TUN steering put on one worker) are sealed and opened
// on several cores (issue 20, docs/DESIGN.md §3 "one peer on every core").
//
// Only the cipher work is shared. The owner (the worker thread that called
// aeadSealBurst/aeadOpenBurst) keeps everything else: it assigned the nonces
// before the call, it runs the replay window after it, and it writes the TUN
// and the wire after it. The call returns only when every packet of the
// burst is done, so each packet's result sits at its own index and the
// owner sees the burst in arrival order: order within a flow holds by
// construction, and the nonce and replay contracts are untouched.
//
// Cross-thread protocol (the argument; the code in aead_crew.cc follows it):
//
//   shared words   seq      (u32, futex word) bumped once per published job
//                  active   (bool)  a job is open for joining
//                  busy     (u32)   crew threads inside the current job
//                  next     (u32)   first packet index not yet claimed
//                  done     (u32)   packets finished (results written)
//                  okCount  (u32)   packets that succeeded
//                  job      (plain) op, args pointer, n, chunk: written by the
//                                   owner only while active is false and busy is 0
//   owner (holds the submit mutex, so one job at a time; a second owner that
//   finds it taken runs its burst alone):
//     O1. write job, next = done = okCount = 0;
//     O2. active = true (seq_cst: publishes O1 and the burst's bytes);
//         seq += 1; wake sleepers;
//     O3. claim chunks (next.fetch_add) and run them itself;
//     O4. wait until done == n (acquire: every result and every sealed or
//         opened byte written by a crew thread is now visible);
//     O5. active = false (seq_cst); wait until busy == 0;
//     O6. release the submit mutex and return.
//   crew thread:
//     C1. sleep until seq changes (spin a while, then futex);
//     C2. busy += 1 (seq_cst), then read active (seq_cst); if false,
//         busy -= 1 and go back to C1 without touching the job;
//     C3. claim chunks and run them, each: results written, then
//         okCount += ok, done += chunk (release);
//     C4. forget the key it cached, busy -= 1 (release).
//   C2 against O5 is a store-then-load on both sides (Dekker) under seq_cst:
//   either the owner sees busy > 0 and waits for C4, or the crew thread sees
//   active == false and never reads the job. So no crew thread reads the
//   job, the key table or the packet buffer after the owner's call returned.
//
// Why a retired key is never read after zeroing (src/protocol/key-retirement.ts):
// the crew reads keys only from the owner's burst key table, only between O2
// and O5, i.e. inside the owner's call. The owner copied those keys after
// its flag check and announced IDLE (W3) only after the call returned and
// the transport wiped the table, so the crew's reads are part of the owner's
// piece of work, which the epoch argument already covers. The crew's cached
// copy of a key (its OpenSSL context's key cache) is cleansed at C4.
#pragma once
#include <cstddef>
#include <cstdint>

#include "aead_burst.h"

namespace xdpwg {

struct AeadCrewSettings {
  unsigned threads = 0;   // crew threads besides the owner; 0: off (every burst runs alone)
  unsigned minBurst = 8;  // smaller bursts run alone (sharing costs a wake-up and a few atomics)
  unsigned spinUs = 10;   // how long an idle crew thread polls before it sleeps on the futex
};

struct AeadCrewStats {
  unsigned threads;
  uint64_t bursts;       // bursts shared with the crew
  uint64_t packets;      // packets in those bursts
  uint64_t crewPackets;  // of those, the packets a crew thread (not the owner) did
  uint64_t alone;        // bursts big enough to share that ran alone: the crew was busy with another owner's burst
};

// (Re)starts the crew with these settings; waits for a job in flight to end
// and for the old threads to exit. Returns false when a thread could not be
// started (the crew is then off). Any thread may call it.
bool AeadCrewConfigure(const AeadCrewSettings& settings);
AeadCrewStats AeadCrewGetStats();

// Runs one burst (seal or open) with the owner's context, sharing it with the
// crew when it is on, the burst is big enough and the crew is free. Same
// results and return value as AeadSealBurst / AeadOpenBurst.
size_t AeadCrewSeal(AeadBurstContext* ownerCtx, const AeadBurstArgs& args);
size_t AeadCrewOpen(AeadBurstContext* ownerCtx, const AeadBurstArgs& args);

}  // namespace xdpwg
