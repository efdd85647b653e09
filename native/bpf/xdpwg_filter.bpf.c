// SPDX-License-Identifier: MIT
/*
 * xdpwg's XDP filter: steers the WireGuard UDP port(s) to AF_XDP, leaves the
 * rest of the host's traffic alone.
 *
 *   Ethernet -> IPv4 (no options, unfragmented) | IPv6 (UDP as the first
 *               next header)
 *            -> UDP with a destination port present in xdpwg_ports
 *            -> destination address present in xdpwg_local4 / xdpwg_local6
 *            -> bpf_redirect_map(xsks_map, rx_queue_index * XDPWG_MEMBERS + slot)
 *   anything else, or no socket bound on that queue -> XDP_PASS
 *   a WireGuard data message while xdpwg_config says XDPWG_PASS_DATA -> XDP_PASS
 *
 * slot is the port's value in xdpwg_ports: 0 for the process that attached
 * the program, 1.. for other xdpwg processes that share this program and,
 * per queue, its UMEM (native/umem_share.h): the kernel takes one AF_XDP
 * buffer pool per (device, queue), so their sockets join the first one's
 * with XDP_SHARED_UMEM, and each gets its own XSKMAP entry.
 *
 * Only datagrams addressed to this host are ours: on a router, a LAN host's
 * own WireGuard traffic forwarded through us carries the same port and must
 * reach the kernel's forwarding path. The daemon keeps the local-address
 * maps equal to the namespace's addresses (every device: Linux accepts a
 * datagram for any local address on any interface, and so does the daemon's
 * wildcard-bound kernel socket) from netlink address events. A map rather
 * than bpf_fib_lookup: the lookup answers "not forwarded" without saying
 * whether the address is local (and answers "forwarding disabled" before
 * looking at all on a host that does not route), costs a FIB walk per
 * packet, and the daemon needs the same set anyway to tell whether a
 * peer's sticky source address still exists. The two can disagree only
 * for the moment between an address change and its event; then the datagram
 * takes the kernel socket (an address just added) or reaches us for an
 * address just removed, and both are harmless.
 *
 * Fragments are passed because only the first fragment carries the UDP
 * header; the kernel reassembles them and the daemon's kernel socket (the
 * slow path) receives the datagram. Likewise IPv6 packets with extension
 * headers are left to the kernel rather than walked here (RFC 8200 §4 allows
 * arbitrary chains, which the verifier would make us bound anyway).
 *
 * Loaded through libxdp, so it runs as one component of libxdp's dispatcher
 * and coexists with other XDP programs on the same interface.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xdp/xdp_helpers.h>

/* Processes that can share one program and one UMEM per queue (keep equal
 * to kShareMembers in native/umem_share.h). */
#define XDPWG_MEMBERS 4

/* One AF_XDP socket per (rx queue, member slot); userspace puts the fd at
 * key = queue * XDPWG_MEMBERS + slot. */
struct {
  __uint(type, BPF_MAP_TYPE_XSKMAP);
  __uint(max_entries, 256 * XDPWG_MEMBERS);
  __type(key, __u32);
  __type(value, __u32);
} xsks_map SEC(".maps");

/* The UDP destination ports to steer, host byte order; value: the member
 * slot whose sockets take that port's datagrams. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64);
  __type(key, __u16);
  __type(value, __u8);
} xdpwg_ports SEC(".maps");

/* The namespace's local addresses, network byte order; value unused (1). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32);
  __type(value, __u8);
} xdpwg_local4 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, struct in6_addr);
  __type(value, __u8);
} xdpwg_local6 SEC(".maps");

/* Settings, key 0: a bit set of XDPWG_* flags the daemon writes. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} xdpwg_config SEC(".maps");

/* The receive path "socket" (src/datapath/rx-path.ts): peers' data messages
 * (type 4) go up the stack to the daemon's kernel UDP socket, where UDP GRO
 * can coalesce them, instead of to the AF_XDP socket; handshake messages
 * still take AF_XDP. */
#define XDPWG_PASS_DATA 1u
/* WireGuard message type 4 (transport data) as the payload's first 4 bytes, little-endian. */
#define WG_MESSAGE_DATA 4u

/* IPv4 flags/fragment-offset field: More Fragments bit and the 13-bit offset
 * (RFC 791 §3.1). Either set means this is a fragment. */
#define IPV4_MF 0x2000
#define IPV4_OFFSET_MASK 0x1fff

/* The largest frame an AF_XDP socket can take on any configuration we allow:
 * the smallest UMEM frame (2048 B) less the XDP_PACKET_HEADROOM (256 B) the
 * kernel keeps in front of received data. A larger frame redirected to the
 * socket would be dropped (the socket's rx_dropped), so on jumbo-MTU devices
 * it goes to the kernel and the daemon's UDP socket instead. */
#define XSK_RX_MAX_FRAME (2048 - 256)

/* dst_map/dst_key: the local-address map of the packet's family and its
 * destination address, copied to the stack by the caller. */
static __always_inline int steer_udp(struct xdp_md *ctx, struct udphdr *udp, void *data_end, void *dst_map, const void *dst_key) {
  if ((void *)(udp + 1) > data_end) return XDP_PASS;
  __u16 port = bpf_ntohs(udp->dest);
  __u8 *slot = bpf_map_lookup_elem(&xdpwg_ports, &port);
  if (!slot || *slot >= XDPWG_MEMBERS) return XDP_PASS;
  if (!bpf_map_lookup_elem(dst_map, dst_key)) return XDP_PASS; /* not for this host: forwarded traffic */
  if ((long)ctx->data_end - (long)ctx->data > XSK_RX_MAX_FRAME) return XDP_PASS;
  __u32 zero = 0;
  __u32 *flags = bpf_map_lookup_elem(&xdpwg_config, &zero);
  if (flags && (*flags & XDPWG_PASS_DATA)) {
    __u32 *type = (void *)(udp + 1);
    if ((void *)(type + 1) <= data_end && *type == bpf_htonl(WG_MESSAGE_DATA << 24)) return XDP_PASS;
  }
  /* The low bits of flags are the action when the slot is empty: a queue
   * without a bound socket hands the packet to the kernel. */
  return bpf_redirect_map(&xsks_map, ctx->rx_queue_index * XDPWG_MEMBERS + *slot, XDP_PASS);
}

SEC("xdp")
int xdpwg_filter(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;

  if ((void *)(eth + 1) > data_end) return XDP_PASS;

  if (eth->h_proto == bpf_htons(ETH_P_IP)) {
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end) return XDP_PASS;
    /* Options (IHL > 5: router alert, source routes, timestamps) are
     * the kernel's to act on; such a datagram takes the kernel socket. */
    if (ip->version != 4 || ip->ihl != 5 || ip->protocol != IPPROTO_UDP) return XDP_PASS;
    if (ip->frag_off & bpf_htons(IPV4_MF | IPV4_OFFSET_MASK)) return XDP_PASS;
    __u32 dst4 = ip->daddr;
    return steer_udp(ctx, (struct udphdr *)(ip + 1), data_end, &xdpwg_local4, &dst4);
  }
  if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr *ip6 = (void *)(eth + 1);
    if ((void *)(ip6 + 1) > data_end) return XDP_PASS;
    if (ip6->version != 6 || ip6->nexthdr != IPPROTO_UDP) return XDP_PASS; /* extension headers, fragments: the kernel's job */
    struct in6_addr dst6 = ip6->daddr;
    return steer_udp(ctx, (struct udphdr *)(ip6 + 1), data_end, &xdpwg_local6, &dst6);
  }
  return XDP_PASS;
}

/* libxdp dispatcher metadata: run early, and let XDP_PASS fall through to the
 * next program in the chain (other actions, like our redirect, end it). */
struct {
  __uint(priority, 10);
  __uint(XDP_PASS, 1);
} XDP_RUN_CONFIG(xdpwg_filter);

char _license[] SEC("license") = "GPL";
