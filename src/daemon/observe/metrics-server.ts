/**
 * The opt-in Prometheus endpoint: GET /metrics on the address in the
 * datapath config ("metricsListen") or on the command line
 * (--metrics-listen). Off unless one of them sets it. Only GET: any other
 * method gets 405 with `Allow: GET`; any other path 404. No body is read.
 * Bodies come through MetricsCache: at most one render a second, however
 * many scrapes arrive.
 *
 * Threading: main thread.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeviceMetrics, type MetricsSource } from './prometheus-metrics.js';
import { formatListenAddress, parseListenAddress } from '../config/listen-address.js';
import { MetricsCache } from './metrics-cache.js';

export const METRICS_PATH = '/metrics';

export class MetricsServer {
  private constructor(
    private readonly server: Server,
    readonly address: string,
    private readonly cache: MetricsCache,
  ) {}

  /** Renders done so far (each serves every scrape of its window). */
  get renders(): number {
    return this.cache.renders;
  }

  /** Listens on `listen` (HOST:PORT); rejects with a clear error when it cannot. */
  static async open(listen: string, source: MetricsSource): Promise<MetricsServer> {
    const where = parseListenAddress(listen);
    const metrics = new DeviceMetrics(source);
    const cache = new MetricsCache(() => metrics.render());
    const server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (req.method !== 'GET') {
        res.writeHead(405, { Allow: 'GET', 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(`${req.method} is not allowed here: only GET ${METRICS_PATH}\n`);
        return;
      }
      if (path !== METRICS_PATH) {
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(`not found: metrics are at ${METRICS_PATH}\n`);
        return;
      }
      cache.get().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': metrics.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
          res.end(`cannot collect metrics: ${(err as Error).message}\n`);
        },
      );
    });
    // A scraper is a short request-response; nothing should hold a connection for long.
    server.keepAliveTimeout = 5_000;
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`cannot serve metrics on ${listen}: ${err.message}`)));
      server.listen({ host: where.host, port: where.port }, () => resolve());
    });
    server.unref();
    const bound = server.address() as AddressInfo;
    return new MetricsServer(
      server,
      formatListenAddress({ host: where.host ?? (bound.family === 'IPv6' ? '::' : '0.0.0.0'), port: bound.port }),
      cache,
    );
  }

  close(): void {
    this.server.close();
    this.server.closeAllConnections();
  }
}
