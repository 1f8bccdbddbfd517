#!/usr/bin/env bash
# Brings up a real Grid Engine (Debian's Son of Grid Engine 8.1.9): sge_qmaster on the head
# (this machine) and one sge_execd per simulated host (run hack/sim-hosts/up.sh first), tuned for
# interactive use, with our queue, parallel environment and VM-memory consumable.
# Idempotent: what runs is left running, the configuration is re-applied.
# Writes $GRIDVM_STATE/gridengine.env for tests and the controller.
set -euo pipefail
here=$(dirname "$0")
source "$here/lib.sh"

[[ $(id -u) -eq 0 ]] || die "gridengine: needs root (sge_execd runs jobs as their owner)"
command -v qsub >/dev/null && [[ -x /usr/sbin/sge_qmaster && -x /usr/sbin/sge_execd ]] ||
  die "gridengine: Debian gridengine-master/-exec/-client missing (run hack/install-deps.sh)"
[[ -f $GRIDVM_STATE/hosts.json ]] || die "gridengine: no simulated hosts (run hack/sim-hosts/up.sh first)"
mapfile -t hosts < <(sim_hosts)
((${#hosts[@]})) || die "gridengine: $GRIDVM_STATE/hosts.json lists no hosts"
[[ -d $SGE_ROOT/$SGE_CELL/common ]] || die "gridengine: $SGE_ROOT/$SGE_CELL/common missing (reinstall gridengine-common)"
[[ -e $GE_SPOOL_DB/sge ]] || die "gridengine: spool $GE_SPOOL_DB not initialised (the gridengine-master package does it)"
mkdir -p "$GRIDVM_LOGS" "$GRIDVM_RUN"

# q ARGS...: qconf, quiet when it works, its own words when it does not.
q() { local out; out=$(qconf "$@" 2>&1) || die "gridengine: qconf $*: $out"; }

# 1. Names: the qmaster's canonical name is the head's name on the management network, which
# every host resolves; host_aliases folds this machine's own hostname (and localhost) into it.
common=$SGE_ROOT/$SGE_CELL/common
orig=$GRIDVM_STATE/gridengine-orig   # what the package left, put back by down.sh
if [[ ! -d $orig ]]; then
  mkdir -p "$orig.tmp"
  for f in act_qmaster host_aliases; do [[ -e $common/$f ]] && cp -p "$common/$f" "$orig.tmp/"; done
  mv "$orig.tmp" "$orig"
fi
echo "$GRIDVM_HEAD_NAME" >"$common/act_qmaster"
echo "$GRIDVM_HEAD_NAME $(hostname) localhost" >"$common/host_aliases"
getent hosts "$GRIDVM_HEAD_NAME" >/dev/null || die "gridengine: $GRIDVM_HEAD_NAME does not resolve (sim-hosts/up.sh adds it to /etc/hosts)"

# 2. qmaster.
if qmaster_running; then
  say "gridengine: sge_qmaster already running (pid $(cat "$GRIDVM_RUN/sge_qmaster.pid"))"
else
  # A qmaster killed hard leaves its lock; nothing runs now, so it is stale.
  rm -f "$GE_QMASTER_SPOOL/lock"
  # SGE_ND keeps the daemon in the foreground, so start_daemon's pidfile is the daemon's.
  start_daemon sge_qmaster env SGE_ROOT="$SGE_ROOT" SGE_CELL="$SGE_CELL" SGE_ND=1 /usr/sbin/sge_qmaster
  wait_until 30 "gridengine: sge_qmaster" qconf -sh || die "gridengine: sge_qmaster did not come up (see $GRIDVM_LOGS/sge_qmaster.log)"
fi

# 3. Configuration (re-applied every time; each step is "make it so").
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Global: jobs of root are allowed (the local controller runs as root); accounting is written at
# once so qacct sees a job as soon as it ends.
qconf -sconf global | awk '
  /^min_uid /          { print "min_uid 0"; next }
  /^min_gid /          { print "min_gid 0"; next }
  /^reporting_params / { print "reporting_params accounting=true reporting=false flush_time=00:00:01 joblog=false sharelog=00:00:00 accounting_flush_time=00:00:00"; skip = 1; next }
  skip && /^[ \t]/     { next }
  { skip = 0; print }' >"$tmp/global"
q -Mconf "$tmp/global"

# Scheduler: dispatch within about a second of a submit or a finish, not every 15 s; keep the
# pending reason ("scheduling info") so the controller can show why a VM waits; never hold jobs
# back for load (the load of a shared head says nothing about the VMs).
qconf -ssconf | awk -v interval="$GRIDVM_SGE_SCHEDULE_INTERVAL" '
  /^schedule_interval /      { print "schedule_interval " interval; next }
  /^flush_submit_sec /       { print "flush_submit_sec 1"; next }
  /^flush_finish_sec /       { print "flush_finish_sec 1"; next }
  /^schedd_job_info /        { print "schedd_job_info true"; next }
  /^job_load_adjustments /   { print "job_load_adjustments NONE"; next }
  /^load_adjustment_decay_time / { print "load_adjustment_decay_time 0:0:0"; next }
  { print }' >"$tmp/sconf"
q -Msconf "$tmp/sconf"

# VM memory: a consumable of our own, charged once per job whatever the slot count (JOB).
# h_vmem would be RLIMIT_AS per process, which qemu always exceeds.
if ! qconf -sc | grep -q "^$GRIDVM_SGE_MEM_COMPLEX "; then
  { qconf -sc | grep -v '^#'; echo "$GRIDVM_SGE_MEM_COMPLEX gvmmem MEMORY <= YES JOB 0 0"; } >"$tmp/complex"
  q -Mc "$tmp/complex"
  say "gridengine: added consumable $GRIDVM_SGE_MEM_COMPLEX"
fi

# The head submits and administers.
qconf -sh | grep -qx "$GRIDVM_HEAD_NAME" || q -ah "$GRIDVM_HEAD_NAME"
qconf -ss | grep -qx "$GRIDVM_HEAD_NAME" || q -as "$GRIDVM_HEAD_NAME"

# Execution hosts with their VM-memory capacity and cpus.
existing_exec=$(qconf -sel 2>/dev/null || true)
for h in "${hosts[@]}"; do
  qconf -sh | grep -qx "$h" || q -ah "$h"
  cat >"$tmp/$h" <<HOST
hostname              $h
load_scaling          NONE
complex_values        $GRIDVM_SGE_MEM_COMPLEX=$GRIDVM_HOST_MEM,slots=$GRIDVM_HOST_CPUS
user_lists            NONE
xuser_lists           NONE
projects              NONE
xprojects             NONE
usage_scaling         NONE
report_variables      NONE
HOST
  if grep -qx "$h" <<<"$existing_exec"; then q -Me "$tmp/$h"; else q -Ae "$tmp/$h"; fi
done

# Host group of exactly today's simulated hosts.
printf 'group_name @gridvm\nhostlist %s\n' "${hosts[*]}" >"$tmp/hgrp"
if qconf -shgrpl 2>/dev/null | grep -qx '@gridvm'; then q -Mhgrp "$tmp/hgrp"; else q -Ahgrp "$tmp/hgrp"; fi

# cpus: a VM with N cpus takes N slots on one host.
cat >"$tmp/pe" <<PE
pe_name            $GRIDVM_SGE_PE
slots              99999
user_lists         NONE
xuser_lists        NONE
start_proc_args    NONE
stop_proc_args     NONE
allocation_rule    \$pe_slots
control_slaves     FALSE
job_is_first_task  TRUE
urgency_slots      min
accounting_summary FALSE
qsort_args         NONE
PE
if qconf -spl | grep -qx "$GRIDVM_SGE_PE"; then q -Mp "$tmp/pe"; else q -Ap "$tmp/pe"; fi

# The queue: `notify` is the time between -notify's SIGUSR2 and the SIGKILL of qdel or h_rt, the
# VM's window for a graceful powerdown.
cat >"$tmp/queue" <<QUEUE
qname                 $GRIDVM_SGE_QUEUE
hostlist              @gridvm
seq_no                0
load_thresholds       NONE
suspend_thresholds    NONE
nsuspend              1
suspend_interval      00:05:00
priority              0
min_cpu_interval      00:05:00
processors            UNDEFINED
qtype                 BATCH
ckpt_list             NONE
pe_list               $GRIDVM_SGE_PE
rerun                 FALSE
slots                 $GRIDVM_HOST_CPUS
tmpdir                /tmp
shell                 /bin/sh
prolog                NONE
epilog                NONE
shell_start_mode      unix_behavior
starter_method        NONE
suspend_method        NONE
resume_method         NONE
terminate_method      NONE
notify                $GRIDVM_SGE_NOTIFY
owner_list            NONE
user_lists            NONE
xuser_lists           NONE
subordinate_list      NONE
complex_values        NONE
projects              NONE
xprojects             NONE
calendar              NONE
initial_state         default
s_rt                  INFINITY
h_rt                  INFINITY
s_cpu                 INFINITY
h_cpu                 INFINITY
s_fsize               INFINITY
h_fsize               INFINITY
s_data                INFINITY
h_data                INFINITY
s_stack               INFINITY
h_stack               INFINITY
s_core                INFINITY
h_core                INFINITY
s_rss                 INFINITY
h_rss                 INFINITY
s_vmem                INFINITY
h_vmem                INFINITY
QUEUE
if qconf -sql 2>/dev/null | grep -qx "$GRIDVM_SGE_QUEUE"; then q -Mq "$tmp/queue"; else q -Aq "$tmp/queue"; fi

# 4. One execd per simulated host, inside the host's namespaces.
for h in "${hosts[@]}"; do
  start_daemon "sge_execd-$h" "$GRIDVM_ROOT/hack/sim-hosts/exec.sh" "$h" \
    env SGE_ROOT="$SGE_ROOT" SGE_CELL="$SGE_CELL" SGE_ND=1 /usr/sbin/sge_execd
done
for h in "${hosts[@]}"; do
  wait_until 60 "gridengine: sge_execd on $h" execd_reports "$h" ||
    die "gridengine: sge_execd on $h did not report to the qmaster (see $GRIDVM_LOGS/sge_execd-$h.log)"
done
# A queue instance left in error state by an earlier run would refuse every job.
qmod -c "$GRIDVM_SGE_QUEUE" >/dev/null 2>&1 || true

# 5. What tests and the controller need to talk to this cluster.
cat >"$GRIDVM_STATE/gridengine.env.tmp" <<ENV
SGE_ROOT=$SGE_ROOT
SGE_CELL=$SGE_CELL
PATH=/usr/bin:\$PATH
GRIDVM_SGE_QUEUE=$GRIDVM_SGE_QUEUE
GRIDVM_SGE_PE=$GRIDVM_SGE_PE
GRIDVM_SGE_MEM_COMPLEX=$GRIDVM_SGE_MEM_COMPLEX
GRIDVM_SGE_HOSTS=${hosts[*]}
GRIDVM_HOST_MEM=$GRIDVM_HOST_MEM
GRIDVM_HOST_CPUS=$GRIDVM_HOST_CPUS
ENV
mv "$GRIDVM_STATE/gridengine.env.tmp" "$GRIDVM_STATE/gridengine.env"
say "gridengine: up: qmaster $GRIDVM_HEAD_NAME, queue $GRIDVM_SGE_QUEUE on ${hosts[*]} ($GRIDVM_HOST_MEM $GRIDVM_SGE_MEM_COMPLEX, $GRIDVM_HOST_CPUS slots each); env in $GRIDVM_STATE/gridengine.env"
