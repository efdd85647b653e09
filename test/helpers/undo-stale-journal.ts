/**
 * `node undo-stale-journal.js IFNAME`, run inside the interface's namespace
 * after its `xdpwg up` was killed: undoes the journal the dead process left
 * (/run/xdpwg/IFNAME.undo.json) with xdpwg's own undo code, as the next
 * `up` would, so a failed test leaves no rule, firewall table or DNS record
 * for the next one. Exits 1 (with the reason) when the journal's process
 * still runs or an action cannot be undone.
 */
import { Logger } from '../../src/daemon/log.js';
import { undoDnsAction } from '../../src/cli/quick/dns-config.js';
import { undoFullTunnelAction } from '../../src/cli/quick/full-tunnel.js';
import { UndoJournal, type UndoAction } from '../../src/cli/quick/undo-journal.js';

const ifname = process.argv[2];
if (!ifname) {
  process.stderr.write('usage: undo-stale-journal IFNAME\n');
  process.exit(2);
}
const undo = (a: UndoAction): void => {
  if (!undoFullTunnelAction(a) && !undoDnsAction(a)) throw new Error(`cannot undo ${JSON.stringify(a)}`);
};
try {
  new UndoJournal(ifname, undo, new Logger(`(${ifname}) `)).recoverStale();
} catch (err) {
  process.stderr.write(`undo-stale-journal: ${(err as Error).message}\n`);
  process.exit(1);
}
