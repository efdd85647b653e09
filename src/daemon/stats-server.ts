/**
 * `xdpwg stats` transport: a unix socket beside the UAPI one that answers
 * every connection with one JSON document of the device's live counters and
 * closes. Kept apart from the UAPI socket so that socket stays byte-for-byte
 * wireguard-go's, and outside /var/run/wireguard so `wg` never mistakes it
 * for an interface.
 */
import { createServer, createConnection, type Server } from 'node:net';
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';

export const STATS_SOCKET_DIR = '/var/run/xdpwg';

export function statsSocketPath(ifname: string): string {
  return path.join(STATS_SOCKET_DIR, `${ifname}.stats.sock`);
}

export class StatsServer {
  private constructor(private readonly server: Server, readonly socketPath: string) {}

  static async open(ifname: string, snapshot: () => unknown): Promise<StatsServer> {
    mkdirSync(STATS_SOCKET_DIR, { recursive: true, mode: 0o755 });
    const socketPath = statsSocketPath(ifname);
    try { unlinkSync(socketPath); } catch { /* none left behind */ }
    const server = createServer((sock) => {
      sock.on('error', () => sock.destroy());
      sock.end(JSON.stringify(snapshot()) + '\n');
    });
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(socketPath, () => resolve()); });
    chmodSync(socketPath, 0o600);
    return new StatsServer(server, socketPath);
  }

  close(): void {
    this.server.close();
    try { unlinkSync(this.socketPath); } catch { /* already gone */ }
  }
}

/** Reads one stats document from a running daemon. */
export function fetchStats(ifname: string, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(statsSocketPath(ifname));
    let text = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no answer from ${statsSocketPath(ifname)} within ${timeoutMs} ms`)); }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => { text += d; });
    sock.on('end', () => { clearTimeout(timer); try { resolve(JSON.parse(text)); } catch (err) { reject(err); } });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach the xdpwg daemon of \`${ifname}' (${(err as NodeJS.ErrnoException).code ?? err.message}); is it running?`));
    });
  });
}
