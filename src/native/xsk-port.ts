/**
 * Opening an AF_XDP port (native/xsk_port.cc) with the options checked in
 * JavaScript first, so a mistake is a readable TypeError/RangeError here
 * rather than a failed socket call.
 */
import { native, type NativeXskPort, type XskPortOptions } from './binding.js';

const RING_SIZES = ['rxSize', 'txSize', 'fillSize', 'compSize'] as const;

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Validates XskPortOptions; throws TypeError/RangeError naming the option. */
export function checkXskPortOptions(opts: XskPortOptions): void {
  if (typeof opts.ifname !== 'string' || opts.ifname.length === 0 || opts.ifname.length > 15) {
    throw new TypeError(`XskPort: ifname must be an interface name (1-15 chars), got ${JSON.stringify(opts.ifname)}`);
  }
  if (!Number.isInteger(opts.queue) || opts.queue < 0)
    throw new RangeError(`XskPort: queue must be a non-negative integer, got ${opts.queue}`);
  if (opts.mode !== undefined && !['auto', 'native', 'generic'].includes(opts.mode)) {
    throw new RangeError(`XskPort: mode must be auto, native or generic, got ${String(opts.mode)}`);
  }
  if (opts.frameSize !== undefined && opts.frameSize !== 2048 && opts.frameSize !== 4096) {
    throw new RangeError(`XskPort: frameSize must be 2048 or 4096, got ${opts.frameSize}`);
  }
  if (opts.frameCount !== undefined && !isPow2(opts.frameCount))
    throw new RangeError(`XskPort: frameCount must be a power of two, got ${opts.frameCount}`);
  for (const k of RING_SIZES) {
    const v = opts[k];
    if (v !== undefined && !isPow2(v)) throw new RangeError(`XskPort: ${k} must be a power of two, got ${v}`);
  }
}

/** Opens the port (throws Error with .code on failure: ENODEV, XSK_SOCKET, ...). */
export function openXskPort(opts: XskPortOptions): NativeXskPort {
  checkXskPortOptions(opts);
  return new (native().XskPort)(opts);
}

/** One log line saying what the port chose (docs/DESIGN.md: the log says which path each port takes). */
export function describeXskPort(port: NativeXskPort): string {
  const i = port.info();
  return (
    `af_xdp ${i.ifname} queue ${i.queue}: ${i.mode} XDP, ${i.zeroCopy ? 'zero-copy' : 'copy'} mode, ` +
    `${port.umem.byteLength / port.frameSize} frames of ${port.frameSize} B, headroom ${port.headroom}` +
    `${i.busyPoll ? ', busy poll' : ''}`
  );
}
