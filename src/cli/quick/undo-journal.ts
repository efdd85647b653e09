/**
 * What `xdpwg up` changed outside its own interface — policy rules, firewall
 * tables, a DNS record — journaled in /run/xdpwg/IF.undo.json as each change
 * is made. Routes and addresses need no entry: they go with the TUN when the
 * process ends, however it ends. The journal is undone on down and on every
 * exit; a process killed with SIGKILL cannot undo it, so the next `up` of
 * the same interface finds the journal of a dead pid and undoes it first.
 *
 * Threading: main thread only; every write replaces the whole file.
 */
import { existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../daemon/log.js';
import { ensurePrivateDir, RUN_DIR } from '../../daemon/run-dir.js';

/** One change to reverse, as data (it must survive the process). */
export type UndoAction =
  /** `ip -F rule del ARGS`. */
  | { kind: 'rule'; family: 4 | 6; args: string[] }
  /** nft table `family name` (wg-quick's per-interface table). */
  | { kind: 'nft-table'; family: 4 | 6; name: string }
  /** iptables/ip6tables rules in the raw and mangle tables carrying this comment. */
  | { kind: 'iptables'; family: 4 | 6; comment: string }
  /** A resolvconf record, or systemd-resolved's per-link settings. */
  | { kind: 'dns'; via: 'resolvconf' | 'resolvectl'; name: string };

interface JournalFile { pid: number; ifname: string; actions: UndoAction[] }

/** Reverses one action; throws when it cannot. Supplied by the modules that make the changes. */
export type Undoer = (action: UndoAction) => void;

export const UNDO_DIR = RUN_DIR;

export class UndoJournal {
  private readonly actions: UndoAction[] = [];
  private readonly file: string;

  constructor(private readonly ifname: string, private readonly undo: Undoer, private readonly log: Logger, dir = UNDO_DIR) {
    this.file = path.join(dir, `${ifname}.undo.json`);
  }

  /**
   * Undoes what a previous `up` of this interface left behind when it was
   * killed; refuses when that process still runs.
   */
  recoverStale(): void {
    if (!existsSync(this.file)) return;
    let stale: JournalFile;
    try { stale = JSON.parse(readFileSync(this.file, 'utf8')) as JournalFile; } catch (err) {
      this.log.error(`ignoring an unreadable ${this.file}: ${(err as Error).message}`);
      unlinkSync(this.file);
      return;
    }
    if (stale.pid !== process.pid && processAlive(stale.pid)) {
      throw new Error(`\`${this.ifname}' is already up (xdpwg up, pid ${stale.pid})`);
    }
    process.stderr.write(`[#] undoing what a killed \`xdpwg up ${this.ifname}' (pid ${stale.pid}) left behind\n`);
    this.runAll(stale.actions);
    unlinkSync(this.file);
  }

  /** Records a change just made (write-ahead of the next one). */
  record(action: UndoAction): void {
    this.actions.push(action);
    ensurePrivateDir(path.dirname(this.file));
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify({ pid: process.pid, ifname: this.ifname, actions: this.actions } satisfies JournalFile), { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  /** The recorded actions of one kind (e.g. to know which families have policy rules). */
  has(pred: (a: UndoAction) => boolean): boolean { return this.actions.some(pred); }

  /** Reverses everything recorded, newest first; every failure is logged, none stops the rest. Idempotent. */
  undoAll(): void {
    const all = this.actions.splice(0);
    this.runAll(all);
    try { unlinkSync(this.file); } catch { /* nothing was recorded, or already gone */ }
  }

  private runAll(actions: UndoAction[]): void {
    for (const a of [...actions].reverse()) {
      try { this.undo(a); } catch (err) { this.log.error(`cleanup: ${(err as Error).message}`); }
    }
  }
}

function processAlive(pid: number): boolean {
  try { process.kill(pid, 0); } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
  // A recycled pid of some other program does not count.
  try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('xdpwg'); } catch { return false; }
}
