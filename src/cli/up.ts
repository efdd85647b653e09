/**
 * `xdpwg up FILE|IFNAME` and `xdpwg down FILE|IFNAME`: wg-quick's job in one
 * foreground process, for systemd (systemd/xdpwg@.service).
 *
 * up: parse the file (errors name file and line), PreUp hooks, start the
 * daemon in this process, apply the wg(8) part of the file, addresses, MTU
 * (default 1420), link up, routes for AllowedIPs, PostUp hooks; then stay in
 * the foreground. SIGHUP re-reads the file and applies only the difference
 * (sessions survive, as `wg syncconf`). SIGTERM/SIGINT: PreDown, SaveConfig,
 * tear down, PostDown.
 * down: signals the `xdpwg up` process of that interface (pid file in
 * /run/xdpwg) and waits for it to finish.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { native } from '../native/binding.js';
import {
  ConfigError, parseConfig, resolveEndpoints, serializeConfig, setconfOps, syncconfOps, toDeviceConfig, configFromSnapshot,
  type ConfigFile,
} from '../daemon/config-file.js';
import { formatPrefix, type IpPrefix } from '../daemon/device-config.js';
import { Logger, logLevelFromEnv } from '../daemon/log.js';
import { startDaemon, type RunningDaemon } from '../daemon/daemon.js';

const PID_DIR = '/run/xdpwg';
const CONFIG_DIR = '/etc/wireguard';
const DEFAULT_MTU = 1420;

interface Netlink {
  linkInfo(name: string | number): { ifindex: number; mtu: number } | null;
  routeDel(r: { dst: string; ifindex?: number; table?: number }): void;
  linkSetUp(ifindex: number, up: boolean): void;
  linkSetMtu(ifindex: number, mtu: number): void;
  addrAdd(ifindex: number, cidr: string, opts?: { noDad?: boolean }): void;
  routeAdd(r: { dst: string; ifindex?: number; table?: number; replace?: boolean }): void;
}

/** FILE or IFNAME → (config path, interface name), as wg-quick resolves them. */
export function resolveConfigPath(arg: string): { file: string; ifname: string } {
  const looksLikePath = arg.includes('/') || arg.endsWith('.conf');
  const file = looksLikePath ? path.resolve(arg) : path.join(CONFIG_DIR, `${arg}.conf`);
  const ifname = path.basename(file).replace(/\.conf$/, '');
  if (!/^[A-Za-z0-9_=+.-]{1,15}$/.test(ifname)) throw new Error(`\`${file}' is not a valid config file name (the interface name is taken from it)`);
  return { file, ifname };
}

/** A hook's command line with %i replaced, announced as wg-quick does. */
function hookLine(kind: string, cmd: string, ifname: string, log: Logger): string {
  const line = cmd.replaceAll('%i', ifname);
  log.verbose(`${kind}: ${line}`);
  process.stderr.write(`[#] ${line}\n`);
  return line;
}

/** Hooks that run while this process is not serving its UAPI socket (before the daemon, during teardown). */
function runHooks(kind: string, cmds: string[], ifname: string, log: Logger): void {
  for (const cmd of cmds) execFileSync('bash', ['-c', hookLine(kind, cmd, ifname, log)], { stdio: 'inherit' });
}

/**
 * Hooks that run while the daemon serves: the event loop keeps going, because
 * a hook such as `wg set %i private-key FILE` talks to this very process's
 * UAPI socket (a synchronous wait would never let it answer).
 */
async function runHooksServing(kind: string, cmds: string[], ifname: string, log: Logger): Promise<void> {
  for (const cmd of cmds) {
    const line = hookLine(kind, cmd, ifname, log);
    const child = spawn('bash', ['-c', line], { stdio: 'inherit' });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (c, sig) => resolve([c, sig]));
    });
    if (code !== 0) throw new Error(`${kind} hook failed (${signal ? `signal ${signal}` : `exit status ${code}`}): ${line}`);
  }
}

function readConfig(file: string, log: Logger): ConfigFile {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (err) { throw new Error(`cannot read \`${file}': ${(err as Error).message}`); }
  const mode = statSync(file).mode;
  if (mode & 0o077) log.error(`Warning: \`${file}' is world accessible`);
  return parseConfig(text, file);
}

/** Routes wg-quick would add for the peers' AllowedIPs (Table = off adds none). */
function routesFor(cfg: ConfigFile): IpPrefix[] {
  const table = cfg.interface.table;
  if (table === 'off') return [];
  const seen = new Set<string>();
  const out: IpPrefix[] = [];
  for (const p of cfg.peers) for (const a of p.allowedIPs) {
    const key = formatPrefix(a);
    if (!seen.has(key)) { seen.add(key); out.push(a); }
  }
  return out;
}

function configureInterface(nl: Netlink, ifname: string, cfg: ConfigFile, log: Logger): void {
  const link = nl.linkInfo(ifname);
  if (!link) throw new Error(`interface ${ifname} vanished during set-up`);
  for (const a of cfg.interface.addresses) {
    process.stderr.write(`[#] ip address add ${formatPrefix(a)} dev ${ifname}\n`);
    nl.addrAdd(link.ifindex, formatPrefix(a), { noDad: a.family === 6 });
  }
  const mtu = cfg.interface.mtu ?? DEFAULT_MTU;
  process.stderr.write(`[#] ip link set mtu ${mtu} up dev ${ifname}\n`);
  nl.linkSetMtu(link.ifindex, mtu);
  nl.linkSetUp(link.ifindex, true);
  const tableText = cfg.interface.table;
  const table = tableText && /^[0-9]+$/.test(tableText) ? Number(tableText) : undefined;
  for (const r of routesFor(cfg)) {
    if (r.bits === 0) {
      // wg-quick sends a default route through fwmark policy routing; we keep
      // the endpoint reachable by refusing to hijack it silently.
      log.error(`AllowedIPs ${formatPrefix(r)}: a default route through the tunnel is not installed by xdpwg up yet; add it in PostUp or set Table = off`);
      continue;
    }
    const dst = formatPrefix(r);
    process.stderr.write(`[#] ip route add ${dst} dev ${ifname}${table ? ` table ${table}` : ''}\n`);
    nl.routeAdd({ dst, ifindex: link.ifindex, table, replace: true });
  }
}

async function up(arg: string): Promise<number> {
  const { file, ifname } = resolveConfigPath(arg);
  const log = new Logger(`(${ifname}) `, logLevelFromEnv() === 'error' ? 'verbose' : logLevelFromEnv());
  const cfg = readConfig(file, log);
  const resolved = await resolveEndpoints(cfg);
  const nl = native() as unknown as Netlink;
  if (nl.linkInfo(ifname)) throw new Error(`\`${ifname}' already exists`);

  runHooks('PreUp', cfg.interface.preUp, ifname, log);
  const daemon: RunningDaemon = await startDaemon({ ifname, log });
  try {
    daemon.device.applySet(setconfOps(toDeviceConfig(cfg, resolved)));
    configureInterface(nl, ifname, cfg, log);
    await runHooksServing('PostUp', cfg.interface.postUp, ifname, log);
  } catch (err) {
    await daemon.shutdown('set-up failed', 1);
    throw err;
  }
  mkdirSync(PID_DIR, { recursive: true, mode: 0o755 });
  const pidFile = path.join(PID_DIR, `${ifname}.pid`);
  writeFileSync(pidFile, `${process.pid}\n`);
  log.verbose(`interface ${ifname} is up (config ${file})`);

  let current = cfg;
  process.on('SIGHUP', () => {
    void (async () => {
      try {
        const next = readConfig(file, log);
        const ops = syncconfOps(daemon.device.getSnapshot(), toDeviceConfig(next, await resolveEndpoints(next)));
        daemon.device.applySet(ops);
        // Routes follow AllowedIPs: add the new ones, remove those no peer has any more.
        const before = new Set(routesFor(current).map((r) => formatPrefix(r)));
        const after = new Set(routesFor(next).map((r) => formatPrefix(r)));
        const link = nl.linkInfo(ifname);
        if (link) {
          for (const dst of after) if (!before.has(dst) && !dst.endsWith('/0')) nl.routeAdd({ dst, ifindex: link.ifindex, replace: true });
          for (const dst of before) {
            if (after.has(dst) || dst.endsWith('/0')) continue;
            try { nl.routeDel({ dst, ifindex: link.ifindex }); } catch (err) { log.verbose(`route ${dst} was already gone: ${(err as Error).message}`); }
          }
        }
        current = next;
        log.verbose(`reloaded ${file}: ${ops.length} change(s) applied`);
      } catch (err) {
        log.error(`reload of ${file} failed, keeping the running configuration: ${(err as Error).message}`);
      }
    })();
  });
  // Teardown hooks run on the signals that end the daemon.
  const teardown = (): void => {
    try { runHooks('PreDown', current.interface.preDown, ifname, log); } catch (err) { log.error(`PreDown: ${(err as Error).message}`); }
    if (current.interface.saveConfig) {
      const saved = configFromSnapshot(daemon.device.getSnapshot(), file);
      saved.interface = { ...current.interface, privateKey: saved.interface.privateKey, listenPort: saved.interface.listenPort };
      writeFileSync(file, serializeConfig(saved), { mode: 0o600 });
    }
  };
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.prependOnceListener(sig, teardown);
  const status = await daemon.exited;
  try { runHooks('PostDown', current.interface.postDown, ifname, log); } catch (err) { log.error(`PostDown: ${(err as Error).message}`); }
  try { unlinkSync(pidFile); } catch { /* already gone */ }
  return status;
}

async function down(arg: string): Promise<number> {
  const { ifname } = resolveConfigPath(arg);
  const pidFile = path.join(PID_DIR, `${ifname}.pid`);
  if (!existsSync(pidFile)) {
    process.stderr.write(`xdpwg: \`${ifname}' is not a WireGuard interface brought up by xdpwg up\n`);
    return 1;
  }
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  try { process.kill(pid, 'SIGTERM'); } catch {
    unlinkSync(pidFile);
    process.stderr.write(`xdpwg: the process of \`${ifname}' (pid ${pid}) is gone; removed its stale pid file\n`);
    return 1;
  }
  for (let i = 0; i < 100; i++) {
    try { process.kill(pid, 0); } catch { return 0; }
    await new Promise((r) => setTimeout(r, 100));
  }
  process.stderr.write(`xdpwg: \`${ifname}' (pid ${pid}) did not stop within 10 s\n`);
  return 1;
}

export async function run(argv: string[]): Promise<number> {
  const [verb, arg, ...extra] = argv;
  if (!arg || extra.length > 0) {
    process.stderr.write(`Usage: xdpwg ${verb} CONFIG_FILE | INTERFACE\n`);
    return 1;
  }
  try {
    return verb === 'up' ? await up(arg) : await down(arg);
  } catch (err) {
    // Config errors already say file:line: what; no stack trace for users.
    const msg = err instanceof ConfigError ? err.message : (err as Error).message;
    process.stderr.write(`xdpwg: ${msg}\n`);
    return 1;
  }
}
