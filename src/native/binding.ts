/**
 * Typed view of the native addon (build/Release/xdpwg.node).
 *
 * This file is the contract between the C++ packet layer and TypeScript.
 * Threading: the addon is context-aware; every worker thread loads its own
 * instance. Objects (XskPort, UdpPort, Waiter) belong to the thread that
 * created them. Plain fd numbers are process-wide and may be passed between
 * threads (e.g. a worker's xsk fd to the main thread's XdpFilter).
 *
 * Descriptor arrays: bursts move packets as (offset, length) pairs in a
 * Uint32Array: desc[2*i] = byte offset of the packet's first byte inside the
 * port's buffer (`umem`), desc[2*i+1] = its length. One native call per burst.
 */
import type { FdPassingBinding } from './fd-passing.js';
import { checkAddrRecordLayout, type NativeAddrRecordLayout } from './addr-record-layout.js';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export type XdpMode = 'auto' | 'native' | 'generic';

export interface XskPortOptions {
  ifname: string;
  queue: number;
  mode?: XdpMode; // native XDP where the driver has it, else generic
  zeroCopy?: 'auto' | boolean;
  frameSize?: number; // 2048 or 4096
  frameCount?: number; // UMEM frames (power of two)
  rxSize?: number;
  txSize?: number;
  fillSize?: number;
  compSize?: number;
  busyPoll?: boolean;
  /** How long a busy queue (EBUSY) is retried before the bind fails: default 1000 ms (a queue stays busy briefly after its previous socket closed). */
  busyWaitMs?: number;
  /**
   * Set when an XdpFilter owns the interface's XDP program (always, outside
   * tests): without it libxdp attaches its default program, which sends
   * EVERY packet of the queue to this socket (ARP and ICMP included).
   */
  inhibitProgLoad?: boolean;
  /**
   * Sharing the queue's UMEM with another xdpwg process (native/umem_share.h):
   * 'anchor' puts the UMEM in a memfd (umemFd) that members map; a member
   * joins an anchor's socket (its fd and memfd, received over a Unix socket)
   * at slot 1.. of the shared XDP program.
   */
  share?:
    | 'anchor'
    | { memfds: number[]; wakeFds?: number[] }
    | { anchorFd: number; memfd: number; slot: number }
    | { anchorFds: number[]; memfds: number[]; anchorWakeFds?: number[]; slot: number };
}

export interface PortStats {
  ipackets: number;
  opackets: number;
  ibytes: number;
  obytes: number;
  ierrors: number;
  oerrors: number;
  imissed: number;
  odropped: number;
  rx_invalid: number;
  tx_invalid: number;
  [ring: string]: number; // ring counters: fq_empty, tx_ring_full, kicks, ...
}

export interface NativeXskPort {
  /** The UMEM, one external ArrayBuffer; packets are read and written in place. */
  readonly umem: ArrayBuffer;
  readonly fd: number;
  /** What the worker waits on: fd, or for an anchor with members an epoll fd over fd and their wake eventfd. */
  readonly pollFd: number;
  /** The shared UMEM's memfd of an anchor port (-1 otherwise): what a member maps. */
  readonly umemFd: number;
  readonly frameSize: number;
  /** Offset from the start of a frame at which received data / built packets start. */
  readonly headroom: number;
  info(): {
    ifname: string;
    ifindex: number;
    queue: number;
    mode: 'native' | 'generic';
    zeroCopy: boolean;
    busyPoll: boolean;
    frameSize: number;
    frameCount: number;
    headroom: number;
    share: 'none' | 'anchor' | 'member';
    shareSlot: number;
  };
  /** Receives up to max packets; fills desc pairs; returns count. Frames now belong to JS. */
  rxBurst(desc: Uint32Array, max: number): number;
  /** Queues n packets for send; returns how many were taken (those frames go back to the pool after completion). */
  txBurst(desc: Uint32Array, n: number): number;
  /** Takes up to n free frames from the pool; writes their start offsets into out; returns count. */
  allocFrames(out: Uint32Array, n: number): number;
  /** Returns frames (offsets of any byte inside them) to the pool. */
  freeFrames(offsets: Uint32Array, n: number): void;
  stats(): PortStats;
  /** Anchor of a shared UMEM: the member at slot left without closing its port (its process died): take its frames back, free the slot. */
  releaseMember(slot: number): void;
  /** Blocks up to timeoutMs for the rx ring to become readable (poll(2) on fd); true if it is. */
  poll(timeoutMs: number): boolean;
  close(): void;
}

/** Options of our XDP filter on one interface (see native/bpf/xdpwg_filter.bpf.c). */
export interface XdpFilterOptions {
  ifname: string;
  mode?: XdpMode;
  /** UDP destination ports steered to AF_XDP (1..64 of them). */
  ports: number[];
  /** Override of the compiled BPF object (default: <repo>/native/bpf/xdpwg_filter.o). */
  objectPath?: string;
}

export interface NativeXdpFilter {
  /** Puts a worker's XSK fd into the XSKMAP at its rx queue (slot 1..: a member process's socket, native/umem_share.h). */
  bindQueue(queue: number, xskFd: number, slot?: number): void;
  /** Removes a queue's socket: its traffic goes to the kernel again. */
  unbindQueue(queue: number, slot?: number): void;
  /** Steers a member process's listen port to its slot's sockets (slot 0: stop steering it). Optional: our own filter only. */
  setMemberPort?(port: number, slot: number): void;
  /**
   * Replaces the set of steered UDP ports (no gap for ports that stay).
   * udpFd: the kernel socket holding ports[0], which a shared uplink's member
   * passes its anchor as proof (ignored elsewhere).
   */
  setPorts(ports: number[], udpFd?: number): void;
  /**
   * Replaces the set of local addresses (4 or 16 bytes each): only UDP
   * addressed to one of them is steered, the rest (forwarded traffic) passes.
   */
  setLocalAddresses(addrs: Uint8Array[]): void;
  /**
   * The receive path "socket" (src/datapath/rx-path.ts): peers' data messages pass to the
   * kernel's UDP socket instead of AF_XDP. Optional: our own filter only.
   */
  setPassData?(on: boolean): void;
  /** mode 'none' once closed ('shared-umem': another xdpwg's filter and UMEM, src/daemon/xdp/uplink-share.ts; 'device-plugin': the AF_XDP device plugin's program, src/daemon/xdp/plugin-xsk-map.ts); dispatcher: attached through libxdp's dispatcher (other programs, other xdpwg processes' included, keep running); replacedStale: filters of killed processes removed at start; dispatcherError: why an attached filter is not a dispatcher component, in libxdp's words. */
  info(): {
    ifname: string;
    ifindex: number;
    mode: 'native' | 'generic' | 'device-plugin' | 'shared-umem' | 'none';
    dispatcher: boolean;
    replacedStale: number;
    programId: number;
    dispatcherError?: string;
  };
  /** Detaches the program (idempotent). */
  close(): void;
}

// --- AeadBurst (native/aead_burst.cc; wrapper: src/crypto/aead-burst.ts) ---
/**
 * Seals or opens a burst of ChaCha20-Poly1305 packets in place (RFC 8439).
 * Packet i: region buffer[desc[2i] .. +desc[2i+1]), tag in the 16 bytes after
 * it, key keys[32*keyIndex[i] ..], nonce 0^32 ‖ counter i (LE 64; counters as
 * BigUint64Array or Uint32Array low/high pairs). results[i] gets an AeadStatus
 * (0 ok); returns the count of ok packets. Throws only on wrong argument shapes.
 * aad and noncePrefix (LE 32-bit word) exist for RFC 8439 vectors; WireGuard omits them.
 */
export type NativeAeadBurstFn = (
  buffer: ArrayBuffer | Uint8Array,
  desc: Uint32Array,
  n: number,
  keys: Uint8Array,
  keyIndex: Uint16Array | Uint32Array,
  counters: BigUint64Array | Uint32Array,
  results: Uint8Array,
  aad?: Uint8Array,
  noncePrefix?: number,
) => number;

// --- UdpPort, Tun, Netlink, Waiter (native/udp_port.cc, tun.cc + tun_queue.cc, netlink.cc, waiter.cc;
//     wrappers: src/native/udp-port.ts, tun.ts, netlink.ts, waiter.ts) ---

/** Options of a kernel UDP socket port (native/udp_port.cc). */
export interface NativeUdpPortOptions {
  /** UDP port to bind (0 = kernel picks; read .port). Ignored with fd. */
  port?: number;
  /** '::' (default) is dual-stack: IPv4 peers appear as ::ffff:a.b.c.d. An IPv4 literal makes an IPv4-only socket. */
  bindAddress?: string;
  /** With bindAddress '::': refuse IPv4 (IPV6_V6ONLY). Default false. */
  v6Only?: boolean;
  /** Bytes per frame, headroom+256 .. 65536+headroom (jumbo datagrams). Default 2048. */
  frameSize?: number;
  /** Frames in the pool. Default 4096. frameSize*frameCount < 4 GiB. */
  frameCount?: number;
  /** Bytes kept before every received datagram (>= 78). Default 128. */
  headroom?: number;
  /**
   * Use this bound UDP socket instead of opening one. The port works on its
   * own dup() of it: the caller still owns `fd` (close it when done), and
   * ports in several threads may share one socket safely.
   */
  fd?: number;
  /** SO_REUSEPORT, so several workers can each own a socket on the same port. */
  reusePort?: boolean;
  /** SO_RCVBUF / SO_SNDBUF in bytes (the FORCE variants when root). */
  rcvBuf?: number;
  sndBuf?: number;
  /** SO_MARK (fwmark) on every packet the socket sends; 0 = none. Needs CAP_NET_ADMIN. */
  mark?: number;
  /**
   * How long a GSO limit learned for one destination (a refused group) holds
   * before full-size groups are tried to it again, in ms (>= 1). Default 60000.
   */
  gsoLearnTtlMs?: number;
  /**
   * UDP GRO on receive (the socket's option: only the port that receives asks for it):
   * rxBurst cuts coalesced messages into datagrams (native/udp_gro.h). Default false.
   */
  gro?: boolean;
}

/** UdpPort counters: the CNDP names plus the socket's own reasons. */
export interface UdpPortStats extends PortStats {
  /** Datagrams larger than a frame, dropped (also counted in rx_invalid). */
  rx_truncated: number;
  /** rxBurst calls that found no free frame (JS holds them all). */
  rx_no_frames: number;
  /** Sends whose sticky source no longer existed, resent from the kernel's choice. */
  tx_src_fallback: number;
  /** txBurst calls that stopped because the socket buffer was full. */
  tx_would_block: number;
  /** ENETUNREACH/EHOSTUNREACH (in oerrors). */
  tx_no_route: number;
  /** EMSGSIZE (in oerrors). */
  tx_too_big: number;
  free_invalid: number;
  rx_bursts: number;
  tx_bursts: number;
  frames_free: number;
  /** The pool's size: frames - frames_free are out (with JS, the kernel, a ring). */
  frames: number;
  tx_gso_sends: number;
  tx_gso_datagrams: number;
  tx_gso_fallback: number;
  /** Limits learned for one destination from a refused group (smaller segments, or no GSO to it). */
  tx_gso_learned: number;
  /** txBurstFrom calls (bulk runs sent from the AF_XDP UMEM through this socket) and the UDP payload bytes they sent. */
  tx_bulk_via_socket_bursts: number;
  tx_bulk_via_socket_bytes: number;
  /** Messages the kernel coalesced (UDP GRO) and rxBurst cut into datagrams, and the datagrams they held. */
  rx_gro_receives: number;
  rx_gro_datagrams: number;
  /** Coalesced messages with impossible sizes, dropped (in rx_invalid). */
  rx_gro_invalid: number;
  /** Datagrams of coalesced messages dropped because every frame was in use. */
  rx_gro_no_frames: number;
}

/**
 * A UDP port. Address records (addr, one per packet): the layout is
 * src/native/addr-record-layout.ts's (checked against the addon's
 * addrRecordLayout when the addon loads). rxBurst places each datagram at
 * frameStart+headroom.
 */
export interface NativeUdpPort {
  readonly buffer: ArrayBuffer;
  /** Datagrams of coalesced (GRO) messages waiting for the next rxBurst: poll does not see them. */
  readonly rxPending: number;
  /** -1 once closed. */
  readonly fd: number;
  /** The bound UDP port. */
  readonly port: number;
  readonly frameSize: number;
  readonly headroom: number;
  /** One recvmmsg: up to max datagrams; frames now belong to JS. */
  rxBurst(desc: Uint32Array, addr: Uint8Array, max: number): number;
  /**
   * One sendmmsg (repeated while it makes progress). Returns how many
   * descriptors were taken (sent, or dropped and counted); their frames are
   * back in the pool. A taken descriptor that was not sent (invalid, or an
   * error such as no route: see the counters) has its length in desc set to
   * 0, so callers count exactly what left. The rest (socket buffer full)
   * stay JS-owned. When a
   * sticky source has gone, the packet is resent from the kernel's choice
   * and bytes 20..39 of its record are zeroed so the caller can update the
   * endpoint.
   */
  txBurst(desc: Uint32Array, addr: Uint8Array, n: number): number;
  /**
   * As txBurst, for datagrams lying in src (offsets from its first byte; the
   * AF_XDP UMEM), not in this port's frames: sent before it returns, so the
   * caller frees its own frames right after. Counts tx_bulk_via_socket_*.
   */
  txBurstFrom(src: Uint8Array, desc: Uint32Array, addr: Uint8Array, n: number): number;
  allocFrames(out: Uint32Array, n: number): number;
  freeFrames(offsets: Uint32Array, n: number): void;
  stats(): UdpPortStats;
  /** Quiet and every frame in the pool: drops the frames' and GRO spill's pages (native/udp_port.cc); whether it did. */
  releaseIdle(): boolean;
  info(): {
    family: 4 | 6;
    dualStack: boolean;
    port: number;
    frameSize: number;
    frameCount: number;
    headroom: number;
    maxBurst: number;
    mark: number;
    /** UDP GRO is on (the gro option, where the kernel has it). */
    gro: boolean;
  };
  /**
   * SO_MARK on the socket (0 clears it), at once for every thread's duplicate
   * of it: `wg set IF fwmark N`. Throws with errno (EPERM without CAP_NET_ADMIN).
   */
  setMark(mark: number): void;
  /** Closes the socket (idempotent). The buffer stays valid while referenced. */
  close(): void;
}

/**
 * A TUN device's queues as opened or adopted. Fds are owned by the caller.
 * vnetHdr: every read/write carries a virtio_net_hdr (handled natively; the
 * burst calls still move bare IP packets); udpGso: the device took the USO
 * offloads, so writes may coalesce UDP (GSO_UDP_L4); offloads: what the
 * kernel accepted ('csum', 'tso4', 'tso6', 'tso-ecn', 'uso4', 'uso6'),
 * empty without vnetHdr.
 */
export interface TunQueueSet {
  name: string;
  ifindex: number;
  fds: number[];
  multiQueue: boolean;
  vnetHdr: boolean;
  udpGso: boolean;
  offloads: string[];
  /** How outbound flows pick a queue: "flow hash" (native/bpf/tun_steering.bpf.c), "single queue", or "kernel automatic (why)". */
  steering: string;
  /** With "flow hash": an fd of the program's spread map, for tunSteeringSpread (owned by the caller); else -1. */
  steeringMapFd: number;
  /**
   * With "flow hash": an fd of the program's writer map (which queue last wrote each flow bucket: quiet
   * flows follow their writer, native/tun_writer_marks.h), for the TunQueues to map (owned by the caller); else -1.
   */
  writerMapFd?: number;
}

/**
 * What a thread needs to make a TunQueue of one queue of a set: plain data,
 * so it travels in a worker's init message (the TunQueue itself cannot).
 */
export interface TunQueueSpec {
  fd: number;
  vnetHdr: boolean;
  udpGso: boolean;
  /** The set's writerMapFd (≥ 0: packets written are marked as this queue's) and this queue's index. */
  writerMapFd?: number;
  queue?: number;
}

/**
 * One TUN queue's burst reads and writes (native/tun_queue.cc), with its offload
 * state: a super packet read but not yet wholly handed out stays here.
 * Borrows spec.fd (never closes it). Belongs to the thread that made it;
 * its native state goes with close(), the GC, or the thread's end.
 */
export interface NativeTunQueue {
  /** The borrowed fd (poll it); -1 once closed. */
  readonly fd: number;
  readonly vnetHdr: boolean;
  readonly udpGso: boolean;
  /**
   * Reads up to max packets; desc in: (offset, capacity), out: (offset, length). A packet longer than
   * its capacity is dropped, never cut. Returns n, or -errno (EBADFD: device deleted; EBADF: closed).
   * Offload queues cut super packets into one segment per frame; n === max may leave segments
   * waiting here (unseen by poll): read again before waiting.
   */
  readBurst(buffer: ArrayBuffer, desc: Uint32Array, max: number): number;
  /** Writes n packets; returns how many were consumed (refused ones get length 0), or -errno when the queue is dead. */
  writeBurst(buffer: ArrayBuffer, desc: Uint32Array, n: number): number;
  /** Frees the native state (idempotent); later bursts return -EBADF. The fd stays open. */
  close(): void;
}

/** Counters of the TUN offload path, process-wide since the addon loaded: every TunQueue of every thread adds to them (tunOffloadStats). */
export interface TunOffloadStats {
  readCalls: number;
  readSuperPackets: number;
  readSegments: number;
  readSegmentsCarried: number;
  readChecksumsCompleted: number;
  readDropped: number;
  writeGroups: number;
  writeGroupedPackets: number;
  writeSingles: number;
  writeFallbacks: number;
  /** The UDP share of writeGroups, writeGroupedPackets and writeFallbacks (GSO_UDP_L4 super packets). */
  writeUdpGroups: number;
  writeUdpGroupedPackets: number;
  writeUdpFallbacks: number;
}

/** Link attributes (RTM_NEWLINK). */
export interface LinkInfo {
  ifindex: number;
  name: string;
  mtu: number;
  /** IFF_UP (administratively up). */
  up: boolean;
  /** IFF_LOWER_UP (carrier). */
  lowerUp: boolean;
  /** 'aa:bb:..' or null (TUN has no link-layer address). */
  mac: string | null;
  numTxQueues: number;
  numRxQueues: number;
  /** IFF_* bits. */
  flags: number;
  /** ARPHRD_* (1 ether, 65534 none/TUN, 772 loopback). */
  arpType: number;
  /** 'veth', 'tun', 'wireguard', ... or null. */
  kind: string | null;
}

/** An interface address (RTM_NEWADDR). */
/** bytes: the address in network order (4 or 16 bytes). */
export interface AddrInfo {
  ifindex: number;
  family: 4 | 6;
  address: string;
  bytes: Uint8Array;
  prefixLen: number;
  cidr: string;
  scope: number;
  flags: number;
}

/** A route to add or delete. */
export interface RouteSpec {
  /** 'a.b.c.d/len' or 'x::/len' ('0.0.0.0/0', '::/0' for default). */
  dst: string;
  ifindex?: number;
  gateway?: string;
  /** Routing table (default 254, main). */
  table?: number;
  metric?: number;
  /** Preferred source address. */
  src?: string;
  /** routeAdd only: replace an existing route instead of failing with EEXIST. */
  replace?: boolean;
}

/** Result of a route lookup (RTM_GETROUTE). */
export interface RouteLookup {
  family: 4 | 6;
  ifindex: number;
  gateway?: string;
  prefsrc?: string;
  table: number;
  /** 'unicast', 'local' (one of our addresses), ... */
  type: string;
  metric?: number;
}

/** A neighbour entry (ARP / NDP). */
export interface NeighInfo {
  ifindex: number;
  family: 4 | 6;
  ip: string;
  mac: string | null;
  state: 'permanent' | 'noarp' | 'reachable' | 'stale' | 'delay' | 'probe' | 'incomplete' | 'failed' | 'none';
}

/** Netlink change events; 'overrun' means events were lost: re-read state. */
export type NetlinkEvent =
  | ({ type: 'link'; action: 'new' | 'del' } & LinkInfo)
  | ({ type: 'addr'; action: 'new' | 'del' } & AddrInfo)
  | ({ type: 'route'; action: 'new' | 'del'; dst: string; protocol: number } & RouteLookup)
  | ({ type: 'neigh'; action: 'new' | 'del' } & NeighInfo)
  | { type: 'overrun' };

export type NetlinkGroup = 'link' | 'addr' | 'route' | 'neigh';

export interface NativeNetlinkMonitor {
  /** Non-blocking netlink socket: put it in a Waiter or poll it. -1 once closed. */
  readonly fd: number;
  /** Every event queued now ([] when none). */
  read(): NetlinkEvent[];
  close(): void;
}

export interface NativeWaiter {
  /** The eventfd other threads pass to wakeFd(). -1 once closed. */
  readonly eventFd: number;
  /**
   * poll(2) over fds[0..nfds) (at most WAITER_MAX_FDS = 30) plus the eventfd.
   * Returns a bitmask: bit i = fds[i] readable or in error (read it to see);
   * bit 30 (WAITER_WAKE_BIT) = woken (the eventfd is drained). 0 = timeout.
   * timeoutMs < 0 waits forever; 0 only checks (busy-poll).
   * spinUs > 0 (and timeoutMs ≠ 0): checks again and again without sleeping
   * for up to spinUs µs (at most 10 000) before sleeping (src/datapath/spin.ts).
   */
  wait(fds: Int32Array, nfds: number, timeoutMs: number, spinUs?: number): number;
  close(): void;
}

// --- X25519 (native/x25519.cc; wrapper: src/crypto/x25519.ts) ---
/** A raw X25519 scalar held by the addon (libsodium does the arithmetic); wiped when the GC frees it. */
export type NativeX25519Key = { readonly __brand: 'NativeX25519Key' };
/** The handshake crew's handle (native/handshake_crew.cc). */
export type NativeHandshakeCrew = { readonly __brand: 'NativeHandshakeCrew' };

/**
 * The data transport's whole burst (native/data_transport.h; caller: src/protocol/transport.ts):
 * packet i (offset, length in desc) with keypairs[keypairOf[i]], a Uint8Array over a keypair's
 * whole shared region; only the first keypairCount entries of keypairs count. results[i]: the
 * sealed message's / opened plaintext's length, or codes[status] (the TransportStatus order).
 * The last argument: seal, the tunnel MTU; open, firstReceipt (1 per packet that first
 * authenticated its keypair). Returns how many were sealed / accepted; throws only on wrong shapes.
 */
export type NativeTransportBurstFn<Last> = (
  buffer: Uint8Array,
  desc: Uint32Array,
  n: number,
  keypairs: Uint8Array[],
  keypairCount: number,
  keypairOf: Uint16Array,
  results: Int32Array,
  codes: Int32Array,
  last: Last,
) => number;

export interface NativeBinding extends FdPassingBinding {
  aeadSealBurst: NativeAeadBurstFn;
  aeadOpenBurst: NativeAeadBurstFn;
  transportSealBurst: NativeTransportBurstFn<number>;
  transportOpenBurst: NativeTransportBurstFn<Uint8Array>;
  /** (Re)starts the process-wide crypto crew (native/aead_crew.h); threads 0 stops it. False: a thread could not start. */
  aeadCrewConfigure(settings: { threads?: number; minBurst?: number; spinUs?: number }): boolean;
  /** The crew's counters (src/crypto/crypto-crew.ts CryptoCrewStats). */
  aeadCrewStats(): { threads: number; bursts: number; packets: number; crewPackets: number; alone: number };
  /** A key from a raw private scalar (clamped at each use, RFC 7748 §5); its public key is written to publicOut. Throws on wrong shapes. */
  x25519KeyFromPrivate(privateKey: Uint8Array, publicOut: Uint8Array): NativeX25519Key;
  /** X25519(key, peerPublic) into out; false (out zeroed) when the result is all zeros (a small-order peer key). */
  x25519Derive(key: NativeX25519Key, peerPublic: Uint8Array, out: Uint8Array): boolean;
  /** Keyed BLAKE2s (native/blake2s.cc): out.length bytes (1..32) of MAC(key, data); key 1..32 bytes. */
  blake2sMac(key: Uint8Array, data: Uint8Array, out: Uint8Array): void;
  /**
   * Noise_IKpsk2, responder side (native/noise_ikpsk2.cc), over state = ck ‖ h (64 bytes, updated in place).
   * Each returns a NoiseStatus: 0 ok, 1 a DH was zero, 2 an AEAD field did not authenticate, 3 truncated, 4 OpenSSL failed.
   * noiseReadA1: tokens e, es, s of message A; the initiator's static key into remoteStaticOut.
   */
  noiseReadA1(state: Uint8Array, localStatic: NativeX25519Key, message: Uint8Array, remoteStaticOut: Uint8Array): number;
  /** Tokens ss, {payload} of message A (payloadOut: message.length - 96 bytes). */
  noiseReadA2(state: Uint8Array, staticStatic: Uint8Array, message: Uint8Array, payloadOut: Uint8Array): number;
  /** Message B: e, ee, se, psk, {payload} into out (48 + payload.length bytes). */
  noiseWriteB(
    state: Uint8Array,
    ephemeral: NativeX25519Key,
    ephemeralPublic: Uint8Array,
    remoteEphemeral: Uint8Array,
    remoteStatic: Uint8Array,
    presharedKey: Uint8Array,
    payload: Uint8Array,
    out: Uint8Array,
  ): number;
  /**
   * The responder's handshake after noiseReadA1 and the peer look-up, in one call: tokens ss, {t} of message A
   * (message: its 108 bytes e ‖ s ‖ t; t into timestampOut), 5 (replayed) when t is not after notAfter, then
   * message B into out (48 bytes) with the given ephemeral, else one from this thread's ready pool
   * (noiseEphemeralRefill), else a fresh one, and Split() into keysOut:
   * T(initiator→responder) ‖ T(responder→initiator). The state is wiped.
   */
  noiseRespond(
    state: Uint8Array,
    staticStatic: Uint8Array,
    presharedKey: Uint8Array,
    message: Uint8Array,
    remoteStatic: Uint8Array,
    notAfter: Uint8Array,
    ephemeral: NativeX25519Key | null,
    out: Uint8Array,
    keysOut: Uint8Array,
    timestampOut: Uint8Array,
  ): number;
  /**
   * Makes up to max ephemeral key pairs into this thread's pool (16 at most), which noiseRespond takes
   * from, each once; returns the room left. (The handshake crew's threads fill their own pools natively.)
   */
  noiseEphemeralRefill(max: number): number;
  /** For the tests: the pool's public halves (count × 32 bytes) and whether every free slot is zeros; wipe: empty it first. */
  noiseEphemeralPoolState(wipe?: boolean): { count: number; capacity: number; publics: Uint8Array; unusedSlotsZero: boolean };
  /**
   * The handshake crew (native/handshake_crew.cc): `threads` native threads answering initiations with no
   * JavaScript. onResults(seq, statuses, records) comes on this thread once every initiation of a job is
   * answered: a status byte each (0 answered, 1–5 noise statuses, 6 unknown peer, 7 no identity, 8 not an
   * initiation) and a record each (handshake-crypto-messages.ts AnswerRecord). Fewer threads run when a
   * thread limit stops some (handshakeCrewState says how many); throws when none could start.
   */
  handshakeCrewStart(
    threads: number,
    idleWipeMs: number,
    ephemeralPool: boolean,
    onResults: (seq: number, statuses: Uint8Array, records: Uint8Array) => void,
  ): NativeHandshakeCrew;
  /** The static key and ck ‖ h after "<- s" for it (null, null: none); returns once no thread uses the old one. */
  handshakeCrewIdentity(
    crew: NativeHandshakeCrew,
    privateKey: Uint8Array | null,
    initialState: Uint8Array | null,
    generation: number,
  ): void;
  /** The peer table's words to read from now on (peer-key-table.ts); returns once no thread reads the old ones. */
  handshakeCrewTable(crew: NativeHandshakeCrew, words: Int32Array): void;
  /** Peers that went (32 n bytes of public keys): what the crew cached for them is wiped. */
  handshakeCrewForget(crew: NativeHandshakeCrew, publicKeys: Uint8Array): void;
  /** A job: initiations (148 n bytes, MACs checked), copied; answered through onResults(seq, …). */
  handshakeCrewSubmit(crew: NativeHandshakeCrew, seq: number, messages: Uint8Array): void;
  /** Whether answers still to come keep the event loop alive (on while initiations are in flight). */
  handshakeCrewKeepAlive(crew: NativeHandshakeCrew, on: boolean): void;
  /** Stops and joins the threads, drops queued jobs, wipes every key. */
  handshakeCrewClose(crew: NativeHandshakeCrew): void;
  handshakeCrewState(crew: NativeHandshakeCrew): { threads: number; cachedPeers: number; queuedJobs: number };
  XskPort: new (opts: XskPortOptions) => NativeXskPort;
  /** A memfd for one queue's shared UMEM (native/umem_share.h), made by the main thread so it can hand it to members. */
  shareMemfd(frameSize: number, frameCount: number): number;
  /** The anchor's process lost a member's connection: mark its slot gone in the shared UMEM (the anchor port then takes its frames back). */
  shareReleaseSlot(memfd: number, slot: number, wakeFd?: number): void;
  /** The eventfd through which members wake an anchor port's worker. */
  shareWakeFd(): number;
  XdpFilter: new (opts: XdpFilterOptions) => NativeXdpFilter;
  // UdpPort / Tun / Netlink / Waiter
  UdpPort: new (opts: NativeUdpPortOptions) => NativeUdpPort;
  UDP_ADDR_RECORD_SIZE: number;
  /** The address record's layout as native/udp_addr_record.h has it (checked at load: addr-record-layout.ts). */
  addrRecordLayout: NativeAddrRecordLayout;
  UDP_MAX_BURST: number;
  /** Datagrams a coalesced message of len bytes holds with segments of segSize each fitting cap; -1: impossible sizes (native/udp_gro.h). */
  udpGroSegments(len: number, segSize: number, cap: number): number;
  /** Creates (or adds queues to) a TUN device in the calling thread's netns. */
  tunOpen(opts: { name: string; queues?: number; multiQueue?: boolean; offload?: boolean }): TunQueueSet;
  /** Takes over an inherited TUN fd (WG_TUN_FD); makes it non-blocking. */
  tunAdopt(fd: number): TunQueueSet;
  /** A queue's burst reads/writes; throws when spec.vnetHdr disagrees with the fd's IFF_VNET_HDR. */
  TunQueue: new (spec: TunQueueSpec) => NativeTunQueue;
  TUN_MAX_BURST: number;
  /** Spreads outbound flows over the first `queues` TUN queues from now on (0: all); mapFd from tunOpen's steeringMapFd. */
  tunSteeringSpread(mapFd: number, queues: number): void;
  tunOffloadStats(): TunOffloadStats;
  /** One read() result (virtio_net_hdr + packet) cut into frames as TunQueue.readBurst would; n, -1 refused, -2 too few frames. */
  tunOffloadSplit(input: Uint8Array, buffer: ArrayBuffer, desc: Uint32Array, max: number): number;
  /** The write()s TunQueue.writeBurst would make for a burst, laid out in out (outDesc: offset, length; groups: packets per write). */
  tunOffloadCoalesce(
    buffer: ArrayBuffer,
    desc: Uint32Array,
    n: number,
    out: ArrayBuffer,
    outDesc: Uint32Array,
    groups: Uint32Array,
  ): number;
  linkInfo(nameOrIndex: string | number): LinkInfo | null;
  linkSetUp(ifindex: number, up: boolean): void;
  linkSetMtu(ifindex: number, mtu: number): void;
  addrAdd(ifindex: number, cidr: string, opts?: { noDad?: boolean }): void;
  addrDel(ifindex: number, cidr: string): void;
  addrList(ifindex?: number): AddrInfo[];
  routeAdd(route: RouteSpec): void;
  routeDel(route: RouteSpec): void;
  routeGet(dst: string, opts?: { oif?: number; mark?: number; src?: string }): RouteLookup | null;
  neighGet(ifindex: number, ip: string): NeighInfo | null;
  /** Sends an existing neighbour entry back to NUD_PROBE (re-resolution); false when there is no entry. */
  neighProbe(ifindex: number, ip: string): boolean;
  /** Moves the calling thread into a network namespace; returns an fd of the previous one. */
  netnsEnter(path: string): number;
  NetlinkMonitor: new (groups: NetlinkGroup[]) => NativeNetlinkMonitor;
  Waiter: new () => NativeWaiter;
  /** Signals a Waiter's eventFd from any thread; false if fd is not an eventfd (waiter gone). */
  wakeFd(eventFd: number): boolean;
  WAITER_WAKE_BIT: number;
  WAITER_MAX_FDS: number;
  /** Keeps only the given capabilities (numbers) in every set of the process, and drops the rest from the bounding set. */
  dropCapabilities(keep: number[]): void;
  /**
   * Removes the free lock files of network namespaces that are gone from /run/xdpwg (native/xdp_filter.cc).
   * The number removed, or -1 when some process's namespace could not be read (without CAP_SYS_PTRACE):
   * then nothing is removed, since a namespace it cannot see may be alive.
   */
  sweepDeadNamespaceLocks(): number;
  /** Lifts RLIMIT_MEMLOCK to unlimited where allowed; false when it cannot. */
  raiseMemlockLimit(): boolean;
  /** Pins the calling thread to these CPUs (native/affinity.cc). */
  setThreadAffinity(cpus: number[]): void;
  /** Names the calling thread (1..15 bytes); ours are "xdpwg-*" (native/thread_roles.cc). */
  nameThread(name: string): void;
  /** Moves every thread but the main one and those named "xdpwg-*" to SCHED_IDLE (else nice 19); returns how many. */
  lowerHelperThreads(): number;
  /** The calling thread's CPU time in seconds (native/thread_cpu.cc). */
  threadCpuSeconds(): number;
  /** Gives the calling thread's spare memory back: a full V8 collection and malloc_trim (native/idle_memory.cc; when: idle-memory.ts). */
  releaseIdleMemory(): void;
  /** Whether the device has GRO on (ETHTOOL_GGRO); null when it cannot say (native/link_gro.cc). */
  linkGro(ifname: string): boolean | null;
  /** One sd_notify(3) datagram to socketPath (a path or '@abstract'); throws with errno. */
  sdNotify(socketPath: string, message: string): void;
  [name: string]: unknown;
}

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
/** Repository root: dist/src/native -> ../../.. */
export const repoRoot = path.resolve(here, '..', '..', '..');

let loaded: NativeBinding | undefined;
/** Loads the addon once per thread; throws a clear error when it is not built. */
export function native(): NativeBinding {
  if (!loaded) {
    const file = path.join(repoRoot, 'build', 'Release', 'xdpwg.node');
    let addon: NativeBinding;
    try {
      addon = require(file) as NativeBinding;
    } catch (err) {
      throw new Error(`native addon not loadable at ${file} (${(err as Error).message}); run 'npm run bootstrap'`);
    }
    // The records cross the JS/native boundary per packet: both sides must agree on where each field is.
    checkAddrRecordLayout(addon.addrRecordLayout, file);
    loaded = addon;
  }
  return loaded;
}
