/**
 * Replacing a file so that every reader, and the disk after a crash, sees
 * either the whole old file or the whole new one — never an empty or a
 * half-written one. writeFileSync truncates first and then writes: a
 * SIGKILL, a power loss or ENOSPC in between leaves the file empty or cut
 * short, and for a wg-quick file that loses the private key (SaveConfig).
 *
 * So: the new content goes into a temporary file in the same directory
 * (rename() is atomic only within one file system), created exclusively
 * with the final mode from the start (it holds the key before it has its
 * name), written and fsync()ed; then renamed over the file, and the
 * directory fsync()ed so the rename itself is on disk. On any failure
 * before the rename the temporary file is removed and the old file is
 * untouched. A symbolic link is followed: its target is replaced, the link
 * stays (as writing through it did).
 */
import { closeSync, fchmodSync, fsyncSync, openSync, realpathSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export function replaceFileAtomically(file: string, data: string, mode: number): void {
  let target = file;
  try {
    target = realpathSync(file);
  } catch {
    /* not there yet: written under its own name */
  }
  const dir = path.dirname(target);
  const tmp = path.join(dir, `.${path.basename(target)}.${process.pid}.tmp`);
  let fd: number;
  try {
    // 'wx': O_CREAT|O_EXCL — never through a link or file someone placed under that name.
    fd = openSync(tmp, 'wx', mode);
  } catch (err) {
    throw new Error(`cannot create a temporary file beside \`${target}': ${(err as Error).message}`);
  }
  try {
    try {
      fchmodSync(fd, mode); // the umask may have taken bits the caller asked for
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, target);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw new Error(`cannot write \`${target}' (left as it was): ${(err as Error).message}`);
  }
  // After the rename the new content is in place for every reader; this makes the rename itself durable.
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}
