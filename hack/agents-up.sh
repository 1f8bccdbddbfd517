#!/usr/bin/env bash
# Starts one gridvm node agent per simulated host (hack/sim-hosts), each inside its host's
# namespaces exactly as on a real host: socket $GRIDVM_RUN/hosts/<host>/agent.sock (what the
# controller's --agent-socket template names), VMs under $GRIDVM_RUN/hosts/<host>/vms, dnsmasq
# state under .../agent, VNC on the host's management address, log $GRIDVM_LOGS/agent-<host>.log.
# Idempotent: running agents are left alone. Stop them with hack/agents-down.sh (VMs keep running).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

[[ -f $GRIDVM_STATE/hosts.json ]] || die "agents: no $GRIDVM_STATE/hosts.json (run hack/sim-hosts/up.sh)"
kubectl() { "$KUBE_BIN/kubectl" --kubeconfig "$GRIDVM_STATE/kubeconfig" "$@"; }
kubectl apply --server-side --force-conflicts -f "$GRIDVM_ROOT/node-agent/deploy/rbac.yaml" >/dev/null
say "agents: ClusterRole gridvm:agent applied"

# The agents' own identity: the static-token user gridvm-agent (group gridvm:agents). A cluster
# started before that user existed does not know its token until the apiserver restarts; then the
# admin credentials impersonate gridvm-agent, so the agents still act with the agent role only.
kubeconfig="$GRIDVM_STATE/agent.kubeconfig"
if [[ ! -f $kubeconfig ]] || ! "$KUBE_BIN/kubectl" --kubeconfig "$kubeconfig" auth whoami >/dev/null 2>&1; then
  kubeconfig="$GRIDVM_STATE/agent-impersonating.kubeconfig"
  kubectl config view --raw --minify >"$kubeconfig.tmp"
  "$KUBE_BIN/kubectl" --kubeconfig "$kubeconfig.tmp" config set-credentials "$(kubectl config view --minify -o jsonpath='{.users[0].name}')" --as=gridvm-agent >/dev/null
  mv "$kubeconfig.tmp" "$kubeconfig"
  say "agents: agent.kubeconfig not accepted by this apiserver (started before the agent user existed); impersonating gridvm-agent"
fi

# name and management address of every host, one "name ip" per line.
hosts=$(node -e 'for (const h of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))) console.log(h.name, h.mgmtIp)' "$GRIDVM_STATE/hosts.json")

# The apiserver listens on the head's loopback only; inside each host, 127.0.0.1:$APISERVER_PORT
# is relayed to it through a unix socket (hack/lib/relay.ts), so kubeconfigs work unchanged.
tsx=(node --import "$GRIDVM_ROOT/node_modules/tsx/dist/esm/index.mjs")
relay_sock="$GRIDVM_RUN/apiserver-relay.sock"
start_daemon apiserver-relay "${tsx[@]}" "$GRIDVM_ROOT/hack/lib/relay.ts" unix-to-tcp "$relay_sock" 127.0.0.1 "$APISERVER_PORT"
wait_until 30 apiserver-relay test -S "$relay_sock" || die "apiserver relay did not start; see $GRIDVM_LOGS/apiserver-relay.log"
while read -r host _; do
  start_daemon "apiserver-relay-$host" "$GRIDVM_ROOT/hack/sim-hosts/exec.sh" "$host" \
    "${tsx[@]}" "$GRIDVM_ROOT/hack/lib/relay.ts" tcp-to-unix 127.0.0.1 "$APISERVER_PORT" "$relay_sock"
done <<<"$hosts"
probe_guest=/var/lib/gridvm/images/tiny-guest
[[ -f $probe_guest/vmlinuz ]] || probe_guest="$GRIDVM_CACHE/guest"
while read -r host ip; do
  dir="$GRIDVM_RUN/hosts/$host"
  # dnsmasq drops to nobody: its state directory and every parent must be traversable.
  mkdir -p "$dir/agent" "$dir/vms" && chmod 755 "$dir" "$dir/agent"
  start_daemon "agent-$host" "$GRIDVM_ROOT/hack/sim-hosts/exec.sh" "$host" \
    "${tsx[@]}" "$GRIDVM_ROOT/node-agent/cmd/gridvm-agent.ts" \
    --host "$host" --kubeconfig "$kubeconfig" --socket "$dir/agent.sock" \
    --runtime-dir "$dir/vms" --state-dir "$dir/agent" --vnc-address "$ip" \
    --guest-accel "${GRIDVM_GUEST_ACCEL:-auto}" --probe-guest "$probe_guest" \
    --lease-grace "${GRIDVM_AGENT_LEASE_GRACE:-30}" --stop-grace "${GRIDVM_AGENT_STOP_GRACE:-10}" \
    ${GRIDVM_AGENT_EXTRA_ARGS:-}
done <<<"$hosts"
while read -r host _; do
  wait_until 90 "agent-$host" test -S "$GRIDVM_RUN/hosts/$host/agent.sock" \
    || die "agent on $host did not start; see $GRIDVM_LOGS/agent-$host.log"
done <<<"$hosts"
