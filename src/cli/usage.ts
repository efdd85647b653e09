/**
 * The command line's verbs and the usage text of each: `xdpwg VERB --help`
 * (or -h) prints its text on stdout and exits 0, before the verb's own
 * argument parsing (which would otherwise take "--help" for a file or an
 * interface name). Kept in one place so the dispatcher, the typo check
 * (misspelt-command.ts) and the top-level --help agree on the list.
 */

export const DAEMON_USAGE = `Usage: xdpwg [-f|--foreground] [--metrics-listen HOST:PORT] [--] IFNAME
  Runs the daemon for IFNAME (wireguard-go's contract): returns once the TUN
  and /var/run/wireguard/IFNAME.sock exist, leaving the daemon in the
  background; -f (or WG_PROCESS_FOREGROUND=1) keeps it in the foreground.
  A name that is, or is one typo from, a command is refused; put it after
  '--' to use it anyway (xdpwg -- stat).`;

export const VERB_USAGE: Record<string, string> = {
  up: `Usage: xdpwg up [-f|--foreground] [--metrics-listen HOST:PORT] CONFIG_FILE|IFNAME
  Brings up a wg-quick style configuration (/etc/wireguard/IFNAME.conf, or
  CONFIG_FILE). The datapath file is CONFIG_FILE's directory/IFNAME.datapath.jsonc
  when it exists (XDPWG_DATAPATH overrides). At a terminal (and not under
  systemd) it returns once the interface is up, leaving the daemon in the
  background; under systemd or with -f it stays in the foreground.`,
  down: `Usage: xdpwg down CONFIG_FILE|IFNAME
  Takes down an interface brought up by 'xdpwg up' and undoes its changes.`,
  save: `Usage: xdpwg save CONFIG_FILE|IFNAME
  Writes the running configuration back to the file, as 'wg-quick save'.`,
  strip: `Usage: xdpwg strip CONFIG_FILE|IFNAME
  Prints the file without the wg-quick-only keys (Address, DNS, MTU, Table,
  PreUp, PostUp, PreDown, PostDown, SaveConfig), as 'wg-quick strip'.`,
  show: '', // show.ts prints its own (it lists wg's fields)
  stats: `Usage: xdpwg stats IFNAME [--json] [--watch]
  Datapath counters per port/queue, drops by reason and per peer;
  --watch prints them again every second.`,
  health: `Usage: xdpwg health IFNAME [--ready] [--timeout MS]
  Exit 0 when the daemon answers (and, --ready, the interface is up with a key).`,
  capture: `Usage: xdpwg capture IFNAME -w FILE [-c COUNT] [-s SNAPLEN]
  A pcap of the frames the AF_XDP path receives and sends (FILE - is stdout).`,
  genkey: 'Usage: xdpwg genkey\n  Prints a new private key (base64).',
  pubkey: 'Usage: xdpwg pubkey < PRIVATE_KEY\n  Prints the public key of the private key read on stdin.',
  genpsk: 'Usage: xdpwg genpsk\n  Prints a new preshared key (base64).',
  echo: `Usage: xdpwg echo --interface DEV [--queue Q | --queues N] [--port P] [--mode auto|native|generic]
                  [--udp] [--busy-poll] [--duration S] [--json]
  UDP echo over AF_XDP (the port layer's example).`,
};

export const VERBS = Object.keys(VERB_USAGE);

export const MAIN_USAGE = `Usage: xdpwg [-f|--foreground] IFNAME           run the daemon for IFNAME (wireguard-go's contract);
                                                --metrics-listen HOST:PORT serves Prometheus /metrics;
                                                xdpwg -- NAME for a NAME that is, or is one typo from, a command
       xdpwg up [-f] [--metrics-listen HOST:PORT] FILE|IFNAME
                                                bring a wg-quick style config up
       xdpwg down FILE|IFNAME                   take it down, undoing what up did
       xdpwg save FILE|IFNAME                   write the running configuration to the file
       xdpwg strip FILE|IFNAME                  the file without wg-quick-only keys
       xdpwg show [IFNAME]                      what 'wg show' prints
       xdpwg stats IFNAME [--json] [--watch]    datapath counters per port/queue and per peer
       xdpwg health IFNAME [--ready]            exit 0 when the daemon answers (and, --ready, the interface is up with a key)
       xdpwg capture IFNAME -w FILE [-c COUNT] [-s SNAPLEN]
                                                pcap of the frames the AF_XDP path receives and sends
       xdpwg genkey | pubkey | genpsk           keys, as 'wg' makes them
       xdpwg echo --interface DEV [--queue Q | --queues N] [--port P] [--udp]
                                                UDP echo over AF_XDP (the port layer's example)
       xdpwg VERB --help                        a verb's usage
       xdpwg --help | --version`;
