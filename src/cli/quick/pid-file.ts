/**
 * /run/xdpwg/IF.pid: the pid of the `xdpwg up` serving interface IF, one
 * decimal number and a newline (as other daemons' pid files, for tools that
 * read them), written once the set-up is complete and removed when it ends.
 * It is never trusted alone: a killed process leaves it behind and its pid
 * can be reused, so `xdpwg down` signals the pid only when the interface's
 * undo journal names the same, still running, process (undo-journal.ts).
 * Written whole by a rename, so no reader sees it empty or half written.
 */
import { readFileSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { replaceFileAtomically } from './atomic-file.js';
import { UNDO_DIR } from './undo-journal.js';
import { ensurePrivateDir } from '../../daemon/run-dir.js';

export const pidFilePath = (ifname: string): string => path.join(UNDO_DIR, `${ifname}.pid`);

export function writePidFile(ifname: string): void {
  ensurePrivateDir(UNDO_DIR);
  replaceFileAtomically(pidFilePath(ifname), `${process.pid}\n`, 0o600);
}

export function removePidFile(ifname: string): void {
  try {
    unlinkSync(pidFilePath(ifname));
  } catch {
    /* not written yet, or already gone */
  }
}

/**
 * The pid file: absent (null), its pid, or, when it is not one positive
 * decimal number (empty, 0, -1, junk: each of which process.kill would
 * take for a process group or every process), its text.
 */
export function readPidFile(ifname: string): null | { pid: number } | { malformed: string } {
  let text: string;
  try {
    text = readFileSync(pidFilePath(ifname), 'utf8');
  } catch {
    return null;
  }
  const m = /^([1-9][0-9]{0,9})\n?$/.exec(text);
  const pid = m ? Number(m[1]) : 0;
  // Linux pids are at most 2^22 (pid_max); anything above is no pid.
  return pid > 0 && pid <= 4_194_304 ? { pid } : { malformed: text };
}
