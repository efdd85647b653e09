/**
 * What `xdpwg up` changed outside its own interface — policy rules, firewall
 * tables, a DNS record — journaled in /run/xdpwg/IF.undo.json as each change
 * is made. Routes and addresses need no entry: they go with the TUN when the
 * process ends, however it ends. The journal is undone on down and on every
 * exit; a process killed with SIGKILL cannot undo it, so `xdpwg down IF` or
 * the next `up` of the same interface finds the journal of a dead process
 * and undoes it.
 *
 * The journal also says whose it is, and it exists for the whole life of an
 * `up` (begin() writes it before the first change; undoAll() removes it):
 * the owner's identity (pid, start time, boot: process-identity.ts), which
 * is how `xdpwg down` knows that a pid is that interface's daemon, and the
 * owner's network namespace, where alone its changes may be undone.
 *
 * Protocol between processes: only the owner writes the file, and every
 * write replaces it whole (a temporary file renamed over it), so a reader
 * (down, a later up) sees one complete version. A reader acts on the
 * journal only when its owner no longer runs, and then removes it.
 *
 * Threading: main thread only.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../daemon/log.js';
import { ownIdentity, ownNetns, stillRunning, type ProcessIdentity } from './process-identity.js';
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

export interface JournalFile {
  pid: number;
  ifname: string;
  /** The `xdpwg up` that writes it (absent in journals of older versions). */
  owner?: ProcessIdentity;
  /** Its network namespace (absent in older journals). */
  netns?: string;
  actions: UndoAction[];
}

/** Reverses one action; throws when it cannot. Supplied by the modules that make the changes. */
export type Undoer = (action: UndoAction) => void;

export const UNDO_DIR = RUN_DIR;

/** Where a dead owner's actions can be undone from this process. */
export type UndoPlace =
  | 'here'
  /** Another network namespace that still exists: only a process inside it may undo them. */
  | 'elsewhere'
  /** Another network namespace that is gone, and with it every rule, table and link it had. */
  | 'gone';

export class UndoJournal {
  private readonly actions: UndoAction[] = [];
  readonly file: string;
  private begun = false;

  constructor(
    private readonly ifname: string,
    private readonly undo: Undoer,
    private readonly log: Logger,
    dir = UNDO_DIR,
  ) {
    this.file = path.join(dir, `${ifname}.undo.json`);
  }

  /** The journal on disk: null when there is none, 'unreadable' when it cannot be parsed. */
  peek(): JournalFile | null | 'unreadable' {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return null;
    }
    try {
      const j = JSON.parse(text) as JournalFile;
      if (typeof j.pid !== 'number' || !Array.isArray(j.actions)) return 'unreadable';
      return j;
    } catch {
      return 'unreadable';
    }
  }

  /**
   * Undoes what a previous `up` of this interface left behind when it was
   * killed; refuses when that process still runs, or when its changes are in
   * another network namespace that still exists.
   */
  recoverStale(): void {
    const stale = this.peek();
    if (stale === null) return;
    if (stale === 'unreadable') {
      this.log.warn(`ignoring an unreadable ${this.file}`);
      unlinkSync(this.file);
      return;
    }
    if (ownerRunning(stale)) throw new Error(`\`${this.ifname}' is already up (xdpwg up, pid ${stale.pid})`);
    const place = undoPlace(stale);
    if (place === 'elsewhere') {
      throw new Error(
        `a killed \`xdpwg up ${this.ifname}' (pid ${stale.pid}) left changes in another network namespace (${stale.netns}); ` +
          `run \`xdpwg down ${this.ifname}' in that namespace first`,
      );
    }
    if (stale.actions.length > 0) {
      process.stderr.write(
        place === 'gone'
          ? `[#] forgetting what a killed \`xdpwg up ${this.ifname}' (pid ${stale.pid}) changed in its network namespace, which is gone\n`
          : `[#] undoing what a killed \`xdpwg up ${this.ifname}' (pid ${stale.pid}) left behind\n`,
      );
    }
    if (place === 'here') this.runAll(stale.actions);
    unlinkSync(this.file);
  }

  /**
   * Undoes the journal of an owner that no longer runs (`xdpwg down`),
   * returning what it undid, in that order (newest first); the caller has
   * checked undoPlace() is 'here'.
   */
  undoDead(stale: JournalFile): UndoAction[] {
    this.runAll(stale.actions);
    try {
      unlinkSync(this.file);
    } catch {
      /* removed meanwhile */
    }
    return [...stale.actions].reverse();
  }

  /** Forgets a journal (its changes went with their namespace). */
  discard(): void {
    try {
      unlinkSync(this.file);
    } catch {
      /* already gone */
    }
  }

  /** Writes the journal, empty, naming this process as its owner: before the first change. */
  begin(): void {
    this.write();
  }

  /** Records a change just made (write-ahead of the next one). */
  record(action: UndoAction): void {
    this.actions.push(action);
    this.write();
  }

  /** Reverses everything recorded, newest first; every failure is logged, none stops the rest. Idempotent. */
  undoAll(): void {
    const all = this.actions.splice(0);
    this.runAll(all);
    if (this.begun) {
      this.begun = false;
      try {
        unlinkSync(this.file);
      } catch {
        /* already gone */
      }
    }
  }

  private write(): void {
    this.begun = true;
    ensurePrivateDir(path.dirname(this.file));
    const tmp = `${this.file}.tmp`;
    const content: JournalFile = { pid: process.pid, ifname: this.ifname, owner: ownIdentity(), netns: ownNetns(), actions: this.actions };
    writeFileSync(tmp, JSON.stringify(content), { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  private runAll(actions: UndoAction[]): void {
    for (const a of [...actions].reverse()) {
      try {
        this.undo(a);
      } catch (err) {
        this.log.error(`cleanup: ${(err as Error).message}`);
      }
    }
  }
}

/** True while the journal's owner runs. An older journal without an identity: a live pid running xdpwg. */
export function ownerRunning(j: JournalFile): boolean {
  if (j.owner) return stillRunning(j.owner);
  try {
    process.kill(j.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return readFileSync(`/proc/${j.pid}/cmdline`, 'utf8').includes('xdpwg');
  } catch {
    return false;
  }
}

/** Where the journal of a dead owner can be undone (an older journal without a namespace: here, as before). */
export function undoPlace(j: JournalFile): UndoPlace {
  if (j.netns === undefined || j.netns === ownNetns()) return 'here';
  return netnsExists(j.netns) ? 'elsewhere' : 'gone';
}

/**
 * Whether a network namespace (`net:[INODE]`) still exists: a process is in
 * it, or it is bind-mounted (ip netns add: /run/netns/NAME). A namespace
 * kept only by an open descriptor is missed, so it counts as gone.
 */
function netnsExists(netns: string): boolean {
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readlinkSync(`/proc/${pid}/ns/net`) === netns) return true;
    } catch {
      /* exited, or not ours to read */
    }
  }
  const inode = /^net:\[(\d+)\]$/.exec(netns)?.[1];
  if (inode && existsSync('/run/netns')) {
    for (const name of readdirSync('/run/netns')) {
      try {
        if (String(statSync(path.join('/run/netns', name)).ino) === inode) return true;
      } catch {
        /* removed meanwhile */
      }
    }
  }
  return false;
}
