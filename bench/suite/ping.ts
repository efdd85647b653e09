/**
 * Round-trip time through a Pair: ping every 10 ms from a to b, each reply's
 * time parsed from ping's own per-packet lines, summarised as p50/p99.
 * Under load, the same ping runs while an iperf3 TCP stream fills the path in
 * the same direction, so the echo requests queue behind the data.
 */
import { nsRun } from './run.js';
import { percentile } from './stats.js';
import type { Pair } from './topology.js';

/** Interval between echo requests, seconds (ping -i; root may go below 0.2 s). */
const PING_INTERVAL_S = 0.01;

/** RTT summary of one ping run. */
export interface PingResult {
  p50Ms: number;
  p99Ms: number;
  sent: number;
  received: number;
}

/** Pings b's target from a for about `seconds`. */
export async function pingRun(pair: Pair, seconds: number): Promise<PingResult> {
  const count = Math.max(10, Math.round(seconds / PING_INTERVAL_S));
  const { stdout } = await nsRun(pair.a.ns, 'ping', ['-n', '-i', String(PING_INTERVAL_S), '-c', String(count), '-W', '1', pair.target], {
    timeoutMs: (seconds + 15) * 1000,
    allowFailure: true,
  });
  const rtts = [...stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  return { p50Ms: percentile(rtts, 50), p99Ms: percentile(rtts, 99), sent: count, received: rtts.length };
}
