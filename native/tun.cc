// TUN devices: creation (multi-queue, one non-blocking fd per worker) and
// adoption of an inherited fd (WG_TUN_FD), with the offloads we can undo.
// JavaScript functions: tunOpen, tunAdopt (see src/native/binding.ts); the
// queues' burst reads and writes are TunQueue's (tun_queue.h), flow steering
// over the queues tun_steering.h's.
//
// Fds are plain process-wide numbers owned by the caller (close them with
// fs.closeSync); the TUN device disappears when its last queue closes.
// tunOpen/tunAdopt report what a TunQueue of each fd must be told: vnetHdr
// (the device's IFF_VNET_HDR) and udpGso (it took the USO offloads).

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include <string>
#include <vector>
#include "modules.h"
#include "sys_error.h"
#include "tun_offload.h"
#include "tun_queue.h"
#include "tun_steering.h"

namespace xdpwg {

namespace {

constexpr const char* kTunDevice = "/dev/net/tun";
/** Most queues one device may have (the kernel's MAX_TAP_QUEUES). */
constexpr uint32_t kTunMaxQueues = 256;

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

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20  // linux 6.2; Debian 12's headers predate it
#define TUN_F_USO6 0x40
#endif

/** The offloads we can undo (cut and checksum) ourselves, best first; names for the result. */
struct OffloadSet {
  unsigned flags;
  const char* names[8];
};
constexpr OffloadSet kOffloadTries[] = {
    {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_USO4 | TUN_F_USO6,
     {"csum", "tso4", "tso6", "tso-ecn", "uso4", "uso6", nullptr}},
    {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN, {"csum", "tso4", "tso6", "tso-ecn", nullptr}},
    {TUN_F_CSUM, {"csum", nullptr}},
};

/**
 * Whether writes may carry GSO_UDP_L4 super packets: the device took the
 * USO offloads, which the kernel knows from the same release (6.2) on as
 * it knows UDP_L4 in written vnet headers. Without it every UDP super
 * packet would be refused and resent one by one.
 */
bool TakesUdpGso(const OffloadSet* offloads) { return offloads && (offloads->flags & TUN_F_USO4); }

/**
 * Tells the device which offloads its reader handles (TUNSETOFFLOAD; the
 * kernel refuses USO before 6.2, so fall back). Returns the accepted set
 * or nullptr with errno set.
 */
const OffloadSet* EnableOffloads(int fd) {
  int err = 0;
  for (const OffloadSet& s : kOffloadTries) {
    if (ioctl(fd, TUNSETOFFLOAD, s.flags) == 0) return &s;
    err = errno;
  }
  errno = err;
  return nullptr;
}

/** Makes fd's vnet header exactly struct virtio_net_hdr (no num_buffers). */
bool SetVnetHdrSize(int fd) {
  int sz = int(kVnetHdrLen);
  return ioctl(fd, TUNSETVNETHDRSZ, &sz) == 0;
}

Napi::Object QueueSet(Napi::Env env, const char* name, int ifindex, const std::vector<int>& fds, bool multi, bool vnetHdr,
                      const OffloadSet* offloads, const std::string& steering, int steeringMapFd = -1, int writerMapFd = -1) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("steering", Napi::String::New(env, steering));
  o.Set("steeringMapFd", Napi::Number::New(env, steeringMapFd));
  o.Set("writerMapFd", Napi::Number::New(env, writerMapFd));
  o.Set("vnetHdr", Napi::Boolean::New(env, vnetHdr));
  o.Set("udpGso", Napi::Boolean::New(env, TakesUdpGso(offloads)));
  Napi::Array on = Napi::Array::New(env);
  if (offloads)
    for (uint32_t k = 0; offloads->names[k]; k++) on.Set(k, Napi::String::New(env, offloads->names[k]));
  o.Set("offloads", on);
  o.Set("name", Napi::String::New(env, name));
  o.Set("ifindex", Napi::Number::New(env, ifindex));
  Napi::Array a = Napi::Array::New(env, fds.size());
  for (size_t i = 0; i < fds.size(); i++) a.Set(i, Napi::Number::New(env, fds[i]));
  o.Set("fds", a);
  o.Set("multiQueue", Napi::Boolean::New(env, multi));
  return o;
}

// tunOpen({ name, queues = 1, multiQueue = true, offload = false })
//   -> { name, ifindex, fds, multiQueue, vnetHdr, udpGso, offloads, steering, steeringMapFd, writerMapFd }
// Creates the device (or attaches more queues to an existing multi-queue
// device of that name) in the calling thread's network namespace. With
// offload, every queue carries a virtio_net_hdr (IFF_VNET_HDR; the flag is
// the device's, so all its queues must agree) and the kernel may hand us TSO/USO
// super packets, which TunQueue.readBurst cuts; offloads lists what the kernel
// took, udpGso whether that includes USO (UDP_L4 super packets may be written).
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
  bool offload = opts.Get("offload").IsBoolean() && opts.Get("offload").As<Napi::Boolean>().Value();
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
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (multi ? IFF_MULTI_QUEUE : 0) | (offload ? IFF_VNET_HDR : 0);
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
    if (offload && !SetVnetHdrSize(fd)) return fail("tunOpen: TUNSETVNETHDRSZ " + name, errno);
  }
  const OffloadSet* on = nullptr;
  if (offload) {
    on = EnableOffloads(fds[0]);
    if (!on) return fail("tunOpen: TUNSETOFFLOAD " + name, errno);
  }
  int ifindex = IfIndexOf(actual);
  if (ifindex < 0) return fail(std::string("tunOpen: SIOCGIFINDEX ") + actual, -ifindex);
  // With several queues, a flow's queue is a hash of the flow (see tun_steering.h).
  std::string steering = "single queue";
  int spreadMapFd = -1, writerMapFd = -1;
  if (fds.size() > 1) {
    std::string why = AttachTunSteering(fds[0], &spreadMapFd, &writerMapFd);
    steering = why.empty() ? "flow hash" : "kernel automatic (" + why + ")";
  }
  return QueueSet(env, actual, ifindex, fds, multi, offload, on, steering, spreadMapFd, writerMapFd);
}

// tunAdopt(fd) -> { name, ifindex, fds: [fd], multiQueue, vnetHdr, udpGso, offloads }
// For an fd inherited through WG_TUN_FD: learns the device and makes the fd
// non-blocking. Refuses an fd with a packet-information prefix. An fd opened
// with IFF_VNET_HDR is used with offloads (header size set to ours, and the
// offloads we can undo enabled); one without stays plain.
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
    ThrowType(env, std::string("tunAdopt: fd ") + std::to_string(fd) + " (" + ifr.ifr_name + ") must be IFF_TUN with IFF_NO_PI");
    return env.Undefined();
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    ThrowSysError(env, "tunAdopt: fcntl(O_NONBLOCK)", errno);
    return env.Undefined();
  }
  bool vnetHdr = (ifr.ifr_flags & IFF_VNET_HDR) != 0;
  const OffloadSet* on = nullptr;
  if (vnetHdr) {
    if (!SetVnetHdrSize(fd)) {
      ThrowSysError(env, "tunAdopt: TUNSETVNETHDRSZ fd " + std::to_string(fd), errno);
      return env.Undefined();
    }
    on = EnableOffloads(fd);  // none accepted: still framed with headers, just never GSO
  }
  int ifindex = IfIndexOf(ifr.ifr_name);
  if (ifindex < 0) {
    ThrowSysError(env, std::string("tunAdopt: SIOCGIFINDEX ") + ifr.ifr_name, -ifindex);
    return env.Undefined();
  }
  return QueueSet(env, ifr.ifr_name, ifindex, {fd}, (ifr.ifr_flags & IFF_MULTI_QUEUE) != 0, vnetHdr, on, "single queue");
}

}  // namespace

void InitTun(Napi::Env env, Napi::Object exports) {
  exports.Set("tunOpen", Napi::Function::New(env, TunOpen, "tunOpen"));
  exports.Set("tunAdopt", Napi::Function::New(env, TunAdopt, "tunAdopt"));
  InitTunQueue(env, exports);
  InitTunSteering(env, exports);
}

}  // namespace xdpwg
