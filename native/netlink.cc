// Netlink route/link/address/neighbour access; see netlink.h.
#include "netlink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <vector>
#include "modules.h"
#include "sys_error.h"

namespace xdpwg {

namespace {

/** Receive buffer: a dump message never exceeds 32 KiB; room to spare. */
constexpr size_t kNlRecvBuf = 65536;
/** Requests are small: a header, one struct and a few attributes. */
constexpr size_t kNlReqBuf = 1024;

// ---------------------------------------------------------------------------
// Addresses

/** A parsed IP address: family AF_INET (4 bytes used) or AF_INET6. */
struct IpAddr {
  int family = 0;
  uint8_t bytes[16] = {};
  size_t len() const { return family == AF_INET ? 4 : 16; }
};

bool ParseIp(const std::string& s, IpAddr* a) {
  if (inet_pton(AF_INET, s.c_str(), a->bytes) == 1) {
    a->family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), a->bytes) == 1) {
    a->family = AF_INET6;
    return true;
  }
  return false;
}

/** "addr/len" or a bare address (full length). */
bool ParseCidr(const std::string& s, IpAddr* a, uint8_t* plen) {
  size_t slash = s.find('/');
  if (!ParseIp(s.substr(0, slash), a)) return false;
  unsigned max = a->family == AF_INET ? 32 : 128;
  if (slash == std::string::npos) {
    *plen = static_cast<uint8_t>(max);
    return true;
  }
  std::string p = s.substr(slash + 1);
  if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos) return false;
  unsigned v = std::stoul(p);
  if (v > max) return false;
  *plen = static_cast<uint8_t>(v);
  return true;
}

std::string IpString(int family, const void* bytes) {
  char buf[INET6_ADDRSTRLEN];
  return inet_ntop(family, bytes, buf, sizeof(buf)) ? std::string(buf) : std::string();
}

std::string MacString(const uint8_t* p, size_t n) {
  static const char hex[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; i++) {
    if (i) s += ':';
    s += hex[p[i] >> 4];
    s += hex[p[i] & 15];
  }
  return s;
}

// ---------------------------------------------------------------------------
// Requests

/** One request message under construction. */
class NlRequest {
 public:
  NlRequest(uint16_t type, uint16_t flags, size_t body_len) {
    memset(buf_, 0, sizeof(buf_));
    hdr()->nlmsg_len = NLMSG_LENGTH(body_len);
    hdr()->nlmsg_type = type;
    hdr()->nlmsg_flags = NLM_F_REQUEST | flags;
  }
  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf_); }
  template <typename T>
  T* body() {
    return static_cast<T*>(NLMSG_DATA(hdr()));
  }
  void Attr(uint16_t type, const void* data, size_t len) {
    size_t at = NLMSG_ALIGN(hdr()->nlmsg_len);
    auto* rta = reinterpret_cast<rtattr*>(buf_ + at);
    rta->rta_type = type;
    rta->rta_len = RTA_LENGTH(len);
    memcpy(RTA_DATA(rta), data, len);
    hdr()->nlmsg_len = at + RTA_ALIGN(rta->rta_len);
  }
  void AttrU32(uint16_t type, uint32_t v) { Attr(type, &v, sizeof(v)); }
  void AttrStr(uint16_t type, const std::string& s) { Attr(type, s.c_str(), s.size() + 1); }

 private:
  alignas(nlmsghdr) uint8_t buf_[kNlReqBuf];
};

/** A NETLINK_ROUTE socket in the calling thread's network namespace. */
class NlSocket {
 public:
  explicit NlSocket(uint32_t flags = 0) {
    fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | flags, NETLINK_ROUTE);
    if (fd_ < 0) return;
    int one = 1;
    // Extended acks carry the kernel's reason ("Nexthop has invalid gateway").
    setsockopt(fd_, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    setsockopt(fd_, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
  }
  ~NlSocket() {
    if (fd_ >= 0) close(fd_);
  }
  NlSocket(const NlSocket&) = delete;
  NlSocket& operator=(const NlSocket&) = delete;
  int fd() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_ = -1;
};

/** Kernel's extended-ack message inside an NLMSG_ERROR, if any. */
std::string ExtAckMessage(const nlmsghdr* h) {
  if (!(h->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
  size_t off = NLMSG_HDRLEN + sizeof(nlmsgerr);
  // Without NLM_F_CAPPED the whole original request is echoed first.
  if (!(h->nlmsg_flags & NLM_F_CAPPED)) off += e->msg.nlmsg_len - NLMSG_HDRLEN;
  off = NLMSG_ALIGN(off);
  const uint8_t* p = reinterpret_cast<const uint8_t*>(h);
  while (off + sizeof(nlattr) <= h->nlmsg_len) {
    const auto* a = reinterpret_cast<const nlattr*>(p + off);
    if (a->nla_len < sizeof(nlattr) || off + a->nla_len > h->nlmsg_len) break;
    if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG)
      return std::string(reinterpret_cast<const char*>(a) + NLA_HDRLEN,
                         strnlen(reinterpret_cast<const char*>(a) + NLA_HDRLEN, a->nla_len - NLA_HDRLEN));
    off += NLA_ALIGN(a->nla_len);
  }
  return "";
}

using MsgFn = std::function<void(const nlmsghdr*)>;

/**
 * Sends req and collects the answer. Non-dump requests carry NLM_F_ACK and end
 * at the kernel's NLMSG_ERROR (0 = success); dumps end at NLMSG_DONE.
 * Returns 0 or -errno; *ext gets the kernel's extended-ack text.
 */
int NlTalk(NlRequest& req, const MsgFn& on_msg, std::string* ext) {
  NlSocket sock;
  if (sock.fd() < 0) return -errno;
  static thread_local uint32_t seq = 0;
  nlmsghdr* rh = req.hdr();
  bool dump = (rh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
  if (!dump) rh->nlmsg_flags |= NLM_F_ACK;
  rh->nlmsg_seq = ++seq;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t s;
  do s = sendto(sock.fd(), rh, rh->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
  while (s < 0 && errno == EINTR);
  if (s < 0) return -errno;

  std::vector<uint8_t> buf(kNlRecvBuf);
  for (;;) {
    ssize_t n = recv(sock.fd(), buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, static_cast<size_t>(n)); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != rh->nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        if (e->error && ext) *ext = ExtAckMessage(h);
        return e->error;  // 0 = ack, else -errno
      }
      if (h->nlmsg_type == NLMSG_DONE) {
        int err = 0;
        if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) memcpy(&err, NLMSG_DATA(h), sizeof(int));
        return err;
      }
      on_msg(h);
    }
  }
}

// ---------------------------------------------------------------------------
// Parsing replies and events

/** Attribute table of one message: tb[type] or nullptr. */
struct Attrs {
  static constexpr int kMax = 64;
  const rtattr* tb[kMax + 1] = {};
  Attrs(const nlmsghdr* h, size_t fixed) {
    const auto* p = reinterpret_cast<const uint8_t*>(NLMSG_DATA(h)) + NLMSG_ALIGN(fixed);
    int len = static_cast<int>(h->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(fixed));
    Fill(reinterpret_cast<const rtattr*>(p), len);
  }
  Attrs(const rtattr* nested) { Fill(static_cast<const rtattr*>(RTA_DATA(nested)), RTA_PAYLOAD(nested)); }
  void Fill(const rtattr* rta, int len) {
    for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
      int t = rta->rta_type & NLA_TYPE_MASK;
      if (t <= kMax && !tb[t]) tb[t] = rta;
    }
  }
  const rtattr* operator[](int t) const { return t <= kMax ? tb[t] : nullptr; }
  uint32_t U32(int t, uint32_t dflt = 0) const {
    const rtattr* a = (*this)[t];
    if (!a || RTA_PAYLOAD(a) < 4) return dflt;
    uint32_t v;
    memcpy(&v, RTA_DATA(a), 4);
    return v;
  }
  std::string Str(int t) const {
    const rtattr* a = (*this)[t];
    if (!a) return "";
    return std::string(static_cast<const char*>(RTA_DATA(a)), strnlen(static_cast<const char*>(RTA_DATA(a)), RTA_PAYLOAD(a)));
  }
  std::string Ip(int t, int family) const {
    const rtattr* a = (*this)[t];
    size_t want = family == AF_INET ? 4 : 16;
    if (!a || RTA_PAYLOAD(a) < want) return "";
    return IpString(family, RTA_DATA(a));
  }
};

Napi::Object ParseLink(Napi::Env env, const nlmsghdr* h) {
  const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
  Attrs a(h, sizeof(ifinfomsg));
  Napi::Object o = Napi::Object::New(env);
  o.Set("ifindex", Napi::Number::New(env, ifi->ifi_index));
  o.Set("name", Napi::String::New(env, a.Str(IFLA_IFNAME)));
  o.Set("mtu", Napi::Number::New(env, a.U32(IFLA_MTU)));
  o.Set("up", Napi::Boolean::New(env, (ifi->ifi_flags & IFF_UP) != 0));
  // IFF_LOWER_UP: the carrier is there (a veth whose peer is up, a TUN with a reader).
  o.Set("lowerUp", Napi::Boolean::New(env, (ifi->ifi_flags & IFF_LOWER_UP) != 0));
  const rtattr* mac = a[IFLA_ADDRESS];
  o.Set("mac",
        mac ? Napi::Value(Napi::String::New(env, MacString(static_cast<const uint8_t*>(RTA_DATA(mac)), RTA_PAYLOAD(mac)))) : env.Null());
  o.Set("numTxQueues", Napi::Number::New(env, a.U32(IFLA_NUM_TX_QUEUES, 1)));
  o.Set("numRxQueues", Napi::Number::New(env, a.U32(IFLA_NUM_RX_QUEUES, 1)));
  o.Set("flags", Napi::Number::New(env, ifi->ifi_flags));
  o.Set("arpType", Napi::Number::New(env, ifi->ifi_type));
  std::string kind;
  if (a[IFLA_LINKINFO]) kind = Attrs(a[IFLA_LINKINFO]).Str(IFLA_INFO_KIND);
  o.Set("kind", kind.empty() ? env.Null() : Napi::Value(Napi::String::New(env, kind)));
  return o;
}

Napi::Object ParseAddr(Napi::Env env, const nlmsghdr* h) {
  const auto* ifa = static_cast<const ifaddrmsg*>(NLMSG_DATA(h));
  Attrs a(h, sizeof(ifaddrmsg));
  Napi::Object o = Napi::Object::New(env);
  int fam = ifa->ifa_family;
  // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on
  // point-to-point links and equals IFA_LOCAL otherwise (IPv6 sends only it).
  int which = a.Ip(IFA_LOCAL, fam).empty() ? IFA_ADDRESS : IFA_LOCAL;
  std::string addr = a.Ip(which, fam);
  o.Set("ifindex", Napi::Number::New(env, ifa->ifa_index));
  o.Set("family", Napi::Number::New(env, fam == AF_INET ? 4 : 6));
  o.Set("address", Napi::String::New(env, addr));
  if (!addr.empty()) {
    // The same address as bytes (4 or 16, network order), for BPF maps and byte compares.
    size_t n = fam == AF_INET ? 4 : 16;
    o.Set("bytes", Napi::Buffer<uint8_t>::Copy(env, static_cast<const uint8_t*>(RTA_DATA(a[which])), n));
  }
  o.Set("prefixLen", Napi::Number::New(env, ifa->ifa_prefixlen));
  o.Set("cidr", Napi::String::New(env, addr + "/" + std::to_string(ifa->ifa_prefixlen)));
  o.Set("scope", Napi::Number::New(env, ifa->ifa_scope));
  o.Set("flags", Napi::Number::New(env, a.U32(IFA_FLAGS, ifa->ifa_flags)));
  return o;
}

const char* RouteTypeName(unsigned t) {
  switch (t) {
    case RTN_UNICAST:
      return "unicast";
    case RTN_LOCAL:
      return "local";
    case RTN_BROADCAST:
      return "broadcast";
    case RTN_ANYCAST:
      return "anycast";
    case RTN_MULTICAST:
      return "multicast";
    case RTN_BLACKHOLE:
      return "blackhole";
    case RTN_UNREACHABLE:
      return "unreachable";
    case RTN_PROHIBIT:
      return "prohibit";
    case RTN_THROW:
      return "throw";
    default:
      return "other";
  }
}

Napi::Object ParseRoute(Napi::Env env, const nlmsghdr* h) {
  const auto* rt = static_cast<const rtmsg*>(NLMSG_DATA(h));
  Attrs a(h, sizeof(rtmsg));
  int fam = rt->rtm_family;
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", Napi::Number::New(env, fam == AF_INET ? 4 : 6));
  std::string dst = a.Ip(RTA_DST, fam);
  if (dst.empty()) dst = fam == AF_INET ? "0.0.0.0" : "::";
  o.Set("dst", Napi::String::New(env, dst + "/" + std::to_string(rt->rtm_dst_len)));
  o.Set("ifindex", Napi::Number::New(env, a.U32(RTA_OIF)));
  // A v4 route may name an IPv6 next hop (RTA_VIA); report the plain gateway.
  std::string gw = a.Ip(RTA_GATEWAY, fam);
  if (!gw.empty()) o.Set("gateway", Napi::String::New(env, gw));
  std::string src = a.Ip(RTA_PREFSRC, fam);
  if (!src.empty()) o.Set("prefsrc", Napi::String::New(env, src));
  o.Set("table", Napi::Number::New(env, a.U32(RTA_TABLE, rt->rtm_table)));
  if (a[RTA_PRIORITY]) o.Set("metric", Napi::Number::New(env, a.U32(RTA_PRIORITY)));
  o.Set("type", Napi::String::New(env, RouteTypeName(rt->rtm_type)));
  o.Set("protocol", Napi::Number::New(env, rt->rtm_protocol));
  return o;
}

const char* NeighStateName(uint16_t s) {
  // The kernel's NUD_* states; several bits never combine in practice.
  if (s & NUD_PERMANENT) return "permanent";
  if (s & NUD_NOARP) return "noarp";
  if (s & NUD_REACHABLE) return "reachable";
  if (s & NUD_STALE) return "stale";
  if (s & NUD_DELAY) return "delay";
  if (s & NUD_PROBE) return "probe";
  if (s & NUD_INCOMPLETE) return "incomplete";
  if (s & NUD_FAILED) return "failed";
  return "none";
}

Napi::Object ParseNeigh(Napi::Env env, const nlmsghdr* h) {
  const auto* nd = static_cast<const ndmsg*>(NLMSG_DATA(h));
  Attrs a(h, sizeof(ndmsg));
  Napi::Object o = Napi::Object::New(env);
  o.Set("ifindex", Napi::Number::New(env, nd->ndm_ifindex));
  o.Set("family", Napi::Number::New(env, nd->ndm_family == AF_INET ? 4 : 6));
  o.Set("ip", Napi::String::New(env, a.Ip(NDA_DST, nd->ndm_family)));
  const rtattr* ll = a[NDA_LLADDR];
  o.Set("mac",
        ll ? Napi::Value(Napi::String::New(env, MacString(static_cast<const uint8_t*>(RTA_DATA(ll)), RTA_PAYLOAD(ll)))) : env.Null());
  o.Set("state", Napi::String::New(env, NeighStateName(nd->ndm_state)));
  return o;
}

// ---------------------------------------------------------------------------
// Argument helpers

bool ArgIfindex(const Napi::CallbackInfo& info, size_t i, const char* sig, int* out) {
  if (info.Length() <= i || !info[i].IsNumber() || info[i].As<Napi::Number>().Int32Value() <= 0) {
    ThrowType(info.Env(), std::string(sig) + ": ifindex must be a positive integer");
    return false;
  }
  *out = info[i].As<Napi::Number>().Int32Value();
  return true;
}

/** Throws the error of a failed request: "<op>: <ENAME> (...): <kernel's text>". */
Napi::Value Fail(Napi::Env env, const std::string& op, int neg_err, const std::string& ext) {
  ThrowSysError(env, "netlink " + op, -neg_err, ext);
  return env.Undefined();
}

// ---------------------------------------------------------------------------
// Links

// linkInfo(name | ifindex) -> LinkInfo | null (no such link)
Napi::Value LinkInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  NlRequest req(RTM_GETLINK, 0, sizeof(ifinfomsg));
  auto* ifi = req.body<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  std::string what;
  if (info.Length() >= 1 && info[0].IsNumber()) {
    ifi->ifi_index = info[0].As<Napi::Number>().Int32Value();
    what = "ifindex " + std::to_string(ifi->ifi_index);
  } else if (info.Length() >= 1 && info[0].IsString()) {
    what = info[0].As<Napi::String>().Utf8Value();
    if (what.empty() || what.size() >= IFNAMSIZ) return env.Null();
    req.AttrStr(IFLA_IFNAME, what);
  } else {
    ThrowType(env, "linkInfo(name: string | ifindex: number)");
    return env.Undefined();
  }
  req.AttrU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  Napi::Value result = env.Null();
  std::string ext;
  int err = NlTalk(
      req,
      [&](const nlmsghdr* h) {
        if (h->nlmsg_type == RTM_NEWLINK) result = ParseLink(env, h);
      },
      &ext);
  if (err == -ENODEV) return env.Null();
  if (err) return Fail(env, "linkInfo(" + what + ")", err, ext);
  return result;
}

Napi::Value LinkChange(const Napi::CallbackInfo& info, const char* op, bool set_mtu) {
  Napi::Env env = info.Env();
  int ifindex;
  if (!ArgIfindex(info, 0, op, &ifindex)) return env.Undefined();
  NlRequest req(RTM_NEWLINK, 0, sizeof(ifinfomsg));
  auto* ifi = req.body<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  std::string what = std::string(op) + "(" + std::to_string(ifindex);
  if (set_mtu) {
    if (info.Length() < 2 || !info[1].IsNumber()) {
      ThrowType(env, "linkSetMtu(ifindex, mtu: number)");
      return env.Undefined();
    }
    uint32_t mtu = info[1].As<Napi::Number>().Uint32Value();
    req.AttrU32(IFLA_MTU, mtu);
    what += ", " + std::to_string(mtu) + ")";
  } else {
    if (info.Length() < 2 || !info[1].IsBoolean()) {
      ThrowType(env, "linkSetUp(ifindex, up: boolean)");
      return env.Undefined();
    }
    bool up = info[1].As<Napi::Boolean>().Value();
    ifi->ifi_change = IFF_UP;
    ifi->ifi_flags = up ? IFF_UP : 0;
    what += up ? ", true)" : ", false)";
  }
  std::string ext;
  int err = NlTalk(
      req, [](const nlmsghdr*) {}, &ext);
  if (err) return Fail(env, what, err, ext);
  return env.Undefined();
}

Napi::Value LinkSetUp(const Napi::CallbackInfo& info) { return LinkChange(info, "linkSetUp", false); }
Napi::Value LinkSetMtu(const Napi::CallbackInfo& info) { return LinkChange(info, "linkSetMtu", true); }

// ---------------------------------------------------------------------------
// Addresses

// addrAdd(ifindex, cidr, { noDad? }) / addrDel(ifindex, cidr)
Napi::Value AddrChange(const Napi::CallbackInfo& info, bool add) {
  Napi::Env env = info.Env();
  const char* op = add ? "addrAdd" : "addrDel";
  int ifindex;
  if (!ArgIfindex(info, 0, op, &ifindex)) return env.Undefined();
  IpAddr ip;
  uint8_t plen;
  std::string cidr = info.Length() >= 2 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  if (!ParseCidr(cidr, &ip, &plen)) {
    ThrowType(env, std::string(op) + ": '" + cidr + "' is not an address/prefix");
    return env.Undefined();
  }
  bool no_dad = false;
  if (add && info.Length() >= 3 && info[2].IsObject()) {
    Napi::Value v = info[2].As<Napi::Object>().Get("noDad");
    no_dad = v.IsBoolean() && v.As<Napi::Boolean>().Value();
  }
  NlRequest req(add ? RTM_NEWADDR : RTM_DELADDR, add ? (NLM_F_CREATE | NLM_F_EXCL) : 0, sizeof(ifaddrmsg));
  auto* ifa = req.body<ifaddrmsg>();
  ifa->ifa_family = ip.family;
  ifa->ifa_prefixlen = plen;
  ifa->ifa_index = ifindex;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  // Duplicate address detection would hold a v6 address "tentative" (unusable
  // as a source) for a second or more; a tunnel address has no one to clash with.
  if (no_dad) ifa->ifa_flags = IFA_F_NODAD;
  req.Attr(IFA_LOCAL, ip.bytes, ip.len());
  req.Attr(IFA_ADDRESS, ip.bytes, ip.len());
  std::string ext;
  int err = NlTalk(
      req, [](const nlmsghdr*) {}, &ext);
  if (err) return Fail(env, std::string(op) + "(" + std::to_string(ifindex) + ", " + cidr + ")", err, ext);
  return env.Undefined();
}

Napi::Value AddrAdd(const Napi::CallbackInfo& info) { return AddrChange(info, true); }
Napi::Value AddrDel(const Napi::CallbackInfo& info) { return AddrChange(info, false); }

// addrList(ifindex?) -> AddrInfo[]
Napi::Value AddrList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int want = info.Length() >= 1 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  NlRequest req(RTM_GETADDR, NLM_F_DUMP, sizeof(ifaddrmsg));
  req.body<ifaddrmsg>()->ifa_family = AF_UNSPEC;
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  std::string ext;
  int err = NlTalk(
      req,
      [&](const nlmsghdr* h) {
        if (h->nlmsg_type != RTM_NEWADDR) return;
        const auto* ifa = static_cast<const ifaddrmsg*>(NLMSG_DATA(h));
        if (want && static_cast<int>(ifa->ifa_index) != want) return;
        if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return;
        out.Set(n++, ParseAddr(env, h));
      },
      &ext);
  if (err) return Fail(env, "addrList", err, ext);
  return out;
}

// ---------------------------------------------------------------------------
// Routes

// routeAdd/routeDel({ dst, ifindex?, gateway?, table?, metric?, src?, replace? })
Napi::Value RouteChange(const Napi::CallbackInfo& info, bool add) {
  Napi::Env env = info.Env();
  const char* op = add ? "routeAdd" : "routeDel";
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowType(env, std::string(op) + "({ dst, ifindex?, gateway?, table?, metric?, src? })");
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  std::string dst = o.Get("dst").IsString() ? o.Get("dst").As<Napi::String>().Utf8Value() : "";
  IpAddr d;
  uint8_t plen;
  if (!ParseCidr(dst, &d, &plen)) {
    ThrowType(env, std::string(op) + ": dst '" + dst + "' is not an address/prefix");
    return env.Undefined();
  }
  bool replace = add && o.Get("replace").IsBoolean() && o.Get("replace").As<Napi::Boolean>().Value();
  uint16_t flags = add ? (NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL)) : 0;
  NlRequest req(add ? RTM_NEWROUTE : RTM_DELROUTE, flags, sizeof(rtmsg));
  auto* rt = req.body<rtmsg>();
  rt->rtm_family = d.family;
  rt->rtm_dst_len = plen;
  uint32_t table = o.Get("table").IsNumber() ? o.Get("table").As<Napi::Number>().Uint32Value() : RT_TABLE_MAIN;
  rt->rtm_table = table < 256 ? table : RT_TABLE_UNSPEC;
  IpAddr gw;
  bool has_gw = false;
  if (o.Get("gateway").IsString()) {
    std::string g = o.Get("gateway").As<Napi::String>().Utf8Value();
    if (!ParseIp(g, &gw) || gw.family != d.family) {
      ThrowType(env, std::string(op) + ": gateway '" + g + "' is not an address of the dst's family");
      return env.Undefined();
    }
    has_gw = true;
  }
  int ifindex = o.Get("ifindex").IsNumber() ? o.Get("ifindex").As<Napi::Number>().Int32Value() : 0;
  if (add) {
    rt->rtm_protocol = RTPROT_STATIC;
    rt->rtm_type = RTN_UNICAST;
    // A route straight onto a link is link scope (IPv4); through a gateway, universe.
    rt->rtm_scope = (d.family == AF_INET && !has_gw && ifindex) ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  } else {
    rt->rtm_scope = RT_SCOPE_NOWHERE;  // match a route of any scope
  }
  if (plen) req.Attr(RTA_DST, d.bytes, d.len());
  if (ifindex) req.AttrU32(RTA_OIF, ifindex);
  if (has_gw) req.Attr(RTA_GATEWAY, gw.bytes, gw.len());
  if (o.Get("metric").IsNumber()) req.AttrU32(RTA_PRIORITY, o.Get("metric").As<Napi::Number>().Uint32Value());
  req.AttrU32(RTA_TABLE, table);
  if (o.Get("src").IsString()) {
    std::string s = o.Get("src").As<Napi::String>().Utf8Value();
    IpAddr src;
    if (!ParseIp(s, &src) || src.family != d.family) {
      ThrowType(env, std::string(op) + ": src '" + s + "' is not an address of the dst's family");
      return env.Undefined();
    }
    req.Attr(RTA_PREFSRC, src.bytes, src.len());
  }
  std::string ext;
  int err = NlTalk(
      req, [](const nlmsghdr*) {}, &ext);
  if (err)
    return Fail(env,
                std::string(op) + "(" + dst + (ifindex ? " dev " + std::to_string(ifindex) : "") + " table " + std::to_string(table) + ")",
                err, ext);
  return env.Undefined();
}

Napi::Value RouteAdd(const Napi::CallbackInfo& info) { return RouteChange(info, true); }
Napi::Value RouteDel(const Napi::CallbackInfo& info) { return RouteChange(info, false); }

// routeGet(dstIp, { oif?, mark?, src? }) -> RouteInfo | null (unreachable)
Napi::Value RouteGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dst = info.Length() >= 1 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  IpAddr d;
  if (!ParseIp(dst, &d)) {
    ThrowType(env, "routeGet: '" + dst + "' is not an IP address");
    return env.Undefined();
  }
  NlRequest req(RTM_GETROUTE, 0, sizeof(rtmsg));
  auto* rt = req.body<rtmsg>();
  rt->rtm_family = d.family;
  rt->rtm_dst_len = d.family == AF_INET ? 32 : 128;
  // Report the table the lookup matched in, not the compat value.
  rt->rtm_flags = RTM_F_LOOKUP_TABLE;
  req.Attr(RTA_DST, d.bytes, d.len());
  if (info.Length() >= 2 && info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    if (o.Get("oif").IsNumber()) req.AttrU32(RTA_OIF, o.Get("oif").As<Napi::Number>().Uint32Value());
    // fwmark: WireGuard's own packets carry one so policy routing keeps them
    // out of the tunnel; the lookup must see it too.
    if (o.Get("mark").IsNumber()) req.AttrU32(RTA_MARK, o.Get("mark").As<Napi::Number>().Uint32Value());
    if (o.Get("src").IsString()) {
      IpAddr s;
      std::string ss = o.Get("src").As<Napi::String>().Utf8Value();
      if (!ParseIp(ss, &s) || s.family != d.family) {
        ThrowType(env, "routeGet: src '" + ss + "' is not an address of the dst's family");
        return env.Undefined();
      }
      rt->rtm_src_len = d.family == AF_INET ? 32 : 128;
      req.Attr(RTA_SRC, s.bytes, s.len());
    }
  }
  Napi::Value result = env.Null();
  std::string ext;
  int err = NlTalk(
      req,
      [&](const nlmsghdr* h) {
        if (h->nlmsg_type != RTM_NEWROUTE) return;
        Napi::Object r = ParseRoute(env, h);
        r.Delete("dst");
        r.Delete("protocol");
        result = r;
      },
      &ext);
  if (err == -ENETUNREACH || err == -EHOSTUNREACH) return env.Null();
  if (err) return Fail(env, "routeGet(" + dst + ")", err, ext);
  return result;
}

// ---------------------------------------------------------------------------
// Neighbours

// neighGet(ifindex, ip) -> { ip, mac, state, ifindex, family } | null
Napi::Value NeighGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ifindex;
  if (!ArgIfindex(info, 0, "neighGet", &ifindex)) return env.Undefined();
  std::string ip = info.Length() >= 2 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  IpAddr a;
  if (!ParseIp(ip, &a)) {
    ThrowType(env, "neighGet: '" + ip + "' is not an IP address");
    return env.Undefined();
  }
  NlRequest req(RTM_GETNEIGH, 0, sizeof(ndmsg));
  auto* nd = req.body<ndmsg>();
  nd->ndm_family = a.family;
  nd->ndm_ifindex = ifindex;
  req.Attr(NDA_DST, a.bytes, a.len());
  Napi::Value result = env.Null();
  std::string ext;
  int err = NlTalk(
      req,
      [&](const nlmsghdr* h) {
        if (h->nlmsg_type == RTM_NEWNEIGH) result = ParseNeigh(env, h);
      },
      &ext);
  if (err == -ENOENT) return env.Null();
  if (err) return Fail(env, "neighGet(" + std::to_string(ifindex) + ", " + ip + ")", err, ext);
  return result;
}

// ---------------------------------------------------------------------------
// Network namespaces

// neighProbe(ifindex, ip) -> true | false (no such entry)
// Puts an existing neighbour entry into NUD_PROBE (what `ip neigh change IP
// dev DEV nud probe` does): the kernel re-resolves it with unicast probes,
// then a broadcast. The AF_XDP path calls it when a peer stops answering,
// because frames we build ourselves never confirm the entry and a silently
// changed next-hop MAC would otherwise stay wrong until the entry ages out.
Napi::Value NeighProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ifindex;
  if (!ArgIfindex(info, 0, "neighProbe", &ifindex)) return env.Undefined();
  std::string ip = info.Length() >= 2 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  IpAddr a;
  if (!ParseIp(ip, &a)) {
    ThrowType(env, "neighProbe: '" + ip + "' is not an IP address");
    return env.Undefined();
  }
  NlRequest req(RTM_NEWNEIGH, NLM_F_REPLACE, sizeof(ndmsg));
  auto* nd = req.body<ndmsg>();
  nd->ndm_family = a.family;
  nd->ndm_ifindex = ifindex;
  nd->ndm_state = NUD_PROBE;
  req.Attr(NDA_DST, a.bytes, a.len());
  std::string ext;
  int err = NlTalk(
      req, [](const nlmsghdr*) {}, &ext);
  if (err == -ENOENT) return Napi::Boolean::New(env, false);
  if (err) return Fail(env, "neighProbe(" + std::to_string(ifindex) + ", " + ip + ")", err, ext);
  return Napi::Boolean::New(env, true);
}

// netnsEnter(path) -> fd of the namespace the thread was in
// Moves the CALLING THREAD into the network namespace at path (a file under
// /var/run/netns, /proc/PID/ns/net, or /proc/self/fd/N). Sockets, TUN
// devices and netlink requests made afterwards by this thread live there.
// The returned fd lets the caller go back: netnsEnter(`/proc/self/fd/${fd}`),
// then close it.
Napi::Value NetnsEnter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowType(env, "netnsEnter(path: string)");
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int prev = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (prev < 0) {
    ThrowSysError(env, "netnsEnter: open /proc/thread-self/ns/net", errno);
    return env.Undefined();
  }
  int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int err = errno;
    close(prev);
    ThrowSysError(env, "netnsEnter: open " + path, err);
    return env.Undefined();
  }
  int r = setns(target, CLONE_NEWNET);
  int err = errno;
  close(target);
  if (r < 0) {
    close(prev);
    ThrowSysError(env, "netnsEnter: setns " + path, err);
    return env.Undefined();
  }
  return Napi::Number::New(env, prev);
}

// ---------------------------------------------------------------------------
// Monitor

struct GroupName {
  const char* name;
  unsigned groups[2];
};
const GroupName kGroups[] = {
    {"link", {RTNLGRP_LINK, 0}},
    {"addr", {RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR}},
    {"route", {RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE}},
    {"neigh", {RTNLGRP_NEIGH, 0}},
};

/** Most datagrams one read() drains, so a flood cannot starve the caller. */
constexpr int kMonitorMaxReads = 64;

}  // namespace

Napi::Function NetlinkMonitor::Define(Napi::Env env) {
  return DefineClass(env, "NetlinkMonitor",
                     {
                         InstanceMethod<&NetlinkMonitor::Read>("read"),
                         InstanceMethod<&NetlinkMonitor::Close>("close"),
                         InstanceAccessor<&NetlinkMonitor::GetFd>("fd"),
                     });
}

// new NetlinkMonitor(groups: ('link'|'addr'|'route'|'neigh')[])
NetlinkMonitor::NetlinkMonitor(const Napi::CallbackInfo& info) : EnvBound<NetlinkMonitor>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    ThrowType(env, "new NetlinkMonitor(groups: ('link'|'addr'|'route'|'neigh')[])");
    return;
  }
  Napi::Array groups = info[0].As<Napi::Array>();
  std::vector<unsigned> join;
  for (uint32_t i = 0; i < groups.Length(); i++) {
    std::string g = groups.Get(i).IsString() ? groups.Get(i).As<Napi::String>().Utf8Value() : "";
    const GroupName* found = nullptr;
    for (const auto& k : kGroups)
      if (g == k.name) found = &k;
    if (!found) {
      ThrowType(env, "NetlinkMonitor: unknown group '" + g + "' (link, addr, route, neigh)");
      return;
    }
    for (unsigned grp : found->groups)
      if (grp) join.push_back(grp);
  }
  NlSocket sock(SOCK_NONBLOCK);
  if (sock.fd() < 0) {
    ThrowSysError(env, "NetlinkMonitor: socket", errno);
    return;
  }
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (bind(sock.fd(), reinterpret_cast<sockaddr*>(&local), sizeof(local)) < 0) {
    ThrowSysError(env, "NetlinkMonitor: bind", errno);
    return;
  }
  for (unsigned grp : join) {
    if (setsockopt(sock.fd(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)) < 0) {
      ThrowSysError(env, "NetlinkMonitor: NETLINK_ADD_MEMBERSHIP " + std::to_string(grp), errno);
      return;
    }
  }
  // Bursts of events (a link going away takes its routes and neighbours
  // with it) must not overflow the queue before the daemon reads.
  int rcv = 1 << 20;
  if (setsockopt(sock.fd(), SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) < 0)
    setsockopt(sock.fd(), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
  fd_ = sock.release();
  BindToEnv();
}

NetlinkMonitor::~NetlinkMonitor() { Release(); }

void NetlinkMonitor::FreeResources() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

// read() -> NetlinkEvent[]: every event queued now (non-blocking; [] when
// none). { type: 'overrun' } means events were lost (the socket queue
// overflowed): re-read the state you care about.
Napi::Value NetlinkMonitor::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (fd_ < 0) {
    Napi::Error::New(env, "NetlinkMonitor: closed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  std::vector<uint8_t> buf(kNlRecvBuf);
  for (int reads = 0; reads < kMonitorMaxReads; reads++) {
    ssize_t len = recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
    if (len < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        Napi::Object ev = Napi::Object::New(env);
        ev.Set("type", "overrun");
        out.Set(n++, ev);
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      ThrowSysError(env, "NetlinkMonitor: recv", errno);
      return env.Undefined();
    }
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, static_cast<size_t>(len)); h = NLMSG_NEXT(h, len)) {
      Napi::Object ev;
      const char* type = nullptr;
      bool added = true;
      switch (h->nlmsg_type) {
        case RTM_NEWLINK:
        case RTM_DELLINK:
          type = "link";
          added = h->nlmsg_type == RTM_NEWLINK;
          ev = ParseLink(env, h);
          break;
        case RTM_NEWADDR:
        case RTM_DELADDR:
          type = "addr";
          added = h->nlmsg_type == RTM_NEWADDR;
          ev = ParseAddr(env, h);
          break;
        case RTM_NEWROUTE:
        case RTM_DELROUTE:
          type = "route";
          added = h->nlmsg_type == RTM_NEWROUTE;
          ev = ParseRoute(env, h);
          break;
        case RTM_NEWNEIGH:
        case RTM_DELNEIGH:
          type = "neigh";
          added = h->nlmsg_type == RTM_NEWNEIGH;
          ev = ParseNeigh(env, h);
          break;
        default:
          continue;
      }
      ev.Set("type", type);
      ev.Set("action", added ? "new" : "del");
      out.Set(n++, ev);
    }
  }
  return out;
}

Napi::Value NetlinkMonitor::Close(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value NetlinkMonitor::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

void InitNetlink(Napi::Env env, Napi::Object exports) {
  exports.Set("linkInfo", Napi::Function::New(env, LinkInfo, "linkInfo"));
  exports.Set("linkSetUp", Napi::Function::New(env, LinkSetUp, "linkSetUp"));
  exports.Set("linkSetMtu", Napi::Function::New(env, LinkSetMtu, "linkSetMtu"));
  exports.Set("addrAdd", Napi::Function::New(env, AddrAdd, "addrAdd"));
  exports.Set("addrDel", Napi::Function::New(env, AddrDel, "addrDel"));
  exports.Set("addrList", Napi::Function::New(env, AddrList, "addrList"));
  exports.Set("routeAdd", Napi::Function::New(env, RouteAdd, "routeAdd"));
  exports.Set("routeDel", Napi::Function::New(env, RouteDel, "routeDel"));
  exports.Set("routeGet", Napi::Function::New(env, RouteGet, "routeGet"));
  exports.Set("neighGet", Napi::Function::New(env, NeighGet, "neighGet"));
  exports.Set("neighProbe", Napi::Function::New(env, NeighProbe, "neighProbe"));
  exports.Set("netnsEnter", Napi::Function::New(env, NetnsEnter, "netnsEnter"));
  exports.Set("NetlinkMonitor", NetlinkMonitor::Define(env));
}

}  // namespace xdpwg
