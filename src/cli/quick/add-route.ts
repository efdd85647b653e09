/**
 * One route added by `xdpwg up`, as `ip route add` adds it: NLM_F_EXCL, so
 * an existing route to the same prefix (same table, same metric) makes it
 * fail with EEXIST instead of being taken over. The error says which route
 * is in the way, on one line, and carries code 'EEXIST' (a failed SIGHUP
 * reload reports its errno to systemd).
 */
import { native } from '../../native/binding.js';
import { queryCommand } from './run-command.js';

const RT_TABLE_MAIN = 254;

export interface NewRoute {
  dst: string;
  family: 4 | 6;
  ifindex: number;
  /** For the error message. */
  ifname: string;
  /** Default: main. */
  table?: number;
  /** How the file named the table (Table = NAME), for the error message. */
  tableName?: string;
}

export function addRoute(r: NewRoute): void {
  const table = r.table ?? RT_TABLE_MAIN;
  try {
    native().routeAdd({ dst: r.dst, ifindex: r.ifindex, table });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const name = r.tableName ?? (table === RT_TABLE_MAIN ? 'main' : String(table));
    // What is there, as `ip route show` prints it (first line: a multipath route spans several).
    const existing = (queryCommand('ip', [`-${r.family}`, 'route', 'show', 'table', String(table), 'exact', r.dst]) ?? '')
      .trim()
      .split('\n')[0]
      ?.trim();
    throw Object.assign(
      new Error(
        `cannot route ${r.dst} through ${r.ifname}: table ${name} already has a route to it${existing ? ` (${existing})` : ''}; ` +
          'xdpwg up never replaces a route (as wg-quick: "File exists"); remove that route or that prefix from AllowedIPs',
      ),
      { code: 'EEXIST' },
    );
  }
}
