/**
 * `xdpwg save CONFIG_FILE|IFNAME`: the running configuration written back to
 * the file, laid out as `wg-quick save` writes it so the two can replace each
 * other: an [Interface] section with one `Address =` line per address the
 * link has now (as `ip -brief address` lists them), one `DNS =` line per
 * server and search domain of the file, the file's MTU (the link's value)
 * only when the file sets one, its Table, SaveConfig and hooks; then what
 * `wg showconf` prints of the live device (keys, port, fwmark, peers with
 * their current endpoints and allowed IPs). The file is replaced atomically
 * (a temporary 0600 file, fsync, rename): a crash never leaves it without
 * its private key.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { configFromSnapshot, parseConfig, serializeConfig } from '../daemon/config/config-file.js';
import { uapiGet, uapiSocketPath } from '../daemon/uapi/server.js';
import { replaceFileAtomically } from './quick/atomic-file.js';
import { resolveConfigPath } from './up.js';

/** The addresses of a link as `ip -brief address show dev` lists them (wg-quick save's source). */
function linkAddresses(ifname: string): string[] {
  const out = execFileSync('ip', ['-brief', 'address', 'show', 'dev', ifname], { encoding: 'utf8' });
  const m = /^\S+\s+\S+\s+(.+)$/m.exec(out);
  return m ? m[1]!.trim().split(/\s+/) : [];
}

function linkMtu(ifname: string): number | undefined {
  const m = / mtu (\d+)/.exec(execFileSync('ip', ['link', 'show', 'dev', ifname], { encoding: 'utf8' }));
  return m ? Number(m[1]) : undefined;
}

export async function run(args: string[]): Promise<number> {
  if (args.length !== 1) {
    process.stderr.write('Usage: xdpwg save CONFIG_FILE | INTERFACE\n');
    return 1;
  }
  try {
    const { file, ifname } = resolveConfigPath(args[0]!);
    let snapshot;
    try {
      snapshot = await uapiGet(uapiSocketPath(ifname));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES') throw new Error(`permission denied on ${uapiSocketPath(ifname)} (save needs root)`);
      throw new Error(`\`${ifname}' is not a WireGuard interface (${code ?? (err as Error).message})`);
    }
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`cannot read \`${file}': ${(err as Error).message}`);
    }
    const i = parseConfig(text, file).interface;
    const head = ['[Interface]'];
    for (const a of linkAddresses(ifname)) head.push(`Address = ${a}`);
    for (const d of [...i.dns, ...i.dnsSearch]) head.push(`DNS = ${d}`);
    const mtu = i.mtu !== undefined ? linkMtu(ifname) : undefined;
    if (mtu !== undefined) head.push(`MTU = ${mtu}`);
    if (i.table !== undefined) head.push(`Table = ${i.table}`);
    if (i.saveConfig) head.push('SaveConfig = true');
    for (const [key, list] of [
      ['PreUp', i.preUp],
      ['PostUp', i.postUp],
      ['PreDown', i.preDown],
      ['PostDown', i.postDown],
    ] as const) {
      for (const cmd of list) head.push(`${key} = ${cmd}`);
    }
    const showconf = serializeConfig(configFromSnapshot(snapshot, file), 'setconf');
    const body = showconf.replace(/^\[Interface\]\n/, '');
    replaceFileAtomically(file, `${head.join('\n')}\n${body}`, 0o600);
    return 0;
  } catch (err) {
    process.stderr.write(`xdpwg: ${(err as Error).message}\n`);
    return 1;
  }
}
