/**
 * Asynchronous commands inside a namespace, for measurements that must run
 * side by side (ping during iperf3). The test fixtures' nsExec is
 * synchronous; this is its concurrent sibling with the same failure
 * contract: a non-zero exit throws with the command and its stderr.
 */
import { spawn } from 'node:child_process';

/** What a finished command printed. */
export interface RunResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Runs cmd inside ns; resolves with its output, rejects on timeout or (unless allowFailure) a non-zero exit. */
export function nsRun(
  ns: string,
  cmd: string,
  args: string[],
  opts: { timeoutMs: number; allowFailure?: boolean; input?: string },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') reject(new Error(`${cmd} ${args.join(' ')} in ${ns}: killed after ${opts.timeoutMs} ms`));
      else if (code !== 0 && !opts.allowFailure)
        reject(new Error(`${cmd} ${args.join(' ')} in ${ns} exited ${code}: ${stderr.trim() || stdout.trim().slice(-500)}`));
      else resolve({ stdout, stderr, code });
    });
  });
}

/** Resolves after ms milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
