/**
 * An in-memory DeviceControl with wireguard-go's configuration semantics and
 * no networking: the reference the UAPI tests run against, and a stand-in
 * device so the real `wg` tool can be pointed at our UAPI server.
 *
 * Semantics copied as facts from wireguard-go (device/uapi.go, allowedips.go):
 * an allowed IP belongs to one peer at a time (inserting it for another peer
 * moves it); a peer lists its prefixes in insertion order, and re-inserting
 * one moves it last; prefixes are stored with host bits cleared; setting the
 * private key drops a peer whose public key equals the new own public key; a
 * peer block for the device's own public key is ignored.
 */
import { publicKeyOf } from '../../src/crypto/x25519.js';
import {
  Errno,
  UapiError,
  peerKey,
  type DeviceControl,
  type DeviceSnapshot,
  type PeerSnapshot,
  type UapiSetOp,
} from '../../src/daemon/config/device-config.js';
import { PEER_SETTING_LIST, setPeerSetting, type PeerSettingValues } from '../../src/daemon/config/peer-settings.js';
import { maskPrefix, prefixKey, type IpPrefix } from '../../src/packet/ip-prefix.js';
import type { Endpoint } from '../../src/packet/endpoint.js';

/** Re-exported for tests: the X25519 public key of a private key. */
export { publicKeyOf };

/** A peer: its settings (peer-settings.ts; an unset value, such as an all-zero key, is kept as absent) and its state. */
interface MemoryPeer extends PeerSettingValues {
  publicKey: Uint8Array;
  allowedIPs: Map<string, IpPrefix>;
  rxBytes: bigint;
  txBytes: bigint;
  lastHandshakeSec: number;
  lastHandshakeNsec: number;
}

export class MemoryDevice implements DeviceControl {
  privateKey: Uint8Array | undefined;
  publicKey: Uint8Array | undefined;
  listenPort = 0;
  fwmark = 0;
  readonly peers = new Map<string, MemoryPeer>();
  /** prefix key → owning peer's key */
  private readonly owners = new Map<string, string>();
  /** Ports whose bind "fails" with EADDRINUSE. */
  readonly busyPorts = new Set<number>();
  /** Every applySet call, for assertions. */
  readonly calls: UapiSetOp[][] = [];

  getSnapshot(): DeviceSnapshot {
    const peers: PeerSnapshot[] = [];
    for (const p of this.peers.values()) {
      const s: PeerSnapshot = {
        publicKey: p.publicKey,
        lastHandshakeSec: p.lastHandshakeSec,
        lastHandshakeNsec: p.lastHandshakeNsec,
        rxBytes: p.rxBytes,
        txBytes: p.txBytes,
        allowedIPs: [...p.allowedIPs.values()],
      };
      for (const { name } of PEER_SETTING_LIST) if (p[name] !== undefined) setPeerSetting(s, name, p[name]);
      peers.push(s);
    }
    const snap: DeviceSnapshot = { listenPort: this.listenPort, fwmark: this.fwmark, peers };
    if (this.privateKey) snap.privateKey = this.privateKey;
    return snap;
  }

  applySet(ops: UapiSetOp[]): void {
    this.calls.push(ops);
    for (const op of ops) {
      switch (op.kind) {
        case 'private_key':
          if (op.privateKey.every((b) => b === 0)) {
            this.privateKey = undefined;
            this.publicKey = undefined;
          } else {
            this.privateKey = op.privateKey;
            this.publicKey = publicKeyOf(op.privateKey);
            this.removePeer(peerKey(this.publicKey));
          }
          break;
        case 'listen_port':
          if (this.busyPorts.has(op.port)) throw new UapiError(Errno.EADDRINUSE, `listen_port ${op.port}: address in use`);
          this.listenPort = op.port;
          break;
        case 'fwmark':
          this.fwmark = op.fwmark;
          break;
        case 'replace_peers':
          for (const key of [...this.peers.keys()]) this.removePeer(key);
          break;
        case 'peer': {
          const key = peerKey(op.publicKey);
          if (this.publicKey && peerKey(this.publicKey) === key) break;
          if (op.remove) {
            this.removePeer(key);
            break;
          }
          let peer = this.peers.get(key);
          if (!peer) {
            if (op.updateOnly) break;
            peer = {
              publicKey: op.publicKey,
              allowedIPs: new Map(),
              rxBytes: 0n,
              txBytes: 0n,
              lastHandshakeSec: 0,
              lastHandshakeNsec: 0,
            };
            this.peers.set(key, peer);
          }
          for (const setting of PEER_SETTING_LIST) {
            const value = op[setting.name];
            if (value === undefined) continue;
            if (setting.isUnset(value)) delete peer[setting.name];
            else setPeerSetting(peer, setting.name, value);
          }
          if (op.replaceAllowedIPs) this.clearAllowedIPs(key, peer);
          for (const change of op.allowedIPs) {
            const prefix = maskPrefix(change.prefix);
            const pk = prefixKey(prefix);
            if (change.remove) {
              if (this.owners.get(pk) === key) {
                this.owners.delete(pk);
                peer.allowedIPs.delete(pk);
              }
              continue;
            }
            const owner = this.owners.get(pk);
            if (owner !== undefined) this.peers.get(owner)?.allowedIPs.delete(pk);
            this.owners.set(pk, key);
            peer.allowedIPs.set(pk, prefix);
          }
          break;
        }
      }
    }
  }

  /** Test hook: runtime counters as a live device would have them. */
  setRuntime(
    publicKey: Uint8Array,
    r: { rxBytes?: bigint; txBytes?: bigint; lastHandshakeSec?: number; lastHandshakeNsec?: number; endpoint?: Endpoint },
  ): void {
    const peer = this.peers.get(peerKey(publicKey));
    if (!peer) throw new Error('no such peer');
    Object.assign(peer, r);
  }

  private clearAllowedIPs(key: string, peer: MemoryPeer): void {
    for (const pk of peer.allowedIPs.keys()) if (this.owners.get(pk) === key) this.owners.delete(pk);
    peer.allowedIPs.clear();
  }

  private removePeer(key: string): void {
    const peer = this.peers.get(key);
    if (!peer) return;
    this.clearAllowedIPs(key, peer);
    this.peers.delete(key);
  }
}
