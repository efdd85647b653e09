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
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export type XdpMode = 'auto' | 'native' | 'generic';

export interface XskPortOptions {
  ifname: string;
  queue: number;
  mode?: XdpMode;            // native XDP where the driver has it, else generic
  zeroCopy?: 'auto' | boolean;
  frameSize?: number;        // 2048 or 4096
  frameCount?: number;       // UMEM frames (power of two)
  rxSize?: number; txSize?: number; fillSize?: number; compSize?: number;
  busyPoll?: boolean;
  /** Set when an XdpFilter already owns the interface's XDP program. */
  inhibitProgLoad?: boolean;
}

export interface PortStats {
  ipackets: number; opackets: number; ibytes: number; obytes: number;
  ierrors: number; oerrors: number; imissed: number; odropped: number;
  rx_invalid: number; tx_invalid: number;
  [ring: string]: number; // ring counters: fq_empty, tx_ring_full, kicks, ...
}

export interface NativeXskPort {
  /** The UMEM, one external ArrayBuffer; packets are read and written in place. */
  readonly umem: ArrayBuffer;
  readonly fd: number;
  readonly frameSize: number;
  /** Offset from the start of a frame at which received data / built packets start. */
  readonly headroom: number;
  info(): { ifname: string; ifindex: number; queue: number; mode: 'native' | 'generic'; zeroCopy: boolean };
  /** Receives up to max packets; fills desc pairs; returns count. Frames now belong to JS. */
  rxBurst(desc: Uint32Array, max: number): number;
  /** Queues n packets for send; returns how many were taken (those frames go back to the pool after completion). */
  txBurst(desc: Uint32Array, n: number): number;
  /** Takes up to n free frames from the pool; writes their start offsets into out; returns count. */
  allocFrames(out: Uint32Array, n: number): number;
  /** Returns frames (offsets of any byte inside them) to the pool. */
  freeFrames(offsets: Uint32Array, n: number): void;
  stats(): PortStats;
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
  /** Puts a worker's XSK fd into the XSKMAP at its rx queue. */
  bindQueue(queue: number, xskFd: number): void;
  /** Removes a queue's socket: its traffic goes to the kernel again. */
  unbindQueue(queue: number): void;
  /** Replaces the set of steered UDP ports (no gap for ports that stay). */
  setPorts(ports: number[]): void;
  /** mode 'none' once closed; dispatcher: attached through libxdp's dispatcher; replacedStale: filters of a killed process removed at start. */
  info(): { ifname: string; ifindex: number; mode: 'native' | 'generic' | 'none'; dispatcher: boolean; replacedStale: number; programId: number };
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
  buffer: ArrayBuffer | Uint8Array, desc: Uint32Array, n: number, keys: Uint8Array,
  keyIndex: Uint16Array | Uint32Array, counters: BigUint64Array | Uint32Array, results: Uint8Array,
  aad?: Uint8Array, noncePrefix?: number,
) => number;

export interface NativeBinding {
  aeadSealBurst: NativeAeadBurstFn;
  aeadOpenBurst: NativeAeadBurstFn;
  XskPort: new (opts: XskPortOptions) => NativeXskPort;
  XdpFilter: new (opts: XdpFilterOptions) => NativeXdpFilter;
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
    try {
      loaded = require(file) as NativeBinding;
    } catch (err) {
      throw new Error(`native addon not loadable at ${file} (${(err as Error).message}); run 'npm run bootstrap'`);
    }
  }
  return loaded;
}
