#!/usr/bin/env bash
# Removes every simulated host (whatever GRIDVM_HOSTS was), the LAN namespace, the management
# bridge and our block in /etc/hosts. Stop what runs inside first (hack/gridengine/down.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

for name in $(existing_sim_hosts); do
  # Anything still running in the namespace would keep it alive: end it.
  pids=$(ip netns pids "$name" 2>/dev/null || true)
  if [[ -n $pids ]]; then
    say "sim-hosts: $name: stopping leftover processes $pids"
    # shellcheck disable=SC2086
    kill $pids 2>/dev/null || true; sleep 1
    # shellcheck disable=SC2086
    kill -9 $(ip netns pids "$name" 2>/dev/null) 2>/dev/null || true
  fi
  ip link del "$name-m" 2>/dev/null || true
  ip netns del "$name"
  rm -rf "/etc/netns/$name"
  say "sim-hosts: removed $name"
done
# UTS namespaces: unmount the files that keep them alive.
if [[ -d $GRIDVM_RUN/hosts ]]; then
  for uts in "$GRIDVM_RUN"/hosts/*/uts; do
    [[ -e $uts ]] || continue
    umount "$uts" 2>/dev/null || true
    rm -f "$uts"
  done
  rm -rf "$GRIDVM_RUN/hosts"
fi
if [[ -e /run/netns/$GRIDVM_LAN_NS ]]; then ip netns del "$GRIDVM_LAN_NS"; say "sim-hosts: removed $GRIDVM_LAN_NS"; fi
if ip link show "$GRIDVM_MGMT_BRIDGE" >/dev/null 2>&1; then ip link del "$GRIDVM_MGMT_BRIDGE"; say "sim-hosts: removed $GRIDVM_MGMT_BRIDGE"; fi
if grep -qxF "$HOSTS_BEGIN" /etc/hosts; then
  rest=$(without_our_block /etc/hosts)
  printf '%s\n' "$rest" >/etc/hosts
fi
rm -f "$GRIDVM_STATE/hosts.json"
say "sim-hosts: down"
