/**
 * Which receive path peers' data messages take on an AF_XDP device (the
 * datapath setting "rxPath", README "Datapath settings").
 *
 * "afxdp": our XDP filter redirects them to the workers' AF_XDP sockets.
 * "socket": the filter passes them up the stack (its XDPWG_PASS_DATA flag,
 * native/bpf/xdpwg_filter.bpf.c) to the kernel UDP socket, where UDP GRO
 * coalesces a sender's run into one message (native/udp_gro.h); handshake
 * messages still take AF_XDP. On a copy-mode device AF_XDP receive copies
 * every frame (a veth: once into an skb-less XDP buffer, again into the
 * UMEM) one at a time, while the socket takes one trip up the stack per
 * coalesced run; but only worker 0 reads the socket, so the socket path
 * receives on one thread. A zero-copy device delivers frames for almost
 * nothing: AF_XDP there.
 *
 * "auto": AF_XDP on zero-copy devices; on copy-mode devices whatever
 * AUTO_SOCKET_ON_COPY_MODE says, set by measurement (README "Datapath
 * settings" has the figures and the command).
 */

export type RxPathSetting = 'auto' | 'afxdp' | 'socket';

/** What "auto" picks on a copy-mode device: the path that won the bulk receive measurement. */
export const AUTO_SOCKET_ON_COPY_MODE = false;

/** Whether peers' data messages on a device of this copy mode arrive by the kernel socket. */
export function rxBySocket(setting: RxPathSetting, zeroCopy: boolean): boolean {
  if (setting === 'socket') return true;
  if (setting === 'afxdp' || zeroCopy) return false;
  return AUTO_SOCKET_ON_COPY_MODE;
}

/**
 * The log line (and `xdpwg stats` text) for a device's receive path.
 * `cannot`: why the filter cannot pass data messages up (not our program),
 * when the setting asked for the socket.
 */
export function describeRxPath(device: string, setting: RxPathSetting, zeroCopy: boolean, cannot?: string): string {
  const mode = zeroCopy ? 'zero-copy mode' : 'copy mode: AF_XDP receive copies every frame';
  const pinned = setting === 'auto' ? '' : ` ("rxPath": "${setting}")`;
  if (rxBySocket(setting, zeroCopy) && cannot)
    return `${device}: data messages from peers arrive by AF_XDP, not the kernel socket${pinned}: ${cannot}`;
  if (rxBySocket(setting, zeroCopy))
    return `${device}: data messages from peers arrive by the kernel socket with UDP GRO${pinned} (${mode}); handshakes by AF_XDP`;
  const why = setting === 'auto' && !zeroCopy ? '; the kernel socket measured slower for bulk here' : '';
  return `${device}: data messages from peers arrive by AF_XDP${pinned} (${mode}${why})`;
}
