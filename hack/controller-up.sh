#!/usr/bin/env bash
# Starts gridvm-controller against the local cluster (idempotent), with the storage roots under
# $GRIDVM_BASE_DIR and Grid Engine from hack/gridengine. Logs: $GRIDVM_LOGS/controller.log.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

GRIDVM_BASE_DIR="${GRIDVM_BASE_DIR:-/var/lib/gridvm}"
mkdir -p "$GRIDVM_BASE_DIR"/{storage,import,iso,images} "$GRIDVM_LOGS/jobs"
# The demo's templates boot the tiny guest by direct kernel boot from the images root.
if [[ -f $GRIDVM_CACHE/guest/vmlinuz ]]; then
  mkdir -p "$GRIDVM_BASE_DIR/images/tiny-guest"
  for f in vmlinuz initramfs.gz; do
    cmp -s "$GRIDVM_CACHE/guest/$f" "$GRIDVM_BASE_DIR/images/tiny-guest/$f" || cp "$GRIDVM_CACHE/guest/$f" "$GRIDVM_BASE_DIR/images/tiny-guest/$f"
  done
fi

if pid_alive "$GRIDVM_RUN/controller.pid"; then say "controller: already running (pid $(cat "$GRIDVM_RUN/controller.pid"))"; exit 0; fi
args=(--kubeconfig "$GRIDVM_STATE/controller.kubeconfig" --base-dir "$GRIDVM_BASE_DIR" --job-log-dir "$GRIDVM_LOGS/jobs"
  --metrics-addr "127.0.0.1:${CONTROLLER_METRICS_PORT:-18080}" --lease-namespace kube-system)
[[ -f $GRIDVM_STATE/gridengine.env ]] && args+=(--sge-root "$(sed -n 's/^SGE_ROOT=//p' "$GRIDVM_STATE/gridengine.env")")
# Jobs find their host's node agent here (hack/agents-up.sh); set it empty for the real default.
default_socket="$GRIDVM_RUN/hosts/{host}/agent.sock"
GRIDVM_AGENT_SOCKET_TEMPLATE="${GRIDVM_AGENT_SOCKET_TEMPLATE-$default_socket}"
[[ -n $GRIDVM_AGENT_SOCKET_TEMPLATE ]] && args+=(--agent-socket "$GRIDVM_AGENT_SOCKET_TEMPLATE")
# From sources through tsx: the same code the tests run; `npm run build` + dist/ is the packaged way.
start_daemon controller node --import "$GRIDVM_ROOT/node_modules/tsx/dist/esm/index.mjs" "$GRIDVM_ROOT/controller/cmd/gridvm-controller.ts" "${args[@]}"
wait_until 60 controller curl -sf "http://127.0.0.1:${CONTROLLER_METRICS_PORT:-18080}/readyz" \
  || die "gridvm-controller did not become ready; see $GRIDVM_LOGS/controller.log"
