/**
 * A stand-in for the AF_XDP device plugin's per-pod Unix-socket server
 * (intel/afxdp-plugins-for-kubernetes, internal/udsserver), run in a worker
 * thread so the test's main thread stays free while the daemon under test
 * talks to it. Like the plugin on Allocate, it first loads libxdp's default
 * XSK program on the pod's devices (inside the pod's network namespace) and
 * keeps their XSKMAP fds; then it serves ONE connection on a SOCK_SEQPACKET
 * socket, answering as the plugin does ("plugin"), or misbehaving:
 * "garbage" (an answer from no protocol), "close-mid" (hangs up after
 * /host_ok), "silent" (never answers), "not-a-map" (/fd_ack with a
 * descriptor that is no BPF map). It posts every request it read, then exits.
 *
 * Start it with startFakeDevicePlugin(); the promise resolves with the
 * requests once the connection is over (or after `acceptTimeoutMs` without one).
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { openSync, closeSync } from 'node:fs';
import { fdPassing } from '../../src/native/fd-passing.js';
import { native } from '../../src/native/binding.js';

export type FakePluginBehaviour = 'plugin' | 'garbage' | 'close-mid' | 'silent' | 'not-a-map';

export interface FakePluginOptions {
  socketPath: string;
  behaviour: FakePluginBehaviour;
  /** The pod's namespace and the devices the plugin loads its program on. */
  netns?: string;
  devices?: string[];
  /** The pod name /connect must carry. */
  podName: string;
  acceptTimeoutMs?: number;
}

export interface FakePluginResult {
  requests: string[];
  error?: string;
}

export interface FakePlugin {
  /** Resolves once the program is loaded and the socket listens. */
  ready: Promise<void>;
  /** Resolves when the connection is over. */
  done: Promise<FakePluginResult>;
}

export function startFakeDevicePlugin(opts: FakePluginOptions): FakePlugin {
  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: opts });
  let readyResolve!: () => void;
  let readyReject!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  const done = new Promise<FakePluginResult>((resolve, reject) => {
    worker.on('message', (m: { t: 'ready' } | { t: 'done'; result: FakePluginResult }) => {
      if (m.t === 'ready') readyResolve();
      else resolve(m.result);
    });
    worker.once('error', (e) => {
      readyReject(e);
      reject(e);
    });
    worker.once('exit', (code) => {
      const e = new Error(`fake device plugin exited (${code}) before reporting`);
      readyReject(e);
      reject(e);
    });
  });
  return { ready, done };
}

/** The worker's body: serve one connection as the plugin would (or as told to misbehave). */
function serve(opts: FakePluginOptions): FakePluginResult {
  const n = fdPassing();
  const maps = new Map<string, number>();
  const requests: string[] = [];
  let listenFd = -1;
  let conn = -1;
  const reply = (text: string, fd = -1): void => n.seqpacketSend(conn, text, fd, 2_000);
  try {
    if (opts.netns) native().netnsEnter(`/var/run/netns/${opts.netns}`);
    for (const dev of opts.devices ?? []) maps.set(dev, n.xskDefaultProgram(dev));
    listenFd = n.seqpacketListen(opts.socketPath);
    parentPort!.postMessage({ t: 'ready' });
    conn = n.seqpacketAccept(listenFd, opts.acceptTimeoutMs ?? 20_000);
    for (;;) {
      // The plugin's own idle timeout is 30 s; 10 s is plenty for a test.
      const msg = n.seqpacketRecv(conn, opts.behaviour === 'silent' ? 10_000 : 5_000);
      if (msg.closed) break;
      requests.push(msg.text);
      if (msg.fd >= 0) n.closeFd(msg.fd);
      if (opts.behaviour === 'silent') continue;
      if (opts.behaviour === 'garbage') {
        reply('HTTP/1.1 400 Bad Request\r\n');
        continue;
      }
      const [verb, arg] = msg.text.split(',').map((w) => w.replace(/ /g, ''));
      if (verb === '/connect' && requests.length === 1) {
        reply(arg === opts.podName ? '/host_ok' : '/host_nak');
        if (opts.behaviour === 'close-mid') break;
      } else if (msg.text === '/version') {
        reply('0.1');
      } else if (verb === '/xsk_map_fd' && arg !== undefined) {
        if (opts.behaviour === 'not-a-map') {
          const devNull = openSync('/dev/null', 'r');
          try {
            reply('/fd_ack', devNull);
          } finally {
            closeSync(devNull);
          }
        } else {
          const fd = maps.get(arg);
          if (fd === undefined) reply('/fd_nak');
          else reply('/fd_ack', fd);
        }
      } else if (msg.text === '/fin') {
        reply('/fin_ack');
        break;
      } else {
        reply('/nak');
      }
    }
    return { requests };
  } catch (err) {
    return { requests, error: (err as Error).message };
  } finally {
    if (conn >= 0) n.closeFd(conn);
    if (listenFd >= 0) n.closeFd(listenFd);
    // The program stays on the device (as the plugin leaves it); the maps' fds are the plugin's to close.
    for (const fd of maps.values()) n.closeFd(fd);
  }
}

if (!isMainThread && parentPort && (workerData as { behaviour?: string } | undefined)?.behaviour) {
  const result = serve(workerData as FakePluginOptions);
  parentPort.postMessage({ t: 'done', result });
}
