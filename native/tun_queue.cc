// TUN queues: burst reads and writes, with offloads; see tun_queue.h.
#include "tun_queue.h"

#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include <cerrno>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include "sys_error.h"

namespace xdpwg {

namespace {

/**
 * Errors that mean the queue is dead rather than the packet bad: the device
 * was deleted (EBADFD: the tun_file lost its device), or the fd itself is
 * gone. Returned to JS as -errno so the worker can stop using the queue.
 */
bool IsDeadQueueErrno(int err) { return err == EBADFD || err == ENODEV || err == EBADF || err == ENXIO; }

// ---------------------------------------------------------------- offload state

/** Read staging bytes: the largest super packet plus room to see one that is larger. */
constexpr size_t kScratchBytes = kMaxSuperPacket + 1;

/**
 * Counters of the offload path, process-wide: every TunQueue, in whichever
 * thread, adds its burst's counts once per call (relaxed atomic adds, many
 * writers; tunOffloadStats only reads).
 */
struct OffloadCounters {
  std::atomic<uint64_t> readSuperPackets{0}, readSegments{0}, readChecksumsCompleted{0}, readDropped{0};
  std::atomic<uint64_t> readCalls{0}, readSegmentsCarried{0};
  std::atomic<uint64_t> writeGroups{0}, writeGroupedPackets{0}, writeSingles{0}, writeFallbacks{0};
  /** The UDP share of the four above (UDP_L4 super packets). */
  std::atomic<uint64_t> writeUdpGroups{0}, writeUdpGroupedPackets{0}, writeUdpFallbacks{0};
};
OffloadCounters g_offload;

/**
 * True when a read filled its slot with only part of a packet. A TUN read
 * into a short buffer copies what fits and (depending on the kernel)
 * returns that or the full length; the IP header's own length tells. Such a
 * packet is dropped: JS must never see a cut packet as a whole one.
 */
bool IsCutPacket(const uint8_t* p, uint64_t r, uint64_t cap) {
  if (r > cap) return true;
  if (r >= 20 && (p[0] >> 4) == 4) return ((uint64_t(p[2]) << 8) | p[3]) > r;       // IPv4 total length
  if (r >= 40 && (p[0] >> 4) == 6) return ((uint64_t(p[4]) << 8) | p[5]) + 40 > r;  // IPv6 payload + header
  return false;
}

/** A burst call's frames: the buffer and its descriptors (see NativeTunQueue.readBurst in binding.ts). */
struct BurstArgs {
  uint8_t* base;
  size_t size;
  uint32_t* desc;
  uint32_t n;
};

// ---------------------------------------------------------------- offload bursts

/**
 * Reads with IFF_VNET_HDR: each read() is a vnet header then a packet, which
 * may be a TSO/USO super packet. Plain packets land straight in their frame
 * (the read's second iovec); a super packet spills into the queue's scratch,
 * is made contiguous there, and is cut into one frame per segment. Segments
 * that find no frame wait in st for the next call: none is dropped.
 * Returns frames filled, or -errno for a dead queue with nothing filled.
 */
int64_t ReadBurstOffload(int fd, SuperPacketCut* st, const BurstArgs& a) {
  uint32_t i = 0;
  uint64_t superPackets = 0, segments = 0, completed = 0, dropped = 0, carried = 0;
  uint8_t* scratch = st->scratch.get();
  int deadErr = 0;
  while (i < a.n) {
    uint64_t off = a.desc[2 * i], cap = a.desc[2 * i + 1];
    if (cap == 0 || off + cap > a.size) break;
    uint8_t* frame = a.base + off;
    if (st->pending) {
      size_t len = GsoWriteSegment(st->plan, scratch, st->nextSegment, frame, cap);
      if (++st->nextSegment == st->plan.segments) st->pending = false;
      if (len == 0) {  // a segment larger than its slot: the frames are too small for this MTU
        dropped++;
        continue;
      }
      a.desc[2 * i + 1] = static_cast<uint32_t>(len);
      segments++;
      i++;
      continue;
    }
    virtio_net_hdr vh;
    size_t first = cap < kScratchBytes ? cap : kScratchBytes;
    iovec iov[3] = {{&vh, kVnetHdrLen}, {frame, first}, {scratch + first, kScratchBytes - first}};
    ssize_t r = readv(fd, iov, first < kScratchBytes ? 3 : 2);
    if (r < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (IsDeadQueueErrno(err) && i == 0) deadErr = err;
      break;  // EAGAIN (drained), or an error the next call reports
    }
    if (static_cast<size_t>(r) < kVnetHdrLen + 1) {
      dropped++;
      continue;
    }
    size_t len = static_cast<size_t>(r) - kVnetHdrLen;
    if (vh.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
      if (len > first || IsCutPacket(frame, len, first)) {
        dropped++;
        continue;
      }
      if (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        if (!CompletePartialChecksum(vh, frame, len)) {
          dropped++;
          continue;
        }
        completed++;
      }
      a.desc[2 * i + 1] = static_cast<uint32_t>(len);
      i++;
      continue;
    }
    if (len > kMaxSuperPacket) {  // more than any super packet may be: cut off by our buffer
      dropped++;
      continue;
    }
    memcpy(scratch, frame, len < first ? len : first);
    if (GsoPlanFor(vh, scratch, len, &st->plan) != GsoReject::kNone) {
      dropped++;
      continue;
    }
    st->nextSegment = 0;
    st->pending = true;
    superPackets++;
  }
  if (st->pending) carried = st->plan.segments - st->nextSegment;
  g_offload.readCalls.fetch_add(1, std::memory_order_relaxed);
  if (superPackets) g_offload.readSuperPackets.fetch_add(superPackets, std::memory_order_relaxed);
  if (segments) g_offload.readSegments.fetch_add(segments, std::memory_order_relaxed);
  if (completed) g_offload.readChecksumsCompleted.fetch_add(completed, std::memory_order_relaxed);
  if (dropped) g_offload.readDropped.fetch_add(dropped, std::memory_order_relaxed);
  if (carried) g_offload.readSegmentsCarried.fetch_add(carried, std::memory_order_relaxed);
  return i == 0 && deadErr ? -int64_t(deadErr) : int64_t(i);
}

/** Descriptor i of a burst, or false when it lies outside the buffer. */
inline bool DescAt(const BurstArgs& a, uint32_t i, const uint8_t** pkt, uint32_t* len) {
  uint64_t off = a.desc[2 * i], l = a.desc[2 * i + 1];
  if (off + l > a.size) return false;
  *pkt = a.base + off;
  *len = static_cast<uint32_t>(l);
  return true;
}

/**
 * Whether UDP datagrams are coalesced on write (GSO_UDP_L4). On unless the
 * environment says XDPWG_TUN_UDP_COALESCE=0 (for before/after measurements
 * and as an escape hatch should a kernel mishandle UDP_L4 writes); read
 * once, the first time it is asked (InitTun asks at load).
 */
bool UdpCoalesceEnabled() {
  static const bool on = [] {
    const char* v = getenv("XDPWG_TUN_UDP_COALESCE");
    return !(v && strcmp(v, "0") == 0);
  }();
  return on;
}

/** A coalescing group as the write path builds it: [begin, end) of the burst. */
struct WriteGroup {
  enum class Kind { kSingle, kTcp, kUdp } kind = Kind::kSingle;
  TcpSegmentView tcpFirst, tcpLast;
  UdpDatagramView udpFirst;
  uint32_t bytes = 0;  // the super packet's IP length
  uint32_t l34 = 0;    // IP + L4 header bytes each member's payload follows
};

/**
 * The coalescing group that starts at packet i: [i, end). Packets join while
 * they continue the first one's TCP flow (CanAppend) or, when udp is true
 * (the switch is on and the device takes UDP_L4), its UDP flow
 * (CanAppendUdp); a packet that is neither
 * plain TCP data nor a coalescable datagram, or a zero-length one, stands
 * alone (kind kSingle, as does a group of one).
 */
uint32_t GroupFrom(const BurstArgs& a, uint32_t i, bool udp, WriteGroup* g) {
  const uint8_t* pkt;
  uint32_t len;
  g->kind = WriteGroup::Kind::kSingle;
  if (!DescAt(a, i, &pkt, &len)) return i + 1;
  uint32_t end = i + 1;
  if (ParseCoalescable(pkt, len, &g->tcpFirst)) {
    g->tcpLast = g->tcpFirst;
    g->bytes = len;
    TcpSegmentView next;
    while (end < a.n && DescAt(a, end, &pkt, &len) && ParseCoalescable(pkt, len, &next) &&
           CanAppend(g->tcpFirst, g->tcpLast, next, g->bytes)) {
      g->bytes += next.payload;
      g->tcpLast = next;
      end++;
    }
    if (end - i > 1) {
      g->kind = WriteGroup::Kind::kTcp;
      g->l34 = uint32_t(g->tcpFirst.ipHdrLen) + g->tcpFirst.tcpHdrLen;
    }
  } else if (udp && ParseUdpCoalescable(pkt, len, &g->udpFirst)) {
    UdpDatagramView last = g->udpFirst, next;
    g->bytes = len;
    while (end < a.n && DescAt(a, end, &pkt, &len) && ParseUdpCoalescable(pkt, len, &next) &&
           CanAppendUdp(g->udpFirst, last, next, g->bytes, end - i)) {
      g->bytes += next.payload;
      last = next;
      end++;
    }
    if (end - i > 1) {
      g->kind = WriteGroup::Kind::kUdp;
      g->l34 = uint32_t(g->udpFirst.ipHdrLen) + 8;
    }
  }
  return end;
}

/** Headers of a coalesced write: vnet header + IP + TCP with options (UDP's are shorter). */
constexpr size_t kGroHeaderBytes = kVnetHdrLen + 40 + 60;

/** Writes group g's vnet header and merged headers into out (kGroHeaderBytes); returns their length. */
size_t BuildGroupHeader(const WriteGroup& g, uint8_t* out) {
  return g.kind == WriteGroup::Kind::kTcp ? GroBuildHeader(g.tcpFirst, g.tcpLast.flags, g.bytes, out)
                                          : GroBuildUdpHeader(g.udpFirst, g.bytes, out);
}

/**
 * Writes with IFF_VNET_HDR: groups of consecutive segments of one TCP flow,
 * or of consecutive datagrams of one UDP flow, go out as one GSO super packet (merged headers, then every payload
 * gathered straight from the frames by writev); everything else as itself
 * behind a zero vnet header. Same contract as the plain write.
 */
int64_t WriteBurstOffload(int fd, bool udpGso, const BurstArgs& a) {
  const bool udpCoalesce = udpGso && UdpCoalesceEnabled();
  static const virtio_net_hdr kPlainHdr{};
  uint8_t groHeader[kGroHeaderBytes];
  iovec iov[2 + kTunMaxBurst];
  uint64_t groups = 0, grouped = 0, singles = 0, fallbacks = 0, udpGroups = 0, udpGrouped = 0, udpFallbacks = 0;
  uint32_t i = 0;
  uint32_t singlesUntil = 0;  // after a refused super packet, its members go one by one
  int deadErr = 0;
  while (i < a.n) {
    const uint8_t* pkt;
    uint32_t len;
    if (!DescAt(a, i, &pkt, &len)) break;
    if (len == 0) {  // nothing to write: treat as already dropped
      i++;
      continue;
    }
    WriteGroup g;
    uint32_t end = i < singlesUntil ? i + 1 : GroupFrom(a, i, udpCoalesce, &g);
    if (end - i == 1) g.kind = WriteGroup::Kind::kSingle;
    bool udp = g.kind == WriteGroup::Kind::kUdp;
    int cnt;
    if (g.kind == WriteGroup::Kind::kSingle) {
      iov[0] = {const_cast<virtio_net_hdr*>(&kPlainHdr), kVnetHdrLen};
      iov[1] = {const_cast<uint8_t*>(pkt), len};
      cnt = 2;
    } else {
      iov[0] = {groHeader, BuildGroupHeader(g, groHeader)};
      cnt = 1;
      for (uint32_t k = i; k < end; k++) {
        const uint8_t* p = a.base + a.desc[2 * k];
        iov[cnt++] = {const_cast<uint8_t*>(p + g.l34), a.desc[2 * k + 1] - g.l34};
      }
    }
    ssize_t w = writev(fd, iov, cnt);
    if (w >= 0) {
      if (end - i == 1) {
        singles++;
      } else {
        groups++;
        grouped += end - i;
        if (udp) {
          udpGroups++;
          udpGrouped += end - i;
        }
      }
      i = end;
      continue;
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) break;
    if (IsDeadQueueErrno(err)) {
      if (i == 0) deadErr = err;
      break;
    }
    if (end - i > 1) {  // the kernel refused our super packet: send its members as they came
      fallbacks++;
      if (udp) udpFallbacks++;
      singlesUntil = end;
      continue;
    }
    a.desc[2 * i + 1] = 0;  // dropped
    i++;
  }
  if (groups) {
    g_offload.writeGroups.fetch_add(groups, std::memory_order_relaxed);
    g_offload.writeGroupedPackets.fetch_add(grouped, std::memory_order_relaxed);
  }
  if (singles) g_offload.writeSingles.fetch_add(singles, std::memory_order_relaxed);
  if (fallbacks) g_offload.writeFallbacks.fetch_add(fallbacks, std::memory_order_relaxed);
  if (udpGroups) {
    g_offload.writeUdpGroups.fetch_add(udpGroups, std::memory_order_relaxed);
    g_offload.writeUdpGroupedPackets.fetch_add(udpGrouped, std::memory_order_relaxed);
  }
  if (udpFallbacks) g_offload.writeUdpFallbacks.fetch_add(udpFallbacks, std::memory_order_relaxed);
  return i == 0 && deadErr ? -int64_t(deadErr) : int64_t(i);
}

/**
 * Reads without a vnet header: one read() per frame. A packet longer than
 * its slot is dropped (the slot is reused). Same contract as the offload read.
 */
int64_t ReadBurstPlain(int fd, const BurstArgs& a) {
  uint32_t i = 0;
  while (i < a.n) {
    uint64_t off = a.desc[2 * i], cap = a.desc[2 * i + 1];
    if (cap == 0 || off + cap > a.size) break;
    ssize_t r = read(fd, a.base + off, cap);
    if (r > 0 && IsCutPacket(a.base + off, static_cast<uint64_t>(r), cap)) continue;  // dropped; slot reused
    if (r > 0) {
      a.desc[2 * i + 1] = static_cast<uint32_t>(r);
      i++;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && IsDeadQueueErrno(errno) && i == 0) return -int64_t(errno);
    break;  // EAGAIN (drained), or an error the next call reports
  }
  return i;
}

/** Writes without a vnet header: one write() per packet. Same contract as the offload write. */
int64_t WriteBurstPlain(int fd, const BurstArgs& a) {
  uint32_t i = 0;
  while (i < a.n) {
    uint64_t off = a.desc[2 * i], len = a.desc[2 * i + 1];
    if (off + len > a.size) break;
    if (len == 0) {  // nothing to write: treat as already dropped
      i++;
      continue;
    }
    ssize_t w = write(fd, a.base + off, len);
    if (w >= 0) {
      i++;
      continue;
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) break;
    if (IsDeadQueueErrno(err)) {
      if (i == 0) return -int64_t(err);
      break;
    }
    a.desc[2 * i + 1] = 0;  // dropped
    i++;
  }
  return i;
}

// tunOffloadStats() -> counters of the offload path: every queue of the process adds to them, since start.
Napi::Value TunOffloadStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  auto put = [&](const char* k, const std::atomic<uint64_t>& v) {
    o.Set(k, Napi::Number::New(env, double(v.load(std::memory_order_relaxed))));
  };
  put("readCalls", g_offload.readCalls);
  put("readSuperPackets", g_offload.readSuperPackets);
  put("readSegments", g_offload.readSegments);
  put("readSegmentsCarried", g_offload.readSegmentsCarried);
  put("readChecksumsCompleted", g_offload.readChecksumsCompleted);
  put("readDropped", g_offload.readDropped);
  put("writeGroups", g_offload.writeGroups);
  put("writeGroupedPackets", g_offload.writeGroupedPackets);
  put("writeSingles", g_offload.writeSingles);
  put("writeFallbacks", g_offload.writeFallbacks);
  put("writeUdpGroups", g_offload.writeUdpGroups);
  put("writeUdpGroupedPackets", g_offload.writeUdpGroupedPackets);
  put("writeUdpFallbacks", g_offload.writeUdpFallbacks);
  return o;
}

/** buffer + desc + count at info[first..first+2], as the burst calls take them. */
bool ParseFrames(const Napi::CallbackInfo& info, size_t first, BurstArgs* a) {
  if (info.Length() < first + 3 || !info[first].IsArrayBuffer() || !info[first + 1].IsTypedArray() ||
      info[first + 1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array || !info[first + 2].IsNumber()) {
    return false;
  }
  Napi::ArrayBuffer ab = info[first].As<Napi::ArrayBuffer>();
  Napi::Uint32Array desc = info[first + 1].As<Napi::Uint32Array>();
  a->base = static_cast<uint8_t*>(ab.Data());
  a->size = ab.ByteLength();
  a->desc = desc.Data();
  a->n = info[first + 2].As<Napi::Number>().Uint32Value();
  if (a->n > desc.ElementLength() / 2) a->n = desc.ElementLength() / 2;
  if (a->n > kTunMaxBurst) a->n = kTunMaxBurst;
  return true;
}

/** A burst method's (buffer, desc, n); throws a TypeError with sig and returns false when they are not. */
bool ParseBurst(const Napi::CallbackInfo& info, const char* sig, BurstArgs* a) {
  if (ParseFrames(info, 0, a)) return true;
  ThrowType(info.Env(), sig);
  return false;
}

// tunOffloadSplit(input: Uint8Array, buffer, desc, max) -> n | -1 | -2
// What a read with offload does with one read() result, on memory (tests,
// benchmarks): input = virtio_net_hdr + packet; fills frames per desc as
// TunQueue.readBurst does, with the segments (or the one packet, its checksum
// completed). -1: the packet is refused; -2: fewer frames than segments.
Napi::Value TunOffloadSplit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BurstArgs a;
  if (info.Length() < 4 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      !ParseFrames(info, 1, &a)) {
    ThrowType(env, "tunOffloadSplit(input: Uint8Array, buffer: ArrayBuffer, desc: Uint32Array, max)");
    return env.Undefined();
  }
  Napi::Uint8Array in = info[0].As<Napi::Uint8Array>();
  if (in.ByteLength() <= kVnetHdrLen || in.ByteLength() - kVnetHdrLen > kMaxSuperPacket) return Napi::Number::New(env, -1);
  virtio_net_hdr vh;
  memcpy(&vh, in.Data(), kVnetHdrLen);
  size_t len = in.ByteLength() - kVnetHdrLen;
  std::unique_ptr<uint8_t[]> pkt(new uint8_t[len]);
  memcpy(pkt.get(), in.Data() + kVnetHdrLen, len);
  auto frameOk = [&](uint32_t i, size_t need) {
    return i < a.n && uint64_t(a.desc[2 * i]) + a.desc[2 * i + 1] <= a.size && a.desc[2 * i + 1] >= need;
  };
  if (vh.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
    if (!frameOk(0, len)) return Napi::Number::New(env, -2);
    if ((vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !CompletePartialChecksum(vh, pkt.get(), len)) {
      return Napi::Number::New(env, -1);
    }
    memcpy(a.base + a.desc[0], pkt.get(), len);
    a.desc[1] = uint32_t(len);
    return Napi::Number::New(env, 1);
  }
  GsoPlan plan;
  if (GsoPlanFor(vh, pkt.get(), len, &plan) != GsoReject::kNone) return Napi::Number::New(env, -1);
  if (plan.segments > a.n) return Napi::Number::New(env, -2);
  for (uint32_t i = 0; i < plan.segments; i++) {
    if (!frameOk(i, 0)) return Napi::Number::New(env, -2);
    size_t l = GsoWriteSegment(plan, pkt.get(), i, a.base + a.desc[2 * i], a.desc[2 * i + 1]);
    if (l == 0) return Napi::Number::New(env, -2);
    a.desc[2 * i + 1] = uint32_t(l);
  }
  return Napi::Number::New(env, plan.segments);
}

// tunOffloadCoalesce(buffer, desc, n, out: ArrayBuffer, outDesc: Uint32Array, groups: Uint32Array) -> writes
// What a write with offload hands the kernel for a burst, on memory (tests,
// benchmarks), built by the same grouping as TunQueue.writeBurst: write k (vnet
// header + packet or super packet) lies in out at outDesc[2k], length
// outDesc[2k+1], and carries groups[k] of the burst's packets. UDP is grouped as
// for a device that took the USO offloads (XDPWG_TUN_UDP_COALESCE permitting).
Napi::Value TunOffloadCoalesce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BurstArgs a;
  if (!ParseFrames(info, 0, &a) || info.Length() < 6 || !info[3].IsArrayBuffer() || !info[4].IsTypedArray() || !info[5].IsTypedArray()) {
    ThrowType(env, "tunOffloadCoalesce(buffer, desc, n, out: ArrayBuffer, outDesc: Uint32Array, groups: Uint32Array)");
    return env.Undefined();
  }
  Napi::ArrayBuffer outAb = info[3].As<Napi::ArrayBuffer>();
  Napi::Uint32Array outDesc = info[4].As<Napi::Uint32Array>();
  Napi::Uint32Array groups = info[5].As<Napi::Uint32Array>();
  uint8_t* out = static_cast<uint8_t*>(outAb.Data());
  size_t outSize = outAb.ByteLength(), used = 0;
  uint32_t writes = 0, i = 0;
  while (i < a.n) {
    const uint8_t* pkt;
    uint32_t len;
    if (!DescAt(a, i, &pkt, &len)) break;
    if (len == 0) {
      i++;
      continue;
    }
    WriteGroup g;
    uint32_t end = GroupFrom(a, i, UdpCoalesceEnabled(), &g);
    if (writes >= groups.ElementLength() || 2 * writes + 1 >= outDesc.ElementLength()) break;
    size_t need = kVnetHdrLen + (g.kind == WriteGroup::Kind::kSingle ? len : g.bytes);
    if (used + need > outSize) break;
    uint8_t* w = out + used;
    if (g.kind == WriteGroup::Kind::kSingle) {
      memset(w, 0, kVnetHdrLen);
      memcpy(w + kVnetHdrLen, pkt, len);
    } else {
      size_t at = BuildGroupHeader(g, w);
      for (uint32_t k = i; k < end; k++) {
        memcpy(w + at, a.base + a.desc[2 * k] + g.l34, a.desc[2 * k + 1] - g.l34);
        at += a.desc[2 * k + 1] - g.l34;
      }
    }
    outDesc[2 * writes] = uint32_t(used);
    outDesc[2 * writes + 1] = uint32_t(need);
    groups[writes] = end - i;
    writes++;
    used += need;
    i = end;
  }
  return Napi::Number::New(env, writes);
}

}  // namespace

Napi::Function TunQueue::Define(Napi::Env env) {
  return DefineClass(env, "TunQueue",
                     {
                         InstanceMethod<&TunQueue::ReadBurst>("readBurst"),
                         InstanceMethod<&TunQueue::WriteBurst>("writeBurst"),
                         InstanceMethod<&TunQueue::Close>("close"),
                         InstanceAccessor<&TunQueue::GetFd>("fd"),
                         InstanceAccessor<&TunQueue::GetVnetHdr>("vnetHdr"),
                         InstanceAccessor<&TunQueue::GetUdpGso>("udpGso"),
                     });
}

TunQueue::TunQueue(const Napi::CallbackInfo& info) : EnvBound<TunQueue>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowType(env, "TunQueue({ fd, vnetHdr, udpGso })");
    return;
  }
  Napi::Object opts = info[0].As<Napi::Object>();
  if (!opts.Get("fd").IsNumber() || !opts.Get("vnetHdr").IsBoolean() || !opts.Get("udpGso").IsBoolean()) {
    ThrowType(env, "TunQueue({ fd: number, vnetHdr: boolean, udpGso: boolean })");
    return;
  }
  int fd = opts.Get("fd").As<Napi::Number>().Int32Value();
  bool vnetHdr = opts.Get("vnetHdr").As<Napi::Boolean>().Value();
  bool udpGso = opts.Get("udpGso").As<Napi::Boolean>().Value();
  // The framing must be the fd's own: a queue that guessed wrong would read
  // the vnet header as packet bytes (or the reverse).
  ifreq ifr{};
  if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
    ThrowSysError(env, "TunQueue: TUNGETIFF fd " + std::to_string(fd), errno);
    return;
  }
  if (((ifr.ifr_flags & IFF_VNET_HDR) != 0) != vnetHdr || (udpGso && !vnetHdr)) {
    ThrowType(env, std::string("TunQueue: fd ") + std::to_string(fd) + " (" + ifr.ifr_name + ") " +
                       ((ifr.ifr_flags & IFF_VNET_HDR) ? "has" : "lacks") + " IFF_VNET_HDR; got vnetHdr " + (vnetHdr ? "true" : "false") +
                       ", udpGso " + (udpGso ? "true" : "false"));
    return;
  }
  fd_ = fd;
  vnetHdr_ = vnetHdr;
  udpGso_ = udpGso;
  if (vnetHdr) {
    cut_.reset(new SuperPacketCut());
    cut_->scratch.reset(new uint8_t[kScratchBytes]);
  }
  Napi::Value mapFd = opts.Get("writerMapFd"), queue = opts.Get("queue");
  if (mapFd.IsNumber() && mapFd.As<Napi::Number>().Int32Value() >= 0) {
    if (!queue.IsNumber() || queue.As<Napi::Number>().Int32Value() < 0) {
      ThrowType(env, "TunQueue: writerMapFd needs queue (a non-negative number)");
      return;
    }
    // Without the marks steering still works, by hash alone: not a reason to refuse the queue.
    (void)marks_.Map(mapFd.As<Napi::Number>().Int32Value(), queue.As<Napi::Number>().Uint32Value());
  }
  // A worker's environment may end while this object is still reachable:
  // the hook frees the native state with it.
  BindToEnv();
}

TunQueue::~TunQueue() { Release(); }

void TunQueue::FreeResources() {
  fd_ = -1;  // borrowed: the fd's owner closes it
  cut_.reset();
  marks_.Unmap();
}

// readBurst(buffer, desc, max) -> n | -errno
// desc[2i] = offset to read packet i into, desc[2i+1] = capacity (in);
// native overwrites desc[2i+1] with the packet length. A packet longer than
// its slot's capacity is dropped (keep capacity >= the TUN MTU). Stops at the first
// EAGAIN. A dead queue (device deleted: EBADFD; closed: EBADF) with nothing read
// returns -errno; a descriptor outside the buffer ends the burst there.
Napi::Value TunQueue::ReadBurst(const Napi::CallbackInfo& info) {
  BurstArgs a;
  if (!ParseBurst(info, "TunQueue.readBurst(buffer: ArrayBuffer, desc: Uint32Array, max)", &a)) return info.Env().Undefined();
  int64_t r = fd_ < 0 ? -EBADF : cut_ ? ReadBurstOffload(fd_, cut_.get(), a) : ReadBurstPlain(fd_, a);
  return Napi::Number::New(info.Env(), double(r));
}

// writeBurst(buffer, desc, n) -> consumed | -errno
// Writes packets in order. A packet the kernel refuses (malformed: EINVAL,
// device down: EIO) is dropped and marked by setting its desc length to 0;
// it still counts as consumed. Stops at EAGAIN (the rest were not written)
// and at a descriptor outside the buffer. A dead queue with nothing
// consumed returns -errno.
Napi::Value TunQueue::WriteBurst(const Napi::CallbackInfo& info) {
  BurstArgs a;
  if (!ParseBurst(info, "TunQueue.writeBurst(buffer: ArrayBuffer, desc: Uint32Array, n)", &a)) return info.Env().Undefined();
  // Before the writes: the kernel may answer a packet (and steer the answer) inside its write.
  if (marks_.mapped())
    for (uint32_t i = 0; i < a.n; i++) {
      const uint8_t* pkt;
      uint32_t len;
      if (!DescAt(a, i, &pkt, &len)) break;
      marks_.Mark(pkt, len);
    }
  int64_t r = fd_ < 0 ? -EBADF : vnetHdr_ ? WriteBurstOffload(fd_, udpGso_, a) : WriteBurstPlain(fd_, a);
  return Napi::Number::New(info.Env(), double(r));
}

Napi::Value TunQueue::Close(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value TunQueue::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
Napi::Value TunQueue::GetVnetHdr(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), vnetHdr_); }
Napi::Value TunQueue::GetUdpGso(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), udpGso_); }
void InitTunQueue(Napi::Env env, Napi::Object exports) {
  exports.Set("TunQueue", TunQueue::Define(env));
  exports.Set("TUN_MAX_BURST", Napi::Number::New(env, kTunMaxBurst));
  exports.Set("tunOffloadStats", Napi::Function::New(env, TunOffloadStats, "tunOffloadStats"));
  exports.Set("tunOffloadSplit", Napi::Function::New(env, TunOffloadSplit, "tunOffloadSplit"));
  exports.Set("tunOffloadCoalesce", Napi::Function::New(env, TunOffloadCoalesce, "tunOffloadCoalesce"));
  UdpCoalesceEnabled();  // read the switch now, not first on a worker's data path
}

}  // namespace xdpwg
