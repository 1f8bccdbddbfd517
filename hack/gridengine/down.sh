#!/usr/bin/env bash
# Stops the local Grid Engine: deletes every job (unless GRIDVM_KEEP_JOBS=1), stops each
# sge_execd and the sge_qmaster, ends leftover job processes in the simulated hosts and restores
# the cell's act_qmaster/host_aliases. The configuration stays in the spool for the next up.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if qmaster_running; then
  if [[ ${GRIDVM_KEEP_JOBS:-0} != 1 ]] && [[ -n $(qstat -u '*' 2>/dev/null) ]]; then
    say "gridengine: deleting all jobs"
    qdel -f -u '*' >/dev/null 2>&1 || true
    for ((i = 0; i < 50; i++)); do [[ -z $(qstat -u '*' 2>/dev/null) ]] && break; sleep 0.2; done
  fi
fi

# Execds first (they would only reconnect to a qmaster that is still there).
shopt -s nullglob
for pidfile in "$GRIDVM_RUN"/sge_execd-*.pid; do
  name=$(basename "$pidfile" .pid)
  stop_daemon "$name"
done
# A job's shepherd outlives its execd by design; end the jobs it still runs, then the shepherd.
for ns in $(existing_sim_hosts); do
  for pid in $(ip netns pids "$ns" 2>/dev/null); do
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == sge_shepherd ]] || continue
    for child in $(pgrep -P "$pid" || true); do
      pgid=$(ps -o pgid= -p "$child" | tr -d ' ')
      [[ -n $pgid ]] && kill -KILL -- "-$pgid" 2>/dev/null || true
    done
    kill -KILL "$pid" 2>/dev/null || true
    say "gridengine: ended leftover shepherd $pid in $ns"
  done
done
stop_daemon sge_qmaster

# Put the cell's name files back as the package left them.
orig=$GRIDVM_STATE/gridengine-orig
common=$SGE_ROOT/$SGE_CELL/common
if [[ -d $orig ]]; then
  for f in act_qmaster host_aliases; do
    if [[ -e $orig/$f ]]; then cp -p "$orig/$f" "$common/$f"; else rm -f "$common/$f"; fi
  done
  rm -rf "$orig"
fi
rm -f "$GRIDVM_STATE/gridengine.env"
say "gridengine: down"
