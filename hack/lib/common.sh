# Shared by every hack/ script: where things live and small helpers. Source, don't run.
# shellcheck shell=bash

GRIDVM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Everything a local cluster writes (certs, kubeconfigs, etcd data, logs, pids) lives here.
GRIDVM_STATE="${GRIDVM_STATE:-$GRIDVM_ROOT/.local}"
GRIDVM_LOGS="$GRIDVM_STATE/logs"
GRIDVM_RUN="$GRIDVM_STATE/run"
GRIDVM_CACHE="${GRIDVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gridvm}"
KUBE_VERSION="${KUBE_VERSION:-v1.35.4}"
KUBE_BIN="$GRIDVM_CACHE/kube-$KUBE_VERSION/bin"
export GRIDVM_ROOT GRIDVM_STATE GRIDVM_LOGS GRIDVM_RUN GRIDVM_CACHE KUBE_VERSION KUBE_BIN

# Loopback ports of the local control plane (override to run beside something else).
ETCD_PORT="${ETCD_PORT:-12379}"
ETCD_PEER_PORT="${ETCD_PEER_PORT:-12380}"
APISERVER_PORT="${APISERVER_PORT:-16443}"
KCM_PORT="${KCM_PORT:-16257}"
export ETCD_PORT ETCD_PEER_PORT APISERVER_PORT KCM_PORT

say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# wait_until SECONDS DESCRIPTION CMD...: polls CMD every 0.2 s until it succeeds or time is up.
wait_until() {
  local limit=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    (( $(date +%s) < deadline )) || return 1
    sleep 0.2
  done
  say "$what: ready"
}

# pid_alive FILE: the process named in a pidfile is running.
pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# start_daemon NAME CMD...: runs CMD detached in its own session, log in $GRIDVM_LOGS/NAME.log,
# pid in $GRIDVM_RUN/NAME.pid. Does nothing when it already runs.
start_daemon() {
  local name=$1; shift
  local pidfile="$GRIDVM_RUN/$name.pid"
  mkdir -p "$GRIDVM_LOGS" "$GRIDVM_RUN"
  if pid_alive "$pidfile"; then say "$name: already running (pid $(cat "$pidfile"))"; return 0; fi
  setsid "$@" >>"$GRIDVM_LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

# stop_daemon NAME: SIGTERM, wait up to 10 s, then SIGKILL; removes the pidfile.
stop_daemon() {
  local name=$1 pidfile="$GRIDVM_RUN/$1.pid" pid i
  [[ -f $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    say "$name: stopped"
  fi
  rm -f "$pidfile"
}
