// SPDX-License-Identifier: MIT
/*
 * xdpwg's TUN queue steering: picks the TUN queue (and so the worker) that
 * reads an outbound packet from a hash of the packet's own flow.
 *
 * Without a steering program a multi-queue TUN chooses a packet's queue from
 * where userspace last *wrote* a packet of that flow (the kernel's automatic
 * flow steering). All of a peer's traffic arrives in one outer UDP flow, so
 * one worker writes every reply, and every flow to that peer would then be
 * read on that one worker: a one-core VPN on any number of cores. This
 * program makes the choice a pure function of the inner 5-tuple instead:
 * each flow stays on one queue (its packets stay in order), and distinct
 * flows spread evenly over the queues whatever the receive side did.
 *
 *   IPv4 (unfragmented) TCP/UDP/SCTP/UDP-Lite: addresses and ports
 *   IPv4 fragments, other protocols:          addresses only
 *   IPv6, TCP/UDP/... as the first next header: addresses and ports
 *   IPv6 with extension headers:               addresses only
 *
 * The hash is symmetric (a flow and its reverse hash alike). The kernel takes
 * the return value modulo the number of queues (tun_ebpf_select_queue: a u16
 * result), so the 32-bit mix is folded into 16 well-mixed bits.
 *
 * xdpwg_tun_spread[0], when not zero, narrows the choice to the first N
 * queues: the daemon sets it to the number of workers that have an AF_XDP
 * port on the uplink (worker i binds rx queue i), so on a device with fewer
 * queues than workers, flows are read only by workers that can send them on
 * AF_XDP rather than through the kernel socket.
 *
 * Quiet flows follow their writer. A request that came through the tunnel
 * was written into the TUN by the worker that decrypted it; its reply, hashed
 * to another queue, would wake a second thread per round trip (~0.1 ms each
 * way on this kind of machine). So per bucket of flow hashes (4,096) the
 * workers record, before each write, which queue wrote a packet of that
 * bucket last (xdpwg_tun_writer, mapped into their memory: a plain store,
 * no system call; native/tun_queue.cc), and this program keeps per bucket a
 * running mean of the gaps between outbound packets (each gap capped at
 * GAP_CAP_NS, weight 1/8, starting at 0: a new flow counts as busy). A
 * bucket whose mean gap is over QUIET_MEAN_NS goes to its writer's queue;
 * any other to its hash queue, as above, so busy flows keep spreading.
 * Order: a bucket changes queue only at a packet that comes SWITCH_GAP_NS
 * or more after the bucket's previous one (that one has long been read and
 * sealed), so packets of one flow never race each other on two workers —
 * except when the spread narrows past the bucket's queue, which is left at
 * once (a worker that lost its AF_XDP port; rare, and a reorder then is
 * one the receiver's replay window absorbs).
 *
 * Attached with TUNSETSTEERINGEBPF by native/tun_steering.cc.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} xdpwg_tun_spread SEC(".maps");

#define FLOW_BUCKETS 4096
#define GAP_CAP_NS 2000000ULL    /* 2 ms */
#define QUIET_MEAN_NS 500000ULL  /* 0.5 ms */
#define SWITCH_GAP_NS 4000000ULL /* 4 ms */
#define FRESH_NS 1000000000ULL   /* a bucket quiet for 1 s starts over (its next flow counts as busy) */

/*
 * Per bucket: 1 + the queue that last wrote a packet of it (0: none yet). Written by the workers
 * through their mapping of it; 64-bit values because a mapped array's elements are 8-byte aligned.
 */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, FLOW_BUCKETS);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, __u64);
} xdpwg_tun_writer SEC(".maps");

/*
 * Per bucket: this program's own state. Two CPUs steering packets of one
 * bucket at once may both update it; both then read the same state (no gap
 * between their packets, so neither switches) and the mean is a heuristic.
 */
struct flow_state {
  __u64 last_ns;
  __u32 queue;
  __u32 mean_gap_ns;
};
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, FLOW_BUCKETS);
  __type(key, __u32);
  __type(value, struct flow_state);
} xdpwg_tun_flows SEC(".maps");

#define IPV4_MF 0x2000
#define IPV4_OFFSET_MASK 0x1fff

static __always_inline int has_ports(__u8 proto) {
  return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP || proto == IPPROTO_UDPLITE;
}

/* murmur3's finalizer: every input bit moves every output bit. */
static __always_inline __u32 mix32(__u32 h) {
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

static __always_inline __u32 ports_of(struct __sk_buff *skb, __u32 offset) {
  __u16 p[2];
  if (bpf_skb_load_bytes(skb, offset, p, sizeof(p)) < 0) return 0;
  return (__u32)p[0] ^ (__u32)p[1]; /* symmetric: sport ^ dport */
}

/* The queue of a flow whose packets are mixed into key (see the top). */
static __always_inline __u32 steer(__u32 key) {
  __u32 h = mix32(key);
  __u32 q = (__u16)(h ^ (h >> 16));
  __u32 zero = 0;
  __u32 *spread = bpf_map_lookup_elem(&xdpwg_tun_spread, &zero);
  __u32 limit = spread ? *spread : 0;
  if (limit > 0) q %= limit;
  __u32 bucket = h & (FLOW_BUCKETS - 1);
  struct flow_state *f = bpf_map_lookup_elem(&xdpwg_tun_flows, &bucket);
  __u64 *writer = bpf_map_lookup_elem(&xdpwg_tun_writer, &bucket);
  if (!f || !writer) return q;
  __u64 now = bpf_ktime_get_ns();
  __u64 gap = f->last_ns ? now - f->last_ns : ~0ULL;
  __u64 capped = gap < GAP_CAP_NS ? gap : GAP_CAP_NS;
  __u32 mean = gap < FRESH_NS ? f->mean_gap_ns : 0;
  mean = (__u32)(((__u64)mean * 7 + capped) >> 3);
  __u32 w = (__u32)*writer;
  __u32 want = q;
  if (mean > QUIET_MEAN_NS && w > 0 && (limit == 0 || w - 1 < limit)) want = w - 1;
  /* A queue the spread no longer allows (its worker lost its AF_XDP port) is left at once. */
  __u32 queue = gap >= SWITCH_GAP_NS || (limit > 0 && f->queue >= limit) ? want : f->queue;
  f->last_ns = now;
  f->mean_gap_ns = mean;
  f->queue = queue;
  return queue;
}

SEC("socket")
int xdpwg_tun_steer(struct __sk_buff *skb) {
  __u8 first;
  if (bpf_skb_load_bytes(skb, 0, &first, 1) < 0) return 0;

  if ((first >> 4) == 4) {
    __u8 h[20];
    if (bpf_skb_load_bytes(skb, 0, h, sizeof(h)) < 0) return 0;
    __u32 ihl = (h[0] & 0x0f) * 4;
    __u16 frag = ((__u16)h[6] << 8) | h[7];
    __u8 proto = h[9];
    __u32 src, dst;
    __builtin_memcpy(&src, &h[12], 4);
    __builtin_memcpy(&dst, &h[16], 4);
    __u32 key = (src ^ dst) + proto;
    if (ihl >= 20 && !(frag & (IPV4_MF | IPV4_OFFSET_MASK)) && has_ports(proto)) key ^= mix32(ports_of(skb, ihl));
    return steer(key);
  }
  if ((first >> 4) == 6) {
    __u32 h[10];
    if (bpf_skb_load_bytes(skb, 0, h, sizeof(h)) < 0) return 0;
    __u8 next = (__u8)(bpf_ntohl(h[1]) >> 8); /* byte 6 of the header */
    /* Words 2..5 are the source, 6..9 the destination (RFC 8200 §3). */
    __u32 key = (h[2] ^ h[6]) + mix32(h[3] ^ h[7]) + mix32(mix32(h[4] ^ h[8]) + (h[5] ^ h[9])) + next;
    if (has_ports(next)) key ^= mix32(ports_of(skb, 40));
    return steer(key);
  }
  return 0;
}

char _license[] SEC("license") = "GPL";
