/**
 * `xdpwg genkey | pubkey | genpsk`: keys exactly as wg(8) makes them.
 *
 *   genkey   a new private key (random, clamped), base64, on stdout
 *   pubkey   reads a base64 private key on stdin, prints its public key
 *   genpsk   a new preshared key (32 random bytes), base64
 *
 * As wg does: stdin for pubkey is the 44-character key followed only by
 * optional whitespace; anything else is "Key is not the correct length or
 * format" and exit status 1. Writing a secret to a world-accessible file
 * prints a warning.
 */
import { fstatSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { generatePrivateKey, keyFromBase64, keyToBase64, publicKeyOf, wipe, KeyFormatError, KEY_LENGTH } from '../crypto/index.js';

/** Longest stdin we read for pubkey: a key plus generous trailing whitespace. */
const MAX_PUBKEY_INPUT = 4096;

/** Runs one key verb; args[0] is the verb. Resolves to the exit status. */
export async function run(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  if (rest.length > 0 || (verb !== 'genkey' && verb !== 'pubkey' && verb !== 'genpsk')) {
    process.stderr.write(`Usage: xdpwg ${verb ?? 'genkey|pubkey|genpsk'}\n`);
    return 1;
  }
  switch (verb) {
    case 'genkey':
      return printSecret(generatePrivateKey(), verb);
    case 'genpsk':
      return printSecret(randomFillSync(new Uint8Array(KEY_LENGTH)), verb);
    case 'pubkey':
      return pubkey();
  }
}

async function pubkey(): Promise<number> {
  const input = await readStdin(MAX_PUBKEY_INPUT);
  let privateKey: Uint8Array;
  try {
    if (input === null) throw new KeyFormatError('input too long');
    privateKey = keyFromBase64(input.replace(/\s+$/, ''));
  } catch (err) {
    if (!(err instanceof KeyFormatError)) throw err;
    process.stderr.write('xdpwg pubkey: Key is not the correct length or format\n');
    return 1;
  }
  const publicKey = publicKeyOf(privateKey);
  wipe(privateKey);
  process.stdout.write(`${keyToBase64(publicKey)}\n`);
  return 0;
}

function printSecret(key: Uint8Array, verb: string): number {
  warnIfWorldAccessible(verb);
  process.stdout.write(`${keyToBase64(key)}\n`);
  wipe(key);
  return 0;
}

/** wg warns when a secret goes to a regular file that others may read; so do we. */
function warnIfWorldAccessible(verb: string): void {
  try {
    const st = fstatSync(1);
    if (st.isFile() && (st.mode & 0o007) !== 0)
      process.stderr.write(
        `Warning (xdpwg ${verb}): writing to world accessible file.\nConsider setting the umask to 077 and trying again.\n`,
      );
  } catch {
    // stdout is not something we can stat (closed); writing will report the problem.
  }
}

/** All of stdin as text, or null when it exceeds limit bytes. */
async function readStdin(limit: number): Promise<string | null> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > limit) return null;
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('latin1');
}
