/**
 * `xdpwg health IFNAME [--ready] [--timeout MS]`: the exec probe for
 * containers (deploy/*.yaml). Exit 0 and one line "ok: …" when healthy,
 * exit 1 and one line saying what is wrong otherwise.
 *
 * Live: the daemon answers a UAPI get=1 with errno=0 within the timeout (its
 * main thread, which runs handshakes and timers, is not wedged) and the TUN
 * interface exists. Ready, in addition: the interface is up and has a
 * private key, i.e. the configuration has been applied and the tunnel can
 * take traffic.
 */
import { native } from '../native/binding.js';
import { uapiGet, uapiSocketPath } from '../daemon/uapi/server.js';

const DEFAULT_TIMEOUT_MS = 3_000;

export async function run(args: string[]): Promise<number> {
  const ready = args.includes('--ready');
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  const names: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--ready') continue;
    if (a === '--timeout') {
      timeoutMs = Number(args[++i]);
      if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
        process.stderr.write('xdpwg health: --timeout needs milliseconds (a positive integer)\n');
        return 1;
      }
    } else if (a.startsWith('-')) {
      process.stderr.write(`xdpwg health: unknown option ${a}\n`);
      return 1;
    } else names.push(a);
  }
  if (names.length !== 1) {
    process.stderr.write('Usage: xdpwg health IFNAME [--ready] [--timeout MS]\n');
    return 1;
  }
  const ifname = names[0]!;
  const problem = await check(ifname, ready, timeoutMs);
  if (problem) {
    process.stdout.write(`unhealthy: ${ifname}: ${problem}\n`);
    return 1;
  }
  process.stdout.write(`ok: ${ifname} ${ready ? 'ready' : 'live'}\n`);
  return 0;
}

/** What is wrong with the interface's daemon, or undefined when nothing is. */
async function check(ifname: string, ready: boolean, timeoutMs: number): Promise<string | undefined> {
  let snapshot;
  try {
    snapshot = await uapiGet(uapiSocketPath(ifname), timeoutMs);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return `the UAPI socket does not answer (${e.code ?? e.message})`;
  }
  const link = native().linkInfo(ifname);
  if (!link) return 'the interface does not exist';
  if (!ready) return undefined;
  if (!link.up) return 'the interface is down';
  if (!snapshot.privateKey || snapshot.privateKey.every((b) => b === 0)) return 'no private key is set';
  return undefined;
}
