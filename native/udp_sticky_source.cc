// See udp_sticky_source.h.
#include "udp_sticky_source.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "udp_addr_record.h"

namespace xdpwg {
namespace {

bool AllZero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

// One cmsg of level/type carrying len bytes of data at the start of control; returns the control length.
uint32_t PutCmsg(uint8_t* control, int level, int type, const void* data, size_t len) {
  msghdr h{};
  h.msg_control = control;
  h.msg_controllen = CMSG_SPACE(len);
  cmsghdr* cm = CMSG_FIRSTHDR(&h);
  cm->cmsg_level = level;
  cm->cmsg_type = type;
  cm->cmsg_len = CMSG_LEN(len);
  memcpy(CMSG_DATA(cm), data, len);
  return static_cast<uint32_t>(CMSG_SPACE(len));
}

}  // namespace

uint32_t WriteStickySource(const uint8_t* rec, const sockaddr_in6& dest, uint8_t* control) {
  memset(control, 0, kStickyControlBytes);
  const uint8_t fam = rec[kRecFamily];
  if (fam == 4 && !AllZero(rec + kRecLocalIp + kRecIpv4InIp, 4)) {
    in_pktinfo pi{};
    memcpy(&pi.ipi_spec_dst, rec + kRecLocalIp + kRecIpv4InIp, 4);
    return PutCmsg(control, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
  }
  if (fam == 6 && !AllZero(rec + kRecLocalIp, 16)) {
    in6_pktinfo pi{};
    memcpy(&pi.ipi6_addr, rec + kRecLocalIp, 16);
    if (IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr) || IN6_IS_ADDR_LINKLOCAL(&dest.sin6_addr)) pi.ipi6_ifindex = RecordIfindex(rec);
    return PutCmsg(control, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi));
  }
  return 0;
}

void ForgetStickySource(uint8_t* rec) { memset(rec + kRecLocalIp, 0, kUdpAddrRecordSize - kRecLocalIp); }

}  // namespace xdpwg
