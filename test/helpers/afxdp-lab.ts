/**
 * Fixtures for the AF_XDP data-plane tests: the daemon's `xdpwg stats`
 * parsed and summed by port kind, the namespace's kernel UDP counters
 * (/proc/net/snmp and /proc/net/snmp6), iperf3 runs through the tunnel, and
 * datapath config files.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Lab, nsExec, waitFor } from './netns.js';
import { genKeys, startImplementation, xdpwgBin, type Side } from './tunnel-lab.js';

/** The parts of `xdpwg stats --json` these tests read. */
export interface AfxdpStats {
  workers: number;
  ports: Array<Record<string, number | string>>;
  afxdp: Array<{ device: string; mode: string; queues: number; boundWorkers: number[]; unusable?: string }>;
  paths: Array<{ publicKey: string; path: string }>;
  drops: Record<string, number>;
  peers: Array<{ publicKey: string; rxPackets: number; txPackets: number }>;
}

/** `xdpwg stats IF --json` of an xdpwg side. */
export function statsOf(side: Side): AfxdpStats {
  return JSON.parse(nsExec(side.ns, xdpwgBin, ['stats', side.ifname, '--json'])) as AfxdpStats;
}

/** Packet counters summed over one kind of port ('af_xdp' or 'udp'), and per worker. */
export interface PortTotals {
  ipackets: number;
  opackets: number;
  byWorker: Map<number, { ipackets: number; opackets: number }>;
}

export function portTotals(s: AfxdpStats, kind: 'af_xdp' | 'udp'): PortTotals {
  const t: PortTotals = { ipackets: 0, opackets: 0, byWorker: new Map() };
  for (const p of s.ports) {
    const name = String(p.path);
    if (kind === 'udp' ? name !== 'udp' : !name.startsWith('af_xdp')) continue;
    const i = Number(p.ipackets ?? 0);
    const o = Number(p.opackets ?? 0);
    t.ipackets += i;
    t.opackets += o;
    const w = t.byWorker.get(Number(p.worker)) ?? { ipackets: 0, opackets: 0 };
    w.ipackets += i;
    w.opackets += o;
    t.byWorker.set(Number(p.worker), w);
  }
  return t;
}

/** The path `xdpwg stats` reports for the peer with this public key. */
export function pathTo(s: AfxdpStats, publicKey: string): string {
  return s.paths.find((p) => p.publicKey === publicKey)?.path ?? '(peer not listed)';
}

/** Worker port counters are posted once a second; wait until a fresh snapshot has them past `min`. */
export async function statsAfter(side: Side, ready: (s: AfxdpStats) => boolean, timeoutMs = 4_000): Promise<AfxdpStats> {
  let last: AfxdpStats | undefined;
  try {
    return await waitFor(
      'fresh xdpwg stats',
      () => {
        last = statsOf(side);
        return ready(last) ? last : undefined;
      },
      timeoutMs,
      250,
    );
  } catch {
    return last ?? statsOf(side);
  }
}

/** The namespace's kernel UDP datagram counters, IPv4 + IPv6 (what the kernel's UDP stack handled). */
export function kernelUdp(ns: string): { in: number; out: number } {
  const snmp = nsExec(ns, 'cat', ['/proc/net/snmp'])
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  const names = snmp[0]!.split(/\s+/);
  const values = snmp[1]!.split(/\s+/).map(Number);
  const v4 = (n: string): number => values[names.indexOf(n)] ?? 0;
  const snmp6 = new Map(
    nsExec(ns, 'cat', ['/proc/net/snmp6'])
      .split('\n')
      .map((l) => l.trim().split(/\s+/) as [string, string])
      .map(([k, v]) => [k, Number(v)]),
  );
  return { in: v4('InDatagrams') + (snmp6.get('Udp6InDatagrams') ?? 0), out: v4('OutDatagrams') + (snmp6.get('Udp6OutDatagrams') ?? 0) };
}

/** What one iperf3 run measured. */
export interface IperfResult {
  bitsPerSecond: number;
  /** UDP: datagrams the sender wrote, and those the receiver got (sent − lost). */
  packets: number;
  received: number;
  lostPercent: number;
  json: Record<string, any>;
}

let iperfPort = 5301;

/**
 * One iperf3 run from `client` to `server`'s address `to` (a one-shot server
 * on a fresh port). For UDP, packets = datagrams the client sent.
 */
export async function iperf(lab: Lab, client: Side, server: Side, to: string, args: string[]): Promise<IperfResult> {
  const port = iperfPort++;
  const srv = lab.spawn(server.ns, 'iperf3', ['-s', '-1', '-p', String(port), '-B', to]);
  const exited = new Promise((r) => srv.once('exit', r));
  await waitFor(`iperf3 server on ${to}:${port}`, () => nsExec(server.ns, 'ss', ['-ltnH']).includes(`:${port}`), 5_000, 50);
  const json = JSON.parse(nsExec(client.ns, 'iperf3', ['-c', to, '-p', String(port), '-J', ...args], { timeoutMs: 40_000 })) as Record<
    string,
    any
  >;
  await Promise.race([exited, new Promise((r) => setTimeout(r, 2_000))]);
  const end = json.end;
  if (args.includes('-u')) {
    const sum = end.sum;
    return {
      bitsPerSecond: sum.bits_per_second * (1 - sum.lost_percent / 100),
      packets: sum.packets,
      received: sum.packets - sum.lost_packets,
      lostPercent: sum.lost_percent,
      json,
    };
  }
  return { bitsPerSecond: end.sum_received.bits_per_second, packets: 0, received: 0, lostPercent: 0, json };
}

const datapathDirs: string[] = [];

/** Writes a datapath JSON-C file and returns its path (for XDPWG_DATAPATH); removed when the test process exits. */
export function datapathFile(content: Record<string, unknown> | string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'xdpwg-dp-'));
  if (datapathDirs.push(dir) === 1)
    process.once('exit', () => {
      for (const d of datapathDirs) rmSync(d, { recursive: true, force: true });
    });
  const file = path.join(dir, 'datapath.jsonc');
  writeFileSync(file, typeof content === 'string' ? content : `// written by an AF_XDP test\n${JSON.stringify(content, null, 2)}\n`);
  return file;
}

/** Mbit/s with no decimals, for the figures the tests print. */
export const mbit = (bps: number): string => `${(bps / 1e6).toFixed(0)} Mbit/s`;

/**
 * Like twoSides (tunnel-lab.ts), but the veth between the namespaces has
 * `queues` rx/tx queues (a worker binds its AF_XDP socket to the queue
 * numbered like it, so a 2-worker daemon needs 2 queues) and an MTU.
 */
export function afxdpSides(
  lab: Lab,
  implA: Side['impl'],
  implB: Side['impl'],
  subnet: number,
  opts: { queues?: number; vethMtu?: number } = {},
): { a: Side; b: Side; vethA: string; vethB: string } {
  const nsA = lab.ns('a');
  const nsB = lab.ns('b');
  const mk = (ns: string, impl: Side['impl'], host: number, ifname: string): Side => ({
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
  const vethA = `${lab.prefix}va`;
  const vethB = `${lab.prefix}vb`;
  lab.veth(
    { ns: nsA, dev: vethA, addrs: [`${a.outer4}/24`, `${a.outer6}/64`] },
    { ns: nsB, dev: vethB, addrs: [`${b.outer4}/24`, `${b.outer6}/64`] },
    opts.queues ?? 1,
  );
  if (opts.vethMtu) {
    nsExec(nsA, 'ip', ['link', 'set', vethA, 'mtu', String(opts.vethMtu)]);
    nsExec(nsB, 'ip', ['link', 'set', vethB, 'mtu', String(opts.vethMtu)]);
  }
  return { a, b, vethA, vethB };
}

/**
 * A — M — B: two namespaces routed through a third, M (net.ipv4/ipv6
 * forwarding on), over veths with `queues` queues. A's and B's routes to
 * each other go via M, so their next hop is M and its MAC is the one the
 * AF_XDP path must put in its frames. mA/mB are M's devices towards A and B.
 *
 *   A 10.S.0.1  fd00:S::1   ── M 10.S.0.254 fd00:S::fe / 10.S.2.254 fd00:S:2::fe ──  B 10.S.2.2 fd00:S:2::2
 */
export function routedSides(
  lab: Lab,
  subnet: number,
  opts: { queues?: number; implB?: Side['impl'] } = {},
): { a: Side; b: Side; m: string; mA: string; mB: string; vethA: string; vethB: string } {
  const nsA = lab.ns('a');
  const m = lab.ns('m');
  const nsB = lab.ns('b');
  const mk = (ns: string, impl: Side['impl'], host: number, ifname: string, outer4: string, outer6: string): Side => ({
    ns,
    impl,
    ifname,
    keys: genKeys(),
    port: 51820 + host,
    log: [],
    outer4,
    outer6,
    inner4: `10.${subnet}.1.${host}`,
    inner6: `fd00:${subnet}:1::${host}`,
  });
  const a = mk(nsA, 'xdpwg', 1, `${lab.prefix}wa`, `10.${subnet}.0.1`, `fd00:${subnet}::1`);
  const b = mk(nsB, opts.implB ?? 'xdpwg', 2, `${lab.prefix}wb`, `10.${subnet}.2.2`, `fd00:${subnet}:2::2`);
  const [vethA, mA, mB, vethB] = [`${lab.prefix}va`, `${lab.prefix}ma`, `${lab.prefix}mb`, `${lab.prefix}vb`];
  const q = opts.queues ?? 1;
  lab.veth(
    { ns: nsA, dev: vethA, addrs: [`${a.outer4}/24`, `${a.outer6}/64`] },
    { ns: m, dev: mA, addrs: [`10.${subnet}.0.254/24`, `fd00:${subnet}::fe/64`] },
    q,
  );
  lab.veth(
    { ns: m, dev: mB, addrs: [`10.${subnet}.2.254/24`, `fd00:${subnet}:2::fe/64`] },
    { ns: nsB, dev: vethB, addrs: [`${b.outer4}/24`, `${b.outer6}/64`] },
    q,
  );
  nsExec(m, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  nsExec(m, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
  nsExec(nsA, 'ip', ['route', 'add', `10.${subnet}.2.0/24`, 'via', `10.${subnet}.0.254`]);
  nsExec(nsA, 'ip', ['-6', 'route', 'add', `fd00:${subnet}:2::/64`, 'via', `fd00:${subnet}::fe`]);
  nsExec(nsB, 'ip', ['route', 'add', `10.${subnet}.0.0/24`, 'via', `10.${subnet}.2.254`]);
  nsExec(nsB, 'ip', ['-6', 'route', 'add', `fd00:${subnet}::/64`, 'via', `fd00:${subnet}:2::fe`]);
  return { a, b, m, mA, mB, vethA, vethB };
}

/**
 * Starts tcpdump writing `file` in ns on dev; resolves once it listens; stop() ends it and waits for the file.
 * --immediate-mode: without it, packets still in libpcap's current ring block when tcpdump is stopped are lost.
 */
export async function capture(lab: Lab, ns: string, dev: string, file: string, filter = 'udp'): Promise<{ stop: () => Promise<string> }> {
  const child = lab.spawn(ns, 'tcpdump', ['-i', dev, '-n', '-U', '--immediate-mode', '-s', '128', '-B', '16384', '-w', file, filter]);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  await waitFor(`tcpdump on ${dev} in ${ns}`, () => err.includes('listening on'), 5_000, 50);
  return {
    stop: async (): Promise<string> => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
      return err;
    },
  };
}

/**
 * startImplementation after removing a UAPI socket left by an earlier run
 * (a SIGKILLed daemon leaves its socket file): otherwise the wait for the
 * socket can pass before the new daemon listens, `wg` cannot connect, falls
 * back to kernel netlink and fails with "Protocol not supported".
 */
export async function startFresh(lab: Lab, side: Side, env: Record<string, string> = {}, extraArgs: string[] = []): Promise<void> {
  rmSync(`/var/run/wireguard/${side.ifname}.sock`, { force: true });
  // These tests prove the AF_XDP paths: bulk on a copy-mode veth would otherwise leave by
  // the kernel socket ("txPath": "auto"; test/netns/tx-path.test.ts covers that choice), and
  // on a veth with GRO on, data would arrive by it ("rxPath": "auto"; test/netns/rx-path.test.ts).
  await startImplementation(lab, side, { XDPWG_TX_PATH: 'afxdp', XDPWG_RX_PATH: 'afxdp', ...env }, extraArgs);
}

/** What {@link carriedOverAfxdp} measured. */
export interface AfxdpProof {
  afxdpIn: number;
  afxdpOut: number;
  kernelIn: number;
  kernelOut: number;
  text: string;
}

/**
 * Runs `traffic` and checks that xdpwg side `x` carried it over AF_XDP
 * towards `peer`: the peer's path is af_xdp, x's af_xdp ports received and
 * sent at least `packets` more frames, and x's namespace kernel UDP
 * counters grew by at most `slack` (handshakes and keepalives on the main
 * thread's socket). Throws with the figures (and x's log) otherwise.
 */
export async function carriedOverAfxdp(
  x: Side,
  peer: Side,
  packets: number,
  traffic: () => void | Promise<void>,
  slack = 10,
): Promise<AfxdpProof> {
  const s0 = statsOf(x);
  const k0 = kernelUdp(x.ns);
  await traffic();
  const k1 = kernelUdp(x.ns);
  const p0 = portTotals(s0, 'af_xdp');
  const s1 = await statsAfter(
    x,
    (s) =>
      pathTo(s, peer.keys.publicKey) === 'af_xdp' &&
      portTotals(s, 'af_xdp').ipackets - p0.ipackets >= packets &&
      portTotals(s, 'af_xdp').opackets - p0.opackets >= packets,
  );
  const p1 = portTotals(s1, 'af_xdp');
  const proof = {
    afxdpIn: p1.ipackets - p0.ipackets,
    afxdpOut: p1.opackets - p0.opackets,
    kernelIn: k1.in - k0.in,
    kernelOut: k1.out - k0.out,
    text: '',
  };
  proof.text = `${x.ifname}→${peer.ifname}: path ${pathTo(s1, peer.keys.publicKey)}, af_xdp +${proof.afxdpIn} in +${proof.afxdpOut} out, kernel UDP +${proof.kernelIn} in +${proof.kernelOut} out`;
  const why = `${proof.text}\n${x.log.slice(-30).join('\n')}`;
  if (pathTo(s1, peer.keys.publicKey) !== 'af_xdp') throw new Error(`not on AF_XDP: ${why}`);
  if (proof.afxdpIn < packets || proof.afxdpOut < packets) throw new Error(`fewer than ${packets} frames each way on af_xdp: ${why}`);
  if (proof.kernelIn > slack || proof.kernelOut > slack)
    throw new Error(`the kernel UDP stack carried more than ${slack} datagrams: ${why}`);
  return proof;
}

/** Stops a side's daemon with SIGTERM and waits for it to exit (nothing when it already has). */
export async function stopSide(side: Side): Promise<void> {
  const proc = side.proc as ChildProcess;
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

/** Sends `file` from `from` to `to` over TCP through the tunnel (ncat); returns the SHA-256 `to` computed. */
export async function tcpTransferDigest(lab: Lab, from: Side, to: Side, port: number, file: string): Promise<string> {
  const rx = lab.spawn(to.ns, 'sh', ['-c', `ncat -l ${to.inner4} ${port} --recv-only | sha256sum`]);
  let out = '';
  rx.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise((r) => rx.once('exit', r));
  await waitFor(`ncat listening on ${to.inner4}:${port}`, () => nsExec(to.ns, 'ss', ['-ltnH']).includes(`${to.inner4}:${port}`), 5_000, 50);
  nsExec(from.ns, 'sh', ['-c', `ncat --send-only ${to.inner4} ${port} < ${file}`], { timeoutMs: 60_000 });
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  return out.split(/\s+/)[0] ?? '';
}
