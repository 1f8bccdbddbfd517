#!/usr/bin/env bash
# Stops everything hack/local-up.sh started and leaves nothing running.
# --purge also deletes the cluster's state (etcd data, certificates, kubeconfigs).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
source "$GRIDVM_ROOT/hack/lib/control-plane.sh"

# The webhook goes first: while registered with failurePolicy Fail and down, it refuses every write.
# agents-down.sh also stops the VMs and frees their taps, chains and dnsmasqs: nothing stays running.
export GRIDVM_AGENTS_STOP_VMS=1
for layer in webhook-down.sh controller-down.sh agents-down.sh gridengine/down.sh sim-hosts/down.sh; do
  if [[ -x $GRIDVM_ROOT/hack/$layer ]]; then "$GRIDVM_ROOT/hack/$layer" || say "warning: $layer failed"; fi
done
control_plane_down
if [[ ${1:-} == --purge ]]; then
  rm -rf "$GRIDVM_STATE"
  say "state in $GRIDVM_STATE removed"
fi
say "local cluster down"
