/**
 * wg-quick's `Table =`: `off` (no routes), `auto` or unset (routes in main;
 * a default route goes through fwmark policy routing, see full-tunnel.ts),
 * or a table given by number or by name. Names are looked up as ip(8) does,
 * in /etc/iproute2/rt_tables (and rt_tables.d/*.conf), then the
 * distribution's defaults in /usr/share/iproute2; local, main, default and
 * unspec are built in.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export type TableSetting =
  | { kind: 'off' }
  | { kind: 'auto' }
  /** Every route (a default one too) goes into table `id`, with no policy rules, as wg-quick does. */
  | { kind: 'fixed'; id: number; text: string };

const BUILT_IN: Record<string, number> = { unspec: 0, default: 253, main: 254, local: 255 };
export const RT_TABLES_DIRS = ['/etc/iproute2', '/usr/share/iproute2'];

/** name → number from rt_tables files in `dirs` (the first definition of a name wins). */
export function readTableNames(dirs: string[] = RT_TABLES_DIRS): Map<string, number> {
  const names = new Map<string, number>(Object.entries(BUILT_IN));
  const files: string[] = [];
  for (const dir of dirs) {
    files.push(path.join(dir, 'rt_tables'));
    try {
      for (const f of readdirSync(path.join(dir, 'rt_tables.d')).sort())
        if (f.endsWith('.conf')) files.push(path.join(dir, 'rt_tables.d', f));
    } catch {
      /* no such directory */
    }
  }
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const raw of text.split('\n')) {
      const m = /^\s*(0x[0-9a-fA-F]+|[0-9]+)\s+(\S+)/.exec(raw.replace(/#.*/, ''));
      if (!m) continue;
      const id = Number(m[1]);
      if (!names.has(m[2]!) && id <= 0xffffffff) names.set(m[2]!, id);
    }
  }
  return names;
}

/** The file's Table value as a setting; a name nobody defines is an error that says where it looked. */
export function resolveTable(text: string | undefined, dirs: string[] = RT_TABLES_DIRS): TableSetting {
  if (text === undefined || text === 'auto') return { kind: 'auto' };
  if (text === 'off') return { kind: 'off' };
  if (/^[0-9]+$/.test(text)) {
    const id = Number(text);
    if (id > 0xffffffff) throw new Error(`Table = ${text}: a table number is at most ${0xffffffff}`);
    return { kind: 'fixed', id, text };
  }
  const id = readTableNames(dirs).get(text);
  if (id === undefined)
    throw new Error(`Table = ${text}: no table of that name in ${dirs.map((d) => path.join(d, 'rt_tables')).join(' or ')}`);
  return { kind: 'fixed', id, text };
}
