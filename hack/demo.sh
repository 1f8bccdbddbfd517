#!/usr/bin/env bash
# The main command: on a fresh machine, sets everything up and replays the paper's section 5.1
# lab on the local cluster, then shows what a student sees with `kubectl get vminstances`.
# Safe to re-run; hack/local-down.sh cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/common.sh
started=$(date +%s)

say "1/4 installing dependencies and building the control plane (cached after the first run)"
bash hack/install-deps.sh
bash hack/build-control-plane.sh
[[ -x hack/build-tiny-guest.sh ]] && bash hack/build-tiny-guest.sh

say "2/4 bringing the local cluster up"
bash hack/local-up.sh
export KUBECONFIG="$GRIDVM_STATE/kubeconfig"
kubectl() { "$KUBE_BIN/kubectl" "$@"; }
as() { local user=$1; shift; "$KUBE_BIN/kubectl" --kubeconfig "$GRIDVM_STATE/users/$user.kubeconfig" "$@"; }

say "3/4 the paper's walkthrough: badadmin sets up users, lab1, gsr-vm and the studs permission"
npx --no-install tsx controller/cli/gridvm.ts validate examples/paper-lab
kubectl apply -f examples/paper-lab/00-users.yaml
for f in 10-vmgroup-lab1 20-vmtemplate-gsr-vm 30-permission-studs-gsr-vm; do
  as badadmin apply -f "examples/paper-lab/$f.yaml"
done
say "    doraz derives gsr-vm as myvm and runs it isolated"
as doraz apply -f examples/paper-lab/40-vminstance-doraz-myvm.yaml

say "4/4 waiting for myvm to run (up to 3 minutes)"
if ! as doraz wait vminstance/myvm --for=jsonpath='{.status.phase}'=Running --timeout=180s >/dev/null 2>&1; then
  say "    myvm is not Running yet: $(as doraz get vminstance myvm -o jsonpath='{.status.phase}{" "}{.status.conditions[?(@.type=="Ready")].message}')"
  say "    (is the controller up? see $GRIDVM_LOGS/)"
fi

echo
echo "\$ kubectl get vminstances -A"
kubectl get vminstances -A
echo
endpoint=$(as doraz get vminstance myvm -o jsonpath='{.status.vnc.endpoint}')
secret=$(as doraz get vminstance myvm -o jsonpath='{.status.vnc.passwordSecret}')
if [[ -n $endpoint && -n $secret ]]; then
  echo "doraz connects with any VNC client to $endpoint, password:"
  echo "  kubectl --kubeconfig $GRIDVM_STATE/users/doraz.kubeconfig get secret $secret -o jsonpath='{.data.password}' | base64 -d"
fi
echo
echo "As a student: export KUBECONFIG=$GRIDVM_STATE/users/doraz.kubeconfig; kubectl get vminstances"
echo "As the admin: source $GRIDVM_STATE/env; kubectl get gridvm -A"
say "demo done in $(( $(date +%s) - started ))s; hack/local-down.sh stops everything"
