/**
 * `xdpwg echo`: the port layer's example, a UDP echo server (as CNDP ships
 * one). The main thread attaches our XDP filter for the echo port, starts one
 * worker per queue (src/cli/echo-worker.ts), binds each worker's socket into
 * the filter's XSKMAP, prints packets per second and port stats each second,
 * and on Ctrl-C / SIGTERM stops the workers and detaches the filter.
 *
 *   xdpwg echo --interface DEV [--queue Q | --queues N] [--port P]
 *              [--mode auto|native|generic] [--udp] [--busy-poll]
 *              [--duration SECONDS] [--json]
 */
import { Worker } from 'node:worker_threads';
import { native, type XdpMode, type NativeXdpFilter } from '../native/binding.js';
import { describeXdpFilter, openXdpFilter } from '../native/xdp-filter.js';
import type { EchoWorkerData, EchoWorkerStats } from './echo-worker.js';

/** Default echo port (any unprivileged port; 7 is the classic echo port but often taken). */
export const DEFAULT_ECHO_PORT = 7777;

/** Parsed command line. */
export interface EchoOptions {
  ifname: string;
  queues: number[];
  port: number;
  mode: XdpMode;
  udp: boolean;
  busyPoll: boolean;
  durationS: number;
  json: boolean;
}

/** A command-line mistake: printed with the usage, exit status 2. */
export class UsageError extends Error {}

const usage =
  'usage: xdpwg echo --interface DEV [--queue Q | --queues N] [--port P] [--mode auto|native|generic] [--udp] [--busy-poll] [--duration S] [--json]';

function intArg(name: string, v: string | undefined, min: number, max: number): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${name} needs an integer in ${min}..${max}, got ${v ?? 'nothing'}`);
  return n;
}

/** Parses echo's arguments; throws UsageError. */
export function parseEchoArgs(args: string[]): EchoOptions {
  const o: EchoOptions = {
    ifname: '',
    queues: [0],
    port: DEFAULT_ECHO_PORT,
    mode: 'auto',
    udp: false,
    busyPoll: false,
    durationS: 0,
    json: false,
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const val = (): string | undefined => args[++i];
    switch (a) {
      case '--interface':
      case '-i':
        o.ifname = val() ?? '';
        break;
      case '--queue':
      case '-q':
        o.queues = [intArg('--queue', val(), 0, 255)];
        break;
      case '--queues':
      case '-n': {
        const n = intArg('--queues', val(), 1, 64);
        o.queues = Array.from({ length: n }, (_, k) => k);
        break;
      }
      case '--port':
      case '-p':
        o.port = intArg('--port', val(), 1, 65535);
        break;
      case '--mode':
      case '-m': {
        const m = val();
        if (m !== 'auto' && m !== 'native' && m !== 'generic')
          throw new UsageError(`--mode must be auto, native or generic, got ${m ?? 'nothing'}`);
        o.mode = m;
        break;
      }
      case '--udp':
        o.udp = true;
        break;
      case '--busy-poll':
        o.busyPoll = true;
        break;
      case '--duration':
        o.durationS = intArg('--duration', val(), 0, 86400);
        break;
      case '--json':
        o.json = true;
        break;
      default:
        throw new UsageError(`unknown argument '${a}'`);
    }
  }
  if (!o.udp && !o.ifname) throw new UsageError('--interface is required (or --udp for the kernel socket path)');
  if (o.udp) o.queues = [0]; // one kernel socket: one worker
  return o;
}

interface WorkerState {
  worker: Worker;
  queue: number;
  eventFd: number;
  last?: EchoWorkerStats;
  prevEchoed: number;
  done: Promise<void>;
}

function log(line: string): void {
  process.stderr.write(`xdpwg echo: ${line}\n`);
}

/** Runs the echo until a signal (or --duration); returns the exit status. */
export async function run(args: string[]): Promise<number> {
  let o: EchoOptions;
  try {
    o = parseEchoArgs(args);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`xdpwg echo: ${err.message}\n${usage}\n`);
      return 2;
    }
    throw err;
  }

  // Signals are caught from the start, so Ctrl-C during start-up also ends
  // in the finally block below that detaches the filter.
  let requestStop!: () => void;
  const stopRequested = new Promise<void>((resolve) => {
    requestStop = resolve;
  });
  process.once('SIGINT', requestStop);
  process.once('SIGTERM', requestStop);

  let filter: NativeXdpFilter | undefined;
  const stop = new SharedArrayBuffer(4);
  const stopFlag = new Int32Array(stop);
  const workers: WorkerState[] = [];
  let failed = false;
  let timer: NodeJS.Timeout | undefined;
  let limit: NodeJS.Timeout | undefined;

  const stopAll = (): void => {
    if (Atomics.load(stopFlag, 0)) return;
    Atomics.store(stopFlag, 0, 1);
    for (const w of workers) if (w.eventFd >= 0) native().wakeFd(w.eventFd);
  };

  try {
    if (!o.udp) {
      // Steers to the addresses at start: the echo example does not follow later changes.
      filter = openXdpFilter({ ifname: o.ifname, mode: o.mode, ports: [o.port] });
      log(describeXdpFilter(filter));
    }
    // Workers must use the filter's mode: a socket cannot be native while the program is generic.
    const mode = (filter?.info().mode ?? o.mode) as XdpMode;
    const ready: Promise<void>[] = [];
    for (const queue of o.queues) {
      ready.push(
        startWorker(o, queue, mode, stop, filter, workers, () => {
          failed = true;
          stopAll();
          requestStop();
        }),
      );
    }
    const allReady = Promise.all(ready);
    allReady.catch(() => {
      /* reported by the race below or after a stop */
    });
    await Promise.race([allReady, stopRequested]);
    if (!Atomics.load(stopFlag, 0) && !failed) {
      log(`echoing UDP port ${o.port} on ${o.udp ? 'the kernel socket' : `${o.ifname} queue(s) ${o.queues.join(',')}`}; Ctrl-C to stop`);
      if (o.json)
        process.stdout.write(JSON.stringify({ type: 'ready', port: o.port, queues: o.queues, filter: filter?.info() ?? null }) + '\n');
      timer = setInterval(() => printStats(o, workers, false), 1000);
      if (o.durationS > 0) limit = setTimeout(requestStop, o.durationS * 1000);
      void Promise.all(workers.map((w) => w.done)).then(requestStop);
      await stopRequested;
    }
  } catch (err) {
    failed = true;
    log((err as Error).message);
  } finally {
    if (timer) clearInterval(timer);
    if (limit) clearTimeout(limit);
    stopAll();
    // Workers see the flag within one idle wait; a stuck one is terminated.
    await Promise.race([Promise.all(workers.map((w) => w.done)), new Promise((r) => setTimeout(r, 3000))]);
    for (const w of workers) await w.worker.terminate();
    filter?.close();
    if (filter) log(`filter detached from ${o.ifname}`);
    process.off('SIGINT', requestStop);
    process.off('SIGTERM', requestStop);
  }
  printStats(o, workers, true);
  return failed ? 1 : 0;
}

/** Starts the worker for one queue; resolves once its socket is bound into the filter. */
function startWorker(
  o: EchoOptions,
  queue: number,
  mode: XdpMode,
  stop: SharedArrayBuffer,
  filter: NativeXdpFilter | undefined,
  workers: WorkerState[],
  onFailure: () => void,
): Promise<void> {
  const data: EchoWorkerData = { kind: o.udp ? 'udp' : 'af_xdp', ifname: o.ifname, queue, port: o.port, mode, busyPoll: o.busyPoll, stop };
  const worker = new Worker(new URL('./echo-worker.js', import.meta.url), { workerData: data });
  return new Promise<void>((resolve, reject) => {
    const state: WorkerState = {
      worker,
      queue,
      eventFd: -1,
      prevEchoed: 0,
      done: new Promise<void>((res) => worker.once('exit', () => res())),
    };
    workers.push(state);
    worker.on('message', (m: { type: string } & Record<string, unknown>) => {
      if (m.type === 'ready') {
        state.eventFd = m.eventFd as number;
        try {
          filter?.bindQueue(queue, m.fd as number);
        } catch (err) {
          onFailure();
          reject(err as Error);
          return;
        }
        log(m.describe as string);
        resolve();
      } else if (m.type === 'stats' || m.type === 'done') {
        state.last = m as unknown as EchoWorkerStats;
      } else if (m.type === 'error') {
        log(`queue ${queue}: ${m.message as string}`);
        onFailure();
        reject(new Error(`queue ${queue}: ${m.message as string}`));
      }
    });
    worker.on('error', (err) => {
      log(`queue ${queue} worker crashed: ${err.message}`);
      onFailure();
      reject(err);
    });
  });
}

function printStats(o: EchoOptions, workers: WorkerState[], final: boolean): void {
  let total = 0;
  const parts: string[] = [];
  for (const w of workers) {
    const s = w.last;
    if (!s) continue;
    const pps = s.echoed - w.prevEchoed;
    w.prevEchoed = s.echoed;
    total += pps;
    if (o.json) {
      process.stdout.write(
        JSON.stringify({
          type: final ? 'final' : 'stats',
          queue: w.queue,
          pps: final ? undefined : pps,
          echoed: s.echoed,
          received: s.received,
          drops: s.drops,
          port: s.port,
        }) + '\n',
      );
    } else {
      const p = s.port;
      parts.push(
        `q${w.queue}: ${final ? '' : `${pps} pps, `}rx ${p.ipackets} tx ${p.opackets} echoed ${s.echoed}` +
          ` imissed ${p.imissed} rx_invalid ${p.rx_invalid} tx_invalid ${p.tx_invalid} fq_empty ${p.fq_empty ?? 0}` +
          ` tx_ring_full ${p.tx_ring_full ?? 0} kicks ${p.kicks ?? 0}` +
          (Object.keys(s.drops).length
            ? ` drops ${Object.entries(s.drops)
                .map(([k, v]) => `${k}=${v}`)
                .join(',')}`
            : ''),
      );
    }
  }
  if (!o.json && parts.length) process.stdout.write(`${final ? 'final' : `${total} pps`} | ${parts.join(' | ')}\n`);
}
