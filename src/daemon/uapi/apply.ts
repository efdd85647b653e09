/**
 * The device's side of the UAPI (`get=1` / `set=1`, src/daemon/config/device-config.ts
 * DeviceControl): the snapshot `get` prints, and each `set` operation applied
 * to the device's parts in order, as wireguard-go applies them.
 *
 * Threading: main thread only; one call at a time.
 */
import { equalConstantTime, isAllZero } from '../../crypto/bytes.js';
import { addrFromEndpoint } from '../../datapath/addr-record.js';
import type { DeviceControl, DeviceSnapshot, PeerSnapshot, UapiPeerOp, UapiSetOp } from '../config/device-config.js';
import { PEER_SETTING_LIST, setPeerSetting, type PeerSettingName, type PeerSettingValue } from '../config/peer-settings.js';
import type { Logger } from '../log.js';
import type { DataPlaneLink } from '../device/data-plane-link.js';
import type { HandshakePath } from '../handshake/handshake-path.js';
import type { KernelUdpSocket } from '../device/kernel-socket.js';
import type { PeerSet } from '../device/peer-set.js';
import type { Peer } from '../device/peer.js';
import { sumPeerCount } from '../../datapath/peer-counters.js';
import { GetCapture } from './get-capture.js';

/** The device parts a UAPI request changes. */
export interface UapiTargets {
  log: Logger;
  socket: KernelUdpSocket;
  peers: PeerSet;
  handshakes: HandshakePath;
  link: DataPlaneLink;
  /** Rebinds the kernel socket on `port` (0: any) and tells the workers and the AF_XDP paths. */
  listen(port: number): void;
}

/** How long one chunk of a big set or get capture runs before the event loop gets a turn. */
const CHUNK_MS = 20;

/** A get capture looks at the clock once per this many peers. */
const CAPTURE_CHECK = 256;

/** A get capture being filled: `step` adds peers until `deadline` (performance.now()), true once all are in. */
interface CaptureFill {
  capture: GetCapture;
  step(deadline: number): boolean;
}

/** How the device keeps one per-peer setting (src/daemon/config/peer-settings.ts). */
interface DeviceSetting<T> {
  /**
   * The value `get=1` reports, kept by snapshots while their answer drains:
   * a value the device later changes in place must be a copy.
   */
  read(peer: Peer): T | undefined;
  /** Applies a value a set operation carries. */
  apply(d: UapiTargets, peer: Peer, value: T): void;
}

/**
 * Every per-peer setting's place in the device. Typed by the table's names:
 * a setting added to peer-settings.ts without an entry here does not compile.
 * Applied in the table's order.
 */
const DEVICE_SETTINGS: { readonly [N in PeerSettingName]: DeviceSetting<PeerSettingValue<N>> } = {
  presharedKey: {
    // A copy, and only of a key that is set: the handshake wipes its key in place when it changes,
    // and a snapshot must not change under an answer still being written (DeviceControl).
    read: (peer) => {
      const psk = peer.handshake.presharedKey;
      return isAllZero(psk) ? undefined : psk.slice();
    },
    apply: (d, peer, psk) => d.handshakes.setPresharedKey(peer, psk),
  },
  endpoint: {
    read: (peer) => peer.endpoint,
    apply: (d, peer, endpoint) => d.peers.setEndpoint(peer, addrFromEndpoint(endpoint)),
  },
  persistentKeepalive: {
    read: (peer) => peer.persistentKeepalive,
    apply: (_d, peer, secs) => {
      if (secs === peer.persistentKeepalive) return;
      peer.persistentKeepalive = secs;
      // A new non-zero interval sends one at once, so NAT state forms immediately.
      peer.timers.persistentKeepaliveIntervalChanged(secs);
    },
  },
};

/** One setting's entry, its value type following the name (TypeScript cannot pair a union-typed name with its value unaided). */
function deviceSetting<N extends PeerSettingName>(name: N): DeviceSetting<PeerSettingValue<N>> {
  return DEVICE_SETTINGS[name];
}

/** Each setting's DeviceSetting.read, in PEER_SETTING_LIST's order (GetCapture's setting index). */
const SETTING_READERS: ReadonlyArray<(peer: Peer) => unknown> = PEER_SETTING_LIST.map(({ name }) => deviceSetting(name).read);

export class UapiApply implements DeviceControl {
  constructor(private readonly d: UapiTargets) {}

  getSnapshot(): DeviceSnapshot {
    const peers: PeerSnapshot[] = [];
    for (const p of this.d.peers.values()) {
      const t = this.d.link.traffic(p.slot);
      const hs = p.lastHandshakeWallMs;
      const snap: PeerSnapshot = {
        publicKey: p.publicKey,
        lastHandshakeSec: hs ? Math.floor(hs / 1000) : 0,
        lastHandshakeNsec: hs ? (hs % 1000) * 1_000_000 : 0,
        rxBytes: t.rxBytes + p.controlRxBytes,
        txBytes: t.txBytes + p.controlTxBytes,
        allowedIPs: this.d.peers.allowedIpsOf(p),
      };
      for (const { name } of PEER_SETTING_LIST) {
        const value = deviceSetting(name).read(p);
        if (value !== undefined) setPeerSetting(snap, name, value);
      }
      peers.push(snap);
    }
    return { privateKey: this.d.handshakes.identity?.privateKey, listenPort: this.d.socket.port, fwmark: this.d.socket.mark, peers };
  }

  /**
   * What getSnapshot reports, for the UAPI's `get=1` alone: taken into a few
   * big arrays (get-capture.ts), its peers read back as one refilled object.
   * All at once: tests, and devices too small for turns to matter.
   */
  captureForGet(): DeviceSnapshot {
    const fill = this.startCapture();
    fill.step(Infinity);
    return fill.capture.snapshot();
  }

  /**
   * The same capture in chunks of about `chunkMs`, the event loop getting a
   * turn between them: taking 1,000,000 peers at once held the main thread
   * ~0.8 s (handshakes, timers, worker reports and other UAPI clients
   * waited). The peers are those present when the get began, each captured
   * whole as it is when its chunk runs; one removed before its chunk is
   * left out (its counter slot may already serve another peer), one added
   * meanwhile is not in this answer. So a get during a chunked set shows it
   * partly applied, as a get between the set's own chunks does.
   */
  async captureForGetInTurns(chunkMs = CHUNK_MS, between?: () => void): Promise<DeviceSnapshot> {
    const fill = this.startCapture();
    while (!fill.step(performance.now() + chunkMs)) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      between?.();
    }
    return fill.capture.snapshot();
  }

  private startCapture(): CaptureFill {
    const peers = Array.from(this.d.peers.values());
    const capture = new GetCapture(peers.length, {
      privateKey: this.d.handshakes.identity?.privateKey.slice(),
      listenPort: this.d.socket.port,
      fwmark: this.d.socket.mark,
    });
    let next = 0;
    const step = (deadline: number): boolean => {
      const slabs = this.d.link.peerSlabs;
      for (let looked = 1; next < peers.length; looked++) {
        // The clock is read once per CAPTURE_CHECK peers (a peer takes about a microsecond), after
        // them: every step moves on.
        if (looked % CAPTURE_CHECK === 0 && performance.now() >= deadline) return false;
        const p = peers[next++]!;
        if (this.d.peers.atSlot(p.slot) !== p) continue;
        capture.addPeer(
          p.publicKey,
          p.lastHandshakeWallMs,
          sumPeerCount(slabs, p.slot, 'rxBytes') + p.controlRxBytes,
          sumPeerCount(slabs, p.slot, 'txBytes') + p.controlTxBytes,
        );
        for (let k = 0; k < SETTING_READERS.length; k++) capture.setting(k, SETTING_READERS[k]!(p));
        this.d.peers.packAllowedIps(p, capture.prefixes);
        capture.endPeer();
      }
      return true;
    };
    return { capture, step };
  }

  /** Applies the operations at once, in one turn of the event loop (small sets, `xdpwg up`). */
  applySet(ops: UapiSetOp[]): void {
    try {
      this.d.link.batch(() => {
        for (const op of ops) this.applyOne(op);
      });
    } finally {
      this.d.peers.publishAllowedIpsIfChanged();
    }
  }

  /** The set running or waiting (sets are applied one after the other, as wireguard-go's IPC lock does). */
  private setQueue: Promise<void> = Promise.resolve();

  /**
   * Applies the operations in chunks of about CHUNK_MS, yielding to the
   * event loop between them, so a 1,000,000-peer `wg setconf` leaves
   * handshakes, worker reports, timers and other UAPI clients running
   * meanwhile. Sets wait for the one before them; a `get` between two
   * chunks shows the set half applied (each peer whole). Each chunk's
   * changes reach the workers at its end, in one message per kind.
   */
  applySetChunked(ops: UapiSetOp[]): Promise<void> {
    const run = this.setQueue.then(() => this.applyInChunks(ops));
    this.setQueue = run.catch(() => {});
    return run;
  }

  private async applyInChunks(ops: UapiSetOp[]): Promise<void> {
    let i = 0;
    // replace_peers of 1,000,000 peers is itself spread over chunks: the peers to remove, and how far.
    let removals: Peer[] = [];
    let r = 0;
    const more = (): boolean => i < ops.length || r < removals.length;
    try {
      while (more()) {
        const until = performance.now() + CHUNK_MS;
        this.d.link.batch(() => {
          let n = 0;
          while (more()) {
            if (r < removals.length) {
              const p = removals[r++]!;
              if (this.d.peers.get(p.publicKey) === p) this.removePeer(p);
            } else {
              const op = ops[i++]!;
              if (op.kind === 'replace_peers') {
                removals = [...this.d.peers.values()];
                r = 0;
              } else this.applyOne(op);
            }
            if ((++n & 63) === 0 && performance.now() >= until) break;
          }
        });
        this.d.peers.publishAllowedIpsIfChanged();
        if (more()) await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.d.peers.publishAllowedIpsIfChanged();
    }
  }

  /** Removes a peer: its handshake state first, then its place in the peer set. */
  removePeer(peer: Peer): void {
    this.d.handshakes.forget(peer);
    this.d.peers.remove(peer);
  }

  private applyOne(op: UapiSetOp): void {
    switch (op.kind) {
      case 'private_key':
        return this.setPrivateKey(op.privateKey);
      case 'listen_port':
        if (op.port !== this.d.socket.port || op.port === 0) this.d.listen(op.port);
        return;
      case 'fwmark':
        return this.setFwmark(op.fwmark);
      case 'replace_peers':
        for (const p of [...this.d.peers.values()]) this.removePeer(p);
        return;
      case 'peer':
        return this.applyPeer(op);
    }
  }

  /**
   * wg(8)'s fwmark: the mark on every outer packet. The kernel socket gets
   * SO_MARK at once (its workers' duplicates share it); the AF_XDP path's
   * route lookups use the mark from now on, so a peer whose endpoint policy
   * routing sends elsewhere for marked packets (wg-quick's full tunnel) is
   * re-resolved. A failure (EPERM) answers the UAPI set with EADDRINUSE.
   */
  private setFwmark(mark: number): void {
    if (mark === this.d.socket.mark) return;
    this.d.socket.setMark(mark);
    this.d.log.verbose(mark ? `fwmark 0x${mark.toString(16)} on the outer packets` : 'fwmark cleared');
    this.d.link.xdp?.setFwmark(mark);
  }

  private setPrivateKey(key: Uint8Array): void {
    const hs = this.d.handshakes;
    if (!hs.setPrivateKey(key)) return;
    if (hs.identity) {
      // A peer whose key is now our own key is removed (wireguard-go does so).
      const self = this.d.peers.get(hs.identity.publicKey);
      if (self) this.removePeer(self);
    }
    for (const p of this.d.peers.values()) hs.resetPeer(p);
  }

  private applyPeer(op: UapiPeerOp): void {
    const hs = this.d.handshakes;
    if (hs.identity && equalConstantTime(op.publicKey, hs.identity.publicKey)) return;
    let peer = this.d.peers.get(op.publicKey);
    if (op.remove) {
      if (peer) this.removePeer(peer);
      return;
    }
    if (!peer) {
      if (op.updateOnly) return;
      peer = this.d.peers.add(op.publicKey, hs.localStatic(), hs.timersFor);
      hs.adopt(peer);
    }
    for (const { name } of PEER_SETTING_LIST) {
      const value = op[name];
      if (value !== undefined) deviceSetting(name).apply(this.d, peer, value);
    }
    this.d.peers.changeAllowedIps(peer, op.replaceAllowedIPs, op.allowedIPs);
  }
}
