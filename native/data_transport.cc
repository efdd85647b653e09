// Transport data messages, a burst per call: see data_transport.h for the
// layout of a keypair's shared region and the cross-thread protocol.
#include "data_transport.h"

#include <sodium.h>

#include <climits>
#include <cstring>

namespace xdpwg {

namespace {

constexpr uint64_t kRejectAfterMessages = ~uint64_t{0} - (uint64_t{1} << 13);  // 2^64 - 2^13 - 1 (§6.1)
constexpr uint64_t kReplayWindowSize = 32704;                                  // constants.ts REPLAY_WINDOW_SIZE
constexpr uint32_t kReplayBlocks = 1024;                                       // 32768 bits of 32
constexpr size_t kHeaderSize = 16;                                             // type, receiver index, counter
constexpr size_t kTagSize = kAeadTagSize;
constexpr uint32_t kMessageData = 4;
constexpr uint32_t kPadding = 16;

constexpr int32_t kFlagCanSend = 1, kFlagCanReceive = 2, kFlagReceived = 4, kFlagSendExhausted = 8;
constexpr size_t kFlagsByte = 8, kLocalIndexByte = 12, kRemoteIndexByte = 16, kSendKeyByte = 32, kReceiveKeyByte = 64, kReplayByte = 96;

int32_t* Word(uint8_t* region, size_t byte) { return reinterpret_cast<int32_t*>(region + byte); }
int32_t LoadWord(uint8_t* region, size_t byte) { return __atomic_load_n(Word(region, byte), __ATOMIC_SEQ_CST); }
int32_t Flags(uint8_t* kp) { return LoadWord(kp, kFlagsByte); }
int32_t SetFlags(uint8_t* kp, int32_t bits) { return __atomic_fetch_or(Word(kp, kFlagsByte), bits, __ATOMIC_SEQ_CST); }

uint32_t ReadU32(const uint8_t* p) { return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24; }
uint64_t ReadU64(const uint8_t* p) { return uint64_t{ReadU32(p)} | uint64_t{ReadU32(p + 4)} << 32; }
void WriteU32(uint8_t* p, uint32_t v) {
  for (int b = 0; b < 4; b++) p[b] = static_cast<uint8_t>(v >> (8 * b));
}

// wire.ts paddedLength: to a multiple of 16, never past the MTU (a packet
// already longer than the MTU is left as it is).
uint64_t PaddedLength(uint64_t length, uint32_t mtu) {
  const uint64_t padded = (length + kPadding - 1) & ~uint64_t{kPadding - 1};
  return length > mtu ? length : (padded < mtu ? padded : mtu);
}

void Grow(TransportScratch& s, size_t n, size_t keypairs) {
  if (s.desc.size() < 2 * n) s.desc.resize(2 * n);
  if (s.keyIndex.size() < n) s.keyIndex.resize(n);
  if (s.counters.size() < n) s.counters.resize(n);
  if (s.status.size() < n) s.status.resize(n);
  if (s.packetOf.size() < n) s.packetOf.resize(n);
  if (s.keys.size() < keypairs * kAeadKeySize) s.keys.resize(keypairs * kAeadKeySize);
  if (s.keyCopied.size() < keypairs) s.keyCopied.resize(keypairs);
  std::memset(s.keyCopied.data(), 0, keypairs);
}

// Copies keypair k's key (at keyByte) into the call's table on its first use.
void UseKey(TransportScratch& s, const TransportBurst& b, uint16_t k, size_t keyByte) {
  if (s.keyCopied[k]) return;
  std::memcpy(s.keys.data() + size_t{k} * kAeadKeySize, b.keypairs[k] + keyByte, kAeadKeySize);
  s.keyCopied[k] = 1;
}

AeadBurstArgs CipherArgs(TransportScratch& s, const TransportBurst& b, size_t count) {
  AeadBurstArgs a{};
  a.buffer = b.buffer;
  a.bufferSize = b.bufferSize;
  a.desc = s.desc.data();
  a.n = count;
  a.keys = s.keys.data();
  a.keyCount = b.keypairCount;
  a.keyIndex = s.keyIndex.data();
  a.keyIndexWidth = 2;
  a.counters64 = s.counters.data();
  a.counters32 = nullptr;
  a.results = s.status.data();
  a.aad = nullptr;
  a.aadSize = 0;
  a.noncePrefix = 0;
  return a;
}

void WipeKeys(TransportScratch& s, size_t keypairs) { sodium_memzero(s.keys.data(), keypairs * kAeadKeySize); }

}  // namespace

bool ReplayCheckAndUpdate(uint8_t* window, uint64_t counter) {
  if (counter >= kRejectAfterMessages) return false;
  int32_t* lock = reinterpret_cast<int32_t*>(window);
  uint32_t* words = reinterpret_cast<uint32_t*>(window);
  uint32_t* bitmap = words + 4;
  for (int32_t expected = 0; !__atomic_compare_exchange_n(lock, &expected, 1, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); expected = 0) {
    // Another worker holds the window for at most a few hundred stores: spin.
  }
  const uint64_t greatest = uint64_t{words[1]} | uint64_t{words[2]} << 32;
  bool fresh = false;
  if (counter > greatest) {
    // Forward: clear the blocks after the greatest one, up to and including the new one's.
    const uint64_t ahead = (counter >> 5) - (greatest >> 5);
    if (ahead >= kReplayBlocks) {
      std::memset(bitmap, 0, kReplayBlocks * 4);
    } else {
      const uint64_t first = greatest >> 5;
      for (uint64_t i = 1; i <= ahead; i++) bitmap[(first + i) & (kReplayBlocks - 1)] = 0;
    }
    words[1] = static_cast<uint32_t>(counter);
    words[2] = static_cast<uint32_t>(counter >> 32);
  } else if (greatest - counter > kReplayWindowSize) {
    __atomic_store_n(lock, 0, __ATOMIC_SEQ_CST);
    return false;
  }
  uint32_t& block = bitmap[(counter >> 5) & (kReplayBlocks - 1)];
  const uint32_t bit = uint32_t{1} << (counter & 31);
  fresh = (block & bit) == 0;
  if (fresh) block |= bit;
  __atomic_store_n(lock, 0, __ATOMIC_SEQ_CST);
  return fresh;
}

size_t TransportSealBurst(AeadBurstContext* ctx, AeadRunFn run, TransportScratch& s, const TransportBurst& b, uint32_t mtu) {
  Grow(s, b.n, b.keypairCount);
  // 1-2. Per-packet checks and padding; results hold the padded length for now.
  for (size_t i = 0; i < b.n; i++) {
    uint8_t* kp = b.keypairs[b.keypairOf[i]];
    const uint64_t offset = b.desc[2 * i], length = b.desc[2 * i + 1];
    const uint64_t padded = PaddedLength(length, mtu);
    int status = -1;
    if ((Flags(kp) & (kFlagCanSend | kFlagSendExhausted)) != kFlagCanSend)
      status = kSealKeypairUnusable;
    else if (offset < kHeaderSize)
      status = kSealNoHeadroom;
    else if (offset + padded + kTagSize > b.bufferSize || padded > INT_MAX)
      status = kSealNoTailroom;
    if (status >= 0) {
      b.results[i] = b.codes[status];
      continue;
    }
    std::memset(b.buffer + offset + length, 0, padded - length);
    b.results[i] = static_cast<int32_t>(padded);
  }
  // 3-4. Counters, one reservation per run of packets on one keypair, and headers.
  size_t count = 0;
  for (size_t i = 0; i < b.n;) {
    if (b.results[i] < 0) {
      i++;
      continue;
    }
    const uint16_t k = b.keypairOf[i];
    uint8_t* kp = b.keypairs[k];
    size_t end = i;
    uint64_t wanted = 0;
    while (end < b.n && (b.results[end] < 0 || b.keypairs[b.keypairOf[end]] == kp)) {
      if (b.results[end] >= 0) wanted++;
      end++;
    }
    uint64_t counter = __atomic_fetch_add(reinterpret_cast<uint64_t*>(kp), wanted, __ATOMIC_SEQ_CST);
    const uint32_t remoteIndex = static_cast<uint32_t>(LoadWord(kp, kRemoteIndexByte));
    for (size_t p = i; p < end; p++) {
      if (b.results[p] < 0) continue;
      if (counter >= kRejectAfterMessages) {
        SetFlags(kp, kFlagSendExhausted);
        b.results[p] = b.codes[kSealCounterExhausted];
        continue;
      }
      uint8_t* header = b.buffer + b.desc[2 * p] - kHeaderSize;
      WriteU32(header, kMessageData);
      WriteU32(header + 4, remoteIndex);
      WriteU32(header + 8, static_cast<uint32_t>(counter));
      WriteU32(header + 12, static_cast<uint32_t>(counter >> 32));
      UseKey(s, b, k, kSendKeyByte);
      s.desc[2 * count] = b.desc[2 * p];
      s.desc[2 * count + 1] = static_cast<uint32_t>(b.results[p]);
      s.keyIndex[count] = k;
      s.counters[count] = counter;
      s.packetOf[count] = static_cast<uint32_t>(p);
      count++;
      counter++;
    }
    i = end;
  }
  // 5. The cipher, once for the burst.
  if (count > 0) run(ctx, CipherArgs(s, b, count));
  WipeKeys(s, b.keypairCount);
  // 6. A keypair retired while the burst was sealed is not sent with (data_transport.h).
  size_t sealed = 0;
  for (size_t j = 0; j < count; j++) {
    const size_t p = s.packetOf[j];
    if ((Flags(b.keypairs[b.keypairOf[p]]) & (kFlagCanSend | kFlagCanReceive)) == 0) {
      b.results[p] = b.codes[kSealKeypairRetired];
    } else if (s.status[j] == kAeadOk) {
      b.results[p] = static_cast<int32_t>(kHeaderSize + s.desc[2 * j + 1] + kTagSize);
      sealed++;
    } else {
      b.results[p] = b.codes[kSealAeadFailed];
    }
  }
  return sealed;
}

size_t TransportOpenBurst(AeadBurstContext* ctx, AeadRunFn run, TransportScratch& s, const TransportBurst& b) {
  Grow(s, b.n, b.keypairCount);
  // 1. Exact header checks.
  size_t count = 0;
  for (size_t i = 0; i < b.n; i++) {
    const uint16_t k = b.keypairOf[i];
    uint8_t* kp = b.keypairs[k];
    const uint64_t offset = b.desc[2 * i], length = b.desc[2 * i + 1];
    const uint8_t* m = b.buffer + offset;
    b.firstReceipt[i] = 0;
    int status = -1;
    if (offset + length > b.bufferSize)
      status = kOpenOutOfBounds;
    else if (length < kHeaderSize + kTagSize)
      status = kOpenTooShort;
    else if (ReadU32(m) != kMessageData)  // type 4, reserved bytes zero
      status = kOpenBadHeader;
    else if (ReadU32(m + 4) != static_cast<uint32_t>(LoadWord(kp, kLocalIndexByte)))
      status = kOpenWrongReceiverIndex;
    else if ((Flags(kp) & kFlagCanReceive) == 0)
      status = kOpenKeypairUnusable;
    else if (ReadU64(m + 8) >= kRejectAfterMessages)
      status = kOpenCounterExhausted;
    if (status >= 0) {
      b.results[i] = b.codes[status];
      continue;
    }
    UseKey(s, b, k, kReceiveKeyByte);
    s.desc[2 * count] = static_cast<uint32_t>(offset + kHeaderSize);
    s.desc[2 * count + 1] = static_cast<uint32_t>(length - kHeaderSize - kTagSize);
    s.keyIndex[count] = k;
    s.counters[count] = ReadU64(m + 8);
    s.packetOf[count] = static_cast<uint32_t>(i);
    count++;
  }
  // 2. The cipher, once for the burst.
  if (count > 0) run(ctx, CipherArgs(s, b, count));
  WipeKeys(s, b.keypairCount);
  // 3. The replay window, only for authentic packets, in arrival order.
  size_t accepted = 0;
  for (size_t j = 0; j < count; j++) {
    const size_t i = s.packetOf[j];
    if (s.status[j] != kAeadOk) {
      b.results[i] = b.codes[s.status[j] == kAeadAuthFailed ? kOpenAuthFailed : kOpenAeadFailed];
      continue;
    }
    uint8_t* kp = b.keypairs[b.keypairOf[i]];
    if (!ReplayCheckAndUpdate(kp + kReplayByte, s.counters[j])) {
      b.results[i] = b.codes[kOpenReplay];
      continue;
    }
    if ((Flags(kp) & kFlagReceived) == 0) b.firstReceipt[i] = (SetFlags(kp, kFlagReceived) & kFlagReceived) == 0 ? 1 : 0;
    b.results[i] = static_cast<int32_t>(s.desc[2 * j + 1]);
    accepted++;
  }
  return accepted;
}

}  // namespace xdpwg

#ifndef XDPWG_AEAD_CORE_ONLY
// ---------------------------------------------------------------------------
// N-API glue: transportSealBurst(buffer, desc, n, keypairs, keypairCount, keypairOf, results, codes, mtu)
// and transportOpenBurst(buffer, desc, n, keypairs, keypairCount, keypairOf, results, codes, firstReceipt).
// keypairs is a reused array of which the first keypairCount entries count.
// A wrong argument shape throws (a programming error); packets never do.
#include "aead_crew.h"
#include "byte_args.h"
#include "modules.h"

namespace xdpwg {
namespace {

struct TransportEnvState {
  AeadBurstContext* const* ctx;  // the addon's per-environment AEAD context (aead_burst.cc)
  TransportScratch scratch;
  std::vector<uint8_t*> keypairs;
};

void FreeTransportEnvState(void* arg) { delete static_cast<TransportEnvState*>(arg); }

template <typename T>
T* TypedData(const Napi::Value& v, napi_typedarray_type type, size_t minLength, size_t* byteLength = nullptr) {
  if (!v.IsTypedArray()) return nullptr;
  napi_typedarray_type t;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(v.Env(), v, &t, &length, &data, nullptr, nullptr) != napi_ok || t != type || length < minLength)
    return nullptr;
  if (byteLength != nullptr) *byteLength = length * sizeof(T);
  return static_cast<T*>(data);
}

// The arguments both calls share; a message when one has the wrong shape.
const char* ParseBurst(const Napi::CallbackInfo& info, TransportEnvState& st, TransportBurst* b) {
  if (info.Length() < 9) return "expected (buffer, desc, n, keypairs, keypairCount, keypairOf, results, codes, mtu | firstReceipt)";
  if (!info[2].IsNumber()) return "n must be a number";
  const double n = info[2].As<Napi::Number>().DoubleValue();
  if (!(n >= 0 && n <= 65535) || n != static_cast<double>(static_cast<uint32_t>(n))) return "n must be an integer in 0..65535";
  b->n = static_cast<size_t>(n);
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    return "buffer must be a Uint8Array (the packet memory)";
  b->buffer = TypedData<uint8_t>(info[0], napi_uint8_array, 0, &b->bufferSize);
  if (b->buffer == nullptr) b->bufferSize = 0;  // detached: every packet is out of bounds
  b->desc = TypedData<uint32_t>(info[1], napi_uint32_array, 2 * b->n);
  if (b->desc == nullptr) return "desc must be a Uint32Array of at least n (offset, length) pairs";
  if (!info[3].IsArray()) return "keypairs must be an Array of Uint8Array views of keypair regions";
  if (!info[4].IsNumber()) return "keypairCount must be a number";
  const auto list = info[3].As<Napi::Array>();
  const double count = info[4].As<Napi::Number>().DoubleValue();
  if (!(count >= 0 && count <= list.Length() && count <= 65535) || count != static_cast<double>(static_cast<uint32_t>(count)))
    return "keypairCount must be an integer no greater than the list's length (and 65535)";
  b->keypairCount = static_cast<size_t>(count);
  st.keypairs.resize(b->keypairCount);
  for (uint32_t k = 0; k < b->keypairCount; k++) {
    uint8_t* region = TypedData<uint8_t>(list.Get(k), napi_uint8_array, kKeypairSharedBytes);
    if (region == nullptr || reinterpret_cast<uintptr_t>(region) % 8 != 0)
      return "each keypair must be a Uint8Array over a whole, 8-byte aligned keypair region";
    st.keypairs[k] = region;
  }
  b->keypairs = st.keypairs.data();
  b->keypairOf = TypedData<uint16_t>(info[5], napi_uint16_array, b->n);
  if (b->keypairOf == nullptr) return "keypairOf must be a Uint16Array of at least n entries";
  for (size_t i = 0; i < b->n; i++)
    if (b->keypairOf[i] >= b->keypairCount) return "keypairOf names a keypair beyond the list";
  b->results = TypedData<int32_t>(info[6], napi_int32_array, b->n);
  if (b->results == nullptr) return "results must be an Int32Array of at least n entries";
  b->codes = TypedData<int32_t>(info[7], napi_int32_array, kTransportStatusCount);
  if (b->codes == nullptr) return "codes must be an Int32Array with a result value per TransportStatus";
  b->firstReceipt = nullptr;
  return nullptr;
}

Napi::Value SealCall(const Napi::CallbackInfo& info) {
  auto& st = *static_cast<TransportEnvState*>(info.Data());
  TransportBurst b{};
  if (const char* msg = ParseBurst(info, st, &b)) return FailUsage(info.Env(), msg);
  if (!info[8].IsNumber()) return FailUsage(info.Env(), "mtu must be a number");
  const double mtu = info[8].As<Napi::Number>().DoubleValue();
  if (!(mtu >= 0 && mtu <= 65535)) return FailUsage(info.Env(), "mtu must be in 0..65535");
  if (*st.ctx == nullptr) return FailUsage(info.Env(), "OpenSSL's libcrypto does not provide ChaCha20-Poly1305");
  return Napi::Number::New(info.Env(),
                           static_cast<double>(TransportSealBurst(*st.ctx, AeadCrewSeal, st.scratch, b, static_cast<uint32_t>(mtu))));
}

Napi::Value OpenCall(const Napi::CallbackInfo& info) {
  auto& st = *static_cast<TransportEnvState*>(info.Data());
  TransportBurst b{};
  if (const char* msg = ParseBurst(info, st, &b)) return FailUsage(info.Env(), msg);
  b.firstReceipt = TypedData<uint8_t>(info[8], napi_uint8_array, b.n);
  if (b.firstReceipt == nullptr) return FailUsage(info.Env(), "firstReceipt must be a Uint8Array of at least n entries");
  if (*st.ctx == nullptr) return FailUsage(info.Env(), "OpenSSL's libcrypto does not provide ChaCha20-Poly1305");
  return Napi::Number::New(info.Env(), static_cast<double>(TransportOpenBurst(*st.ctx, AeadCrewOpen, st.scratch, b)));
}

}  // namespace

void InitDataTransport(Napi::Env env, Napi::Object exports, AeadBurstContext* const* ctx) {
  auto* state = new TransportEnvState();
  state->ctx = ctx;
  napi_add_env_cleanup_hook(env, FreeTransportEnvState, state);
  exports.Set("transportSealBurst", Napi::Function::New(env, SealCall, "transportSealBurst", state));
  exports.Set("transportOpenBurst", Napi::Function::New(env, OpenCall, "transportOpenBurst", state));
}

}  // namespace xdpwg
#endif  // XDPWG_AEAD_CORE_ONLY
