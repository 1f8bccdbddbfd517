# The local Kubernetes control plane: etcd + kube-apiserver + kube-controller-manager on
# loopback, TLS everywhere, RBAC, static-token users. Source, then call control_plane_up/down.
# shellcheck shell=bash

PKI="$GRIDVM_STATE/pki"
# Users as "name=group1,group2 ..."; the paper's by default.
GRIDVM_USERS="${GRIDVM_USERS:-badadmin=gridvm:admins doraz=studs alex=studs}"

make_pki() {
  mkdir -p "$PKI"
  [[ -f $PKI/ca.key ]] || openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=gridvm-local-ca" \
    -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null
  if [[ ! -f $PKI/apiserver.crt ]]; then
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$PKI/apiserver.key" \
      -out "$PKI/apiserver.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n' >"$PKI/apiserver.ext"
    openssl x509 -req -in "$PKI/apiserver.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
      -days 3650 -extfile "$PKI/apiserver.ext" -out "$PKI/apiserver.crt" 2>/dev/null
  fi
  [[ -f $PKI/sa.key ]] || { openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null; openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null; }
}

# tokens.csv: token,user,uid,"groups". Tokens are made once and kept, so kubeconfigs stay valid.
make_tokens() {
  local file="$PKI/tokens.csv" spec user groups
  local wanted="gridvm-admin=system:masters system:kube-controller-manager= gridvm-controller=gridvm:controllers gridvm-agent=gridvm:agents $GRIDVM_USERS"
  touch "$file"
  for spec in $wanted; do
    user=${spec%%=*}; groups=${spec#*=}
    grep -q ",$user,$user," "$file" || printf '%s,%s,%s,"%s"\n' "$(openssl rand -hex 16)" "$user" "$user" "$groups" >>"$file"
  done
}

token_of() { grep ",$1,$1," "$PKI/tokens.csv" | cut -d, -f1; }

# write_kubeconfig FILE USER [NAMESPACE]: a kubeconfig that authenticates USER by its static token
# (a user's own namespace is their default, so `kubectl get vminstances` just works).
write_kubeconfig() {
  local file=$1 user=$2
  mkdir -p "$(dirname "$file")"
  cat >"$file.tmp" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: gridvm-local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $user
  user:
    token: $(token_of "$user")
contexts:
- name: $user@gridvm-local
  context: {cluster: gridvm-local, user: $user${3:+, namespace: $3}}
current-context: $user@gridvm-local
KUBECONFIG
  chmod 600 "$file.tmp" && mv "$file.tmp" "$file"
}

# port_owner PORT: the pid listening on a loopback TCP port, if any.
port_owner() { ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1; }

ensure_port_free_or_ours() {
  local name=$1 port=$2 owner
  owner=$(port_owner "$port")
  [[ -z $owner ]] && return 0
  if [[ -f $GRIDVM_RUN/$name.pid && $(cat "$GRIDVM_RUN/$name.pid") == "$owner" ]]; then return 0; fi
  die "$name: port $port is taken by pid $owner ($(tr '\0' ' ' </proc/"$owner"/cmdline | cut -c1-120)); stop it, or set ${3:-PORT} to another port"
}

apiserver_ready() {
  curl -sf --max-time 2 --cacert "$PKI/ca.crt" -H "Authorization: Bearer $(token_of gridvm-admin)" \
    "https://127.0.0.1:$APISERVER_PORT/readyz" >/dev/null
}

control_plane_up() {
  [[ -x $KUBE_BIN/kube-apiserver ]] || die "no kube-apiserver in $KUBE_BIN: run hack/build-control-plane.sh"
  command -v etcd >/dev/null || die "etcd is not installed: run hack/install-deps.sh"
  mkdir -p "$GRIDVM_LOGS" "$GRIDVM_RUN"
  make_pki
  make_tokens

  ensure_port_free_or_ours etcd "$ETCD_PORT" ETCD_PORT
  start_daemon etcd etcd --name gridvm --data-dir "$GRIDVM_STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "gridvm=http://127.0.0.1:$ETCD_PEER_PORT" --quota-backend-bytes 2147483648
  wait_until 30 etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health" || die "etcd did not become healthy; see $GRIDVM_LOGS/etcd.log"

  ensure_port_free_or_ours kube-apiserver "$APISERVER_PORT" APISERVER_PORT
  start_daemon kube-apiserver "$KUBE_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" --token-auth-file "$PKI/tokens.csv" \
    --authorization-mode RBAC --allow-privileged=true \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range 10.96.0.0/24 \
    --enable-priority-and-fairness=false \
    --disable-admission-plugins ServiceAccount \
    --profiling=false --v=1
  wait_until 120 kube-apiserver apiserver_ready || die "kube-apiserver did not become ready; see $GRIDVM_LOGS/kube-apiserver.log"

  write_kubeconfig "$GRIDVM_STATE/kubeconfig" gridvm-admin
  write_kubeconfig "$GRIDVM_STATE/controller-manager.kubeconfig" system:kube-controller-manager
  write_kubeconfig "$GRIDVM_STATE/controller.kubeconfig" gridvm-controller
  write_kubeconfig "$GRIDVM_STATE/agent.kubeconfig" gridvm-agent
  local spec
  for spec in $GRIDVM_USERS; do write_kubeconfig "$GRIDVM_STATE/users/${spec%%=*}.kubeconfig" "${spec%%=*}" "${spec%%=*}"; done

  ensure_port_free_or_ours kube-controller-manager "$KCM_PORT" KCM_PORT
  # Needed for namespace deletion and ownerReference garbage collection. Each controller acts as
  # its own service account (the bootstrap roles grant those, not the manager's own user, the
  # right to empty a namespace).
  start_daemon kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
    --kubeconfig "$GRIDVM_STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$GRIDVM_STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$GRIDVM_STATE/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --leader-elect=false \
    --use-service-account-credentials \
    --controllers namespace,garbagecollector,serviceaccount,serviceaccount-token \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" --v=1
  wait_until 60 kube-controller-manager curl -skf --max-time 2 "https://127.0.0.1:$KCM_PORT/healthz" \
    || die "kube-controller-manager did not become healthy; see $GRIDVM_LOGS/kube-controller-manager.log"

  cat >"$GRIDVM_STATE/env" <<ENV
# Source me: the local gridvm cluster's admin kubeconfig and the kubectl built for it.
export KUBECONFIG="$GRIDVM_STATE/kubeconfig"
export PATH="$KUBE_BIN:\$PATH"
ENV
}

control_plane_down() {
  stop_daemon kube-controller-manager
  stop_daemon kube-apiserver
  stop_daemon etcd
}
