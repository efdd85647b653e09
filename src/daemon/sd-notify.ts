/**
 * systemd's service notification protocol (sd_notify(3)) for `xdpwg up`
 * under Type=notify: READY=1 once the interface is up with its addresses
 * and routes, RELOADING=1 (with MONOTONIC_USEC, as systemd ≥ 253 requires
 * for Type=notify-reload) then READY=1 around a SIGHUP reload, STOPPING=1
 * when it goes down. Without NOTIFY_SOCKET (not under systemd) every call
 * does nothing. A failed send is logged as a warning, never fatal: the
 * service works, only systemd's view of it lags.
 *
 * A reload that fails leaves the service running on its previous
 * configuration, and systemd ≤ 252 has no message for "reload failed"
 * (RELOADING=1 ends only with READY=1; the only other way out is to exit,
 * which would take the working tunnel down). So a failed reload sends
 * READY=1 together with STATUS= naming the failure and ERRNO= with its
 * errno: systemd keeps both as the unit's StatusText and StatusErrno
 * (`systemctl status` prints them as "Status:" and "Error:"), where they
 * stay until the next successful reload sends ERRNO=0 and a new STATUS=.
 */
import { native } from '../native/binding.js';
import type { Logger } from './log.js';

export type ServiceState = 'ready' | 'reloading' | 'stopping';

export class ServiceNotifier {
  private readonly socket = process.env.NOTIFY_SOCKET;
  /** Once STOPPING=1 went out, nothing else is sent (the service is on its way out). */
  private stopping = false;

  constructor(private readonly log: Logger) {}

  /** Sends the state with an optional STATUS= line for `systemctl status`, and ERRNO= (0 clears a previous one). */
  notify(state: ServiceState, status?: string, errno?: number): void {
    if (!this.socket || this.stopping) return;
    this.stopping = state === 'stopping';
    const lines: string[] = [];
    if (state === 'ready') lines.push('READY=1');
    if (state === 'reloading') {
      // CLOCK_MONOTONIC in µs: libuv's hrtime reads that clock.
      lines.push('RELOADING=1', `MONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`);
    }
    if (state === 'stopping') lines.push('STOPPING=1');
    if (status) lines.push(`STATUS=${status.replaceAll('\n', ' ')}`);
    if (errno !== undefined) lines.push(`ERRNO=${errno}`);
    try {
      native().sdNotify(this.socket, `${lines.join('\n')}\n`);
    } catch (err) {
      this.log.warn(`sd_notify ${state}: ${(err as Error).message}`);
    }
  }
}
