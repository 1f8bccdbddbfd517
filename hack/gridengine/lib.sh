# Shared by hack/gridengine/*.sh. Source, don't run.
# shellcheck shell=bash

# shellcheck source=../sim-hosts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../sim-hosts/lib.sh"

SGE_ROOT="${SGE_ROOT:-/var/lib/gridengine}"
SGE_CELL="${SGE_CELL:-default}"
export SGE_ROOT SGE_CELL
GE_SPOOL_DB=/var/spool/gridengine/spooldb
GE_QMASTER_SPOOL=/var/spool/gridengine/qmaster
GE_EXECD_SPOOL=/var/spool/gridengine/execd

GRIDVM_SGE_QUEUE="${GRIDVM_SGE_QUEUE:-gridvm.q}"
GRIDVM_SGE_PE="${GRIDVM_SGE_PE:-gvm_smp}"
GRIDVM_SGE_MEM_COMPLEX="${GRIDVM_SGE_MEM_COMPLEX:-gvm_mem}"
GRIDVM_HOST_MEM="${GRIDVM_HOST_MEM:-4G}"
# VM cpus are Grid Engine slots. Simulated hosts time-share the machine and an idle lab guest uses
# next to no CPU, so they offer more slots than the machine has cores (exam day runs 30 VMs).
GRIDVM_HOST_CPUS="${GRIDVM_HOST_CPUS:-16}"
GRIDVM_SGE_NOTIFY="${GRIDVM_SGE_NOTIFY:-00:00:30}"
GRIDVM_SGE_SCHEDULE_INTERVAL="${GRIDVM_SGE_SCHEDULE_INTERVAL:-0:0:2}"

# sim_hosts: the simulated hosts' names from hosts.json, one a line.
sim_hosts() { grep -o '"name": "[^"]*"' "$GRIDVM_STATE/hosts.json" | cut -d'"' -f4; }

qmaster_running() { pid_alive "$GRIDVM_RUN/sge_qmaster.pid" && qconf -sh >/dev/null 2>&1; }

# execd_reports HOST: the qmaster has a load report from HOST's execd (it is not "-").
execd_reports() { qhost -h "$1" 2>/dev/null | awk -v h="$1" '$1 == h && $4 != "-" {found = 1} END {exit !found}'; }
