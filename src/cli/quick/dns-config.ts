/**
 * `DNS =` of a wg-quick file: the interface's name servers and search
 * domains, handed to the system resolver's manager as wg-quick does:
 * resolvconf (`resolvconf -a IF -m 0 -x`, the record named after the
 * interface, with the interface-order prefix Debian's resolvconf wants),
 * or, without a resolvconf, systemd-resolved's per-link settings through
 * resolvectl (servers, and `~.` so every lookup uses them while the
 * interface is up, as -x makes resolvconf do). Neither: `xdpwg up` fails
 * before it changes anything. XDPWG_DNS=resolvconf or =resolvectl forces
 * one (then only the command must be there: resolvectl itself says when
 * systemd-resolved is not running); unset or `auto` picks as above.
 */
import { existsSync, readFileSync } from 'node:fs';
import { findInPath, queryCommand, runCommand } from './run-command.js';
import type { UndoAction } from './undo-journal.js';

export type DnsManager = { via: 'resolvconf' | 'resolvectl'; name: string };

const RESOLVED_SOCKET = '/run/systemd/resolve/io.systemd.Resolve';

/**
 * Debian's resolvconf orders records by /etc/resolvconf/interface-order;
 * wg-quick prefixes the record with the first `NAME*` pattern's NAME and a
 * dot so its servers rank where that pattern says.
 */
function resolvconfRecord(ifname: string): string {
  try {
    for (const line of readFileSync('/etc/resolvconf/interface-order', 'utf8').split('\n')) {
      const m = /^([A-Za-z0-9-]+)\*$/.exec(line.trim());
      if (m) return `${m[1]}.${ifname}`;
    }
  } catch {
    /* no interface-order: no prefix */
  }
  return ifname;
}

/** Which manager takes the interface's DNS settings; throws a clear error when there is none. */
export function pickDnsManager(ifname: string, env: NodeJS.ProcessEnv = process.env): DnsManager {
  const want = (env.XDPWG_DNS ?? '').trim();
  if (want === 'resolvconf' || want === 'resolvectl') {
    if (!findInPath(want)) throw new Error(`XDPWG_DNS=${want}, but ${want} is not installed`);
    return { via: want, name: want === 'resolvconf' ? resolvconfRecord(ifname) : ifname };
  }
  if (want !== '' && want !== 'auto') throw new Error(`XDPWG_DNS=${want}: expected resolvconf, resolvectl or auto`);
  if (findInPath('resolvconf')) return { via: 'resolvconf', name: resolvconfRecord(ifname) };
  if (findInPath('resolvectl') && existsSync(RESOLVED_SOCKET)) return { via: 'resolvectl', name: ifname };
  throw new Error(
    `DNS = is set, but neither resolvconf nor a running systemd-resolved (resolvectl) is there to take it; install resolvconf or remove DNS from the file`,
  );
}

export function applyDns(m: DnsManager, servers: string[], search: string[]): void {
  if (m.via === 'resolvconf') {
    const record = [...servers.map((s) => `nameserver ${s}`), ...(search.length ? [`search ${search.join(' ')}`] : [])].join('\n');
    runCommand('resolvconf', ['-a', m.name, '-m', '0', '-x'], `${record}\n`);
    return;
  }
  runCommand('resolvectl', ['dns', m.name, ...servers]);
  runCommand('resolvectl', ['domain', m.name, '~.', ...search]);
}

/** Removes what applyDns set (undo-journal.ts); false when the action is not a DNS one. */
export function undoDnsAction(a: UndoAction): boolean {
  if (a.kind !== 'dns') return false;
  if (a.via === 'resolvconf') runCommand('resolvconf', ['-d', a.name, '-f']);
  // The link goes with the TUN, and its resolved settings with it; revert covers an interface that is still there.
  else if (queryCommand('ip', ['link', 'show', a.name]) !== null) runCommand('resolvectl', ['revert', a.name]);
  return true;
}

/** The DNS entries in force for SaveConfig: read back from resolvconf where it can list them, else what was applied. */
export function liveDns(m: DnsManager, applied: { servers: string[]; search: string[] }): { servers: string[]; search: string[] } {
  if (m.via !== 'resolvconf') return applied;
  const text =
    queryCommand('resolvconf', ['-l', m.name]) ??
    (() => {
      try {
        return readFileSync(`/etc/resolvconf/run/interface/${m.name}`, 'utf8');
      } catch {
        return null;
      }
    })();
  if (!text) return applied;
  const servers: string[] = [];
  const search: string[] = [];
  for (const line of text.split('\n')) {
    const ns = /^nameserver\s+(\S+)/.exec(line);
    if (ns) servers.push(ns[1]!);
    const sd = /^search\s+(.+)/.exec(line);
    if (sd) search.push(...sd[1]!.trim().split(/\s+/));
  }
  return servers.length || search.length ? { servers, search } : applied;
}
