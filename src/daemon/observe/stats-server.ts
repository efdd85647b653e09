/**
 * `xdpwg stats` and `xdpwg capture` transport: a unix socket beside the
 * UAPI one. A client sends one request line: `stats` (or nothing) gets one
 * JSON document of the device's live counters; `capture COUNT SNAPLEN`
 * gets a pcap stream of the AF_XDP path's frames (see capture-session.ts),
 * or one line `error: ...`. Kept apart from the UAPI socket so that socket
 * stays byte-for-byte wireguard-go's, and outside /var/run/wireguard so
 * `wg` never mistakes it for an interface.
 */
import { createServer, createConnection, type Server } from 'node:net';
import { chmodSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { CAPTURE_SNAPLEN_MAX, streamCapture, type CaptureSession } from './capture-session.js';
import { ensurePrivateDir } from '../run-dir.js';
import { bindPrivate } from '../uapi/server.js';

export const STATS_SOCKET_DIR = '/var/run/xdpwg';
/** How long a connection may stay silent before it is answered as `stats`. */
const SILENT_CLIENT_MS = 200;

export function statsSocketPath(ifname: string, dir = STATS_SOCKET_DIR): string {
  return path.join(dir, `${ifname}.stats.sock`);
}

export class StatsServer {
  private constructor(
    private readonly server: Server,
    readonly socketPath: string,
  ) {}

  /** `dir`: where the socket goes (tests); made private (0700) like every directory of ours. */
  static async open(
    ifname: string,
    snapshot: () => unknown,
    capture?: (snaplen: number) => CaptureSession,
    dir = STATS_SOCKET_DIR,
  ): Promise<StatsServer> {
    ensurePrivateDir(dir);
    const socketPath = statsSocketPath(ifname, dir);
    try {
      unlinkSync(socketPath);
    } catch {
      /* none left behind */
    }
    const server = createServer((sock) => {
      sock.on('error', () => sock.destroy());
      let request = '';
      let answered = false;
      // A client that only reads (this socket's first protocol) gets the stats after a moment.
      const silent = setTimeout(() => answer(''), SILENT_CLIENT_MS);
      const answer = (line: string): void => {
        if (answered) return;
        answered = true;
        clearTimeout(silent);
        const [verb, countText, snaplenText] = line.trim().split(/\s+/);
        if (verb === 'capture') {
          const count = Number(countText ?? 0),
            snaplen = Number(snaplenText ?? CAPTURE_SNAPLEN_MAX);
          try {
            if (!capture) throw new Error('capture: not offered by this daemon');
            if (!Number.isInteger(count) || count < 0) throw new RangeError(`capture: count must be a whole number >= 0, got ${countText}`);
            streamCapture(sock, capture(snaplen), count);
          } catch (err) {
            sock.end(`error: ${(err as Error).message}\n`);
          }
          return;
        }
        sock.end(JSON.stringify(snapshot()) + '\n');
      };
      sock.setEncoding('latin1');
      sock.on('data', (d: string) => {
        request += d;
        if (request.includes('\n')) answer(request.slice(0, request.indexOf('\n')));
      });
      sock.on('end', () => answer(request));
      sock.on('close', () => clearTimeout(silent));
    });
    // Owner-only from the moment it exists (capture streams the tunnel's traffic).
    await bindPrivate(server, socketPath);
    chmodSync(socketPath, 0o600);
    return new StatsServer(server, socketPath);
  }

  close(): void {
    this.server.close();
    try {
      unlinkSync(this.socketPath);
    } catch {
      /* already gone */
    }
  }
}

/**
 * Why the stats socket of an interface cannot be used, saying what is missing:
 * a daemon (no socket, or a stale one) or the right to use it (the socket is
 * root's, mode 0600).
 */
export function unreachableStats(ifname: string, err: Error): string {
  const file = statsSocketPath(ifname);
  switch ((err as NodeJS.ErrnoException).code) {
    case 'EACCES':
    case 'EPERM':
      return `permission denied on ${file}: the daemon's sockets are root's (run as root)`;
    case 'ENOENT':
      return `no stats socket at ${file}: is xdpwg running for \`${ifname}'?`;
    case 'ECONNREFUSED':
      return `nothing answers on ${file} (a stale socket: the daemon of \`${ifname}' is gone)`;
    default:
      return `cannot reach the xdpwg daemon of \`${ifname}' (${(err as NodeJS.ErrnoException).code ?? err.message})`;
  }
}

/** Reads one stats document from a running daemon. */
export function fetchStats(ifname: string, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(statsSocketPath(ifname));
    sock.write('stats\n');
    let text = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer from ${statsSocketPath(ifname)} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      text += d;
    });
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(err);
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(unreachableStats(ifname, err)));
    });
  });
}
