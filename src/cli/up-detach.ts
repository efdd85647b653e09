/**
 * `xdpwg up` by hand at a terminal returns once the interface is up, as
 * wg-quick does, leaving the daemon in the background; under systemd
 * (NOTIFY_SOCKET or INVOCATION_ID set), with -f, or when neither stdin nor
 * stdout is a terminal (scripts, containers) it stays in the foreground.
 *
 * Protocol between the two processes: the parent starts a detached copy of
 * itself (`up -f ...`, its own session, so closing the terminal does not
 * signal it) with a pipe as fd 3 and XDPWG_UP_READY_FD=3. The child writes
 * "ready\n" on it once the interface is up (after PostUp) and closes it; if
 * it exits first, set-up failed and it has said why on the terminal (its
 * stdout/stderr are the parent's). The parent returns 0 on "ready", else the
 * child's exit status.
 */
import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { isatty } from 'node:tty';

/** True when `up` should return once the interface is up instead of staying in the foreground. */
export function shouldDetach(foreground: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  if (foreground || env.XDPWG_UP_READY_FD !== undefined) return false;
  if (env.NOTIFY_SOCKET || env.INVOCATION_ID) return false;
  return isatty(0) || isatty(1);
}

/** Runs `up` in a detached child (argv: the options and the file for it) and waits for it to report. */
export async function detachUp(upArgs: string[]): Promise<number> {
  const child = spawn(process.execPath, [process.argv[1]!, 'up', '-f', ...upArgs], {
    detached: true,
    stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
    env: { ...process.env, XDPWG_UP_READY_FD: '3' },
  });
  const pipe = child.stdio[3]!;
  let said = '';
  const status = await new Promise<number>((resolve) => {
    // The line, not EOF: a hook's background process may have inherited the pipe and keep it open.
    pipe.on('data', (d: Buffer) => {
      said += d.toString();
      if (said.startsWith('ready\n')) resolve(0);
    });
    child.on('exit', (code) => resolve(code ?? 1));
  });
  if (status === 0) {
    child.unref();
    (pipe as unknown as { destroy(): void }).destroy();
  }
  return status;
}

/**
 * In the detached child: how to report readiness, or undefined when this
 * process is not one. Its terminal may go away while it runs: write errors on
 * stdout/stderr (EIO, EPIPE) are then ignored rather than fatal.
 */
export function detachedReadyReporter(): ((line: string) => void) | undefined {
  const fd = Number(process.env.XDPWG_UP_READY_FD);
  if (!Number.isInteger(fd) || fd < 3) return undefined;
  delete process.env.XDPWG_UP_READY_FD; // not for hooks or anything else this process starts
  process.stdout.on('error', () => {
    /* terminal gone */
  });
  process.stderr.on('error', () => {
    /* terminal gone */
  });
  return (line) => {
    try {
      writeSync(fd, line + '\n');
      closeSync(fd);
    } catch {
      /* the parent is gone: nobody to tell */
    }
  };
}
