/**
 * xdpwg command dispatcher. Each subcommand lives in its own module under
 * src/cli/ and exports `run(args): Promise<number>` (the exit status).
 * A lone interface name (or -f IFNAME) is wireguard-go's contract: run the daemon.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAIN_USAGE, VERB_USAGE } from './usage.js';

type Command = { run(args: string[]): Promise<number> };

const commands: Record<string, () => Promise<Command>> = {
  echo: () => import('./echo.js'),
  genkey: () => import('./keys.js'),
  pubkey: () => import('./keys.js'),
  genpsk: () => import('./keys.js'),
  up: () => import('./up.js'),
  down: () => import('./up.js'),
  show: () => import('./show.js'),
  stats: () => import('./stats.js'),
  health: () => import('./health.js'),
  capture: () => import('./capture.js'),
  strip: () => import('./strip.js'),
  save: () => import('./save.js'),
};

function version(): string {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  return (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    (first === undefined ? process.stderr : process.stdout).write(MAIN_USAGE + '\n');
    return first === undefined ? 1 : 0;
  }
  if (first === '--version' || first === '-v') {
    process.stdout.write(`xdpwg v${version()}\n`);
    return 0;
  }
  const load = commands[first];
  if (load) {
    // A verb's --help/-h comes before its own parsing, which would take it for a file or interface name.
    if (rest.includes('--help') || rest.includes('-h')) {
      if (first === 'show') return (await load()).run(['--help']);
      process.stdout.write(VERB_USAGE[first] + '\n');
      return 0;
    }
    const cmd = await load();
    // keys.ts and up.ts serve several verbs: they receive the verb first.
    return cmd.run(['genkey', 'pubkey', 'genpsk', 'up', 'down'].includes(first) ? argv : rest);
  }
  const dashDash = argv.indexOf('--');
  const options = dashDash < 0 ? argv : argv.slice(0, dashDash);
  if (options.includes('--help') || options.includes('-h')) {
    process.stdout.write(MAIN_USAGE + '\n');
    return 0;
  }
  const daemon = await import('./daemon.js');
  return daemon.run(argv);
}

main(process.argv.slice(2)).then(
  // exitCode, not exit(): a large `show` output must drain to a pipe first.
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`xdpwg: ${err instanceof Error ? err.message : String(err)}\n`);
    if (process.env.LOG_LEVEL === 'debug' && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exitCode = 1;
  },
);
