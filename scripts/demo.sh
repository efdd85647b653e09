#!/usr/bin/env bash
# `npm run demo`: a WireGuard tunnel between two network namespaces, both ends
# run by xdpwg from wg-quick style config files, in under a minute.
#
#   ns ${P}-a                                   ns ${P}-b
#   ${P}-a (tunnel 10.100.0.1, fd00:100::1)      ${P}-b (tunnel 10.100.0.2, fd00:100::2)
#      |  encrypted UDP, port 51821 <-> 51822       |
#   veth ${P}-va 10.99.0.1  ------------------  veth ${P}-vb 10.99.0.2
#
# Runs as root (namespaces, TUN). `npm run demo` runs scripts/ensure-ready.sh
# first, which builds whatever is missing. Everything it creates is removed on
# exit, on failure and on Ctrl-C. DEMO_PREFIX changes the names (default
# wgdemo; at most 12 characters, interface names are limited to 15).
#
# To extend it, add a step: `step "what it shows" "why, in one line"` and then
# the commands, run through `in_a`/`in_b` (a command inside a namespace).
set -euo pipefail
cd "$(dirname "$0")/.."

P=${DEMO_PREFIX:-wgdemo}
NS_A=$P-a NS_B=$P-b
IF_A=$P-a IF_B=$P-b
XDPWG=$PWD/bin/xdpwg
WORK=$(mktemp -d /tmp/xdpwg-demo.XXXXXX)
STEP=0
UP_PIDS=()

if [ "$(id -u)" != 0 ]; then echo "demo: run it as root (it creates network namespaces and TUN devices)" >&2; exit 1; fi
if [ ${#P} -gt 12 ]; then echo "demo: DEMO_PREFIX '$P' is longer than 12 characters" >&2; exit 1; fi

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
step() { STEP=$((STEP + 1)); echo; bold "[$STEP] $1"; [ -z "${2:-}" ] || echo "    $2"; }
show() { printf '    $ %s\n' "$*"; }
indent() { sed 's/^/    /'; }
in_a() { ip netns exec "$NS_A" "$@"; }
in_b() { ip netns exec "$NS_B" "$@"; }

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ "$status" != 0 ]; then
    for log in "$WORK"/*.log; do
      [ -f "$log" ] || continue
      echo; bold "[!] Last lines of $(basename "$log") (what xdpwg up said)"
      tail -15 "$log" | indent
    done
  fi
  echo
  bold "[*] Tearing down"
  for conf in "$WORK/$IF_A.conf" "$WORK/$IF_B.conf"; do
    [ -f "/run/xdpwg/$(basename "$conf" .conf).pid" ] || continue
    show "xdpwg down $conf"
    # Quiet: after Ctrl-C the daemon may already be on its way out by itself.
    "$XDPWG" down "$conf" >/dev/null 2>&1 || true
  done
  for pid in "${UP_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ns in "$NS_A" "$NS_B"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -f "/var/run/wireguard/$IF_A.sock" "/var/run/wireguard/$IF_B.sock"
  rm -rf "$WORK"
  echo "    namespaces $NS_A and $NS_B deleted, $WORK removed"
  if [ "$status" = 0 ]; then bold "Demo finished: the tunnel worked."; else bold "Demo FAILED (exit status $status)."; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() { echo "    FAILED: $*" >&2; exit 1; }

# Brings one side up with `xdpwg up FILE` in the background and waits until
# it wrote its pid file (it does that once addresses and routes are in place).
bring_up() {
  local ns=$1 ifname=$2
  show "ip netns exec $ns xdpwg up $WORK/$ifname.conf &"
  ip netns exec "$ns" "$XDPWG" up "$WORK/$ifname.conf" >"$WORK/$ifname.log" 2>&1 &
  local pid=$! i
  UP_PIDS+=("$pid")
  for i in $(seq 100); do
    [ -f "/run/xdpwg/$ifname.pid" ] && { echo "    $ifname is up (pid $pid, log in $WORK/$ifname.log)"; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  indent <"$WORK/$ifname.log" >&2
  fail "xdpwg up $ifname did not come up"
}

# ------------------------------------------------------------------- the steps

bold "xdpwg demo: a WireGuard tunnel between two network namespaces"
echo "    (names: namespaces $NS_A/$NS_B, interfaces $IF_A/$IF_B; files in $WORK)"

step "Two network namespaces joined by a two-queue veth pair" \
     "They stand in for two machines; 10.99.0.0/24 is the 'internet' between them. Two queues: one worker per queue."
for ns in "$NS_A" "$NS_B"; do
  if ip netns list | grep -qw "$ns"; then ip netns pids "$ns" | xargs -r kill -9; ip netns del "$ns"; fi
  ip netns add "$ns"
  ip netns exec "$ns" ip link set lo up
done
ip link add "$P-va" numrxqueues 2 numtxqueues 2 netns "$NS_A" type veth peer name "$P-vb" numrxqueues 2 numtxqueues 2 netns "$NS_B"
in_a ip addr add 10.99.0.1/24 dev "$P-va"; in_a ip link set "$P-va" up
in_b ip addr add 10.99.0.2/24 dev "$P-vb"; in_b ip link set "$P-vb" up
show "ip netns exec $NS_A ip -br addr show $P-va"
in_a ip -br addr show "$P-va" | indent

step "Keys for each side" \
     "Curve25519 key pairs, made as 'wg genkey | wg pubkey' makes them."
PRIV_A=$("$XDPWG" genkey); PUB_A=$(printf '%s\n' "$PRIV_A" | "$XDPWG" pubkey)
PRIV_B=$("$XDPWG" genkey); PUB_B=$(printf '%s\n' "$PRIV_B" | "$XDPWG" pubkey)
show "xdpwg genkey | tee a.key | xdpwg pubkey"
echo "    $IF_A public key: $PUB_A"
echo "    $IF_B public key: $PUB_B"

step "A wg-quick style config file for each side" \
     "The same format wg-quick reads; the file name gives the interface name."
write_conf() { # ifname address4 address6 port privkey peerpub peer4 peer6 peerendpoint
  umask 077
  cat >"$WORK/$1.conf" <<EOF
[Interface]
Address = $2/24, $3/64
ListenPort = $4
PrivateKey = $5

[Peer]
PublicKey = $6
AllowedIPs = $7/32, $8/128
Endpoint = $9
EOF
}
write_conf "$IF_A" 10.100.0.1 fd00:100::1 51821 "$PRIV_A" "$PUB_B" 10.100.0.2 fd00:100::2 10.99.0.2:51822
write_conf "$IF_B" 10.100.0.2 fd00:100::2 51822 "$PRIV_B" "$PUB_A" 10.100.0.1 fd00:100::1 10.99.0.1:51821
show "cat $WORK/$IF_A.conf   # private key hidden here"
sed 's/^\(PrivateKey = \).*/\1(hidden)/' "$WORK/$IF_A.conf" | indent

step "Bring both ends up with 'xdpwg up FILE'" \
     "One foreground process per interface (as systemd runs it): TUN, UDP port, keys, addresses, routes."
bring_up "$NS_A" "$IF_A"
bring_up "$NS_B" "$IF_B"

step "Ping through the tunnel, IPv4 and IPv6" \
     "The first packet triggers the WireGuard handshake; the replies prove both directions work."
show "ip netns exec $NS_A ping -c 3 10.100.0.2"
in_a ping -c 3 -i 0.2 -W 2 10.100.0.2 | tail -2 | indent || fail "IPv4 ping through the tunnel"
show "ip netns exec $NS_A ping -c 3 fd00:100::2"
in_a ping -c 3 -i 0.2 -W 2 fd00:100::2 | tail -2 | indent || fail "IPv6 ping through the tunnel"

step "Throughput: iperf3 TCP for 3 seconds, $NS_A -> $NS_B" \
     "Every byte is encrypted by one xdpwg and decrypted by the other."
in_b iperf3 -s -1 -B 10.100.0.2 >/dev/null 2>&1 &
for _ in $(seq 50); do in_b ss -ltn | grep -q '10.100.0.2:5201' && break; sleep 0.1; done
show "ip netns exec $NS_A iperf3 -c 10.100.0.2 -t 3"
in_a iperf3 -c 10.100.0.2 -t 3 -f m | grep -E 'sender|receiver' | indent || fail "iperf3 through the tunnel"

step "Both ends as 'wg show' prints them" \
     "'xdpwg show' speaks to the daemon's UAPI socket; the real 'wg show' works on it too."
show "xdpwg show $IF_A"
"$XDPWG" show "$IF_A" | indent
show "wg show $IF_B"
in_b wg show "$IF_B" | indent

step "The data path's counters: 'xdpwg stats $IF_A'" \
     "Per worker port (udp: the kernel socket; af_xdp: AF_XDP), drops by reason, per peer, and each peer's path and why. On a veth \"afxdp\": \"auto\" takes the kernel socket with UDP GSO/GRO, faster there than AF_XDP's copy mode; \"afxdp\": \"on\" in IFNAME.datapath.jsonc takes AF_XDP anyway."
show "xdpwg stats $IF_A"
sleep 1.5  # workers publish port counters once a second
"$XDPWG" stats "$IF_A" | indent
