/**
 * The benchmark topologies: two network namespaces joined by a veth, and in
 * them either a WireGuard implementation on each side (xdpwg ↔ xdpwg,
 * wireguard-go ↔ wireguard-go) or nothing (the bare veth: the ceiling any
 * tunnel is measured against). Built from the test fixtures
 * (test/helpers/netns.ts, tunnel-lab.ts), configured with the real `wg`.
 *
 * Two kinds of veth:
 * - `veth`: as the kernel makes it. It hands 64 KB UDP GSO packets across
 *   whole, which no physical link does.
 * - `nic`: `gso off tso off tx-udp-segmentation off gro on` on both ends, so
 *   MTU-sized frames cross the wire and the receiver coalesces them by GRO,
 *   as on a NIC with USO and its peer's NAPI GRO.
 *
 * Side a is the client (iperf3 -c, ping, the handshake generator); side b
 * the server and the handshake responder.
 */
import { rmSync } from 'node:fs';
import { Lab, nsExec, waitFor } from '../../test/helpers/netns.js';
import {
  addPeer,
  configureInterface,
  startImplementation,
  twoSides,
  type Implementation,
  type Side,
} from '../../test/helpers/tunnel-lab.js';
import { processTree } from './cpu.js';

/**
 * A configuration the suite measures: xdpwg, the reference wireguard-go
 * (the build given with --wireguard-go, else the one first in PATH), Debian's
 * packaged wireguard-go (when the reference is another build), the bare veth.
 */
export type ConfigName = 'xdpwg' | 'wireguard-go' | 'debian-wireguard-go' | 'veth';

/** Every configuration, in the order reports list them. */
export const CONFIGS: readonly ConfigName[] = ['xdpwg', 'wireguard-go', 'debian-wireguard-go', 'veth'];

/** The link between the namespaces. */
export type TopologyName = 'veth' | 'nic';

/** Every topology, in the order reports list them. */
export const TOPOLOGIES: readonly TopologyName[] = ['veth', 'nic'];

/** What each topology is, in a report's words. */
export const TOPOLOGY_LABELS: Record<TopologyName, string> = {
  veth: 'plain veth (64 KB GSO packets cross whole)',
  nic: 'NIC-like veth (gso off tso off tx-udp-segmentation off gro on: MTU frames on the wire, GRO on receive)',
};

/** Debian's packaged wireguard-go. */
export const DEBIAN_WIREGUARD_GO = '/usr/bin/wireguard-go';

/** One configuration, set up and ready to measure. */
export interface Pair {
  readonly config: ConfigName;
  readonly topology: TopologyName;
  readonly lab: Lab;
  readonly a: Side;
  readonly b: Side;
  /** Address of b that traffic is sent to: the tunnel address, or the veth address for the bare veth. */
  readonly target: string;
  /** The daemons' pids (with their descendants); empty for the bare veth. */
  daemonPids(): number[];
}

const CONFIG_INDEX: Record<ConfigName, number> = { xdpwg: 0, 'wireguard-go': 1, 'debian-wireguard-go': 2, veth: 3 };
const CONFIG_LETTER: Record<ConfigName, string> = { xdpwg: 'x', 'wireguard-go': 'g', 'debian-wireguard-go': 'd', veth: 'v' };
const TOPOLOGY_INDEX: Record<TopologyName, number> = { veth: 0, nic: 1 };
const TOPOLOGY_LETTER: Record<TopologyName, string> = { veth: 'n', nic: 'm' };

/** The NIC-like veth: no segmentation offload on transmit, GRO on receive. */
const NIC_LIKE_FEATURES = ['gso', 'off', 'tso', 'off', 'tx-udp-segmentation', 'off', 'gro', 'on'];

/**
 * Builds a configuration on a topology and waits until traffic passes (a
 * first ping through the tunnel, so the handshake is done before anything is
 * timed). Daemons log at level error only: per-event debug lines would cost
 * both implementations CPU the suite is not meant to measure.
 *
 * `wireguardGo` is the executable of the 'wireguard-go' configuration;
 * `xdpwg`, if given, replaces bin/xdpwg (a wrapper that profiles it, say).
 */
export async function setUpPair(config: ConfigName, topology: TopologyName, wireguardGo: string, xdpwg?: string): Promise<Pair> {
  const lab = new Lab(`b${TOPOLOGY_LETTER[topology]}${CONFIG_LETTER[config]}`);
  try {
    const impl: Implementation = config === 'xdpwg' || config === 'veth' ? 'xdpwg' : 'wireguard-go';
    const { a, b } = twoSides(lab, impl, impl, 61 + TOPOLOGY_INDEX[topology] * 4 + CONFIG_INDEX[config]);
    if (topology === 'nic') {
      for (const [side, dev] of [
        [a, `${lab.prefix}va`],
        [b, `${lab.prefix}vb`],
      ] as const)
        nsExec(side.ns, 'ethtool', ['-K', dev, ...NIC_LIKE_FEATURES]);
    }
    if (config === 'wireguard-go') a.bin = b.bin = wireguardGo;
    if (config === 'debian-wireguard-go') a.bin = b.bin = DEBIAN_WIREGUARD_GO;
    if (config === 'xdpwg' && xdpwg) a.bin = b.bin = xdpwg;
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
    await waitFor(
      `a first ping over ${config} on the ${topology} topology`,
      () => {
        try {
          nsExec(a.ns, 'ping', ['-c', '1', '-W', '1', target]);
          return true;
        } catch {
          return false;
        }
      },
      15_000,
      200,
    );
    const daemons = config === 'veth' ? [] : [a.proc!, b.proc!];
    return {
      config,
      topology,
      lab,
      a,
      b,
      target,
      daemonPids: () => daemons.flatMap((p) => (p.pid === undefined ? [] : processTree(p.pid))),
    };
  } catch (err) {
    lab.cleanup();
    throw err;
  }
}
