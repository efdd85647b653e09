/**
 * `xdpwg up FILE|IFNAME` and `xdpwg down FILE|IFNAME`: wg-quick's job in one
 * foreground process, for systemd (systemd/xdpwg@.service).
 *
 * up: parse the file (errors name file and line) and check what it needs
 * (Table name, a DNS manager) before changing anything; undo what a killed
 * earlier `up` of the interface left (undo-journal.ts); PreUp hooks; start
 * the daemon in this process; the wg(8) part of the file (host-name
 * endpoints that do not resolve yet are retried in the background,
 * endpoint-resolver.ts); addresses, MTU, link up, DNS, routes as Table says
 * — a default route through fwmark policy routing (quick/interface-setup.ts);
 * PostUp hooks; READY=1 to systemd; then stay in the foreground.
 * A route that is already there is never taken over: the set-up fails,
 * undoes what it did, and says which route is in the way (add-route.ts).
 * SIGHUP re-reads the file and applies only the difference (sessions
 * survive, as `wg syncconf`; routes follow AllowedIPs in the table); a
 * reload that fails changes nothing and is reported to systemd.
 * SIGTERM/SIGINT: STOPPING=1, PreDown, SaveConfig (written atomically:
 * atomic-file.ts), tear down, undo, PostDown. Any other end (TUN deleted,
 * a fatal error) undoes the same.
 * down: quick/down.ts — stops the verified `xdpwg up` of that interface, or
 * undoes what a dead one left.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { native } from '../native/binding.js';
import {
  ConfigError,
  parseConfig,
  resolveEndpointsPartly,
  serializeConfig,
  setconfOps,
  syncconfOps,
  toDeviceConfig,
  configFromSnapshot,
  type ConfigFile,
} from '../daemon/config/config-file.js';
import type { DeviceConfig } from '../daemon/config/device-config.js';
import { formatPrefix } from '../packet/ip-prefix.js';
import { Logger, logLevelFromEnv } from '../daemon/log.js';
import { startDaemon, type RunningDaemon } from '../daemon/daemon.js';
import { ServiceNotifier } from '../daemon/sd-notify.js';
import { resolveTable } from './quick/route-table.js';
import { pickDnsManager } from './quick/dns-config.js';
import { firewallBackend } from './quick/full-tunnel.js';
import { UndoJournal } from './quick/undo-journal.js';
import { undoAction } from './quick/undo-actions.js';
import { InterfaceSetup, routedPrefixes } from './quick/interface-setup.js';
import { EndpointResolver } from './quick/endpoint-resolver.js';
import { replaceFileAtomically } from './quick/atomic-file.js';
import { removePidFile, writePidFile } from './quick/pid-file.js';
import { downInterface } from './quick/down.js';
import { detachedReadyReporter, detachUp, shouldDetach } from './up-detach.js';
import { parseUpArgs } from './up-args.js';

const CONFIG_DIR = '/etc/wireguard';

/** FILE or IFNAME → (config path, interface name), as wg-quick resolves them. */
export function resolveConfigPath(arg: string): { file: string; ifname: string } {
  const looksLikePath = arg.includes('/') || arg.endsWith('.conf');
  const file = looksLikePath ? path.resolve(arg) : path.join(CONFIG_DIR, `${arg}.conf`);
  const ifname = path.basename(file).replace(/\.conf$/, '');
  if (!/^[A-Za-z0-9_=+.-]{1,15}$/.test(ifname))
    throw new Error(`\`${file}' is not a valid config file name (the interface name is taken from it)`);
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

function readConfig(file: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read \`${file}': ${(err as Error).message}`, { cause: err });
  }
  const mode = statSync(file).mode;
  // wg-quick's own warning line, word for word: a warning (the file is still used), not an error.
  if (mode & 0o077) process.stderr.write(`Warning: \`${file}' is world accessible\n`);
  return parseConfig(text, file);
}

/**
 * The errno systemd is told for a failed reload (ERRNO=): the failure's own
 * (ENOENT for a missing file, EEXIST for a route in the way), else EINVAL —
 * a file that does not parse, or a value the device refuses.
 */
function errnoOf(err: unknown): number {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code;
    const n = code ? (os.constants.errno as Record<string, number>)[code] : undefined;
    if (n) return n;
  }
  return os.constants.errno.EINVAL;
}

/** The device configuration of a file, keeping the full tunnel's fwmark when the file sets none. */
function deviceConfigOf(
  cfg: ConfigFile,
  resolved: Awaited<ReturnType<typeof resolveEndpointsPartly>>['resolved'],
  setup?: InterfaceSetup,
): DeviceConfig {
  const config = toDeviceConfig(cfg, resolved, 'omit');
  if (cfg.interface.fwmark === undefined && setup?.fwmark !== undefined) config.fwmark = setup.fwmark;
  return config;
}

async function up(arg: string, metricsListen?: string): Promise<number> {
  const { file, ifname } = resolveConfigPath(arg);
  const ready = detachedReadyReporter();
  // Unset LOG_LEVEL: verbose for the journal; at a terminal (detached) errors only, as wg-quick says little.
  // An explicit LOG_LEVEL is obeyed.
  const log = new Logger(`(${ifname}) `, process.env.LOG_LEVEL ? logLevelFromEnv() : ready ? 'error' : 'verbose');
  const cfg = readConfig(file);
  // Everything the file needs from the system is checked before anything changes.
  const table = resolveTable(cfg.interface.table);
  const hasDns = cfg.interface.dns.length + cfg.interface.dnsSearch.length > 0;
  const dnsManager = hasDns ? pickDnsManager(ifname) : undefined;
  firewallBackend(); // XDPWG_FIREWALL checked now; the rules are added only for a default route
  const journal = new UndoJournal(ifname, undoAction, log);
  journal.recoverStale();
  const nl = native();
  if (nl.linkInfo(ifname)) throw new Error(`\`${ifname}' already exists`);
  // From here on the journal names this process as the interface's (xdpwg down checks it), until undoAll.
  journal.begin();
  let resolver: EndpointResolver | undefined;
  let undone = false;
  const undoAll = (): void => {
    if (undone) return;
    undone = true;
    resolver?.stop();
    // The pid file first: a `down` that finds the journal but no pid file does not signal a teardown in progress.
    removePidFile(ifname);
    journal.undoAll();
  };
  // The last resort for an exit no code path below sees (an uncaught exception): undo synchronously.
  process.once('exit', undoAll);
  const { resolved, unresolved } = await resolveEndpointsPartly(cfg);
  const notifier = new ServiceNotifier(log);

  runHooks('PreUp', cfg.interface.preUp, ifname, log);
  // Set once the interface is up; until then a signal ends the daemon without PreDown, as wg-quick.
  let teardownBeforeShutdown: (() => Promise<void>) | undefined;
  const daemon: RunningDaemon = await startDaemon({
    ifname,
    log,
    metricsListen,
    configDir: path.dirname(file),
    beforeSignalShutdown: async () => {
      await teardownBeforeShutdown?.();
    },
  });
  resolver = new EndpointResolver(daemon.device, log);
  // The daemon acts on the first SIGTERM/SIGINT (a once-listener); without a listener left, a second one
  // (an impatient `xdpwg down`, Ctrl-C twice) would kill this process in the middle of PreDown, SaveConfig
  // or the undo, leaving rules and DNS behind. Repeats are ignored: the first one is already being acted on.
  for (const sig of ['SIGTERM', 'SIGINT'] as const)
    process.on(sig, () => {
      /* the first one is being handled */
    });
  let setup: InterfaceSetup;
  try {
    const link = nl.linkInfo(ifname);
    if (!link) throw new Error(`interface ${ifname} vanished during set-up`);
    setup = new InterfaceSetup(ifname, link.ifindex, table, daemon.device, journal);
    daemon.device.applySet(setconfOps(deviceConfigOf(cfg, resolved)));
    setup.configureLink(cfg, [...resolved.values()]);
    if (dnsManager) setup.configureDns(cfg, dnsManager);
    setup.addRoutes(routedPrefixes(cfg));
    await runHooksServing('PostUp', cfg.interface.postUp, ifname, log);
  } catch (err) {
    undoAll();
    await daemon.shutdown('set-up failed', 1);
    throw err;
  }
  resolver.track(cfg, unresolved);
  writePidFile(ifname);
  log.verbose(`interface ${ifname} is up (config ${file})`);
  notifier.notify('ready', `${ifname} is up`);
  ready?.('ready');

  let current = cfg;
  let reloading = Promise.resolve();
  process.on('SIGHUP', () => {
    // One reload at a time, in signal order.
    reloading = reloading.then(async () => {
      notifier.notify('reloading', `reloading ${file}`);
      try {
        const next = readConfig(file);
        const res = await resolveEndpointsPartly(next);
        const ops = syncconfOps(daemon.device.getSnapshot(), deviceConfigOf(next, res.resolved, setup));
        // Routes follow AllowedIPs, in the interface's table. The new ones first: one that cannot be
        // added (a route to it exists) fails the reload before the peers change.
        const before = new Map(routedPrefixes(current).map((r) => [formatPrefix(r), r]));
        const after = new Map(routedPrefixes(next).map((r) => [formatPrefix(r), r]));
        const added = setup.addRoutes([...after].filter(([k]) => !before.has(k)).map(([, r]) => r));
        try {
          daemon.device.applySet(ops);
        } catch (err) {
          setup.removeRoutes(added);
          throw err;
        }
        resolver!.track(next, res.unresolved);
        setup.removeRoutes([...before].filter(([k]) => !after.has(k)).map(([, r]) => r));
        current = next;
        log.verbose(`reloaded ${file}: ${ops.length} change(s) applied`);
        // ERRNO=0 clears what a failed reload before may have reported.
        notifier.notify('ready', `${ifname} is up`, 0);
      } catch (err) {
        const msg = `reload of ${file} failed, keeping the running configuration: ${(err as Error).message}`;
        log.error(msg);
        // Still READY=1 — the service runs, on its previous configuration — with the failure where
        // systemctl status shows it (sd-notify.ts says why this is all systemd 252 offers).
        notifier.notify('ready', msg, errnoOf(err));
      }
    });
  });
  // Teardown on the signals that end the daemon, while it still serves its UAPI
  // socket: a PreDown hook may talk to this very process (`wg show %i`).
  teardownBeforeShutdown = async (): Promise<void> => {
    notifier.notify('stopping', `${ifname} is going down`);
    try {
      await runHooksServing('PreDown', current.interface.preDown, ifname, log);
    } catch (err) {
      log.error(`PreDown: ${(err as Error).message}`);
    }
    if (current.interface.saveConfig) {
      try {
        const saved = configFromSnapshot(daemon.device.getSnapshot(), file);
        saved.interface = {
          ...setup.liveInterface(current.interface),
          privateKey: saved.interface.privateKey,
          listenPort: saved.interface.listenPort,
        };
        replaceFileAtomically(file, serializeConfig(saved), 0o600);
      } catch (err) {
        log.error(`SaveConfig: ${(err as Error).message}`);
      }
    }
  };
  const status = await daemon.exited;
  notifier.notify('stopping');
  undoAll();
  try {
    runHooks('PostDown', current.interface.postDown, ifname, log);
  } catch (err) {
    log.error(`PostDown: ${(err as Error).message}`);
  }
  return status;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseUpArgs(argv);
  if (typeof parsed === 'string') {
    process.stderr.write(parsed);
    return 1;
  }
  const { verb, arg, foreground, metricsListen } = parsed;
  try {
    if (verb === 'up' && shouldDetach(foreground))
      return await detachUp([...(metricsListen !== undefined ? ['--metrics-listen', metricsListen] : []), arg]);
    return verb === 'up' ? await up(arg, metricsListen) : await downInterface(resolveConfigPath(arg).ifname);
  } catch (err) {
    // Config errors already say file:line: what; no stack trace for users.
    const msg = err instanceof ConfigError ? err.message : (err as Error).message;
    process.stderr.write(`xdpwg: ${msg}\n`);
    return 1;
  }
}
