/**
 * Bounds the rate of metrics renders: a rendered body is kept for maxAgeMs
 * (1 s by default) from the moment its render started, and every scrape in
 * that window gets the same body — one in flight included — so any number
 * of scrapers, or one scraping in a loop, cost at most one render (a
 * snapshot of the device, prom-client's formatting) per window on the main
 * thread. The counters a scrape sees are at most that old. A failed render
 * is not kept: the next scrape tries again.
 *
 * Threading: main thread (the metrics server's request handler).
 */
export const METRICS_CACHE_MS = 1_000;

export class MetricsCache {
  private body: Promise<string> | undefined;
  private startedAt = 0;
  /** Renders started (for tests and diagnostics). */
  renders = 0;

  constructor(
    private readonly render: () => Promise<string>,
    private readonly maxAgeMs = METRICS_CACHE_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The body of the current window: the kept one while it is younger than maxAgeMs, else a new render. */
  get(): Promise<string> {
    const t = this.now();
    if (this.body && t - this.startedAt < this.maxAgeMs) return this.body;
    this.startedAt = t;
    this.renders++;
    const body = this.render();
    this.body = body;
    body.catch(() => {
      if (this.body === body) this.body = undefined;
    });
    return body;
  }
}
