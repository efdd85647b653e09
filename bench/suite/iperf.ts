/**
 * iperf3 measurements over a Pair: TCP bulk throughput (with the daemons'
 * CPU time over the same interval) and UDP received rate with loss.
 *
 * One iperf3 server per pair runs in b for the whole suite; every client
 * runs in a. "Forward" is a → b; reverse (-R) is b → a over the same
 * connection setup.
 */
import { type ChildProcess } from 'node:child_process';
import { nsExec, waitFor } from '../../test/helpers/netns.js';
import { cpuSeconds } from './cpu.js';
import { nsRun, sleep } from './run.js';
import type { Pair } from './topology.js';

const IPERF_PORT = 5201;

/** Starts the pair's iperf3 server in b (it serves one test after another) and waits until it listens. */
export async function startIperfServer(pair: Pair): Promise<ChildProcess> {
  const server = pair.lab.spawn(pair.b.ns, 'iperf3', ['-s', '-B', pair.target, '-p', String(IPERF_PORT)]);
  await waitFor(`iperf3 server in ${pair.b.ns}`, () => nsExec(pair.b.ns, 'ss', ['-ltn']).includes(`${pair.target}:${IPERF_PORT}`));
  return server;
}

/**
 * Runs an iperf3 client once more, a second later, when it fails: the server
 * occasionally answers "busy" while it is still closing the previous test,
 * and one such hiccup should not cost a whole suite run.
 */
async function iperfClient(pair: Pair, args: string[], seconds: number): Promise<string> {
  const run = async (): Promise<string> => (await nsRun(pair.a.ns, 'iperf3', args, { timeoutMs: (seconds + 20) * 1000 })).stdout;
  try {
    return await run();
  } catch {
    await sleep(1000);
    return run();
  }
}

/** One TCP run's outcome. */
export interface TcpResult {
  /** Goodput the receiver saw, bit/s. */
  bitsPerSecond: number;
  /** Bytes the receiver got. */
  bytes: number;
  /** user + sys CPU seconds of both daemons during the run (0 for the bare veth). */
  daemonCpuSeconds: number;
}

/** iperf3 TCP with `streams` parallel streams for `seconds`, a → b, or b → a when reverse. */
export async function tcpRun(pair: Pair, opts: { streams: number; reverse: boolean; seconds: number }): Promise<TcpResult> {
  const args = ['-c', pair.target, '-p', String(IPERF_PORT), '-t', String(opts.seconds), '-P', String(opts.streams), '-J'];
  if (opts.reverse) args.push('-R');
  const pids = pair.daemonPids();
  const cpuBefore = cpuSeconds(pids);
  const stdout = await iperfClient(pair, args, opts.seconds);
  const cpuAfter = cpuSeconds(pids);
  const report = JSON.parse(stdout) as { end: { sum_received: { bits_per_second: number; bytes: number } } };
  return {
    bitsPerSecond: report.end.sum_received.bits_per_second,
    bytes: report.end.sum_received.bytes,
    daemonCpuSeconds: cpuAfter - cpuBefore,
  };
}

/** One UDP run's outcome, as the receiver counted it. */
export interface UdpResult {
  /** UDP payload bytes per datagram (-l). */
  payload: number;
  /** Offered rate in datagrams per second (Infinity: as fast as iperf3 can send). */
  offeredPps: number;
  /** Datagrams received per second. */
  receivedPps: number;
  /** Received payload rate, Mbit/s. */
  receivedMbps: number;
  /** Datagrams lost, percent of those sent. */
  lossPercent: number;
}

/**
 * UDP socket buffers of both iperf3 ends (-w; the kernel caps it at
 * net.core.rmem_max/wmem_max). With the default 208 KiB the iperf3
 * receiver's own socket overflows in bursts and drops packets on the bare
 * veth at a few percent of its capacity: the loss measured would be
 * iperf3's, not the path's.
 */
const UDP_SOCKET_BUFFER = '4M';

interface UdpSum {
  seconds: number;
  packets: number;
  lost_packets: number;
  lost_percent: number;
}

/** iperf3 UDP a → b at payload bytes per datagram, offering offeredPps (Infinity = unlimited). */
export async function udpRun(pair: Pair, opts: { payload: number; offeredPps: number; seconds: number }): Promise<UdpResult> {
  const rate = Number.isFinite(opts.offeredPps) ? String(Math.round(opts.offeredPps * opts.payload * 8)) : '0';
  const args = [
    '-c',
    pair.target,
    '-p',
    String(IPERF_PORT),
    '-u',
    '-l',
    String(opts.payload),
    '-b',
    rate,
    '-w',
    UDP_SOCKET_BUFFER,
    '-t',
    String(opts.seconds),
    '-J',
  ];
  const stdout = await iperfClient(pair, args, opts.seconds);
  const report = JSON.parse(stdout) as { end: { sum: UdpSum } };
  const s = report.end.sum;
  const received = s.packets - s.lost_packets;
  const receivedPps = received / s.seconds;
  return {
    payload: opts.payload,
    offeredPps: opts.offeredPps,
    receivedPps,
    receivedMbps: (receivedPps * opts.payload * 8) / 1e6,
    lossPercent: s.packets > 0 ? (100 * s.lost_packets) / s.packets : 100,
  };
}

/** The outcome of a search for the highest rate received with little loss. */
export interface UdpSearch {
  /** The run reported: the fastest with loss under the limit, or the least lossy when none was. */
  reported: UdpResult;
  /** Whether the reported run's loss is under the limit. */
  lossOk: boolean;
  /** Every run of the search, in order (the first is the unlimited one). */
  runs: UdpResult[];
}

/** Each further step of the search offers this fraction of the previous offer. */
const UDP_STEP_DOWN = 0.75;

/** Loss (percent) under which a rate counts as sustained. */
export const UDP_LOSS_LIMIT_PERCENT = 1;

/**
 * A short search for the received rate the path sustains with loss under
 * 1%: first offer as much as iperf3 can send; then offer what came through,
 * and step down by 25% while the loss stays at or above the limit, for at
 * most maxSteps further runs. Offering what the receiver took in the
 * unlimited run starts the search at the path's own measured capacity.
 */
export async function udpSearch(pair: Pair, opts: { payload: number; seconds: number; maxSteps: number }): Promise<UdpSearch> {
  const runs: UdpResult[] = [];
  const first = await udpRun(pair, { payload: opts.payload, offeredPps: Infinity, seconds: opts.seconds });
  runs.push(first);
  if (first.lossPercent < UDP_LOSS_LIMIT_PERCENT) return { reported: first, lossOk: true, runs };
  let offer = first.receivedPps;
  for (let step = 0; step < opts.maxSteps; step++) {
    const r = await udpRun(pair, { payload: opts.payload, offeredPps: offer, seconds: opts.seconds });
    runs.push(r);
    if (r.lossPercent < UDP_LOSS_LIMIT_PERCENT) return { reported: r, lossOk: true, runs };
    offer *= UDP_STEP_DOWN;
  }
  const leastLossy = runs.reduce((best, r) => (r.lossPercent < best.lossPercent ? r : best));
  return { reported: leastLossy, lossOk: false, runs };
}
