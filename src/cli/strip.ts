/**
 * `xdpwg strip CONFIG_FILE|IFNAME`: the file as wg(8)'s setconf would take
 * it — what `wg-quick strip` prints, byte for byte, so scripts can use either:
 * every line with its surrounding blanks trimmed (bash's `read`), the lines
 * of the [Interface] section whose key is a wg-quick-only one (Address, DNS,
 * MTU, Table, PreUp, PostUp, PreDown, PostDown, SaveConfig; any case)
 * dropped, everything else (comments, unknown keys, [Peer] sections) kept,
 * and one extra newline at the end (wg-quick's `echo`). The key of a line is
 * what precedes its first '=' once the comment ('#' onwards) is cut off.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { resolveConfigPath } from './up.js';

const QUICK_ONLY = new Set(['address', 'dns', 'mtu', 'table', 'preup', 'postup', 'predown', 'postdown', 'saveconfig']);

/** wg-quick strip's output for a file's text. Throws on a SaveConfig that is neither true nor false, as wg-quick. */
export function stripQuickKeys(text: string): string {
  const lines = text.split('\n');
  // A final newline ends the last line; it does not start an empty one.
  if (lines.at(-1) === '') lines.pop();
  let inInterface = false;
  let out = '';
  for (const raw of lines) {
    const line = raw.replace(/^[ \t]+|[ \t]+$/g, '');
    const uncommented = line.split('#', 1)[0]!;
    const key = uncommented.split('=', 1)[0]!.trim();
    if (key.startsWith('[')) inInterface = key.toLowerCase() === '[interface]';
    if (inInterface && QUICK_ONLY.has(key.toLowerCase())) {
      if (key.toLowerCase() === 'saveconfig') {
        const value = uncommented.includes('=') ? uncommented.slice(uncommented.indexOf('=') + 1).trim() : uncommented.trim();
        if (!['true', 'false'].includes(value.toLowerCase())) throw new Error(`\`${value}' is neither true nor false`);
      }
      continue;
    }
    out += line + '\n';
  }
  return out + '\n';
}

export async function run(args: string[]): Promise<number> {
  if (args.length !== 1) {
    process.stderr.write('Usage: xdpwg strip CONFIG_FILE | INTERFACE\n');
    return 1;
  }
  try {
    const { file } = resolveConfigPath(args[0]!);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(
        (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? `\`${file}' does not exist`
          : `cannot read \`${file}': ${(err as Error).message}`,
      );
    }
    if ((statSync(file).mode & statSync(path.dirname(file)).mode & 0o007) !== 0)
      process.stderr.write(`Warning: \`${file}' is world accessible\n`);
    process.stdout.write(stripQuickKeys(text));
    return 0;
  } catch (err) {
    process.stderr.write(`xdpwg: ${(err as Error).message}\n`);
    return 1;
  }
}
