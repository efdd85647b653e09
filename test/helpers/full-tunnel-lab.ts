/**
 * The full tunnel as users run it (issue 13): a client whose only way to
 * its server is the default gateway, as on the internet, and hosts behind
 * the server that the client reaches through the tunnel.
 *
 *   A (client, xdpwg) ── M (A's default gateway) ── B (server, wireguard-go) ── C (a host behind B)
 *
 * The client's file says `AllowedIPs = 0.0.0.0/0, ::/0`; without the fwmark
 * policy routing its own outer packets would route into the tunnel. Checks
 * shared by the wg-quick and the `xdpwg up` variants live here too.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { type Lab, nsExec } from './netns.js';
import { addPeer, configureInterface, logsOf, ping, startImplementation, type Side } from './tunnel-lab.js';
import { kernelUdp, pathTo, routedSides, statsAfter, statsOf } from './afxdp-lab.js';

export interface FullTunnelLab {
  a: Side;
  b: Side;
  /** A's uplink (towards M), where the XDP program must sit. */
  uplinkA: string;
  /** The host behind B, v4 and v6. */
  c: { ns: string; v4: string; v6: string };
}

/** Builds the namespaces, starts wireguard-go on B with A as its peer (no endpoint: A roams to it). */
export async function fullTunnelLab(lab: Lab, subnet: number): Promise<FullTunnelLab> {
  // One rx queue per worker the daemon starts (one per core, at most 4): a worker without a queue
  // of its own sends through the kernel socket.
  const queues = Math.max(1, Math.min(4, os.availableParallelism()));
  const { a, b, vethA } = routedSides(lab, subnet, { implB: 'wireguard-go', queues });
  // A reaches B only through its default gateway M.
  nsExec(a.ns, 'ip', ['route', 'del', `10.${subnet}.2.0/24`]);
  nsExec(a.ns, 'ip', ['-6', 'route', 'del', `fd00:${subnet}:2::/64`]);
  nsExec(a.ns, 'ip', ['route', 'add', 'default', 'via', `10.${subnet}.0.254`]);
  nsExec(a.ns, 'ip', ['-6', 'route', 'add', 'default', 'via', `fd00:${subnet}::fe`]);
  // C sits behind B, which forwards between its tunnel and C.
  const c = { ns: lab.ns('c'), v4: `10.${subnet}.7.7`, v6: `fd00:${subnet}:7::7` };
  lab.veth(
    { ns: b.ns, dev: `${lab.prefix}bc`, addrs: [`10.${subnet}.7.254/24`, `fd00:${subnet}:7::fe/64`] },
    { ns: c.ns, dev: `${lab.prefix}cb`, addrs: [`${c.v4}/24`, `${c.v6}/64`] },
  );
  nsExec(b.ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  nsExec(b.ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
  nsExec(c.ns, 'ip', ['route', 'add', 'default', 'via', `10.${subnet}.7.254`]);
  nsExec(c.ns, 'ip', ['-6', 'route', 'add', 'default', 'via', `fd00:${subnet}:7::fe`]);
  await startImplementation(lab, b);
  configureInterface(b);
  addPeer(b, a, { endpoint: false });
  return { a, b, uplinkA: vethA, c };
}

/** The client's wg-quick file: the whole internet through the tunnel, B's v4 endpoint. */
export function fullTunnelConfig(t: FullTunnelLab, extra: string[] = []): string {
  const { a, b } = t;
  return [
    '[Interface]',
    `PrivateKey = ${a.keys.privateKey}`,
    `ListenPort = ${a.port}`,
    `Address = ${a.inner4}/24, ${a.inner6}/64`,
    ...extra,
    '',
    '[Peer]',
    `PublicKey = ${b.keys.publicKey}`,
    'AllowedIPs = 0.0.0.0/0, ::/0',
    `Endpoint = ${b.outer4}:${b.port}`,
    '',
  ].join('\n');
}

/** The mark `ss -uanpe` shows on the daemon's UDP socket(s) listening on A's port ('' when none). */
export function socketMarks(t: FullTunnelLab): string[] {
  const lines = nsExec(t.a.ns, 'ss', ['-uanpeH'])
    .split('\n')
    .filter((l) => new RegExp(`[:*]${t.a.port}\\s`).test(l));
  return lines.map((l) => /fwmark:(0x[0-9a-f]+)/.exec(l)?.[1] ?? '');
}

/**
 * C and B's tunnel address answer A through the tunnel, v4 and v6; then,
 * with the session established, a second round moves only over AF_XDP: the
 * XDP program sits on A's uplink, `xdpwg stats` names af_xdp for B, and A's
 * kernel UDP counters do not move.
 */
export async function assertThroughTunnelOnAfxdp(t: FullTunnelLab, label: string): Promise<void> {
  const { a, b, c } = t;
  for (const to of [c.v4, c.v6, b.inner4, b.inner6]) assert.equal(ping(a, to, 3), 3, `${label}: ping ${to}\n${logsOf(a, b)}`);
  const s = await statsAfter(a, (x) => pathTo(x, b.keys.publicKey) === 'af_xdp');
  assert.equal(pathTo(s, b.keys.publicKey), 'af_xdp', `${label}: path to B: ${JSON.stringify(s.paths)}\n${logsOf(a)}`);
  const xdp = nsExec(a.ns, 'ip', ['-d', 'link', 'show', t.uplinkA]);
  assert.match(xdp, /prog\/xdp|xdpgeneric|xdp /, `${label}: an XDP program on ${t.uplinkA}:\n${xdp}`);
  const before = kernelUdp(a.ns);
  assert.equal(ping(a, c.v4, 5), 5, `${label}: second round v4`);
  assert.equal(ping(a, c.v6, 5), 5, `${label}: second round v6`);
  const after = kernelUdp(a.ns);
  assert.deepEqual(
    after,
    before,
    `${label}: A's kernel UDP counters moved: the outer traffic did not take AF_XDP only\n${JSON.stringify(statsOf(a))}`,
  );
}

/** Moves A's endpoint for B to B's IPv6 address (with the policy rules in place) through the UAPI. */
export function moveEndpointToV6(t: FullTunnelLab): void {
  nsExec(t.a.ns, 'wg', ['set', t.a.ifname, 'peer', t.b.keys.publicKey, 'endpoint', `[${t.b.outer6}]:${t.b.port}`]);
}

/** Every policy rule in A's namespace beyond the kernel's three defaults, both families. */
export function extraRules(ns: string): string[] {
  const defaults = /^(0|32766|32767):\s+from all lookup (local|main|default)\s*$/;
  return ['-4', '-6'].flatMap((f) =>
    nsExec(ns, 'ip', [f, 'rule', 'show'])
      .split('\n')
      .filter((l) => l.trim() && !defaults.test(l.trim()))
      .map((l) => `${f} ${l.trim()}`),
  );
}
