/**
 * Which transmit path a burst's messages take on an AF_XDP device (the
 * datapath setting "txPath", README "Datapath settings").
 *
 * On a copy-mode AF_XDP device (a veth; generic XDP on a NIC) every frame
 * sent on the tx ring costs the kernel an skb and a copy, one frame at a
 * time. The kernel socket with UDP GSO pays one skb walk for up to 64
 * datagrams of one destination, so runs of full-size datagrams to one peer
 * leave cheaper there, straight from the UMEM (UdpPort.txBurstFrom). A
 * zero-copy device sends frames for almost nothing: everything stays on
 * AF_XDP.
 *
 * Per-flow order: the choice is per peer per burst (all of one peer's
 * messages in a burst take one path), and both paths have handed their
 * datagrams to the device when their call returns, so a later burst on the
 * other path cannot overtake an earlier one.
 */

export type TxPathSetting = 'auto' | 'afxdp' | 'socket';

/** Full-size messages to one peer in a burst that make it a bulk run (worth one GSO send). */
export const BULK_MIN_RUN = 4;

/** A peer's messages in a burst never take the socket (afxdp, or a zero-copy device on auto). */
export const NEVER = 0xffff;

/**
 * The smallest number of full-size messages to one peer in a burst that sends
 * that peer's messages through the kernel socket on a device of this copy
 * mode: NEVER, BULK_MIN_RUN, or 0 (always: "socket").
 */
export function bulkMinRun(setting: TxPathSetting, zeroCopy: boolean): number {
  if (setting === 'socket') return 0;
  if (setting === 'afxdp' || zeroCopy) return NEVER;
  return BULK_MIN_RUN;
}

/** The log line for a device's choice (xdp-paths.ts says it once per change per device). */
export function describeTxPath(device: string, setting: TxPathSetting, zeroCopy: boolean): string {
  const mode = zeroCopy ? 'zero-copy mode' : 'copy mode: AF_XDP transmit copies every frame';
  switch (bulkMinRun(setting, zeroCopy)) {
    case 0:
      return `${device}: every data message to peers leaves by the kernel socket with UDP GSO ("txPath": "socket"; ${mode})`;
    case NEVER:
      return `${device}: data messages to peers leave by AF_XDP${setting === 'afxdp' ? ' ("txPath": "afxdp")' : ''} (${mode})`;
    default:
      return `${device}: bulk runs to peers leave by the kernel socket with UDP GSO (${mode})`;
  }
}
