/**
 * A default route through the tunnel, as wg-quick(8) builds it (AllowedIPs
 * 0.0.0.0/0 or ::/0 with Table unset or auto):
 *
 * 1. table and fwmark T: the fwmark already set, else 51820, else the first
 *    table above it with no route in either family; the daemon marks its
 *    own outer packets with T (SO_MARK, and the AF_XDP route lookups);
 * 2. per family: `ip rule add not fwmark T table T` (everything but the
 *    tunnel's own packets looks in T, whose default route is the tunnel) and
 *    `ip rule add table main suppress_prefixlength 0` (main's specific routes
 *    still win, its default route does not);
 * 3. the default route in table T on the tunnel (added, never replaced:
 *    a FwMark whose table already has a default route fails the set-up);
 * 4. firewall rules against packets to the tunnel's addresses arriving on
 *    another interface from a non-local source (raw table), and the mark
 *    saved to / restored from conntrack for UDP so the kernel socket's
 *    replies keep it: nft where it is installed, else iptables-restore
 *    (XDPWG_FIREWALL=nft|iptables forces one, firewallBackend below);
 * 5. net.ipv4.conf.all.src_valid_mark=1, so reverse-path filtering of
 *    marked traffic uses the marked route.
 *
 * Every change is journaled (undo-journal.ts) and reversed on down and on
 * every exit.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { addRoute } from './add-route.js';
import { findInPath, queryCommand, runCommand } from './run-command.js';
import type { UndoAction, UndoJournal } from './undo-journal.js';

/** wg-quick's first choice of table and fwmark (0xca6c). */
export const FULL_TUNNEL_FIRST_TABLE = 51820;

const familyFlag = (f: 4 | 6): string => (f === 4 ? '-4' : '-6');

/** The table (= fwmark) a new full tunnel uses: the fwmark already set, else 51820 or the first free one after it. */
export function pickFullTunnelTable(fwmark: number): number {
  if (fwmark) return fwmark;
  let table = FULL_TUNNEL_FIRST_TABLE;
  const used = (t: number): boolean =>
    ([4, 6] as const).some((f) => (queryCommand('ip', [familyFlag(f), 'route', 'show', 'table', String(t)]) ?? '').trim() !== '');
  while (used(table)) table++;
  return table;
}

export type FirewallBackend = 'nft' | 'iptables';

/**
 * The tool for the firewall rules: XDPWG_FIREWALL=nft or =iptables forces
 * one (a host where both are installed can choose; the tests run each in
 * turn), unset or `auto` picks nft where it is installed, else iptables, as
 * wg-quick does. Any other value, or a forced tool that is missing, is an
 * error — `xdpwg up` calls this before it changes anything.
 */
export function firewallBackend(env: NodeJS.ProcessEnv = process.env): FirewallBackend {
  const want = (env.XDPWG_FIREWALL ?? '').trim();
  if (want === '' || want === 'auto') return findInPath('nft') ? 'nft' : 'iptables';
  if (want === 'nft') {
    if (!findInPath('nft')) throw new Error('XDPWG_FIREWALL=nft, but nft is not installed (Debian: apt-get install nftables)');
    return 'nft';
  }
  if (want === 'iptables') {
    for (const tool of ['iptables-restore', 'ip6tables-restore']) {
      if (!findInPath(tool)) throw new Error(`XDPWG_FIREWALL=iptables, but ${tool} is not installed (Debian: apt-get install iptables)`);
    }
    return 'iptables';
  }
  throw new Error(`XDPWG_FIREWALL=${want}: expected nft, iptables or auto`);
}

/** Marker of our firewall rules: the nft table's name, the iptables comment. */
export const firewallName = (ifname: string): string => `xdpwg-${ifname}`;
const iptablesComment = (ifname: string): string => `xdpwg rule for ${ifname}`;

export interface DefaultRouteSpec {
  ifname: string;
  ifindex: number;
  family: 4 | 6;
  table: number;
  /** The tunnel's own addresses of this family (the raw-table rules protect them). */
  addresses: string[];
}

/** Steps 2–5 above for one family (the caller has set the fwmark). */
export function addDefaultRoute(spec: DefaultRouteSpec, journal: UndoJournal): void {
  const { family, table, ifname } = spec;
  const t = String(table);
  for (const args of [
    ['not', 'fwmark', t, 'table', t],
    ['table', 'main', 'suppress_prefixlength', '0'],
  ]) {
    runCommand('ip', [familyFlag(family), 'rule', 'add', ...args]);
    journal.record({ kind: 'rule', family, args });
  }
  const dst = family === 4 ? '0.0.0.0/0' : '::/0';
  process.stderr.write(`[#] ip ${familyFlag(family)} route add ${dst} dev ${ifname} table ${t}\n`);
  // Never replaced: a FwMark whose table already has a default route fails here, as wg-quick's `ip route add`.
  addRoute({ dst, family, ifindex: spec.ifindex, ifname, table });
  addFirewall(spec, journal);
  if (family === 4) enableSrcValidMark();
}

function addFirewall(spec: DefaultRouteSpec, journal: UndoJournal): void {
  const { family, table, ifname } = spec;
  if (firewallBackend() === 'nft') {
    const pf = family === 4 ? 'ip' : 'ip6';
    const name = firewallName(ifname);
    const lines = [
      `add table ${pf} ${name}`,
      `add chain ${pf} ${name} preraw { type filter hook prerouting priority -300; }`,
      `add chain ${pf} ${name} premangle { type filter hook prerouting priority -150; }`,
      `add chain ${pf} ${name} postmangle { type filter hook postrouting priority -150; }`,
      ...spec.addresses.map((a) => `add rule ${pf} ${name} preraw iifname != "${ifname}" ${pf} daddr ${a} fib saddr type != local drop`),
      `add rule ${pf} ${name} postmangle meta l4proto udp mark ${table} ct mark set mark`,
      `add rule ${pf} ${name} premangle meta l4proto udp meta mark set ct mark`,
    ];
    // Recorded first: nft -f is atomic, and deleting a table that is not there is harmless.
    journal.record({ kind: 'nft-table', family, name });
    runCommand('nft', ['-f', '-'], `${lines.join('\n')}\n`);
    return;
  }
  const tool = family === 4 ? 'iptables-restore' : 'ip6tables-restore';
  if (!findInPath(tool))
    throw new Error(`a default route through ${ifname} needs nft or ${tool} for its anti-spoofing rules; neither is installed`);
  const marker = `-m comment --comment "${iptablesComment(ifname)}"`;
  const rules = [
    '*raw',
    ...spec.addresses.map((a) => `-I PREROUTING ! -i ${ifname} -d ${a} -m addrtype ! --src-type LOCAL -j DROP ${marker}`),
    'COMMIT',
    '*mangle',
    `-I POSTROUTING -m mark --mark ${table} -p udp -j CONNMARK --save-mark ${marker}`,
    `-I PREROUTING -p udp -j CONNMARK --restore-mark ${marker}`,
    'COMMIT',
  ];
  journal.record({ kind: 'iptables', family, comment: iptablesComment(ifname) });
  runCommand(tool, ['-n'], `${rules.join('\n')}\n`);
}

/** Reverses a rule or firewall action (undo-journal.ts); false when the action is not one of these. */
export function undoFullTunnelAction(a: UndoAction): boolean {
  switch (a.kind) {
    case 'rule':
      runCommand('ip', [familyFlag(a.family), 'rule', 'del', ...a.args]);
      return true;
    case 'nft-table': {
      const pf = a.family === 4 ? 'ip' : 'ip6';
      const tables = queryCommand('nft', ['list', 'tables']) ?? '';
      if (tables.split('\n').some((l) => l.trim() === `table ${pf} ${a.name}`)) runCommand('nft', ['delete', 'table', pf, a.name]);
      return true;
    }
    case 'iptables': {
      const save = a.family === 4 ? 'iptables-save' : 'ip6tables-save';
      const restore = a.family === 4 ? 'iptables-restore' : 'ip6tables-restore';
      const dump = queryCommand(save, []) ?? '';
      let found = false;
      const out: string[] = [];
      for (const line of dump.split('\n')) {
        if (line.startsWith('*') || line === 'COMMIT') out.push(line);
        else if (line.startsWith('-A ') && line.includes(`--comment "${a.comment}"`)) {
          out.push(`-D ${line.slice(3)}`);
          found = true;
        }
      }
      if (found) runCommand(restore, ['-n'], `${out.join('\n')}\n`);
      return true;
    }
    default:
      return false;
  }
}

const SRC_VALID_MARK = '/proc/sys/net/ipv4/conf/all/src_valid_mark';

/**
 * net.ipv4.conf.all.src_valid_mark=1, written only when it is not already 1
 * (as wg-quick does): in a container /proc/sys is read-only, so there the
 * host (or the runtime, `podman run --sysctl`) sets it for the namespace and
 * the write must not be attempted.
 */
function enableSrcValidMark(): void {
  if (readFileSync(SRC_VALID_MARK, 'utf8').trim() === '1') return;
  process.stderr.write('[#] sysctl -q net.ipv4.conf.all.src_valid_mark=1\n');
  try {
    writeFileSync(SRC_VALID_MARK, '1\n');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EROFS') throw err;
    throw new Error(
      "net.ipv4.conf.all.src_valid_mark is 0 and /proc/sys is read-only here (a container?): set it to 1 for this network namespace from outside (the host's sysctl, or `podman run --sysctl net.ipv4.conf.all.src_valid_mark=1`), as a full tunnel needs it",
    );
  }
}
