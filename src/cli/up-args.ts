/** The arguments of `xdpwg up` and `xdpwg down`. */
import { parseListenAddress } from '../daemon/config/listen-address.js';

/** `up [-f|--foreground] [--metrics-listen HOST:PORT] ARG` / `down ARG`; a usage or error message when malformed. */
export function parseUpArgs(argv: string[]): { verb: string; arg: string; foreground: boolean; metricsListen?: string } | string {
  const [verb, ...rest] = argv;
  const usage =
    verb === 'up'
      ? 'Usage: xdpwg up [-f|--foreground] [--metrics-listen HOST:PORT] CONFIG_FILE | INTERFACE\n'
      : `Usage: xdpwg ${verb} CONFIG_FILE | INTERFACE\n`;
  let foreground = false;
  let metricsListen: string | undefined;
  const names: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (verb === 'up' && (a === '-f' || a === '--foreground')) foreground = true;
    else if (verb === 'up' && (a === '--metrics-listen' || a.startsWith('--metrics-listen='))) {
      metricsListen = a.includes('=') ? a.slice(a.indexOf('=') + 1) : rest[++i];
      if (metricsListen === undefined || metricsListen === '') return `xdpwg: --metrics-listen needs HOST:PORT (or off)\n${usage}`;
      if (metricsListen !== 'off') {
        try {
          parseListenAddress(metricsListen);
        } catch (err) {
          return `xdpwg: --metrics-listen: ${(err as Error).message}\n`;
        }
      }
    } else if (a.startsWith('-') && a !== '-') return `xdpwg: unknown option ${a}\n${usage}`;
    else names.push(a);
  }
  if (names.length !== 1) return usage;
  return { verb: verb!, arg: names[0]!, foreground, metricsListen };
}
