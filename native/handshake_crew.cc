// The handshake crew: native threads that answer initiations for the main
// thread (src/daemon/handshake/handshake-crypto-pool.ts). Each answer is the
// responder's whole crypto — message A read, the peer found in the shared
// peer table, message B written, session keys split (noise_ikpsk2.h) — with
// no JavaScript: the main thread keeps the handshake state and checks every
// answer before it is used.
//
// Why native threads and not Node worker threads (what this replaced): a
// worker thread is a V8 isolate, ~14 MB at idle and ~50 ms of CPU to start,
// so the pool stopped them when idle and met each flood cold, answering
// inline meanwhile; the isolates' compiler and GC helpers then took a fifth
// of the daemon's CPU during the flood, and each answer paid for a message
// round trip through structured clone. These threads cost their stacks'
// touched pages, start at once, and so simply stay.
//
// Shared state and its protocol:
// - The job queue (`queue`, each job's `next`/`done`, `stop`) is under `mu`;
//   `cv` wakes the threads. The main thread appends jobs and sets `stop`;
//   a thread takes up to kChunk initiations of the front job at a time.
//   Whoever finishes a job's last chunk hands it to the main thread through
//   the thread-safe function `deliver`; the job is then the main thread's.
// - The keys (`identity`, `initial`, `generation`, the peer table pointer)
//   are under the writer-preferring rwlock `keys`: a thread holds it shared
//   while it answers a chunk; the main thread takes it exclusive to change
//   any of them, so it waits at most one chunk, and no chunk ever mixes two
//   identities or two table buffers. After an exclusive change returns, no
//   thread reads what it replaced: the caller may wipe the old table buffer.
// - The peer table's words are written by the main thread in JavaScript
//   without any lock (peer-key-table.ts: a seqlock per bucket); a thread
//   reads them only with atomic loads and retries a bucket whose seq word
//   was odd or changed, so it takes a key, version and PSK from one write.
// - The per-peer cache (DH(static, static) and the greatest timestamp
//   answered) is under `cacheMu`; entries are dropped (and wiped) by the
//   main thread while it holds `keys` exclusive (a removal, a new identity),
//   so no thread is between computing an entry and storing it then.
// - Each thread's ephemeral pool is its own (thread_local in
//   noise_ikpsk2.cc): filled while its queue is empty after it answered
//   something, wiped after idleWipeMs without work.
#include <napi.h>
#include <pthread.h>
#include <sodium.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <string>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "noise_ikpsk2.h"
#include "byte_args.h"
#include "x25519.h"

namespace xdpwg {

namespace {

using namespace noise;

constexpr size_t kInitiation = 148;
constexpr size_t kMessageAAt = 8;  // e ‖ AEAD(s) ‖ AEAD(t) inside an initiation
constexpr size_t kResponse = 92;
constexpr size_t kResponseEphemeralAt = 12;
constexpr uint32_t kChunk = 4;  // initiations a thread takes at once (~0.7 ms: what an exclusive change may wait)

// A record per answered initiation, little-endian (handshake-crypto-pool.ts AnswerRecord reads it):
constexpr size_t kRecVersion = 0;        // u32: the peer table entry's version used
constexpr size_t kRecRemoteIndex = 4;    // u32: the initiator's sender index
constexpr size_t kRecGeneration = 8;     // u32: the identity generation used
constexpr size_t kRecRemoteStatic = 12;  // 32: the initiator's static key
constexpr size_t kRecTimestamp = 44;     // 12: its TAI64N timestamp
constexpr size_t kRecResponse = 56;      // 92: the response, index fields and MACs zero
constexpr size_t kRecKeys = 148;         // 64: the responder's sending key, then its receiving key
constexpr size_t kRecord = 212;

// Statuses beyond noise::Status (handshake-crypto-pool.ts maps them to drop reasons).
constexpr uint8_t kUnknownPeer = 6;
constexpr uint8_t kNoIdentity = 7;
constexpr uint8_t kNotInitiation = 8;

// The peer table's layout (peer-key-table.ts).
constexpr uint32_t kHeaderWords = 4;
constexpr uint32_t kEntryWords = 10;
constexpr uint32_t kKeyWords = 8;
constexpr uint32_t kTombstone = 0xffffffffu;

int32_t LoadWord(const int32_t* w, size_t i) { return __atomic_load_n(w + i, __ATOMIC_SEQ_CST); }

// The version of `key`'s entry (0: none), its PSK into psk, from one entry write (the seqlock above).
uint32_t LookUpPeer(const int32_t* w, const uint8_t key[kKey], uint8_t psk[kKey]) {
  const uint32_t capacity = static_cast<uint32_t>(LoadWord(w, 0));
  const size_t pskBase = kHeaderWords + static_cast<size_t>(capacity) * kEntryWords;
  int32_t k[kKeyWords];
  std::memcpy(k, key, kKey);  // little-endian words, as keyWords() makes them
  uint32_t h = 0x811c9dc5u;
  for (uint32_t i = 0; i < kKeyWords; i++) {
    h = (h ^ static_cast<uint32_t>(k[i])) * 0x9e3779b1u;
    h ^= h >> 15;
  }
  const uint32_t mask = capacity - 1;
  uint32_t b = h & mask;
  for (uint32_t probes = 0; probes < capacity; probes++, b = (b + 1) & mask) {
    const size_t e = kHeaderWords + static_cast<size_t>(b) * kEntryWords;
    for (;;) {
      const int32_t s1 = LoadWord(w, e);
      if (s1 & 1) continue;  // the writer is inside this bucket: a few stores
      const uint32_t version = static_cast<uint32_t>(LoadWord(w, e + 1));
      bool match = version != 0 && version != kTombstone;
      for (uint32_t i = 0; match && i < kKeyWords; i++) match = LoadWord(w, e + 2 + i) == k[i];
      int32_t p[kKeyWords] = {};
      if (match)
        for (uint32_t i = 0; i < kKeyWords; i++) p[i] = LoadWord(w, pskBase + static_cast<size_t>(b) * kKeyWords + i);
      const bool stable = LoadWord(w, e) == s1;
      if (stable && match) std::memcpy(psk, p, kKey);
      sodium_memzero(p, sizeof p);
      if (!stable) continue;
      if (match) return version;
      if (version == 0) return 0;  // an empty bucket ends the probe
      break;
    }
  }
  return 0;
}

struct Job {
  uint32_t seq = 0;
  uint32_t count = 0;
  uint32_t next = 0;  // under mu
  uint32_t done = 0;  // under mu
  std::vector<uint8_t> messages;
  std::vector<uint8_t> records;
  std::vector<uint8_t> statuses;
  ~Job() {
    if (!records.empty()) sodium_memzero(records.data(), records.size());
  }
};

struct KeyHash {
  size_t operator()(const std::array<uint8_t, kKey>& k) const {
    size_t h;
    std::memcpy(&h, k.data(), sizeof h);  // public keys are uniformly random
    return h;
  }
};

struct Cached {
  uint8_t staticStatic[kKey];
  uint8_t greatest[kTimestamp];  // the greatest timestamp answered (zeros: none yet)
  bool valid;                    // false: the DH was zero (a small-order key)
};

struct Crew;
void CallJs(Napi::Env env, Napi::Function fn, Crew* crew, Job* job);
using Deliver = Napi::TypedThreadSafeFunction<Crew, Job, CallJs>;

struct Crew {
  // Settings, fixed at start.
  unsigned threadCount = 2;
  std::chrono::milliseconds idleWipe{5000};
  bool ephemeralPool = true;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job*> queue;
  bool stop = false;

  pthread_rwlock_t keys;
  bool haveIdentity = false;
  X25519Key identity{};
  uint8_t initial[kState] = {};
  uint32_t generation = 0;
  const int32_t* table = nullptr;
  Napi::Reference<Napi::Int32Array> tableRef;  // main thread only: keeps the buffer alive

  std::mutex cacheMu;
  std::unordered_map<std::array<uint8_t, kKey>, Cached, KeyHash> cache;

  Deliver deliver;
  std::vector<pthread_t> threads;  // joinable; pthread, not std::thread: the addon builds without exceptions
  bool closed = false;

  Crew() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&keys, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  ~Crew() {
    Close();
    pthread_rwlock_destroy(&keys);
  }

  // Main thread: wipes the cache (keys held exclusive).
  void WipeCacheLocked() {
    std::lock_guard<std::mutex> c(cacheMu);
    for (auto& [key, entry] : cache) sodium_memzero(&entry, sizeof entry);
    cache.clear();
  }

  // Main thread: stops and joins the threads, drops queued jobs, wipes every key. Idempotent.
  void Close() {
    if (closed) return;
    closed = true;
    {
      std::lock_guard<std::mutex> l(mu);
      stop = true;
    }
    cv.notify_all();
    for (pthread_t t : threads) pthread_join(t, nullptr);
    threads.clear();
    for (Job* j : queue) delete j;
    queue.clear();
    pthread_rwlock_wrlock(&keys);
    X25519WipeRaw(&identity);
    sodium_memzero(initial, sizeof initial);
    haveIdentity = false;
    table = nullptr;
    WipeCacheLocked();
    pthread_rwlock_unlock(&keys);
    tableRef.Reset();
    deliver.Release();
  }

  // A crew thread: answers one initiation into its record; keys held shared.
  uint8_t Answer(const uint8_t* msg, uint8_t* rec) {
    if (!haveIdentity || table == nullptr) return kNoIdentity;
    if (msg[0] != 1 || msg[1] != 0 || msg[2] != 0 || msg[3] != 0) return kNotInitiation;
    const uint8_t* a = msg + kMessageAAt;
    uint8_t state[kState];
    std::memcpy(state, initial, kState);
    uint8_t rs[kKey];
    Status s = ReadMessageA1(state, &identity, a, kMessageA, rs);
    if (s != kOk) {
      sodium_memzero(state, sizeof state);
      return static_cast<uint8_t>(s);
    }
    uint8_t psk[kKey] = {};
    const uint32_t version = LookUpPeer(table, rs, psk);
    if (version == 0) {
      sodium_memzero(state, sizeof state);
      return kUnknownPeer;
    }
    std::array<uint8_t, kKey> key;
    std::memcpy(key.data(), rs, kKey);
    Cached entry{};
    bool found;
    {
      std::lock_guard<std::mutex> c(cacheMu);
      auto it = cache.find(key);
      found = it != cache.end();
      if (found) entry = it->second;
    }
    if (!found) {
      entry.valid = X25519DeriveRaw(&identity, rs, entry.staticStatic);
      std::lock_guard<std::mutex> c(cacheMu);
      cache.emplace(key, entry);
    }
    if (!entry.valid) {
      sodium_memzero(state, sizeof state);
      sodium_memzero(psk, sizeof psk);
      return kInvalidPublicKey;
    }
    uint8_t body[kKey + kTag];
    uint8_t keysOut[2 * kKey];
    uint8_t timestamp[kTimestamp];
    s = RespondToMessageA(state, entry.staticStatic, psk, a, rs, entry.greatest, nullptr, body, keysOut, timestamp);
    sodium_memzero(psk, sizeof psk);
    sodium_memzero(entry.staticStatic, sizeof entry.staticStatic);
    if (s != kOk) return static_cast<uint8_t>(s);
    {
      // The replay pre-check only saves work (the main thread decides): the greatest timestamp seen wins.
      std::lock_guard<std::mutex> c(cacheMu);
      auto it = cache.find(key);
      if (it != cache.end() && std::memcmp(timestamp, it->second.greatest, kTimestamp) > 0)
        std::memcpy(it->second.greatest, timestamp, kTimestamp);
    }
    auto u32 = [&](size_t at, uint32_t v) {
      for (int i = 0; i < 4; i++) rec[at + i] = static_cast<uint8_t>(v >> (8 * i));
    };
    u32(kRecVersion, version);
    std::memcpy(rec + kRecRemoteIndex, msg + 4, 4);
    u32(kRecGeneration, generation);
    std::memcpy(rec + kRecRemoteStatic, rs, kKey);
    std::memcpy(rec + kRecTimestamp, timestamp, kTimestamp);
    uint8_t* response = rec + kRecResponse;
    std::memset(response, 0, kResponse);
    response[0] = 2;
    std::memcpy(response + kResponseEphemeralAt, body, sizeof body);
    std::memcpy(rec + kRecKeys, keysOut + kKey, kKey);  // T(r→i): ours to send with
    std::memcpy(rec + kRecKeys + kKey, keysOut, kKey);  // T(i→r): ours to receive with
    sodium_memzero(keysOut, sizeof keysOut);
    return kOk;
  }

  void Run() {
    bool answered = false;  // since the last idle wipe: only then is the ephemeral pool filled
    std::unique_lock<std::mutex> l(mu);
    for (;;) {
      if (stop) break;
      if (queue.empty()) {
        if (answered && ephemeralPool) {
          l.unlock();
          const bool more = EphemeralPoolAddOne();
          l.lock();
          if (more) continue;
        }
        if (!cv.wait_for(l, idleWipe, [&] { return stop || !queue.empty(); })) {
          EphemeralPoolWipe();  // idle: no unused ephemeral waits in memory for long
          answered = false;
          cv.wait(l, [&] { return stop || !queue.empty(); });
        }
        continue;
      }
      Job* job = queue.front();
      const uint32_t begin = job->next;
      const uint32_t end = std::min(job->count, begin + kChunk);
      job->next = end;
      if (end == job->count) queue.pop_front();
      l.unlock();
      pthread_rwlock_rdlock(&keys);
      for (uint32_t i = begin; i < end; i++)
        job->statuses[i] = Answer(job->messages.data() + i * kInitiation, job->records.data() + i * kRecord);
      pthread_rwlock_unlock(&keys);
      answered = true;
      l.lock();
      job->done += end - begin;
      if (job->done == job->count) {
        sodium_memzero(job->messages.data(), job->messages.size());
        if (deliver.NonBlockingCall(job) != napi_ok) delete job;  // closing: nobody waits for it
      }
    }
  }
};

void CallJs(Napi::Env env, Napi::Function fn, Crew*, Job* job) {
  if (env != nullptr && fn != nullptr) {
    const uint32_t seq = job->seq;
    auto statuses = Napi::Uint8Array::New(env, job->count);
    std::memcpy(statuses.Data(), job->statuses.data(), job->count);
    auto records = Napi::Uint8Array::New(env, job->records.size());
    std::memcpy(records.Data(), job->records.data(), job->records.size());
    delete job;  // wipes the native copy; the JavaScript side wipes its own once handled
    fn.Call({Napi::Number::New(env, seq), statuses, records});
    return;
  }
  delete job;  // the environment is going away
}

Crew* CrewOf(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsExternal()) return nullptr;
  Crew* crew = info[0].As<Napi::External<Crew>>().Data();
  return crew->closed ? nullptr : crew;
}

// handshakeCrewStart(threads: number, idleWipeMs: number, ephemeralPool: boolean,
//                    onResults: (seq: number, statuses: Uint8Array, records: Uint8Array) => void) → External
// Starts the threads (named xdpwg-hs). The crew answers nothing until it has an identity and a table.
Napi::Value Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsBoolean() || !info[3].IsFunction())
    return FailUsage(env, "handshakeCrewStart(threads: number, idleWipeMs: number, ephemeralPool: boolean, onResults: Function)");
  const int64_t threads = info[0].As<Napi::Number>().Int64Value();
  const int64_t idleMs = info[1].As<Napi::Number>().Int64Value();
  if (threads < 1 || threads > 64 || idleMs < 1) return FailUsage(env, "handshakeCrewStart: threads 1..64, idleWipeMs ≥ 1");
  auto* crew = new Crew();
  crew->threadCount = static_cast<unsigned>(threads);
  crew->idleWipe = std::chrono::milliseconds(idleMs);
  crew->ephemeralPool = info[2].As<Napi::Boolean>().Value();
  crew->deliver = Deliver::New(env, info[3].As<Napi::Function>(), "xdpwg-handshake-crew", 0, 1, crew);
  crew->deliver.Unref(env);  // until something is in flight (handshakeCrewKeepAlive)
  int err = 0;
  for (unsigned i = 0; i < crew->threadCount; i++) {
    pthread_t t;
    err = pthread_create(
        &t, nullptr,
        [](void* c) -> void* {
          static_cast<Crew*>(c)->Run();
          return nullptr;
        },
        crew);
    if (err != 0) break;  // fewer threads than asked (a process or cgroup thread limit): those that started serve
    pthread_setname_np(t, "xdpwg-hs");
    crew->threads.push_back(t);
  }
  if (crew->threads.empty()) {
    delete crew;
    Napi::Error::New(env, std::string("handshakeCrewStart: no thread could start: ") + strerror(err)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  crew->threadCount = static_cast<unsigned>(crew->threads.size());
  return Napi::External<Crew>::New(env, crew, [](Napi::Env, Crew* c) { delete c; });
}

// handshakeCrewIdentity(crew, privateKey: Uint8Array(32) | null, initialState: Uint8Array(64) | null, generation: number)
// The device's static key and ck ‖ h after "<- s" for it; the per-peer cache is wiped (its DHs used the old key).
// Returns once no thread answers with the old one. The caller wipes its arrays.
Napi::Value Identity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Crew* crew = CrewOf(info);
  const bool none = info.Length() >= 3 && info[1].IsNull() && info[2].IsNull();
  if (!crew || info.Length() < 4 || !(none || (IsBytes(info[1], kKey) && IsBytes(info[2], kState))) || !info[3].IsNumber())
    return FailUsage(env,
                     "handshakeCrewIdentity(crew, privateKey: Uint8Array(32) | null, initialState: Uint8Array(64) | null, generation)");
  pthread_rwlock_wrlock(&crew->keys);
  X25519WipeRaw(&crew->identity);
  sodium_memzero(crew->initial, sizeof crew->initial);
  crew->haveIdentity = !none;
  if (!none) {
    std::memcpy(crew->identity.scalar, info[1].As<Napi::Uint8Array>().Data(), kKey);
    std::memcpy(crew->initial, info[2].As<Napi::Uint8Array>().Data(), kState);
  }
  crew->generation = info[3].As<Napi::Number>().Uint32Value();
  crew->WipeCacheLocked();
  pthread_rwlock_unlock(&crew->keys);
  return env.Undefined();
}

// handshakeCrewTable(crew, words: Int32Array) — the peer table's buffer (peer-key-table.ts) to read from now on.
// Returns once no thread reads the one it replaces (the caller may wipe that).
Napi::Value Table(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Crew* crew = CrewOf(info);
  if (!crew || info.Length() < 2 || !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    return FailUsage(env, "handshakeCrewTable(crew, words: Int32Array)");
  auto words = info[1].As<Napi::Int32Array>();
  const int32_t* w = words.Data();
  const size_t n = words.ElementLength();
  const uint32_t capacity = n >= kHeaderWords ? static_cast<uint32_t>(w[0]) : 0;
  if (capacity == 0 || (capacity & (capacity - 1)) != 0 || n < kHeaderWords + static_cast<size_t>(capacity) * (kEntryWords + kKeyWords))
    return FailUsage(env, "handshakeCrewTable: not a peer table (capacity a power of two, its words all there)");
  pthread_rwlock_wrlock(&crew->keys);
  crew->table = w;
  pthread_rwlock_unlock(&crew->keys);
  crew->tableRef = Napi::Persistent(words);
  return env.Undefined();
}

// handshakeCrewForget(crew, publicKeys: Uint8Array(32 n)) — peers that went: their cache entries are wiped.
Napi::Value Forget(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Crew* crew = CrewOf(info);
  if (!crew || info.Length() < 2 || !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      info[1].As<Napi::Uint8Array>().ByteLength() % kKey != 0)
    return FailUsage(env, "handshakeCrewForget(crew, publicKeys: Uint8Array(32 n))");
  auto keys = info[1].As<Napi::Uint8Array>();
  pthread_rwlock_wrlock(&crew->keys);
  {
    std::lock_guard<std::mutex> c(crew->cacheMu);
    for (size_t at = 0; !crew->cache.empty() && at < keys.ByteLength(); at += kKey) {
      std::array<uint8_t, kKey> key;
      std::memcpy(key.data(), keys.Data() + at, kKey);
      auto it = crew->cache.find(key);
      if (it == crew->cache.end()) continue;
      sodium_memzero(&it->second, sizeof it->second);
      crew->cache.erase(it);
    }
  }
  pthread_rwlock_unlock(&crew->keys);
  return env.Undefined();
}

// handshakeCrewSubmit(crew, seq: number, messages: Uint8Array(148 n)) — initiations (MACs checked) to answer;
// onResults(seq, …) comes back once all n are. The messages are copied.
Napi::Value Submit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Crew* crew = CrewOf(info);
  if (!crew || info.Length() < 3 || !info[1].IsNumber() || !info[2].IsTypedArray() ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    return FailUsage(env, "handshakeCrewSubmit(crew, seq: number, messages: Uint8Array(148 n))");
  auto messages = info[2].As<Napi::Uint8Array>();
  const size_t n = messages.ByteLength() / kInitiation;
  if (n == 0 || messages.ByteLength() % kInitiation != 0) return FailUsage(env, "handshakeCrewSubmit: messages must be 148 n bytes, n ≥ 1");
  auto* job = new Job();
  job->seq = info[1].As<Napi::Number>().Uint32Value();
  job->count = static_cast<uint32_t>(n);
  job->messages.assign(messages.Data(), messages.Data() + messages.ByteLength());
  job->records.assign(n * kRecord, 0);
  job->statuses.assign(n, 0);
  {
    std::lock_guard<std::mutex> l(crew->mu);
    crew->queue.push_back(job);
  }
  if (n >= kChunk)
    crew->cv.notify_all();
  else
    crew->cv.notify_one();
  return env.Undefined();
}

// handshakeCrewKeepAlive(crew, on: boolean) — whether answers still to come keep the event loop alive (the
// pool turns it on while initiations are in flight, off when none are: an idle crew never holds a process).
Napi::Value KeepAlive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Crew* crew = CrewOf(info);
  if (!crew || info.Length() < 2 || !info[1].IsBoolean()) return FailUsage(env, "handshakeCrewKeepAlive(crew, on: boolean)");
  if (info[1].As<Napi::Boolean>().Value())
    crew->deliver.Ref(env);
  else
    crew->deliver.Unref(env);
  return env.Undefined();
}

// handshakeCrewClose(crew) — stops and joins the threads; what was queued is dropped; every key is wiped.
Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsExternal()) return FailUsage(env, "handshakeCrewClose(crew)");
  info[0].As<Napi::External<Crew>>().Data()->Close();
  return env.Undefined();
}

// handshakeCrewState(crew) → { threads, cachedPeers, queuedJobs } (stats and tests).
Napi::Value State(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsExternal()) return FailUsage(env, "handshakeCrewState(crew)");
  Crew* crew = info[0].As<Napi::External<Crew>>().Data();
  auto out = Napi::Object::New(env);
  size_t cached, queued;
  {
    std::lock_guard<std::mutex> c(crew->cacheMu);
    cached = crew->cache.size();
  }
  {
    std::lock_guard<std::mutex> l(crew->mu);
    queued = crew->queue.size();
  }
  out.Set("threads", static_cast<double>(crew->threads.size()));
  out.Set("cachedPeers", static_cast<double>(cached));
  out.Set("queuedJobs", static_cast<double>(queued));
  return out;
}

}  // namespace

void InitHandshakeCrew(Napi::Env env, Napi::Object exports) {
  exports.Set("handshakeCrewStart", Napi::Function::New(env, Start, "handshakeCrewStart"));
  exports.Set("handshakeCrewIdentity", Napi::Function::New(env, Identity, "handshakeCrewIdentity"));
  exports.Set("handshakeCrewTable", Napi::Function::New(env, Table, "handshakeCrewTable"));
  exports.Set("handshakeCrewForget", Napi::Function::New(env, Forget, "handshakeCrewForget"));
  exports.Set("handshakeCrewSubmit", Napi::Function::New(env, Submit, "handshakeCrewSubmit"));
  exports.Set("handshakeCrewKeepAlive", Napi::Function::New(env, KeepAlive, "handshakeCrewKeepAlive"));
  exports.Set("handshakeCrewClose", Napi::Function::New(env, Close, "handshakeCrewClose"));
  exports.Set("handshakeCrewState", Napi::Function::New(env, State, "handshakeCrewState"));
}

}  // namespace xdpwg
