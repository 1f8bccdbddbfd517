#!/usr/bin/env bash
# Brings the local gridvm cluster up, idempotently: control plane, CRDs and roles, then (as they
# exist) simulated hosts with Grid Engine, the controller and the node agents.
# State, logs and kubeconfigs land in $GRIDVM_STATE (default .local/); `source .local/env` after.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
source "$GRIDVM_ROOT/hack/lib/control-plane.sh"

started=$(date +%s)
"$GRIDVM_ROOT/hack/build-control-plane.sh"
control_plane_up

export KUBECONFIG="$GRIDVM_STATE/kubeconfig"
kubectl() { "$KUBE_BIN/kubectl" "$@"; }
kubectl apply --server-side --force-conflicts -f "$GRIDVM_ROOT/crds/" -f "$GRIDVM_ROOT/controller/deploy/rbac.yaml" >/dev/null
kubectl wait --for condition=Established --timeout=60s crd/vmgroups.gridvm.io crd/vmtemplates.gridvm.io \
  crd/permissions.gridvm.io crd/vminstances.gridvm.io >/dev/null
say "gridvm CRDs and ClusterRoles: installed"
# Admission (who may do what) before anything can create VMInstances; failurePolicy Fail.
"$GRIDVM_ROOT/hack/webhook-up.sh"

# Later layers join as they land; each script is idempotent on its own.
if [[ ${GRIDVM_SKIP_BATCH:-0} != 1 ]]; then
  for layer in sim-hosts/up.sh gridengine/up.sh agents-up.sh controller-up.sh; do
    if [[ -x $GRIDVM_ROOT/hack/$layer ]]; then "$GRIDVM_ROOT/hack/$layer"; fi
  done
fi

say "local cluster up in $(( $(date +%s) - started ))s — run: source $GRIDVM_STATE/env"
