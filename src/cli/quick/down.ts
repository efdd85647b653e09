/**
 * `xdpwg down IF`: stop the `xdpwg up` serving IF, or, when it died without
 * undoing its changes (kill -9, a crash), undo them itself.
 *
 * The pid file alone is never trusted (pid-file.ts): the process is
 * signalled only when the interface's undo journal names it as its owner
 * and that owner — same pid, same start time, same boot — still runs. A pid
 * file naming anything else (a reused pid, junk) is reported and removed,
 * and nothing is signalled. Between the identity check and kill() the
 * process could in theory exit and its pid be reused; the window is a few
 * system calls, where a pidfd would close it, which node does not offer.
 *
 * A dead owner's journal is undone here, and said so, but only from inside
 * the network namespace the owner worked in (its policy rules are not this
 * namespace's to delete).
 *
 * Exit status: 0 when the interface was brought down (its daemon stopped,
 * or a dead one's changes undone), 1 otherwise.
 */
import { Logger } from '../../daemon/log.js';
import { commandLineOf, identityOf, stillRunning, type ProcessIdentity } from './process-identity.js';
import { pidFilePath, readPidFile, removePidFile } from './pid-file.js';
import { describeAction, undoAction } from './undo-actions.js';
import { ownerRunning, undoPlace, UndoJournal, type JournalFile } from './undo-journal.js';

const STOP_WAIT_MS = 10_000;

const say = (line: string): void => {
  process.stderr.write(`xdpwg: ${line}\n`);
};

export async function downInterface(ifname: string): Promise<number> {
  const journal = new UndoJournal(ifname, undoAction, new Logger(`(${ifname}) `, 'error'));
  const found = journal.peek();
  const j = found === 'unreadable' ? null : found;
  const pidFile = readPidFile(ifname);
  const filePid = pidFile && 'pid' in pidFile ? pidFile.pid : undefined;

  if (j && ownerRunning(j)) {
    if (j.owner && filePid === j.owner.pid) return stop(ifname, j.owner, journal);
    // Running, but its pid file is not written yet (set-up) or gone already (teardown), or an older
    // journal without an identity: signalling now could cut a set-up or teardown short.
    say(`\`${ifname}' is being set up or taken down by xdpwg up (pid ${j.pid}); not signalling it now, try again in a moment`);
    return 1;
  }

  // No running owner: whatever the pid file names is not this interface's daemon.
  if (j && undoPlace(j) === 'elsewhere') {
    say(
      `the xdpwg up of \`${ifname}' (pid ${j.pid}) died in another network namespace (${j.netns}); ` +
        `run \`xdpwg down ${ifname}' inside that namespace to undo what it left`,
    );
    return 1;
  }
  if (pidFile) {
    if ('malformed' in pidFile) {
      say(
        `\`${pidFilePath(ifname)}' holds no process id (${JSON.stringify(pidFile.malformed.slice(0, 40))}); signalled nothing, removed it`,
      );
    } else if (identityOf(pidFile.pid)) {
      say(
        `\`${pidFilePath(ifname)}' names pid ${pidFile.pid} (${commandLineOf(pidFile.pid) ?? '?'}), which is not the xdpwg up of \`${ifname}'; ` +
          'not signalling it, removed the stale pid file',
      );
    } else if (!j) {
      // (With a journal, the line saying what was undone tells that it is gone.)
      say(`the xdpwg up of \`${ifname}' (pid ${pidFile.pid}) is gone; removed its stale pid file`);
    }
    removePidFile(ifname);
  }
  if (found === 'unreadable') {
    say(`\`${journal.file}' is unreadable: what the last xdpwg up of \`${ifname}' changed cannot be undone automatically; removed it`);
    journal.discard();
    return 1;
  }
  if (j) return undoDead(ifname, j, journal);
  if (!pidFile) say(`\`${ifname}' is not a WireGuard interface brought up by xdpwg up`);
  return 1;
}

/** Sends SIGTERM to the verified owner and waits for it to end; undoes its journal if it ended without doing so. */
async function stop(ifname: string, owner: ProcessIdentity, journal: UndoJournal): Promise<number> {
  try {
    process.kill(owner.pid, 'SIGTERM');
  } catch {
    /* it ended just now */
  }
  const deadline = Date.now() + STOP_WAIT_MS;
  while (stillRunning(owner)) {
    if (Date.now() > deadline) {
      say(`\`${ifname}' (xdpwg up, pid ${owner.pid}) did not stop within ${STOP_WAIT_MS / 1000} s`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // A clean end removed the journal; one that crashed while going down left it.
  const left = journal.peek();
  if (left && left !== 'unreadable' && !ownerRunning(left)) {
    removePidFile(ifname);
    return undoDead(ifname, left, journal);
  }
  return 0;
}

function undoDead(ifname: string, j: JournalFile, journal: UndoJournal): number {
  if (undoPlace(j) === 'gone') {
    journal.discard();
    say(`the xdpwg up of \`${ifname}' (pid ${j.pid}) had died; its network namespace is gone, and what it changed with it`);
    return 0;
  }
  const undone = journal.undoDead(j);
  say(
    `the xdpwg up of \`${ifname}' (pid ${j.pid}) had died; undid what it left: ${undone.map(describeAction).join(', ') || 'nothing (it had changed nothing outside its interface)'}`,
  );
  return 0;
}
