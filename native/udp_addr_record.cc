// See udp_addr_record.h for the layout.
#include "udp_addr_record.h"

#include <cstring>

namespace xdpwg {
namespace {

const uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void PutMapped(uint8_t* dst16, const in_addr& a) {
  memcpy(dst16, kV4MappedPrefix, 12);
  memcpy(dst16 + kRecIpv4InIp, &a, 4);
}

}  // namespace

void RecordFromReceived(uint8_t* rec, const sockaddr_in6& source, const msghdr& h) {
  memset(rec, 0, kUdpAddrRecordSize);
  if (source.sin6_family == AF_INET6) {
    memcpy(rec + kRecRemoteIp, &source.sin6_addr, 16);
    memcpy(rec + kRecRemotePort, &source.sin6_port, 2);
    rec[kRecFamily] = IN6_IS_ADDR_V4MAPPED(&source.sin6_addr) ? 4 : 6;
  } else {
    const auto* s4 = reinterpret_cast<const sockaddr_in*>(&source);
    PutMapped(rec + kRecRemoteIp, s4->sin_addr);
    memcpy(rec + kRecRemotePort, &s4->sin_port, 2);
    rec[kRecFamily] = 4;
  }
  uint32_t ifindex = 0;
  for (cmsghdr* cm = CMSG_FIRSTHDR(&h); cm; cm = CMSG_NXTHDR(const_cast<msghdr*>(&h), cm)) {
    if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
      in_pktinfo pi;
      memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
      // ipi_spec_dst: the local address a reply should come from.
      PutMapped(rec + kRecLocalIp, pi.ipi_spec_dst);
      ifindex = pi.ipi_ifindex;
    } else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo pi;
      memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
      memcpy(rec + kRecLocalIp, &pi.ipi6_addr, 16);
      ifindex = pi.ipi6_ifindex;
    }
  }
  memcpy(rec + kRecIfindex, &ifindex, 4);  // little-endian host (x86/arm64)
}

socklen_t DestinationOf(const uint8_t* rec, int sock_family, sockaddr_in6* name) {
  memset(name, 0, sizeof(*name));
  if (sock_family == AF_INET6) {
    name->sin6_family = AF_INET6;
    if (rec[kRecFamily] == 4) {
      memcpy(&name->sin6_addr, kV4MappedPrefix, 12);
      memcpy(reinterpret_cast<uint8_t*>(&name->sin6_addr) + kRecIpv4InIp, rec + kRecRemoteIp + kRecIpv4InIp, 4);
    } else {
      memcpy(&name->sin6_addr, rec + kRecRemoteIp, 16);
      if (IN6_IS_ADDR_LINKLOCAL(&name->sin6_addr)) name->sin6_scope_id = RecordIfindex(rec);
    }
    memcpy(&name->sin6_port, rec + kRecRemotePort, 2);
    return sizeof(sockaddr_in6);
  }
  auto* s4 = reinterpret_cast<sockaddr_in*>(name);
  s4->sin_family = AF_INET;
  memcpy(&s4->sin_addr, rec + kRecRemoteIp + kRecIpv4InIp, 4);
  memcpy(&s4->sin_port, rec + kRecRemotePort, 2);
  return sizeof(sockaddr_in);
}

uint32_t RecordIfindex(const uint8_t* rec) {
  uint32_t ifindex;
  memcpy(&ifindex, rec + kRecIfindex, 4);
  return ifindex;
}

void ExportAddrRecordLayout(Napi::Env env, Napi::Object exports) {
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("size", kUdpAddrRecordSize);
  layout.Set("remoteIp", kRecRemoteIp);
  layout.Set("remotePort", kRecRemotePort);
  layout.Set("family", kRecFamily);
  layout.Set("localIp", kRecLocalIp);
  layout.Set("ifindex", kRecIfindex);
  exports.Set("addrRecordLayout", layout);
}

}  // namespace xdpwg
