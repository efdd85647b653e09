/**
 * The real Device (src/daemon/device/device.ts) in the test process, without
 * workers or a TUN, and a WireGuard peer played by the test on a loopback
 * UDP socket with the protocol modules of src/protocol.
 *
 * What the workers would report (handshake messages, staged packets,
 * confirmations, roaming) is injected as the worker messages themselves;
 * what the device sends (handshake messages, data from the main thread)
 * arrives on the test peer's socket. So the device's control-plane
 * decisions are tested exactly, with no namespace and no root.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { Device } from '../../src/daemon/device/device.js';
import { Logger } from '../../src/daemon/log.js';
import { DEFAULT_DATAPATH } from '../../src/daemon/config/datapath-config.js';
import { parseUapiSet } from '../../src/daemon/uapi/protocol.js';
import type { FromWorker } from '../../src/datapath/worker-messages.js';
import { addrFromEndpoint } from '../../src/datapath/addr-record.js';
import { generateKeyPair, type X25519KeyPair } from '../../src/crypto/x25519.js';
import { keyToHex } from '../../src/crypto/encoding.js';
import { beginSession, consumeResponse, createInitiation, Handshake } from '../../src/protocol/noise.js';
import { IndexTable } from '../../src/protocol/index-table.js';
import { CookieChecker, CookieGenerator, sourceBytes } from '../../src/protocol/cookie.js';
import { Keypair } from '../../src/protocol/keypair.js';
import { DataTransport } from '../../src/protocol/transport.js';
import { systemClock } from '../../src/protocol/clock.js';
import { waitFor } from './netns.js';

/** A Device with no workers: configure it with UAPI text, feed it worker messages. */
export class DeviceHarness {
  readonly identity: X25519KeyPair = generateKeyPair();

  private constructor(readonly device: Device) {}

  static async start(): Promise<DeviceHarness> {
    const device = await Device.create({
      ifname: 'xdpwg-test-none',
      tunQueues: [],
      log: new Logger('device-harness ', 'error'),
      datapath: { ...DEFAULT_DATAPATH },
    });
    const h = new DeviceHarness(device);
    h.set(`private_key=${keyToHex(h.identity.privateKey)}`);
    return h;
  }

  /** Applies a `set=1` body (lines without the trailing blank line). */
  set(body: string): void {
    this.device.applySet(parseUapiSet(body));
  }

  /** Hands the device a message as if a worker had posted it. */
  inject(m: FromWorker): void {
    (this.device as unknown as { fromWorker(m: FromWorker): void }).fromWorker(m);
  }

  /** The peer's slot and generation (what worker messages name it by). */
  slotOf(publicKey: Uint8Array): { slot: number; generation: number } {
    const peers = (this.device as unknown as { peers: { get(k: Uint8Array): { slot: number; generation: number } | undefined } }).peers;
    const p = peers.get(publicKey);
    if (!p) throw new Error('no such peer');
    return { slot: p.slot, generation: p.generation };
  }

  /** Runs fn with `pool` standing in for the device's worker pool (the device has none in these tests). */
  withPool(pool: object, fn: () => void): void {
    const link = (this.device as unknown as { link: { pool: unknown } }).link;
    link.pool = pool;
    try {
      fn();
    } finally {
      link.pool = undefined;
    }
  }

  get listenPort(): number {
    return this.device.getSnapshot().listenPort;
  }

  /** The device's view of one peer (UAPI snapshot + stats). */
  peer(publicKey: Uint8Array): { lastHandshakeSec: number; hasSession: boolean; endpoint: string | null } | undefined {
    const snap = [...this.device.getSnapshot().peers].find((p) => keyToHex(p.publicKey) === keyToHex(publicKey));
    const stats = this.device.statsSnapshot().peers.find((p) => p.publicKey === Buffer.from(publicKey).toString('base64'));
    if (!snap || !stats) return undefined;
    return { lastHandshakeSec: snap.lastHandshakeSec, hasSession: stats.hasSession, endpoint: stats.endpoint };
  }

  async close(): Promise<void> {
    await this.device.close();
  }
}

/** A WireGuard peer played by the test on 127.0.0.1. */
export class TestPeer {
  readonly identity: X25519KeyPair = generateKeyPair();
  readonly handshake: Handshake<null>;
  readonly indices = new IndexTable<Handshake<null>>();
  /** MACs on what we send to the device. */
  readonly macs: CookieGenerator;
  /** Checks the device's MACs as a peer under load would. */
  readonly checker: CookieChecker;
  /** Every datagram received and not taken yet, oldest first. */
  private readonly inbox: Uint8Array[] = [];

  private constructor(
    readonly socket: dgram.Socket,
    readonly devicePublic: Uint8Array,
  ) {
    this.handshake = new Handshake<null>(null, this.identity, devicePublic, null);
    this.macs = new CookieGenerator(devicePublic, systemClock);
    this.checker = new CookieChecker(this.identity.publicKey, systemClock);
    socket.on('message', (m) => this.inbox.push(new Uint8Array(m)));
  }

  static async open(device: DeviceHarness): Promise<TestPeer> {
    const socket = dgram.createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return new TestPeer(socket, device.identity.publicKey);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** The address record of this peer's socket, as a worker would report it. */
  get addr(): Uint8Array {
    return addrFromEndpoint({ family: 4, address: new Uint8Array([127, 0, 0, 1]), port: this.port });
  }

  /** UAPI lines that add this peer to a device. */
  uapiPeer(allowedIp = '10.99.0.2/32'): string {
    return `public_key=${keyToHex(this.identity.publicKey)}\nendpoint=127.0.0.1:${this.port}\nallowed_ip=${allowedIp}`;
  }

  /** A fresh handshake initiation to the device, with MACs. */
  initiation(): Uint8Array {
    const msg = createInitiation(this.handshake, this.indices, systemClock);
    if (!msg) throw new Error('test peer: no initiation (low-order key?)');
    this.macs.addMacs(msg);
    return msg;
  }

  /** Consumes the device's response to our initiation: our transport keypair (we initiated). */
  complete(response: Uint8Array): Keypair {
    const hs = consumeResponse<null>(response, (index) => this.indices.get(index));
    if (typeof hs === 'string') throw new Error(`test peer: response refused: ${hs}`);
    const keys = beginSession(hs, systemClock);
    if (!keys) throw new Error('test peer: no session from the response');
    return new Keypair(keys);
  }

  /** Waits for the next datagram whose first byte is `type` (others stay in the inbox). */
  async next(type: number, what: string, timeoutMs = 5_000): Promise<Uint8Array> {
    return waitFor(
      what,
      () => {
        const i = this.inbox.findIndex((m) => m[0] === type);
        return i < 0 ? undefined : this.inbox.splice(i, 1)[0];
      },
      timeoutMs,
    );
  }

  /**
   * Everything the device had sent before now: a marker datagram sent to us
   * after the device's (synchronous) sends arrives after them on loopback.
   */
  async drain(): Promise<Uint8Array[]> {
    const marker = dgram.createSocket('udp4');
    const tag = new Uint8Array([0xff, 0x6d, 0x61, 0x72, 0x6b]);
    await new Promise<void>((resolve, reject) => marker.send(tag, this.port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    marker.close();
    await this.next(0xff, 'the drain marker');
    return this.inbox.splice(0);
  }

  /** Opens a data message from the device with our keypair: the plaintext (padded), or the negative drop code (transport.ts dropOf). */
  open(keypair: Keypair, msg: Uint8Array): Uint8Array | number {
    const buf = msg.slice();
    const n = new DataTransport().open(keypair.shared, buf, 0, buf.length);
    return n < 0 ? n : buf.subarray(16, 16 + n);
  }

  /** The 18 source bytes a cookie is bound to, for the device's socket as this peer sees it. */
  deviceSource(device: DeviceHarness): Uint8Array {
    return sourceBytes('127.0.0.1', device.listenPort);
  }

  close(): void {
    this.socket.close();
  }
}
