#!/usr/bin/env bash
# Starts the standalone VMInstance admission webhook on 127.0.0.1:$WEBHOOK_PORT and registers it
# with the local apiserver (idempotent). Until the controller binary embeds the webhook, this is
# how the local cluster gets admission. Certificates live in $GRIDVM_STATE/admission and are made
# or rotated (less than 30 days left) here; a rotation restarts the server and re-registers the
# new CA. Logs: $GRIDVM_LOGS/admission-webhook.log. Undo with hack/webhook-down.sh.
#
# NOTE: the configurations use failurePolicy Fail — while they are registered and the server is
# down, every VMInstance create/update is refused. webhook-down.sh removes them first.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

WEBHOOK_PORT="${WEBHOOK_PORT:-16444}"
CERT_DIR="$GRIDVM_STATE/admission"
# Reads Permissions, VMTemplates and VMInstances cluster-wide.
WEBHOOK_KUBECONFIG="${GRIDVM_WEBHOOK_KUBECONFIG:-$GRIDVM_STATE/kubeconfig}"
NAME="${GRIDVM_WEBHOOK_NAME:-gridvm-vminstance-admission}"
PIDFILE="$GRIDVM_RUN/admission-webhook.pid"
admission() { node --import "$GRIDVM_ROOT/node_modules/tsx/dist/esm/index.mjs" "$GRIDVM_ROOT/controller/admission/main.ts" "$@"; }
kubectl() { "$KUBE_BIN/kubectl" --kubeconfig "$GRIDVM_STATE/kubeconfig" "$@"; }

[[ -f $WEBHOOK_KUBECONFIG ]] || die "no kubeconfig at $WEBHOOK_KUBECONFIG: run hack/local-up.sh first"
admission certs --cert-dir "$CERT_DIR"

# A server started before the certificates were (re)made still serves the old ones.
if pid_alive "$PIDFILE" && [[ $CERT_DIR/tls.crt -nt $PIDFILE ]]; then
  say "admission-webhook: certificates changed, restarting"
  stop_daemon admission-webhook
fi
start_daemon admission-webhook node --import "$GRIDVM_ROOT/node_modules/tsx/dist/esm/index.mjs" \
  "$GRIDVM_ROOT/controller/admission/main.ts" serve --port "$WEBHOOK_PORT" --cert-dir "$CERT_DIR" \
  --kubeconfig "$WEBHOOK_KUBECONFIG" ${GRIDVM_ADMIN_GROUP:+--admin-group "$GRIDVM_ADMIN_GROUP"}
wait_until 30 admission-webhook curl -sf --max-time 2 --cacert "$CERT_DIR/ca.crt" "https://127.0.0.1:$WEBHOOK_PORT/healthz" \
  || die "the admission webhook did not answer; see $GRIDVM_LOGS/admission-webhook.log"

# GRIDVM_WEBHOOK_NAMESPACE_LABEL=key=value limits admission to labelled namespaces (trying it out
# beside others' work); unset, every namespace's VMInstances go through it.
admission configurations --port "$WEBHOOK_PORT" --cert-dir "$CERT_DIR" --name "$NAME" \
  ${GRIDVM_WEBHOOK_NAMESPACE_LABEL:+--namespace-label "$GRIDVM_WEBHOOK_NAMESPACE_LABEL"} | kubectl apply -f - >/dev/null
say "admission webhook registered as $NAME (https://127.0.0.1:$WEBHOOK_PORT)"
