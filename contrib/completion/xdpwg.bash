# bash completion for xdpwg(8): subcommands, interfaces (running xdpwg or
# WireGuard sockets, and /etc/wireguard/*.conf) and config files.
_xdpwg_interfaces() {
  local f names=""
  for f in /var/run/wireguard/*.sock; do [ -e "$f" ] && names="$names $(basename "$f" .sock)"; done
  echo "$names"
}
_xdpwg_configs() {
  local f names=""
  for f in /etc/wireguard/*.conf; do [ -e "$f" ] && names="$names $(basename "$f" .conf)"; done
  echo "$names"
}
_xdpwg() {
  local cur prev words cword
  _init_completion 2>/dev/null || { cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; cword=$COMP_CWORD; words=("${COMP_WORDS[@]}"); }
  local subcommands="up down show stats health capture genkey pubkey genpsk echo --help --version --foreground --metrics-listen"
  if [ "$cword" -eq 1 ]; then
    COMPREPLY=($(compgen -W "$subcommands" -- "$cur"))
    return
  fi
  case "${words[1]}" in
    up|down)
      if [ "$cword" -eq 2 ]; then
        COMPREPLY=($(compgen -W "$(_xdpwg_configs)" -- "$cur") $(compgen -f -X '!*.conf' -- "$cur"))
      fi ;;
    show)
      [ "$cword" -eq 2 ] && COMPREPLY=($(compgen -W "$(_xdpwg_interfaces) all interfaces" -- "$cur")) ;;
    stats)
      if [ "$cword" -eq 2 ]; then COMPREPLY=($(compgen -W "$(_xdpwg_interfaces)" -- "$cur"))
      else COMPREPLY=($(compgen -W "--json --watch" -- "$cur")); fi ;;
    health)
      if [ "$cword" -eq 2 ]; then COMPREPLY=($(compgen -W "$(_xdpwg_interfaces)" -- "$cur"))
      else COMPREPLY=($(compgen -W "--ready" -- "$cur")); fi ;;
    capture)
      if [ "$cword" -eq 2 ]; then COMPREPLY=($(compgen -W "$(_xdpwg_interfaces)" -- "$cur"))
      elif [ "$prev" = "-w" ]; then COMPREPLY=($(compgen -f -- "$cur"))
      else COMPREPLY=($(compgen -W "-w -c -s" -- "$cur")); fi ;;
    echo)
      if [ "$prev" = "--interface" ]; then COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur"))
      else COMPREPLY=($(compgen -W "--interface --queue --queues --port --mode --udp --busy-poll --duration" -- "$cur")); fi ;;
  esac
}
complete -F _xdpwg xdpwg
