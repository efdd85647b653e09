// TUN queues; see tun.h.
#include "tun.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>
#include "modules.h"
#include "sys_error.h"

namespace xdpwg {

namespace {

constexpr const char* kTunDevice = "/dev/net/tun";
/** Most queues one device may have (the kernel's MAX_TAP_QUEUES). */
constexpr uint32_t kTunMaxQueues = 256;

/**
 * Errors that mean the queue is dead rather than the packet bad: the device
 * was deleted (EBADFD: the tun_file lost its device), or the fd itself is
 * gone. Returned to JS as -errno so the worker can stop using the queue.
 */
bool IsDeadQueueErrno(int err) { return err == EBADFD || err == ENODEV || err == EBADF || err == ENXIO; }

int IfIndexOf(const char* name) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  ifreq ifr{};
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  int r = ioctl(s, SIOCGIFINDEX, &ifr);
  int err = errno;
  close(s);
  return r < 0 ? -err : ifr.ifr_ifindex;
}

Napi::Object QueueSet(Napi::Env env, const char* name, int ifindex, const std::vector<int>& fds, bool multi) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", Napi::String::New(env, name));
  o.Set("ifindex", Napi::Number::New(env, ifindex));
  Napi::Array a = Napi::Array::New(env, fds.size());
  for (size_t i = 0; i < fds.size(); i++) a.Set(i, Napi::Number::New(env, fds[i]));
  o.Set("fds", a);
  o.Set("multiQueue", Napi::Boolean::New(env, multi));
  return o;
}

// tunOpen({ name, queues = 1, multiQueue = true }) -> { name, ifindex, fds, multiQueue }
// Creates the device (or attaches more queues to an existing multi-queue
// device of that name) in the calling thread's network namespace.
Napi::Value TunOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowType(env, "tunOpen({ name, queues?, multiQueue? })");
    return env.Undefined();
  }
  Napi::Object opts = info[0].As<Napi::Object>();
  std::string name = opts.Get("name").IsString() ? opts.Get("name").As<Napi::String>().Utf8Value() : "";
  if (name.size() >= IFNAMSIZ) {
    ThrowRange(env, "tunOpen: name '" + name + "' longer than 15 bytes");
    return env.Undefined();
  }
  uint32_t queues = opts.Get("queues").IsNumber() ? opts.Get("queues").As<Napi::Number>().Uint32Value() : 1;
  bool multi = opts.Get("multiQueue").IsBoolean() ? opts.Get("multiQueue").As<Napi::Boolean>().Value() : true;
  if (queues < 1 || queues > kTunMaxQueues || (!multi && queues != 1)) {
    ThrowRange(env, "tunOpen: queues must be 1.." + std::to_string(kTunMaxQueues) + " (1 without multiQueue)");
    return env.Undefined();
  }

  std::vector<int> fds;
  char actual[IFNAMSIZ] = {0};
  auto fail = [&](const std::string& op, int err) {
    for (int fd : fds) close(fd);
    ThrowSysError(env, op, err);
    return env.Undefined();
  };
  for (uint32_t q = 0; q < queues; q++) {
    int fd = open(kTunDevice, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return fail(std::string("tunOpen: open ") + kTunDevice, errno);
    ifreq ifr{};
    // No packet-information prefix: reads and writes are bare IP packets.
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (multi ? IFF_MULTI_QUEUE : 0);
    // The first queue may let the kernel pick a name ("tun%d"); later ones
    // attach to the name it picked.
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", q == 0 ? name.c_str() : actual);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
      int err = errno;
      close(fd);
      return fail("tunOpen: TUNSETIFF " + name + " queue " + std::to_string(q), err);
    }
    if (q == 0) snprintf(actual, IFNAMSIZ, "%s", ifr.ifr_name);
    fds.push_back(fd);
  }
  int ifindex = IfIndexOf(actual);
  if (ifindex < 0) return fail(std::string("tunOpen: SIOCGIFINDEX ") + actual, -ifindex);
  return QueueSet(env, actual, ifindex, fds, multi);
}

// tunAdopt(fd) -> { name, ifindex, fds: [fd], multiQueue }
// For an fd inherited through WG_TUN_FD: learns the device and makes the fd
// non-blocking. Refuses an fd with a packet-information prefix.
Napi::Value TunAdopt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    ThrowType(env, "tunAdopt(fd: number)");
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  ifreq ifr{};
  if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
    ThrowSysError(env, "tunAdopt: TUNGETIFF fd " + std::to_string(fd), errno);
    return env.Undefined();
  }
  if (!(ifr.ifr_flags & IFF_TUN) || !(ifr.ifr_flags & IFF_NO_PI)) {
    ThrowType(env, std::string("tunAdopt: fd ") + std::to_string(fd) + " (" + ifr.ifr_name +
                       ") must be IFF_TUN with IFF_NO_PI");
    return env.Undefined();
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    ThrowSysError(env, "tunAdopt: fcntl(O_NONBLOCK)", errno);
    return env.Undefined();
  }
  int ifindex = IfIndexOf(ifr.ifr_name);
  if (ifindex < 0) {
    ThrowSysError(env, std::string("tunAdopt: SIOCGIFINDEX ") + ifr.ifr_name, -ifindex);
    return env.Undefined();
  }
  return QueueSet(env, ifr.ifr_name, ifindex, {fd}, (ifr.ifr_flags & IFF_MULTI_QUEUE) != 0);
}

/**
 * True when a read filled its slot with only part of a packet. A TUN read
 * into a short buffer copies what fits and (depending on the kernel)
 * returns that or the full length; the IP header's own length tells. Such a
 * packet is dropped: JS must never see a cut packet as a whole one.
 */
bool IsCutPacket(const uint8_t* p, uint64_t r, uint64_t cap) {
  if (r > cap) return true;
  if (r >= 20 && (p[0] >> 4) == 4) return ((uint64_t(p[2]) << 8) | p[3]) > r;            // IPv4 total length
  if (r >= 40 && (p[0] >> 4) == 6) return ((uint64_t(p[4]) << 8) | p[5]) + 40 > r;       // IPv6 payload + header
  return false;
}

struct BurstArgs {
  int fd;
  uint8_t* base;
  size_t size;
  uint32_t* desc;
  uint32_t n;
};

bool ParseBurst(const Napi::CallbackInfo& info, const char* sig, BurstArgs* a) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsArrayBuffer() || !info[2].IsTypedArray() ||
      !info[3].IsNumber()) {
    ThrowType(env, sig);
    return false;
  }
  Napi::ArrayBuffer ab = info[1].As<Napi::ArrayBuffer>();
  Napi::Uint32Array desc = info[2].As<Napi::Uint32Array>();
  a->fd = info[0].As<Napi::Number>().Int32Value();
  a->base = static_cast<uint8_t*>(ab.Data());
  a->size = ab.ByteLength();
  a->desc = desc.Data();
  a->n = info[3].As<Napi::Number>().Uint32Value();
  if (a->n > desc.ElementLength() / 2) a->n = desc.ElementLength() / 2;
  if (a->n > kTunMaxBurst) a->n = kTunMaxBurst;
  return true;
}

// tunReadBurst(fd, buffer, desc, max) -> n | -errno
// desc[2i] = offset to read packet i into, desc[2i+1] = capacity (in);
// native overwrites desc[2i+1] with the packet length. A packet longer than
// its slot's capacity is dropped (keep capacity >= the TUN MTU). Stops at the first
// EAGAIN. A dead queue (device deleted: EBADFD) with nothing read returns
// -errno; a descriptor outside the buffer ends the burst there.
Napi::Value TunReadBurst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BurstArgs a;
  if (!ParseBurst(info, "tunReadBurst(fd, buffer: ArrayBuffer, desc: Uint32Array, max)", &a)) return env.Undefined();
  uint32_t i = 0;
  while (i < a.n) {
    uint64_t off = a.desc[2 * i], cap = a.desc[2 * i + 1];
    if (cap == 0 || off + cap > a.size) break;
    ssize_t r = read(a.fd, a.base + off, cap);
    if (r > 0 && IsCutPacket(a.base + off, static_cast<uint64_t>(r), cap)) continue;  // dropped; slot reused
    if (r > 0) {
      a.desc[2 * i + 1] = static_cast<uint32_t>(r);
      i++;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && IsDeadQueueErrno(errno) && i == 0) return Napi::Number::New(env, -errno);
    break;  // EAGAIN (drained), or an error the next call reports
  }
  return Napi::Number::New(env, i);
}

// tunWriteBurst(fd, buffer, desc, n) -> consumed | -errno
// Writes packets in order. A packet the kernel refuses (malformed: EINVAL,
// device down: EIO) is dropped and marked by setting its desc length to 0;
// it still counts as consumed. Stops at EAGAIN (the rest were not written)
// and at a descriptor outside the buffer. A dead queue with nothing
// consumed returns -errno.
Napi::Value TunWriteBurst(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BurstArgs a;
  if (!ParseBurst(info, "tunWriteBurst(fd, buffer: ArrayBuffer, desc: Uint32Array, n)", &a)) return env.Undefined();
  uint32_t i = 0;
  while (i < a.n) {
    uint64_t off = a.desc[2 * i], len = a.desc[2 * i + 1];
    if (off + len > a.size) break;
    if (len == 0) {  // nothing to write: treat as already dropped
      i++;
      continue;
    }
    ssize_t w = write(a.fd, a.base + off, len);
    if (w >= 0) {
      i++;
      continue;
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) break;
    if (IsDeadQueueErrno(err)) {
      if (i == 0) return Napi::Number::New(env, -err);
      break;
    }
    a.desc[2 * i + 1] = 0;  // dropped
    i++;
  }
  return Napi::Number::New(env, i);
}

}  // namespace

void InitTun(Napi::Env env, Napi::Object exports) {
  exports.Set("tunOpen", Napi::Function::New(env, TunOpen, "tunOpen"));
  exports.Set("tunAdopt", Napi::Function::New(env, TunAdopt, "tunAdopt"));
  exports.Set("tunReadBurst", Napi::Function::New(env, TunReadBurst, "tunReadBurst"));
  exports.Set("tunWriteBurst", Napi::Function::New(env, TunWriteBurst, "tunWriteBurst"));
  exports.Set("TUN_MAX_BURST", Napi::Number::New(env, kTunMaxBurst));
}

}  // namespace xdpwg
