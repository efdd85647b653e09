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
 * "auto", by measurement (README, after the txPath figures: bulk TCP, both veth
 * topologies, alternating runs): AF_XDP on zero-copy devices; on a copy-mode
 * device the kernel socket when the device has GRO on (a NIC; a veth with
 * "gro on": MTU frames arrive and GRO coalesces them; over five runs each the
 * socket moved 8% more at 2.5% less CPU per GB, a small edge), AF_XDP when
 * GRO is off (a plain veth: nothing coalesces MTU frames, and AF_XDP moved
 * 27% more at 11% less CPU per GB). Caveat: the socket path receives on
 * worker 0 alone, where AF_XDP spreads a multi-queue device's queues over
 * the workers, and the measurement had one queue: so "auto" takes the socket
 * only where AF_XDP would receive on one worker too (one rx queue, or one
 * worker). Many peers over a multi-queue NIC keep every worker receiving.
 */

export type RxPathSetting = 'auto' | 'afxdp' | 'socket';

/** The device as the choice sees it: its AF_XDP copy mode, whether GRO is on (native linkGro), and how many workers its AF_XDP receive spreads over. */
export interface RxDevice {
  zeroCopy: boolean;
  gro: boolean;
  rxWorkers: number;
}

/** Whether peers' data messages on the device arrive by the kernel socket. */
export function rxBySocket(setting: RxPathSetting, d: RxDevice): boolean {
  if (setting === 'socket') return true;
  if (setting === 'afxdp' || d.zeroCopy) return false;
  return d.gro && d.rxWorkers <= 1;
}

/**
 * The log line (and `xdpwg stats` text) for a device's receive path.
 * `cannot`: why the filter cannot pass data messages up (not our program),
 * when the choice was the socket.
 */
export function describeRxPath(device: string, setting: RxPathSetting, d: RxDevice, cannot?: string): string {
  const mode = d.zeroCopy
    ? 'zero-copy mode'
    : `copy mode: AF_XDP receive copies every frame; GRO ${d.gro ? 'on' : 'off'}; AF_XDP receives on ${d.rxWorkers} worker(s)`;
  const pinned = setting === 'auto' ? '' : ` ("rxPath": "${setting}")`;
  const socket = rxBySocket(setting, d);
  if (socket && cannot) return `${device}: data messages from peers arrive by AF_XDP, not the kernel socket${pinned}: ${cannot}`;
  if (socket)
    return `${device}: data messages from peers arrive by the kernel socket with UDP GRO${pinned} (${mode}); handshakes by AF_XDP`;
  return `${device}: data messages from peers arrive by AF_XDP${pinned} (${mode})`;
}
