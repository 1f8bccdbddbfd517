#!/usr/bin/env bash
# exec.sh HOST CMD...: runs CMD "on" a simulated host: in its network namespace (with its
# /etc/netns/HOST/hosts) and its persistent UTS namespace, so `hostname` answers HOST.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
(($# >= 2)) || die "usage: $0 HOST CMD..."
host=$1; shift
[[ $host =~ ^gvm-h([0-9]+)$ ]] || die "exec: not a simulated host: $host"
uts=$(sim_host_uts "${BASH_REMATCH[1]}")
[[ -e /run/netns/$host && -e $uts ]] || die "exec: $host is not up (run hack/sim-hosts/up.sh)"
exec ip netns exec "$host" nsenter --uts="$uts" "$@"
