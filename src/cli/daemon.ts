/**
 * `xdpwg [-f|--foreground] IFNAME` — wireguard-go's process contract.
 *
 * Without -f (and without WG_PROCESS_FOREGROUND=1) the parent starts a
 * detached copy of itself in the foreground mode and exits 0 only after the
 * child reported that the TUN device and the UAPI socket both exist; so
 * `wg-quick` (WG_QUICK_USERSPACE_IMPLEMENTATION=xdpwg) can configure the
 * interface right after we return. The child reports readiness by writing one
 * line on an inherited pipe (fd 3) and closing it.
 */
import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { Logger, logLevelFromEnv } from '../daemon/log.js';
import { uapiAccepts, uapiSocketPath } from '../daemon/uapi/server.js';
import { parseListenAddress } from '../daemon/config/listen-address.js';
import { commandLikeName } from './misspelt-command.js';

const IFNAME_RE = /^[A-Za-z0-9_=+.-]{1,15}$/;

export async function run(argv: string[]): Promise<number> {
  let foreground = process.env.WG_PROCESS_FOREGROUND === '1';
  const names: string[] = [];
  let metricsListen: string | undefined;
  let literal = false; // after '--': a name, whatever it looks like
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (literal) names.push(a);
    else if (a === '--') literal = true;
    else if (a === '-f' || a === '--foreground') foreground = true;
    else if (a === '--metrics-listen' || a.startsWith('--metrics-listen=')) {
      metricsListen = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      const problem = checkMetricsListen(metricsListen);
      if (problem) {
        process.stderr.write(`xdpwg: --metrics-listen: ${problem}\n`);
        return 1;
      }
    } else if (a.startsWith('-')) {
      process.stderr.write(`xdpwg: unknown option ${a}\n`);
      return 1;
    } else {
      const why = commandLikeName(a);
      if (why) {
        process.stderr.write(`xdpwg: ${why}\n`);
        return 1;
      }
      names.push(a);
    }
  }
  if (names.length !== 1) {
    process.stderr.write('Usage: xdpwg [-f/--foreground] [--metrics-listen HOST:PORT] [--] INTERFACE-NAME\n');
    return 1;
  }
  const ifname = names[0]!;
  if (!IFNAME_RE.test(ifname) || ifname === '.' || ifname === '..') {
    process.stderr.write(`xdpwg: invalid interface name '${ifname}'\n`);
    return 1;
  }
  return foreground ? runForeground(ifname, readinessPipe(), metricsListen) : daemonize(ifname, metricsListen);
}

/** Why a --metrics-listen value is unusable, or undefined when it is fine ("off" included). */
function checkMetricsListen(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return 'needs HOST:PORT (or off)';
  if (value === 'off') return undefined;
  try {
    parseListenAddress(value);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The readiness pipe is fd 3 when our daemonizing parent set XDPWG_READY_FD. */
function readinessPipe(): ((line: string) => void) | undefined {
  const fd = Number(process.env.XDPWG_READY_FD);
  if (!Number.isInteger(fd) || fd < 3) return undefined;
  delete process.env.XDPWG_READY_FD;
  // Synchronous: the process may exit right after an error report.
  return (line) => {
    try {
      writeSync(fd, line + '\n');
      closeSync(fd);
    } catch {
      /* the parent is gone: nobody to tell */
    }
  };
}

async function daemonize(ifname: string, metricsListen: string | undefined): Promise<number> {
  const script = process.argv[1]!;
  // As wireguard-go: the daemon keeps our stdout/stderr only when LOG_LEVEL asks
  // for logs; otherwise it must not hold them open, or a caller reading our
  // output to EOF (`$(xdpwg IF)`, a pipe in a script) would wait until the
  // daemon exits. Start-up errors still reach the caller via the readiness pipe.
  const level = process.env.LOG_LEVEL;
  const output = level !== undefined && level !== '' && logLevelFromEnv(level) !== 'silent' ? 'inherit' : 'ignore';
  // process.execArgv: the node options bin/xdpwg starts with (its memory limits) hold for the daemon too.
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      script,
      '--foreground',
      ...(metricsListen !== undefined ? ['--metrics-listen', metricsListen] : []),
      '--',
      ifname,
    ],
    {
      detached: true,
      stdio: ['ignore', output, output, 'pipe'],
      env: { ...process.env, WG_PROCESS_FOREGROUND: '1', XDPWG_READY_FD: '3' },
    },
  );
  const pipe = child.stdio[3]!;
  let said = '';
  pipe.on('data', (d: Buffer) => {
    said += d.toString();
  });
  const outcome = await new Promise<number>((resolve) => {
    pipe.on('end', () => resolve(said.startsWith('ready') ? 0 : 1));
    child.on('exit', (code) => resolve(code ?? 1));
  });
  if (outcome === 0) {
    child.unref();
    (pipe as unknown as { destroy(): void }).destroy();
    return 0;
  }
  process.stderr.write(`xdpwg: ${ifname} failed to start${said && !said.startsWith('ready') ? `: ${said.trim()}` : ''}\n`);
  return 1;
}

async function runForeground(ifname: string, ready: ((line: string) => void) | undefined, metricsListen?: string): Promise<number> {
  const log = new Logger(`(${ifname}) `, logLevelFromEnv());
  const { startDaemon } = await import('../daemon/daemon.js');
  try {
    // Checked before the TUN is opened: opening a multi-queue TUN that a live
    // daemon owns attaches our queues to its device, and the kernel would
    // steer part of its traffic to us until we gave up.
    if (process.env.WG_UAPI_FD === undefined && (await uapiAccepts(uapiSocketPath(ifname)))) {
      throw new Error(`another process already serves ${uapiSocketPath(ifname)} (is a daemon for ${ifname} running?)`);
    }
    const daemon = await startDaemon({ ifname, log, dropCapabilities: true, metricsListen });
    ready?.('ready');
    return await daemon.exited;
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    log.error(`startup failed: ${msg}`);
    ready?.(`error: ${msg}`);
    return 1;
  }
}
