/**
 * The daemon's private state directory, /run/xdpwg (sockets, lock files, the
 * undo journal and pid files of `xdpwg up`): root's alone, mode 0700. Older
 * versions made it 0755, which let any local user open the lock files in it
 * (and hold their locks: flock() needs no write access); an existing
 * directory is therefore tightened, and one owned by someone else refused.
 * native/run_dir.cc does the same for the addon's lock files.
 */
import { closeSync, constants, fchmodSync, fstatSync, mkdirSync, openSync } from 'node:fs';

export const RUN_DIR = '/run/xdpwg';

/** Makes `dir` a 0700 directory owned by this process's user; throws saying why when it cannot. */
export function ensurePrivateDir(dir: string = RUN_DIR): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let fd: number;
  try {
    // One descriptor for the check and the fix: what is checked is what is changed.
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw new Error(`${dir} is not a directory (a symlink?); remove it`);
    throw err;
  }
  try {
    const st = fstatSync(fd);
    const me = process.geteuid?.() ?? 0;
    if (st.uid !== me) throw new Error(`${dir} is owned by uid ${st.uid}, not by this process's uid ${me}; refusing to use it (remove it)`);
    if ((st.mode & 0o7777) !== 0o700) fchmodSync(fd, 0o700);
  } finally {
    closeSync(fd);
  }
}
