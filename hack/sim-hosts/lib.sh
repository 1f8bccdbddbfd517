# Shared by hack/sim-hosts/*.sh: the simulated hosts' names and addresses. Source, don't run.
# shellcheck shell=bash

# shellcheck source=../lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

GRIDVM_HOSTS="${GRIDVM_HOSTS:-2}"
# Management network: the head (this machine, root namespace) is .1, host N is .(10+N).
GRIDVM_MGMT_NET="${GRIDVM_MGMT_NET:-10.213.7}"
GRIDVM_MGMT_BRIDGE=gvm-mgmt
GRIDVM_HEAD_NAME="${GRIDVM_HEAD_NAME:-gvm-head}"
GRIDVM_HEAD_IP="$GRIDVM_MGMT_NET.1"
# The shared "LAN" every host's vbr0 is uplinked to, with the example lab's gateway on it.
GRIDVM_LAN_NS=gvm-lan
GRIDVM_LAN_BRIDGE=lan0
GRIDVM_LAN_GATEWAY="${GRIDVM_LAN_GATEWAY:-192.168.100.1/24}"
GRIDVM_LAN_GATEWAY_MAC="${GRIDVM_LAN_GATEWAY_MAC:-00:15:5d:07:07:8b}"
GRIDVM_VM_BRIDGE=vbr0
HOSTS_BEGIN="# BEGIN gridvm simulated hosts (hack/sim-hosts; removed by down.sh)"
HOSTS_END="# END gridvm simulated hosts"
# without_our_block FILE: prints FILE without the lines between our markers (inclusive).
without_our_block() {
  awk -v b="$HOSTS_BEGIN" -v e="$HOSTS_END" '$0 == b {skip = 1} !skip {print} $0 == e {skip = 0}' "$1"
}
export GRIDVM_HOSTS GRIDVM_MGMT_NET GRIDVM_HEAD_NAME GRIDVM_HEAD_IP

sim_host_name() { echo "gvm-h$1"; }
sim_host_ip() { echo "$GRIDVM_MGMT_NET.$((10 + $1))"; }
# Each host's UTS namespace is kept alive by a bind mount on this file, so the execd and the node
# agent (started later, e.g. with hack/sim-hosts/exec.sh) share one hostname.
sim_host_dir() { echo "$GRIDVM_RUN/hosts/$(sim_host_name "$1")"; }
sim_host_uts() { echo "$(sim_host_dir "$1")/uts"; }

# All simulated hosts that exist now (by namespace), whatever GRIDVM_HOSTS says today.
existing_sim_hosts() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^gvm-h[0-9]+$' || true; }
