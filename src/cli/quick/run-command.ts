/**
 * Runs the system commands `xdpwg up` needs (ip, nft, iptables-restore,
 * resolvconf, resolvectl), echoing each as `[#] command` on stderr the way
 * wg-quick does, so an operator reads in the journal what was changed.
 */
import { accessSync, constants } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

/** Runs cmd with args (stdin = input); throws with the command and its stderr when it fails. */
export function runCommand(cmd: string, args: string[], input?: string): string {
  process.stderr.write(`[#] ${[cmd, ...args].join(' ')}${input !== undefined ? ' <<<(…)' : ''}\n`);
  try {
    return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`\`${cmd} ${args.join(' ')}' failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** Like runCommand, without the echo and returning null on failure: for read-only queries. */
export function queryCommand(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000 });
  } catch {
    return null;
  }
}

/** The executable `name` as the shell would find it in PATH, or null (bash's `type -p`). */
export function findInPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      /* not here */
    }
  }
  return null;
}
