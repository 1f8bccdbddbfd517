#!/usr/bin/env bash
# Stops the node agents started by hack/agents-up.sh. VMs keep running: qemu is not an agent's
# child, and a restarted agent adopts it (DESIGN invariant 3).
# --vms also stops every VM of every simulated host (ACPI powerdown, then quit, then kill) and
# removes their taps, ebtables chains and dnsmasq servers — what hack/local-down.sh needs (it sets
# GRIDVM_AGENTS_STOP_VMS=1, the same as --vms).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

vms=false
[[ ${1:-} == --vms || ${GRIDVM_AGENTS_STOP_VMS:-0} == 1 ]] && vms=true
hosts=""
[[ -f $GRIDVM_STATE/hosts.json ]] &&
  hosts=$(node -e 'for (const h of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))) console.log(h.name)' "$GRIDVM_STATE/hosts.json")
# Agents whose host has left hosts.json still have their pidfiles.
for pidfile in "$GRIDVM_RUN"/agent-*.pid "$GRIDVM_RUN"/apiserver-relay*.pid; do
  [[ -e $pidfile ]] && stop_daemon "$(basename "$pidfile" .pid)"
done
rm -f "$GRIDVM_RUN/apiserver-relay.sock"
$vms || exit 0
for host in $hosts; do
  dir="$GRIDVM_RUN/hosts/$host"
  [[ -d $dir/vms || -d $dir/agent ]] || continue
  if [[ -e /run/netns/$host ]]; then
    "$GRIDVM_ROOT/hack/sim-hosts/exec.sh" "$host" \
      node --import "$GRIDVM_ROOT/node_modules/tsx/dist/esm/index.mjs" "$GRIDVM_ROOT/node-agent/cmd/gridvm-agent.ts" \
      --cleanup --host "$host" --runtime-dir "$dir/vms" --state-dir "$dir/agent" --stop-grace 5 \
      >>"$GRIDVM_LOGS/agent-$host.log" 2>&1 || say "warning: cleanup on $host failed; see $GRIDVM_LOGS/agent-$host.log"
  fi
  say "agents: VMs, taps, chains and dnsmasq of $host removed"
done
