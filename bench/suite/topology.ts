/**
 * The benchmark topology: two network namespaces joined by a veth, and in
 * them either a WireGuard implementation on each side (xdpwg ↔ xdpwg,
 * wireguard-go ↔ wireguard-go) or nothing (the bare veth: the ceiling any
 * tunnel is measured against). Built from the test fixtures
 * (test/helpers/netns.ts, tunnel-lab.ts), configured with the real `wg`.
 *
 * Side a is the client (iperf3 -c, ping, the handshake generator); side b
 * the server and the handshake responder.
 */
import { rmSync } from 'node:fs';
import { Lab, nsExec, waitFor } from '../../test/helpers/netns.js';
import { addPeer, configureInterface, startImplementation, twoSides, type Implementation, type Side } from '../../test/helpers/tunnel-lab.js';
import { processTree } from './cpu.js';

/** A configuration the suite measures. */
export type ConfigName = 'xdpwg' | 'wireguard-go' | 'veth';

/** Every configuration, in the order reports list them. */
export const CONFIGS: readonly ConfigName[] = ['xdpwg', 'wireguard-go', 'veth'];

/** One configuration, set up and ready to measure. */
export interface Pair {
  readonly config: ConfigName;
  readonly lab: Lab;
  readonly a: Side;
  readonly b: Side;
  /** Address of b that traffic is sent to: the tunnel address, or the veth address for the bare veth. */
  readonly target: string;
  /** The daemons' pids (with their descendants); empty for the bare veth. */
  daemonPids(): number[];
}

const SUBNET: Record<ConfigName, number> = { xdpwg: 61, 'wireguard-go': 62, veth: 63 };
const PREFIX: Record<ConfigName, string> = { xdpwg: 'bnx', 'wireguard-go': 'bng', veth: 'bnv' };

/**
 * Builds a configuration and waits until traffic passes (a first ping through
 * the tunnel, so the handshake is done before anything is timed). Daemons log
 * at level error only: per-event debug lines would cost both implementations
 * CPU the suite is not meant to measure.
 */
export async function setUpPair(config: ConfigName): Promise<Pair> {
  const lab = new Lab(PREFIX[config]);
  try {
    const impl: Implementation = config === 'veth' ? 'xdpwg' : config;
    const { a, b } = twoSides(lab, impl, impl, SUBNET[config]);
    if (config !== 'veth') {
      for (const side of [a, b]) {
        // A socket left by a daemon killed in an earlier run would satisfy the
        // fixture's readiness check before the new daemon has bound it.
        rmSync(`/var/run/wireguard/${side.ifname}.sock`, { force: true });
        await startImplementation(lab, side, { LOG_LEVEL: 'error' });
      }
      configureInterface(a);
      configureInterface(b);
      addPeer(a, b, { outer: 4 });
      addPeer(b, a, { outer: 4 });
    }
    const target = config === 'veth' ? b.outer4 : b.inner4;
    await waitFor(`a first ping over ${config}`, () => {
      try { nsExec(a.ns, 'ping', ['-c', '1', '-W', '1', target]); return true; } catch { return false; }
    }, 15_000, 200);
    const daemons = config === 'veth' ? [] : [a.proc!, b.proc!];
    return {
      config, lab, a, b, target,
      daemonPids: () => daemons.flatMap((p) => (p.pid === undefined ? [] : processTree(p.pid))),
    };
  } catch (err) {
    lab.cleanup();
    throw err;
  }
}
