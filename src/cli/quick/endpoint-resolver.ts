/**
 * Keeps the host-name endpoints of an `xdpwg up` interface resolved.
 *
 * At boot a name may not resolve yet (no link, no DNS server): the peer
 * starts without an endpoint and the name is retried with backoff (1 s,
 * doubling, at most 20 s apart) until it resolves, as wg-quick@ does with
 * WG_ENDPOINT_RESOLUTION_RETRIES=infinity — except that the interface is up
 * meanwhile instead of blocking the unit's start.
 *
 * Once resolved, a name is resolved again every 30 s while its peer's last
 * handshake is older than 135 s (or there was none), and the endpoint is
 * moved when the address changed: what wireguard-tools' reresolve-dns.sh
 * does from a timer, for a server whose dynamic-DNS address moves.
 *
 * Threading: main thread; timers are unref'd and stop() ends them all.
 */
import type { Device } from '../../daemon/device/device.js';
import { resolveHostEndpoint, type ConfigFile, type UnresolvedEndpoint } from '../../daemon/config/config-file.js';
import { splitHostPort } from '../../daemon/config/value-text.js';
import { formatEndpoint, parseEndpoint, peerKey } from '../../daemon/config/device-config.js';
import type { Endpoint } from '../../packet/endpoint.js';
import type { Logger } from '../../daemon/log.js';
import { TEST_TIME_SCALE } from '../../protocol/constants.js';

const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 20_000;
/** reresolve-dns.sh's timer period and handshake age (REJECT_AFTER_TIME − REKEY_TIMEOUT × 9, in effect). */
const RERESOLVE_EVERY_MS = 30_000 / TEST_TIME_SCALE;
const STALE_HANDSHAKE_MS = 135_000 / TEST_TIME_SCALE;

interface NamedEndpoint {
  publicKey: Uint8Array;
  host: string;
  port: string;
  resolved: boolean;
}

export class EndpointResolver {
  private names = new Map<string, NamedEndpoint>();
  private readonly retries = new Map<string, NodeJS.Timeout>();
  private sweeper: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly device: Device,
    private readonly log: Logger,
  ) {}

  /**
   * Takes the host-name endpoints of `cfg` (replacing those of a previous
   * file): `unresolved` ones are retried with backoff from now on.
   */
  track(cfg: ConfigFile, unresolved: UnresolvedEndpoint[]): void {
    for (const t of this.retries.values()) clearTimeout(t);
    this.retries.clear();
    const failed = new Set(unresolved.map((u) => u.peer));
    this.names = new Map();
    for (const p of cfg.peers) {
      // Literal addresses need no resolver.
      if (p.endpoint === undefined || parseEndpoint(p.endpoint)) continue;
      const hostPort = splitHostPort(p.endpoint);
      if (!hostPort) continue;
      const entry: NamedEndpoint = { publicKey: p.publicKey, ...hostPort, resolved: !failed.has(p) };
      this.names.set(peerKey(p.publicKey), entry);
      if (!entry.resolved) {
        this.log.warn(`Endpoint ${entry.host}:${entry.port} does not resolve yet; retrying in the background`);
        this.retry(entry, FIRST_RETRY_MS);
      }
    }
    if (!this.sweeper && !this.stopped) {
      this.sweeper = setInterval(() => void this.reresolveStale(), RERESOLVE_EVERY_MS);
      this.sweeper.unref();
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.retries.values()) clearTimeout(t);
    this.retries.clear();
    if (this.sweeper) clearInterval(this.sweeper);
  }

  private retry(entry: NamedEndpoint, delayMs: number): void {
    const key = peerKey(entry.publicKey);
    const timer = setTimeout(() => {
      void (async () => {
        this.retries.delete(key);
        if (this.stopped || this.names.get(key) !== entry) return;
        const ep = await this.resolve(entry);
        if (!ep) {
          this.retry(entry, Math.min(delayMs * 2, MAX_RETRY_MS));
          return;
        }
        entry.resolved = true;
        this.setEndpoint(entry, ep, 'resolved at last');
      })();
    }, delayMs);
    timer.unref();
    this.retries.set(key, timer);
  }

  /** reresolve-dns.sh: names of peers without a recent handshake are looked up again. */
  private async reresolveStale(): Promise<void> {
    const now = Date.now();
    for (const p of this.device.getSnapshot().peers) {
      const entry = this.names.get(peerKey(p.publicKey));
      if (!entry || !entry.resolved) continue;
      const last = p.lastHandshakeSec * 1000 + Math.floor(p.lastHandshakeNsec / 1e6);
      if (last !== 0 && now - last <= STALE_HANDSHAKE_MS) continue;
      const ep = await this.resolve(entry);
      if (this.stopped || !ep) continue;
      if (p.endpoint && formatEndpoint(p.endpoint) === formatEndpoint(ep)) continue;
      this.setEndpoint(entry, ep, 'changed while the handshake was stale');
    }
  }

  private async resolve(entry: NamedEndpoint): Promise<Endpoint | null> {
    try {
      return await resolveHostEndpoint(entry.host, entry.port);
    } catch (err) {
      this.log.debug(`Endpoint ${entry.host}: ${(err as Error).message}`);
      return null;
    }
  }

  private setEndpoint(entry: NamedEndpoint, ep: Endpoint, why: string): void {
    if (this.stopped) return;
    try {
      this.device.applySet([
        {
          kind: 'peer',
          publicKey: entry.publicKey,
          remove: false,
          updateOnly: true,
          endpoint: ep,
          replaceAllowedIPs: false,
          allowedIPs: [],
        },
      ]);
      this.log.verbose(`Endpoint ${entry.host}:${entry.port} → ${formatEndpoint(ep)} (${why})`);
    } catch (err) {
      this.log.error(`Endpoint ${entry.host}: cannot set ${formatEndpoint(ep)}: ${(err as Error).message}`);
    }
  }
}
