/**
 * Typed access to native/fd_passing.cc: SOCK_SEQPACKET unix sockets that
 * carry file descriptors (SCM_RIGHTS), and XSKMAP updates through a map fd.
 * Every call is synchronous and bounded by its timeout; failures throw an
 * Error whose `code` is the errno name ('ETIMEDOUT', 'ECONNREFUSED', …).
 */
import { native } from './binding.js';

/** One message read from a SEQPACKET socket. */
export interface SeqpacketMessage {
  text: string;
  /** A descriptor passed with it (SCM_RIGHTS), -1 when none. Extra ones are closed natively. */
  fd: number;
  /** The peer closed the connection (a zero-length read with no descriptor). */
  closed: boolean;
  /** Longer than 512 bytes, or more control data than room: cut. */
  truncated: boolean;
}

/** What bpfMapInfo reports for a map fd. */
export interface BpfMapInfo {
  type: number;
  maxEntries: number;
  name: string;
}

/** BPF_MAP_TYPE_XSKMAP (include/uapi/linux/bpf.h). */
export const BPF_MAP_TYPE_XSKMAP = 17;

/** The addon's fd-passing functions; part of NativeBinding. */
export interface FdPassingBinding {
  seqpacketConnect(path: string, timeoutMs: number): number;
  seqpacketListen(path: string): number;
  seqpacketAccept(listenFd: number, timeoutMs: number): number;
  seqpacketSend(fd: number, text: string, passFd: number, timeoutMs: number): void;
  seqpacketRecv(fd: number, timeoutMs: number): SeqpacketMessage;
  closeFd(fd: number): void;
  bpfMapInfo(fd: number): BpfMapInfo;
  xskMapSet(mapFd: number, queue: number, xskFd: number): void;
  xskMapDelete(mapFd: number, queue: number): void;
  /** The port of a UDP socket of our namespace bound to a wildcard address, without SO_REUSEPORT/SO_REUSEADDR; throws (code EPERM) otherwise. */
  udpSocketPort(fd: number): number;
  /** libxdp's default XSK program on an interface, as the device plugin loads it; returns its XSKMAP fd. */
  xskDefaultProgram(ifname: string): number;
}

/** The native functions (loaded once per thread with the addon). */
export function fdPassing(): FdPassingBinding {
  return native();
}
