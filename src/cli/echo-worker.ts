/**
 * One `xdpwg echo` worker: owns one port (an AF_XDP socket on one queue, or
 * the kernel UDP socket with --udp) and answers every UDP datagram to the
 * echo port with the same payload.
 *
 * Loop: rxBurst -> parse + turn around in place -> txBurst; frames that are
 * dropped or that the tx ring refused go back with one freeFrames call. When
 * idle it blocks in the Waiter (port fd + an eventfd the main thread signals
 * to stop it) or, without a Waiter, in poll(2) on the port's fd.
 *
 * Messages to the parent: {type:'ready', fd, eventFd, describe, info},
 * {type:'stats', ...} once a second, {type:'done', ...} on exit, {type:'error', message}.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { native, type PortStats, type XdpMode } from '../native/binding.js';
import { DescBurst, FrameList } from '../native/frames.js';
import { SocketPort, XdpPort, type Port } from '../native/port.js';
import { parseUdpFrame, turnAround, UdpFrame } from '../packet/index.js';
import { DropCounters } from '../datapath/drop-counters.js';

/** What the main thread hands each worker. */
export interface EchoWorkerData {
  kind: 'af_xdp' | 'udp';
  ifname: string;
  queue: number;
  port: number;
  mode: XdpMode;
  busyPoll: boolean;
  /** Int32Array[0] != 0: stop. */
  stop: SharedArrayBuffer;
}

/** Per-second report a worker posts. */
export interface EchoWorkerStats {
  type: 'stats' | 'done';
  queue: number;
  echoed: number;
  received: number;
  drops: Record<string, number>;
  port: PortStats;
}

const IDLE_WAIT_MS = 200;
const STATS_INTERVAL_MS = 1000;

function openPort(d: EchoWorkerData): Port {
  if (d.kind === 'udp') return SocketPort.open({ port: d.port });
  return XdpPort.open({ ifname: d.ifname, queue: d.queue, mode: d.mode, busyPoll: d.busyPoll, inhibitProgLoad: true });
}

function main(): void {
  const d = workerData as EchoWorkerData;
  const stop = new Int32Array(d.stop);
  const port = openPort(d);
  // Idle: block in the Waiter over the port's fd and an eventfd the main
  // thread signals on stop (poll(2) on the port alone if the addon lacks it).
  const waiter = typeof native().Waiter === 'function' ? new (native().Waiter)() : null;
  const waitFds = new Int32Array([port.fd]);
  parentPort!.postMessage({
    type: 'ready',
    queue: d.queue,
    fd: port.fd,
    eventFd: waiter?.eventFd ?? -1,
    describe: port.describe(),
    info: port instanceof XdpPort ? port.native.info() : { kind: 'udp', port: (port as SocketPort).port },
  });

  const bytes = port.frames.bytes;
  const rx = new DescBurst(port.burst);
  const tx = new DescBurst(port.burst);
  const free = new FrameList(port.burst);
  const frame = new UdpFrame();
  const drops = new DropCounters();
  let echoed = 0,
    received = 0,
    bursts = 0;
  let nextReport = Date.now() + STATS_INTERVAL_MS;
  const report = (type: 'stats' | 'done'): void => {
    const msg: EchoWorkerStats = { type, queue: d.queue, echoed, received, drops: drops.snapshot(), port: port.stats() };
    parentPort!.postMessage(msg);
  };

  while (Atomics.load(stop, 0) === 0) {
    const n = port.rxBurst(rx.desc, rx.capacity);
    if (n === 0) {
      if (waiter) waiter.wait(waitFds, 1, IDLE_WAIT_MS);
      else (port as XdpPort).poll(IDLE_WAIT_MS);
      if (Date.now() >= nextReport) {
        report('stats');
        nextReport += STATS_INTERVAL_MS;
      }
      continue;
    }
    received += n;
    let m = 0;
    free.clear();
    if (port.kind === 'udp') {
      // The kernel did the parsing: payloads in place, addresses in port.addr;
      // sending the same records back answers each sender from the address it reached.
      m = n;
      tx.desc.set(rx.desc.subarray(0, 2 * n));
    } else {
      for (let i = 0; i < n; i++) {
        const off = rx.desc[2 * i]!,
          len = rx.desc[2 * i + 1]!;
        let r = parseUdpFrame(bytes, off, len, frame);
        if (r === null && frame.dstPort !== d.port) r = 'outer-port';
        if (r !== null) {
          drops.count(r);
          free.push(off);
          continue;
        }
        tx.desc[2 * m] = off;
        tx.desc[2 * m + 1] = turnAround(bytes, off, frame);
        m++;
      }
    }
    if (m > 0) {
      const sent = port.txBurst(tx.desc, m);
      echoed += sent;
      if (sent < m) {
        drops.count('tx-send-failed', m - sent);
        for (let i = sent; i < m; i++) free.push(tx.desc[2 * i]!);
      }
    }
    if (free.count) port.freeFrames(free.offsets, free.count);
    // Reading the clock every burst would cost more than the burst's parsing.
    if ((++bursts & 63) === 0 && Date.now() >= nextReport) {
      report('stats');
      nextReport += STATS_INTERVAL_MS;
    }
  }
  report('done');
  port.close();
  waiter?.close();
}

try {
  main();
} catch (err) {
  parentPort!.postMessage({
    type: 'error',
    message: err instanceof Error ? err.message : String(err),
    code: (err as { code?: string }).code,
  });
}
