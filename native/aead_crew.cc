// The crypto crew (see aead_crew.h for what it shares and the cross-thread
// protocol O1–O6 / C1–C4 this file implements).
//
// The crew is process-wide: every worker thread's addon instance loads the
// same shared object, so they share these statics. Its threads are
// detached and never touch JavaScript; a process may exit while they sleep.
#include "aead_crew.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <mutex>
#include <thread>

namespace xdpwg {

namespace {

enum class Op : uint8_t { kSeal, kOpen };

size_t RunRange(Op op, AeadBurstContext* ctx, const AeadBurstArgs& a, size_t begin, size_t end) {
  return op == Op::kSeal ? AeadSealRange(ctx, a, begin, end) : AeadOpenRange(ctx, a, begin, end);
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

// The owner waits for a crew thread that may have been preempted in the
// middle of its chunk (cores are shared with everything else): spin a few
// microseconds, then give the CPU away each round, so a crew thread queued
// on the owner's own CPU gets to finish instead of the owner burning its slice.
inline void Backoff(unsigned round) {
  if (round < 512)
    CpuRelax();
  else
    sched_yield();
}

void FutexWait(std::atomic<uint32_t>* word, uint32_t expected) {
  // Returns at once (EAGAIN) when the word no longer holds `expected`: no lost wake-up.
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

void FutexWakeAll(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

struct Crew {
  // Settings, written under `submit` with no thread running; minBurst is
  // also read before taking `submit`, hence atomic.
  AeadCrewSettings settings;
  std::atomic<unsigned> minBurst{8};

  // Protocol words (aead_crew.h).
  std::atomic<uint32_t> seq{0};
  std::atomic<bool> active{false};
  std::atomic<uint32_t> busy{0};
  std::atomic<uint32_t> next{0};
  std::atomic<uint32_t> done{0};
  std::atomic<uint32_t> okCount{0};
  std::atomic<uint32_t> sleepers{0};
  std::atomic<bool> stop{false};
  std::atomic<unsigned> running{0};  // crew threads alive (configure waits for 0 before restarting)

  // The job: plain fields, written by the owner only while active is false and busy is 0 (O1).
  Op op = Op::kSeal;
  const AeadBurstArgs* args = nullptr;
  uint32_t n = 0;
  uint32_t chunk = 1;

  // One job at a time; configure holds it too.
  std::mutex submit;

  // Statistics (relaxed; read by `xdpwg stats`).
  std::atomic<uint64_t> bursts{0}, packets{0}, crewPackets{0}, alone{0};
};

Crew& TheCrew() {
  static Crew* crew = new Crew();  // never destroyed: detached threads may outlive static destructors
  return *crew;
}

// Claims and runs chunks of the current job until none is left (O3 / C3).
// Returns how many packets this thread did.
uint32_t Work(Crew& c, AeadBurstContext* ctx) {
  uint32_t mine = 0;
  const AeadBurstArgs& a = *c.args;
  for (;;) {
    const uint32_t b = c.next.fetch_add(c.chunk, std::memory_order_relaxed);
    if (b >= c.n) break;
    const uint32_t e = b + c.chunk < c.n ? b + c.chunk : c.n;
    const size_t ok = RunRange(c.op, ctx, a, b, e);
    c.okCount.fetch_add(static_cast<uint32_t>(ok), std::memory_order_relaxed);
    c.done.fetch_add(e - b, std::memory_order_release);
    mine += e - b;
  }
  return mine;
}

void CrewThread(Crew* cp) {
  Crew& c = *cp;
  AeadBurstContext* ctx = AeadBurstContextNew();
  const auto spin = std::chrono::microseconds(c.settings.spinUs);
  uint32_t seen = c.seq.load(std::memory_order_acquire);
  while (!c.stop.load(std::memory_order_acquire)) {
    // C1: wait for a new job (or stop).
    uint32_t now = c.seq.load(std::memory_order_acquire);
    if (now == seen) {
      const auto until = std::chrono::steady_clock::now() + spin;
      unsigned polls = 0;
      while ((now = c.seq.load(std::memory_order_acquire)) == seen && !c.stop.load(std::memory_order_relaxed)) {
        CpuRelax();
        if ((++polls & 63) == 0 && std::chrono::steady_clock::now() >= until) {
          c.sleepers.fetch_add(1, std::memory_order_seq_cst);
          if (c.seq.load(std::memory_order_seq_cst) == seen && !c.stop.load(std::memory_order_seq_cst)) FutexWait(&c.seq, seen);
          c.sleepers.fetch_sub(1, std::memory_order_seq_cst);
          polls = 0;
        }
      }
      if (now == seen) continue;  // stop
    }
    seen = now;
    // C2: join only an open job.
    c.busy.fetch_add(1, std::memory_order_seq_cst);
    if (c.active.load(std::memory_order_seq_cst) && ctx != nullptr) {
      const uint32_t mine = Work(c, ctx);
      if (mine > 0) {
        c.crewPackets.fetch_add(mine, std::memory_order_relaxed);
        AeadBurstContextForgetKeys(ctx);  // C4: no key copy outlives the owner's call
      }
    }
    c.busy.fetch_sub(1, std::memory_order_release);
  }
  AeadBurstContextFree(ctx);
  c.running.fetch_sub(1, std::memory_order_release);
}

void* CrewThreadMain(void* arg) {
  pthread_setname_np(pthread_self(), "xdpwg-crew");
  CrewThread(static_cast<Crew*>(arg));
  return nullptr;
}

void StopThreads(Crew& c) {
  c.stop.store(true, std::memory_order_seq_cst);
  c.seq.fetch_add(1, std::memory_order_seq_cst);
  FutexWakeAll(&c.seq);
  while (c.running.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  c.stop.store(false, std::memory_order_relaxed);
}

size_t Run(Op op, AeadBurstContext* ownerCtx, const AeadBurstArgs& a) {
  Crew& c = TheCrew();
  // settings.threads is only changed under `submit`; a stale read just runs one burst alone.
  const bool big = a.n >= 2 && a.n >= c.minBurst.load(std::memory_order_relaxed) && a.n <= UINT32_MAX;
  if (!big || c.running.load(std::memory_order_relaxed) == 0) return RunRange(op, ownerCtx, a, 0, a.n);
  std::unique_lock<std::mutex> lock(c.submit, std::try_to_lock);
  if (!lock.owns_lock() || c.settings.threads == 0) {
    c.alone.fetch_add(1, std::memory_order_relaxed);
    return RunRange(op, ownerCtx, a, 0, a.n);
  }
  // O1
  c.op = op;
  c.args = &a;
  c.n = static_cast<uint32_t>(a.n);
  // Several chunks per participant, so a thread that starts late (waking) still finds work.
  const uint32_t parts = 8 * (c.settings.threads + 1);
  c.chunk = c.n / parts > 0 ? c.n / parts : 1;
  c.next.store(0, std::memory_order_relaxed);
  c.done.store(0, std::memory_order_relaxed);
  c.okCount.store(0, std::memory_order_relaxed);
  // O2
  c.active.store(true, std::memory_order_seq_cst);
  c.seq.fetch_add(1, std::memory_order_seq_cst);
  if (c.sleepers.load(std::memory_order_seq_cst) > 0) FutexWakeAll(&c.seq);
  // O3
  Work(c, ownerCtx);
  // O4
  for (unsigned i = 0; c.done.load(std::memory_order_acquire) < c.n; i++) Backoff(i);
  // O5
  c.active.store(false, std::memory_order_seq_cst);
  for (unsigned i = 0; c.busy.load(std::memory_order_seq_cst) != 0; i++) Backoff(i);
  const size_t ok = c.okCount.load(std::memory_order_relaxed);
  c.bursts.fetch_add(1, std::memory_order_relaxed);
  c.packets.fetch_add(c.n, std::memory_order_relaxed);
  c.args = nullptr;
  return ok;  // O6: the lock is released here
}

}  // namespace

bool AeadCrewConfigure(const AeadCrewSettings& settings) {
  Crew& c = TheCrew();
  std::lock_guard<std::mutex> lock(c.submit);  // no job in flight while threads change
  StopThreads(c);
  c.settings = settings;
  c.minBurst.store(settings.minBurst, std::memory_order_relaxed);
  for (unsigned i = 0; i < settings.threads; i++) {
    c.running.fetch_add(1, std::memory_order_relaxed);
    // pthread, not std::thread: the addon builds without exceptions, and a
    // failed start must be an answer (false), not an abort.
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t tid;
    const int err = pthread_create(&tid, &attr, CrewThreadMain, &c);
    pthread_attr_destroy(&attr);
    if (err != 0) {
      c.running.fetch_sub(1, std::memory_order_relaxed);
      StopThreads(c);
      c.settings.threads = 0;
      return false;
    }
  }
  return true;
}

AeadCrewStats AeadCrewGetStats() {
  Crew& c = TheCrew();
  return AeadCrewStats{c.running.load(std::memory_order_relaxed), c.bursts.load(std::memory_order_relaxed),
                       c.packets.load(std::memory_order_relaxed), c.crewPackets.load(std::memory_order_relaxed),
                       c.alone.load(std::memory_order_relaxed)};
}

size_t AeadCrewSeal(AeadBurstContext* ownerCtx, const AeadBurstArgs& args) { return Run(Op::kSeal, ownerCtx, args); }
size_t AeadCrewOpen(AeadBurstContext* ownerCtx, const AeadBurstArgs& args) { return Run(Op::kOpen, ownerCtx, args); }

}  // namespace xdpwg

#ifndef XDPWG_AEAD_CORE_ONLY
// ---------------------------------------------------------------------------
// N-API glue: aeadCrewConfigure({threads, minBurst, spinUs}) and aeadCrewStats().
#include "modules.h"

namespace xdpwg {
namespace {

Napi::Value Configure(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "expected {threads, minBurst, spinUs}").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const Napi::Object o = info[0].As<Napi::Object>();
  AeadCrewSettings s;
  const struct {
    const char* name;
    unsigned* field;
    unsigned max;
  } fields[] = {{"threads", &s.threads, 64}, {"minBurst", &s.minBurst, 1u << 16}, {"spinUs", &s.spinUs, 100000}};
  for (const auto& f : fields) {
    const Napi::Value v = o.Get(f.name);
    if (v.IsUndefined()) continue;
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d <= f.max) || d != static_cast<double>(static_cast<unsigned>(d))) {
      Napi::RangeError::New(env, std::string(f.name) + " must be an integer in 0.." + std::to_string(f.max)).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    *f.field = static_cast<unsigned>(d);
  }
  return Napi::Boolean::New(env, AeadCrewConfigure(s));
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const AeadCrewStats st = AeadCrewGetStats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("threads", Napi::Number::New(env, st.threads));
  o.Set("bursts", Napi::Number::New(env, static_cast<double>(st.bursts)));
  o.Set("packets", Napi::Number::New(env, static_cast<double>(st.packets)));
  o.Set("crewPackets", Napi::Number::New(env, static_cast<double>(st.crewPackets)));
  o.Set("alone", Napi::Number::New(env, static_cast<double>(st.alone)));
  return o;
}

}  // namespace

void InitAeadCrew(Napi::Env env, Napi::Object exports) {
  exports.Set("aeadCrewConfigure", Napi::Function::New(env, Configure, "aeadCrewConfigure"));
  exports.Set("aeadCrewStats", Napi::Function::New(env, Stats, "aeadCrewStats"));
}

}  // namespace xdpwg
#endif  // XDPWG_AEAD_CORE_ONLY
