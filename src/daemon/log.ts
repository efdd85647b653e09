/**
 * Logging with wireguard-go's LOG_LEVEL contract: error | verbose | debug
 * (default error, like wireguard-go when LOG_LEVEL is unset... except that we
 * print errors always). Data-path logging is rate limited per message key so a
 * flood of bad packets cannot flood the log.
 *
 * Secrets rule: never pass key material to a logger; callers log public keys
 * in their short base64 form only.
 */
export type LogLevel = 'silent' | 'error' | 'verbose' | 'debug';

const rank: Record<LogLevel, number> = { silent: 0, error: 1, verbose: 2, debug: 3 };

/** Parses LOG_LEVEL as wireguard-go does; anything unknown means 'error'. */
export function logLevelFromEnv(value = process.env.LOG_LEVEL): LogLevel {
  switch ((value ?? '').toLowerCase()) {
    case 'debug':
      return 'debug';
    case 'verbose':
    case 'info':
      return 'verbose';
    case 'silent':
      return 'silent';
    default:
      return 'error';
  }
}

export class Logger {
  private readonly lastByKey = new Map<string, { at: number; suppressed: number }>();
  constructor(
    readonly prefix: string,
    readonly level: LogLevel = logLevelFromEnv(),
    private readonly out: (line: string) => void = (l) => process.stderr.write(l),
  ) {}

  private emit(tag: string, msg: string): void {
    // UTC, and says so: a log read on another host or after a zone change stays unambiguous.
    const ts = new Date().toISOString().replace('T', ' ').slice(0, 19) + 'Z';
    this.out(`${tag}: ${ts} ${this.prefix}${msg}\n`);
  }
  error(msg: string): void {
    if (rank[this.level] >= rank.error) this.emit('ERROR', msg);
  }
  /**
   * Something the operator should know that stopped nothing (the daemon goes
   * on as intended). wireguard-go's LOG_LEVEL has no level of its own for
   * it, so it shows wherever errors show; the tag tells them apart.
   */
  warn(msg: string): void {
    if (rank[this.level] >= rank.error) this.emit('WARNING', msg);
  }
  verbose(msg: string): void {
    if (rank[this.level] >= rank.verbose) this.emit('INFO', msg);
  }
  debug(msg: string): void {
    if (rank[this.level] >= rank.debug) this.emit('DEBUG', msg);
  }
  get isDebug(): boolean {
    return rank[this.level] >= rank.debug;
  }

  /** At most one line per key per intervalMs; says how many were held back. */
  limited(level: 'error' | 'warn' | 'verbose' | 'debug', key: string, msg: string, intervalMs = 1000): void {
    const now = Date.now();
    const seen = this.lastByKey.get(key);
    if (seen && now - seen.at < intervalMs) {
      seen.suppressed++;
      return;
    }
    const extra = seen && seen.suppressed > 0 ? ` (${seen.suppressed} similar suppressed)` : '';
    this.lastByKey.set(key, { at: now, suppressed: 0 });
    this[level](msg + extra);
  }
}
