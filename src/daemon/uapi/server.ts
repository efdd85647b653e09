/**
 * The UAPI's unix socket: /var/run/wireguard/IFNAME.sock, served as
 * wireguard-go serves it (ipc/uapi_linux.go), plus the client calls that
 * `xdpwg show` and the tests use.
 *
 * - The directory is created 0755, the socket is bound under umask 077 (so
 *   0600, owner-only: it can change keys) and chmod'ed 0600 again to be sure.
 * - A stale socket (nobody accepts on it) is replaced; if a live process
 *   answers on it we refuse, because that is another daemon for the interface.
 * - wg(8) deletes a socket that refuses its connection (it takes it for a
 *   dead daemon's), and a socket is bound before it listens: a `wg show`
 *   landing in between deletes a starting daemon's socket. The name is
 *   checked once it listens and bound again if it went (listenOnName).
 *   What remains: a client that tried before the listen but deletes only
 *   after that check ends the daemon (the removal notice below), as the
 *   same window ends wireguard-go. Binding a staging name and linking it
 *   into place would close the window, but the socket's bound name is
 *   what `ss -xlp` shows, and operators find the daemon by IFNAME.sock.
 * - Or a listening socket inherited as WG_UAPI_FD is adopted.
 * - Each connection is read line by line; requests are served in order, one
 *   at a time, and a `get=1` answer is written with backpressure (reading
 *   pauses until the client has taken the answer), so a slow client costs
 *   one socket buffer, not the daemon's memory.
 * - When the socket file is removed (or replaced by someone else's), the
 *   owner is told through `onSocketRemoved`; wireguard-go exits then, and so
 *   should the daemon.
 *
 * Threading: main thread. DeviceControl calls happen one at a time.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { chmodSync, lstatSync, mkdirSync, unlinkSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { Errno, UapiError, type DeviceControl, type UapiSetOp } from '../config/device-config.js';
import {
  UAPI_MAX_LINE,
  UapiSetParser,
  parseUapiGet,
  serializeUapiGet,
  serializeUapiSet,
  uapiStatus,
  type UapiGetResult,
} from './protocol.js';

/** Where wireguard-go and wg(8) put UAPI sockets. */
export const UAPI_SOCKET_DIR = '/var/run/wireguard';

/** The socket path for an interface (refuses names that would escape the directory). */
export function uapiSocketPath(interfaceName: string, dir = UAPI_SOCKET_DIR): string {
  if (interfaceName === '' || interfaceName.includes('/') || interfaceName === '.' || interfaceName === '..') {
    throw new Error(`invalid interface name ${JSON.stringify(interfaceName)}`);
  }
  return path.join(dir, `${interfaceName}.sock`);
}

/** What the server logs through (src/daemon/log.ts's Logger fits). */
export interface UapiLog {
  error(msg: string): void;
  verbose(msg: string): void;
  debug(msg: string): void;
}

const quiet: UapiLog = { error() {}, verbose() {}, debug() {} };

/** How {@link UapiServer.open} finds its socket and device. */
export interface UapiServerOptions {
  interfaceName: string;
  device: DeviceControl;
  /** Default {@link UAPI_SOCKET_DIR}. */
  socketDir?: string;
  /** A listening unix socket inherited from the parent (WG_UAPI_FD); no bind then. */
  inheritedFd?: number;
  log?: UapiLog;
  /** Called once when the socket file disappears or is replaced; the daemon should exit. */
  onSocketRemoved?: () => void;
  /** How often to re-check the socket file besides inotify, in ms (default 1000). */
  watchIntervalMs?: number;
}

/** Parsed operations a set holds before they are applied while the rest of it streams in (applyStreamed). */
const STREAM_OPS = 4096;

/** Longest a `get=1` answer runs before the event loop gets a turn, when the client takes it as fast as it comes (answerGet). */
const YIELD_MS = 20;

type ConnState = 'op' | 'get-blank' | 'set' | 'discard';

/** One client connection: a line-oriented state machine over the socket. */
class UapiConnection {
  private state: ConnState = 'op';
  private parser: UapiSetParser | null = null;
  private buffer = '';
  private busy = false;
  private ended = false;

  constructor(
    private readonly socket: Socket,
    private readonly device: DeviceControl,
    private readonly log: UapiLog,
  ) {
    socket.setEncoding('latin1'); // the protocol is ASCII; latin1 never splits a character across chunks
    socket.on('data', (chunk: string) => {
      if (socket.writableEnded) return; // hanging up: whatever else the client sends is dropped
      this.buffer += chunk;
      if (this.buffer.length > UAPI_MAX_LINE && this.buffer.lastIndexOf('\n') < 0) {
        this.log.error('UAPI: request line too long; closing connection');
        this.finish(uapiStatus(Errno.EIO));
        return;
      }
      this.pump();
    });
    socket.on('end', () => {
      this.ended = true;
      this.pump();
    });
    socket.on('error', (err) => {
      this.log.debug(`UAPI: connection error: ${err.message}`);
      socket.destroy();
    });
  }

  /** Processes every complete line in the buffer; yields while an answer drains. */
  private pump(): void {
    if (this.busy || this.socket.destroyed) return;
    let pos = 0;
    while (true) {
      const nl = this.buffer.indexOf('\n', pos);
      if (nl < 0) break;
      const line = this.buffer.slice(pos, nl);
      pos = nl + 1;
      const pending = this.handleLine(line);
      if (pending) {
        this.buffer = this.buffer.slice(pos);
        this.busy = true;
        this.socket.pause();
        pending.then(
          () => {
            this.busy = false;
            if (this.socket.destroyed) return;
            this.socket.resume();
            this.pump();
          },
          (err: unknown) => {
            this.log.debug(`UAPI: write failed: ${(err as Error).message}`);
            this.socket.destroy();
          },
        );
        return;
      }
      if (this.socket.destroyed || this.socket.writableEnded) return;
    }
    this.buffer = this.buffer.slice(pos);
    if (this.ended) {
      // wireguard-go applies a set body cut short by EOF as if it had ended.
      if (this.state === 'set') {
        const pending = this.finishSet();
        if (pending) {
          void pending.then(() => this.socket.end());
          return;
        }
      }
      this.socket.end();
    }
  }

  /** Handles one line; returns a promise when an answer is still being written. */
  private handleLine(line: string): Promise<void> | null {
    switch (this.state) {
      case 'op':
        if (line === 'get=1') {
          this.state = 'get-blank';
          return null;
        }
        if (line === 'set=1') {
          this.state = 'set';
          this.parser = new UapiSetParser();
          return null;
        }
        // wireguard-go drops the connection on an unknown operation, without an answer.
        this.log.error(`UAPI: invalid operation ${JSON.stringify(line.slice(0, 80))}`);
        this.socket.end();
        return null;
      case 'get-blank':
        this.state = 'op';
        if (line !== '') {
          this.log.error('UAPI: trailing characters after get=1');
          this.finish(uapiStatus(Errno.EINVAL));
          return null;
        }
        return this.answerGet();
      case 'set':
        if (line === '') return this.finishSet();
        try {
          this.parser!.line(line);
        } catch (err) {
          this.state = 'discard';
          return this.failSet(err);
        }
        if (this.device.applySetChunked && this.parser!.ops.length > STREAM_OPS) return this.applyStreamed();
        return null;
      case 'discard':
        // The rest of a failed set body: wireguard-go would read it as operations and hang up;
        // skipping to the blank line answers the same and keeps the client's writes from failing.
        if (line === '') this.state = 'op';
        return null;
    }
  }

  /**
   * Applies what a big set has parsed so far while the rest streams in (as
   * wireguard-go applies line by line): the parsed operations of 1,000,000
   * peers never pile up. Reading pauses meanwhile. If the apply fails, the
   * error is the answer and the rest of the body is skipped.
   */
  private applyStreamed(): Promise<void> {
    const ops = this.parser!.takeCompleted();
    return this.device.applySetChunked!(ops).then(
      () => {},
      (err: unknown) => {
        this.parser = null;
        this.state = 'discard';
        if (!this.socket.destroyed) this.reportError(err);
      },
    );
  }

  /** Applies the parsed set: in chunks when the device can (a big set must not stall the daemon), then answers. */
  private finishSet(): Promise<void> | null {
    const ops = this.parser!.ops;
    this.parser = null;
    this.state = 'op';
    return this.applyThen(ops, null);
  }

  /** A bad line: what was parsed before it is applied (as wireguard-go applies line by line), then the error. */
  private failSet(parseError: unknown): Promise<void> | null {
    const ops = this.parser!.ops;
    this.parser = null;
    return this.applyThen(ops, parseError);
  }

  /** Applies ops, then answers with the apply's error, else `error` (a parse error), else success. */
  private applyThen(ops: UapiSetOp[], error: unknown): Promise<void> | null {
    const answer = (applyError: unknown): void => {
      if (this.socket.destroyed) return;
      if (applyError !== null) this.reportError(applyError);
      else if (error !== null) this.reportError(error);
      else this.socket.write(uapiStatus(0));
    };
    if (this.device.applySetChunked && ops.length > 0) {
      return this.device.applySetChunked(ops).then(
        () => answer(null),
        (err: unknown) => answer(err),
      );
    }
    try {
      if (ops.length > 0) this.device.applySet(ops);
    } catch (err) {
      answer(err);
      return null;
    }
    answer(null);
    return null;
  }

  private reportError(err: unknown): void {
    const errno = err instanceof UapiError ? err.errno : Errno.ENOANO;
    this.log.error(`UAPI: ${err instanceof Error ? err.message : String(err)}`);
    this.socket.write(uapiStatus(errno));
  }

  /**
   * Writes a `get=1` answer: the device's state (its captureForGetInTurns
   * or captureForGet when it has one), formatted chunk by chunk as the client
   * takes it. Each next chunk is formatted while the one before drains (the
   * client parses as we format, on another core), and the event loop gets a
   * turn at least every YIELD_MS even when the client keeps up, so other
   * clients, handshakes and timers go on meanwhile.
   */
  private async answerGet(): Promise<void> {
    let chunks: Generator<Buffer, void, undefined>;
    this.device.uapiActive?.();
    try {
      const d = this.device;
      chunks = serializeUapiGet((await d.captureForGetInTurns?.()) ?? d.captureForGet?.() ?? d.getSnapshot());
    } catch (err) {
      this.reportError(err);
      return;
    }
    if (this.socket.destroyed) return;
    let turnStart = performance.now();
    let chunk = chunks.next();
    while (!chunk.done) {
      const flowing = this.socket.write(chunk.value);
      chunk = chunks.next();
      if (this.socket.destroyed) return;
      if (!flowing) {
        await this.drained();
        turnStart = performance.now();
        this.device.uapiActive?.();
      } else if (performance.now() - turnStart >= YIELD_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        turnStart = performance.now();
        this.device.uapiActive?.();
      }
      if (this.socket.destroyed) return;
    }
    if (!this.socket.write(uapiStatus(0))) await this.drained();
  }

  private drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onDrain = (): void => {
        cleanup();
        resolve();
      };
      const onClose = (): void => {
        cleanup();
        reject(new Error('connection closed while answering'));
      };
      const cleanup = (): void => {
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
      };
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
    });
  }

  /** Writes a last answer and hangs up (wireguard-go's behaviour after a malformed get). */
  private finish(answer: string): void {
    this.state = 'discard';
    this.socket.end(answer);
  }
}

/** The listening UAPI socket of one interface. */
export class UapiServer {
  private readonly sockets = new Set<Socket>();
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private identity: { dev: number; ino: number } | null = null;
  private removedReported = false;
  private closed = false;

  private constructor(
    private readonly server: Server,
    readonly socketPath: string,
    private readonly opts: UapiServerOptions,
  ) {}

  /**
   * Opens the socket (or adopts `inheritedFd`) and starts serving. Resolves
   * once clients can connect. Throws when another live process serves the
   * same path, or the path exists and is not a socket.
   */
  static async open(opts: UapiServerOptions): Promise<UapiServer> {
    const dir = opts.socketDir ?? UAPI_SOCKET_DIR;
    const socketPath = uapiSocketPath(opts.interfaceName, dir);
    const log = opts.log ?? quiet;
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: false });
    const self = new UapiServer(server, socketPath, opts);
    server.on('connection', (socket) => self.accept(socket));

    if (opts.inheritedFd !== undefined) {
      await listen(server, { fd: opts.inheritedFd });
    } else {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      await listenOnName(server, socketPath, opts.interfaceName);
    }
    // Only now: a failed bind (a stale socket we then replace) is not a listener error worth logging.
    server.on('error', (err) => log.error(`UAPI: listener error: ${err.message}`));
    self.identity = fileIdentity(socketPath);
    self.startWatching();
    log.verbose(`UAPI: listening on ${socketPath}`);
    return self;
  }

  /** Open client connections. */
  get connectionCount(): number {
    return this.sockets.size;
  }

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    new UapiConnection(socket, this.opts.device, this.opts.log ?? quiet);
  }

  private startWatching(): void {
    if (!this.identity) {
      (this.opts.log ?? quiet).verbose(`UAPI: ${this.socketPath} does not exist; not watching for its removal`);
      return;
    }
    const check = (): void => {
      if (this.closed || this.removedReported) return;
      const now = fileIdentity(this.socketPath);
      if (now && now.dev === this.identity!.dev && now.ino === this.identity!.ino) return;
      this.removedReported = true;
      (this.opts.log ?? quiet).verbose(`UAPI: ${this.socketPath} was removed`);
      this.opts.onSocketRemoved?.();
    };
    try {
      const base = path.basename(this.socketPath);
      this.watcher = watch(path.dirname(this.socketPath), { persistent: false }, (_event, name) => {
        if (name === null || name === base) check();
      });
      this.watcher.on('error', () => check());
    } catch {
      // inotify unavailable: the timer below still notices.
    }
    this.timer = setInterval(check, this.opts.watchIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** Stops serving, drops open connections, and removes the socket file if it is still ours. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    for (const s of this.sockets) s.destroy();
    const ours = this.identity;
    await closeServer(this.server);
    // Node unlinks a path it bound on close; make sure, but never someone else's socket.
    const now = fileIdentity(this.socketPath);
    if (ours && now && now.dev === ours.dev && now.ino === ours.ino) {
      try {
        unlinkSync(this.socketPath);
      } catch {
        /* already gone */
      }
    }
  }
}

function fileIdentity(p: string): { dev: number; ino: number } | null {
  try {
    const st = lstatSync(p);
    return { dev: st.dev, ino: st.ino };
  } catch {
    return null;
  }
}

function listen(server: Server, what: string | { fd: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    if (typeof what === 'string') server.listen(what);
    else server.listen(what);
  });
}

/** Binds under umask 077 so the socket is never world-accessible, not even for an instant. */
export async function bindPrivate(server: Server, socketPath: string): Promise<void> {
  const old = process.umask(0o077);
  try {
    const p = listen(server, socketPath);
    process.umask(old); // the bind happened synchronously inside listen()
    await p;
  } finally {
    process.umask(old);
  }
}

/** How often a socket deleted between its bind and its listen is bound again before the start fails. */
const REBINDS = 5;

/**
 * Binds and listens on socketPath (replacing a stale socket), then checks
 * that the name is still there, binding again when a client deleted it in
 * the moment between bind and listen (see the file comment).
 */
async function listenOnName(server: Server, socketPath: string, interfaceName: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await bindPrivate(server, socketPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      await removeStaleSocket(socketPath, interfaceName);
      await bindPrivate(server, socketPath);
    }
    try {
      chmodSync(socketPath, 0o600);
      return;
    } catch (err) {
      await closeServer(server);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (attempt === REBINDS) throw new Error(`${socketPath} was deleted as it was created, ${REBINDS} times over`);
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Removes a socket nobody accepts on; refuses when a live process answers or it is not a socket. */
async function removeStaleSocket(socketPath: string, interfaceName: string): Promise<void> {
  let st;
  try {
    st = lstatSync(socketPath);
  } catch {
    return; // vanished meanwhile
  }
  if (!st.isSocket()) throw new Error(`${socketPath} exists and is not a socket; refusing to replace it`);
  const alive = await new Promise<boolean>((resolve) => {
    const c = createConnection(socketPath);
    const timer = setTimeout(() => {
      c.destroy();
      resolve(true);
    }, 2000);
    c.once('connect', () => {
      clearTimeout(timer);
      c.destroy();
      resolve(true);
    });
    c.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code !== 'ECONNREFUSED' && err.code !== 'ENOENT');
    });
  });
  if (alive) throw new Error(`another process already serves ${socketPath} (is a daemon for ${interfaceName} running?)`);
  try {
    unlinkSync(socketPath);
  } catch {
    /* vanished meanwhile */
  }
}

// ---------------------------------------------------------------- client side

/**
 * Whether a process accepts connections on the UAPI socket at `socketPath`.
 * Unlike wg(8), a refusal leaves the file alone: a socket refuses between its
 * bind and its listen, so a starting daemon's must not be taken for stale.
 */
export function uapiAccepts(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(socketPath);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/**
 * Sends one request on a fresh connection and returns the whole answer
 * (through its `errno=…\n\n` trailer). Rejects with the socket error
 * (ENOENT when no daemon serves the path, ECONNREFUSED for a stale socket).
 */
export function uapiRequest(socketPath: string, request: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    socket.setEncoding('latin1');
    const parts: string[] = [];
    let tail = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${socketPath} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(request, 'latin1'));
    socket.on('data', (chunk: string) => {
      parts.push(chunk);
      // The answer ends at its first blank line (the body itself never has one).
      const window = tail + chunk;
      if (window.includes('\n\n')) {
        clearTimeout(timer);
        socket.end();
        const all = parts.join('');
        resolve(all.slice(0, all.indexOf('\n\n') + 2));
      }
      tail = window.slice(-1);
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      reject(new Error(`${socketPath} closed the connection without an answer`));
    });
  });
}

/** get=1 over the socket; throws {@link UapiError} when the daemon answers with an error. */
export async function uapiGet(socketPath: string, timeoutMs?: number): Promise<UapiGetResult['snapshot']> {
  const result = parseUapiGet(await uapiRequest(socketPath, 'get=1\n\n', timeoutMs));
  if (result.errno !== 0) throw new UapiError(result.errno, `${socketPath}: get failed with errno ${result.errno}`);
  return result.snapshot;
}

/** set=1 over the socket; throws {@link UapiError} when the daemon answers with an error. */
export async function uapiSet(socketPath: string, ops: Iterable<UapiSetOp>, timeoutMs?: number): Promise<void> {
  const answer = await uapiRequest(socketPath, serializeUapiSet(ops), timeoutMs);
  const m = /^errno=(-?[0-9]+)\n\n$/.exec(answer);
  if (!m) throw new UapiError(Errno.EPROTO, `${socketPath}: malformed set answer ${JSON.stringify(answer.slice(0, 80))}`);
  const errno = Math.abs(Number(m[1]));
  if (errno !== 0) throw new UapiError(errno, `${socketPath}: set failed with errno ${errno}`);
}
