#!/usr/bin/env bash
# Unregisters the VMInstance admission webhook, then stops its server (idempotent). In this order:
# with failurePolicy Fail, a registered webhook whose server is gone refuses every VMInstance write.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

NAME="${GRIDVM_WEBHOOK_NAME:-gridvm-vminstance-admission}"
if [[ -f $GRIDVM_STATE/kubeconfig ]]; then
  "$KUBE_BIN/kubectl" --kubeconfig "$GRIDVM_STATE/kubeconfig" delete --ignore-not-found --request-timeout=10s \
    mutatingwebhookconfiguration/"$NAME" validatingwebhookconfiguration/"$NAME" >/dev/null \
    || say "could not reach the apiserver to unregister $NAME (is the cluster down?)"
fi
stop_daemon admission-webhook
say "admission webhook: down"
