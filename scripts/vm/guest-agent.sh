#!/bin/sh
# The guest side of the test VMs' mailbox (test/helpers/vm.ts is the host
# side). Runs in the guest, chrooted into the host's root. The host drops
# cmd.N.sh into the mailbox directory (written elsewhere, then renamed in, so
# it is complete when seen); the agent runs each once, in order, and leaves
# out.N (stdout and stderr) and rc.N (the exit status, renamed in last, so a
# host that sees rc.N can read out.N whole). A file "halt" ends the agent.
box=$1
cd "$box" || exit 1
n=0
while [ ! -e halt ]; do
  if [ -e "cmd.$n.sh" ]; then
    sh "cmd.$n.sh" > "out.$n" 2>&1 < /dev/null
    echo $? > "rc.$n.part"
    mv "rc.$n.part" "rc.$n"
    n=$((n + 1))
  else
    sleep 0.05
  fi
done
