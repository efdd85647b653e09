/**
 * Two-namespace WireGuard fixtures: one side runs xdpwg, the other xdpwg or
 * wireguard-go (Debian's package), both configured with the real `wg` tool,
 * exactly as users drive them.
 */
import { type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, nsExec, sh, waitFor } from './netns.js';
import { uapiAccepts, uapiSocketPath } from '../../src/daemon/uapi/server.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const xdpwgBin = path.join(repoRoot, 'bin', 'xdpwg');

export type Implementation = 'xdpwg' | 'wireguard-go';

export interface WgKeys {
  privateKey: string;
  publicKey: string;
}

export function genKeys(): WgKeys {
  const privateKey = sh('wg', ['genkey']).trim();
  const publicKey = sh('wg', ['pubkey'], { input: privateKey + '\n' }).trim();
  return { privateKey, publicKey };
}

export interface Side {
  ns: string;
  ifname: string;
  impl: Implementation;
  keys: WgKeys;
  /** Outer (underlay) addresses. */
  outer4: string;
  outer6: string;
  /** Inner (tunnel) addresses. */
  inner4: string;
  inner6: string;
  port: number;
  /** The executable to start instead of the implementation's default (bin/xdpwg, or wireguard-go from PATH). */
  bin?: string;
  proc?: ChildProcess;
  log: string[];
}

/** Starts a userspace WireGuard implementation for `ifname` in the foreground inside side.ns. */
export async function startImplementation(lab: Lab, side: Side, env: Record<string, string> = {}, extraArgs: string[] = []): Promise<void> {
  const cmd = side.bin ?? (side.impl === 'xdpwg' ? xdpwgBin : 'wireguard-go');
  // A socket file left by a daemon an earlier run killed would satisfy the
  // wait below before the new daemon has replaced it.
  rmSync(`/var/run/wireguard/${side.ifname}.sock`, { force: true });
  const child = lab.spawn(side.ns, cmd, ['-f', ...extraArgs, side.ifname], {
    env: { ...process.env, LOG_LEVEL: 'debug', WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  side.proc = child;
  const collect = (d: Buffer): void => {
    side.log.push(...d.toString().split('\n').filter(Boolean));
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  // Ready means the UAPI socket answers, as `wg` sees it. `wg` deletes a socket that refuses it,
  // and wireguard-go (like Node) binds before it listens: only ask `wg` once uapiAccepts.
  const socketPath = uapiSocketPath(side.ifname);
  try {
    await waitFor(
      `${side.impl} to create ${side.ifname} in ${side.ns}`,
      async () => (await uapiAccepts(socketPath)) && nsExec(side.ns, 'wg', ['show', side.ifname, 'listen-port']).trim() !== '',
      15_000,
    );
  } catch (err) {
    throw startFailure(err, child, side);
  }
}

/** A start that never answered, with what explains it: whether the daemon exited, and the end of its log. */
export function startFailure(err: unknown, child: ChildProcess, side: Side): Error {
  const state = child.exitCode !== null || child.signalCode !== null ? `exited ${child.exitCode ?? child.signalCode}` : 'still running';
  return new Error(`${(err as Error).message}\nthe daemon is ${state}; its log:\n${side.log.slice(-30).join('\n')}`);
}

/** `wg set` with the given arguments inside the side's namespace. */
export function wg(side: Side, args: string[], input?: string): string {
  return nsExec(side.ns, 'wg', args, { input });
}

/** Gives the interface its key, port and inner addresses, and brings it up. */
export function configureInterface(side: Side, mtu = 1420): void {
  nsExec(side.ns, 'sh', ['-c', `umask 077; printf '%s' '${side.keys.privateKey}' > /tmp/${side.ns}.key`]);
  try {
    wg(side, ['set', side.ifname, 'private-key', `/tmp/${side.ns}.key`, 'listen-port', String(side.port)]);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${logsOf(side)}`);
  }
  nsExec(side.ns, 'ip', ['addr', 'add', `${side.inner4}/24`, 'dev', side.ifname]);
  nsExec(side.ns, 'ip', ['addr', 'add', `${side.inner6}/64`, 'dev', side.ifname, 'nodad']);
  nsExec(side.ns, 'ip', ['link', 'set', side.ifname, 'mtu', String(mtu), 'up']);
}

/** Adds `peer` to `side` (allowed IPs = the peer's inner addresses). */
export function addPeer(side: Side, peer: Side, opts: { outer?: 4 | 6; psk?: string; endpoint?: boolean; keepalive?: number } = {}): void {
  const args = ['set', side.ifname, 'peer', peer.keys.publicKey, 'allowed-ips', `${peer.inner4}/32,${peer.inner6}/128`];
  if (opts.endpoint !== false) {
    const ep = (opts.outer ?? 4) === 4 ? `${peer.outer4}:${peer.port}` : `[${peer.outer6}]:${peer.port}`;
    args.push('endpoint', ep);
  }
  if (opts.psk) {
    nsExec(side.ns, 'sh', ['-c', `printf '%s' '${opts.psk}' > /tmp/${side.ns}.psk`]);
    args.push('preshared-key', `/tmp/${side.ns}.psk`);
  }
  if (opts.keepalive !== undefined) args.push('persistent-keepalive', String(opts.keepalive));
  wg(side, args);
}

/** Starts both sides (by `start`, with env), gives each its interface, and makes each the other's peer. */
export async function startPeered(
  lab: Lab,
  a: Side,
  b: Side,
  env: Record<string, string> = {},
  start: (lab: Lab, side: Side, env: Record<string, string>) => Promise<void> = startImplementation,
): Promise<void> {
  await start(lab, a, env);
  await start(lab, b, env);
  configureInterface(a);
  configureInterface(b);
  addPeer(a, b);
  addPeer(b, a);
}

/** A lab with two namespaces joined by a veth, and a Side for each. */
export function twoSides(lab: Lab, implA: Implementation, implB: Implementation, subnet: number): { a: Side; b: Side } {
  const nsA = lab.ns('a');
  const nsB = lab.ns('b');
  const mk = (ns: string, impl: Implementation, host: number, ifname: string): Side => ({
    ns,
    impl,
    ifname,
    keys: genKeys(),
    port: 51820 + host,
    log: [],
    outer4: `10.${subnet}.0.${host}`,
    outer6: `fd00:${subnet}::${host}`,
    inner4: `10.${subnet}.1.${host}`,
    inner6: `fd00:${subnet}:1::${host}`,
  });
  const a = mk(nsA, implA, 1, `${lab.prefix}wa`);
  const b = mk(nsB, implB, 2, `${lab.prefix}wb`);
  lab.veth(
    { ns: nsA, dev: `${lab.prefix}va`, addrs: [`${a.outer4}/24`, `${a.outer6}/64`] },
    { ns: nsB, dev: `${lab.prefix}vb`, addrs: [`${b.outer4}/24`, `${b.outer6}/64`] },
  );
  return { a, b };
}

/** ping -c count from side to an address; returns the number of replies. */
export function ping(side: Side, to: string, count = 3, size?: number): number {
  const args = ['-c', String(count), '-i', '0.2', '-W', '2', ...(size ? ['-s', String(size), '-M', 'do'] : []), to];
  try {
    const out = nsExec(side.ns, 'ping', args, { timeoutMs: 20_000 });
    const m = /(\d+) received/.exec(out);
    return m ? Number(m[1]) : 0;
  } catch (err) {
    const m = /(\d+) received/.exec((err as Error).message);
    return m ? Number(m[1]) : 0;
  }
}

/** `wg show IF dump` parsed: the peer line for a public key. */
export function peerDump(
  side: Side,
  publicKey: string,
): { endpoint: string; latestHandshake: number; rx: number; tx: number; keepalive: string } | undefined {
  const lines = wg(side, ['show', side.ifname, 'dump']).trim().split('\n').slice(1);
  for (const l of lines) {
    const f = l.split('\t');
    if (f[0] === publicKey) return { endpoint: f[2]!, latestHandshake: Number(f[4]), rx: Number(f[5]), tx: Number(f[6]), keepalive: f[7]! };
  }
  return undefined;
}

/** Dumps both sides' logs (for a failing test's message). */
export function logsOf(...sides: Side[]): string {
  return sides.map((s) => `--- ${s.impl} in ${s.ns} ---\n${s.log.slice(-40).join('\n')}`).join('\n');
}
