/**
 * The journaled changes of `xdpwg up` (undo-journal.ts): how each is
 * reversed — by the module that made it — and how it is named to the
 * operator when `xdpwg down` undoes a dead process's journal.
 */
import { undoDnsAction } from './dns-config.js';
import { undoFullTunnelAction } from './full-tunnel.js';
import type { UndoAction } from './undo-journal.js';

/** Reverses one journaled change; throws when it cannot. */
export function undoAction(a: UndoAction): void {
  if (!undoFullTunnelAction(a) && !undoDnsAction(a)) throw new Error(`cannot undo ${JSON.stringify(a)}`);
}

/** One change in a few words: `ip -4 rule not fwmark 51820 table 51820`, `nft table ip xdpwg-wg0`, ... */
export function describeAction(a: UndoAction): string {
  switch (a.kind) {
    case 'rule':
      return `ip -${a.family} rule ${a.args.join(' ')}`;
    case 'nft-table':
      return `nft table ${a.family === 4 ? 'ip' : 'ip6'} ${a.name}`;
    case 'iptables':
      return `${a.family === 4 ? 'iptables' : 'ip6tables'} rules "${a.comment}"`;
    case 'dns':
      return `DNS settings ${a.name} (${a.via})`;
  }
}
