/**
 * Our XDP filter on one interface (native/xdp_filter.cc): open it once per
 * interface in the main thread, then bind each worker's XSK fd to its queue.
 */
import { native, type NativeXdpFilter, type XdpFilterOptions } from './binding.js';
import { usableAddresses } from './netlink.js';

/** Validates the options; throws TypeError/RangeError naming what was wrong. */
export function checkXdpFilterOptions(opts: XdpFilterOptions): void {
  if (typeof opts.ifname !== 'string' || opts.ifname.length === 0 || opts.ifname.length > 15) {
    throw new TypeError(`XdpFilter: ifname must be an interface name (1-15 chars), got ${JSON.stringify(opts.ifname)}`);
  }
  if (opts.mode !== undefined && !['auto', 'native', 'generic'].includes(opts.mode)) {
    throw new RangeError(`XdpFilter: mode must be auto, native or generic, got ${String(opts.mode)}`);
  }
  if (!Array.isArray(opts.ports) || opts.ports.length === 0) throw new RangeError('XdpFilter: ports must list at least one UDP port');
  for (const p of opts.ports) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new RangeError(`XdpFilter: port ${p} is not in 1..65535`);
  }
}

/**
 * Attaches the filter (replacing those left by killed xdpwg processes; when
 * another live xdpwg has one here and libxdp's dispatcher is unavailable:
 * Error.code 'EBUSY'), steering UDP to `ports` addressed to one of
 * `localAddresses` (4 or 16 bytes each; default: the namespace's now; the
 * caller keeps them current with setLocalAddresses).
 */
export function openXdpFilter(opts: XdpFilterOptions, localAddresses: Uint8Array[] = usableAddresses()): NativeXdpFilter {
  checkXdpFilterOptions(opts);
  const filter = new (native().XdpFilter)(opts);
  try {
    filter.setLocalAddresses(localAddresses);
  } catch (err) {
    filter.close();
    throw err;
  }
  openFilters.add(filter);
  if (openFilters.size === 1) process.once('exit', closeAllOnExit);
  return filter;
}

// process.exit() and uncaught exceptions end the process without running
// the addon's environment cleanup hooks, which would leave the program
// attached until the next start replaces it. The 'exit' event still runs.
// close() is idempotent, so filters already closed are simply closed again.
const openFilters = new Set<NativeXdpFilter>();
function closeAllOnExit(): void {
  for (const f of openFilters) f.close();
}

/** One log line saying how the filter is attached. */
export function describeXdpFilter(filter: NativeXdpFilter): string {
  const i = filter.info();
  return (
    `xdp filter on ${i.ifname}: ${i.mode} mode, ${i.dispatcher ? 'libxdp dispatcher' : `sole program (no dispatcher: ${i.dispatcherError ?? 'unknown'})`}` +
    `${i.replacedStale ? `, replaced ${i.replacedStale} stale filter(s) of a killed process` : ''}`
  );
}
