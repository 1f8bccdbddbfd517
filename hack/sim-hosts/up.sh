#!/usr/bin/env bash
# Creates GRIDVM_HOSTS (default 2) simulated execution hosts on this machine. Each is a network
# namespace gvm-hN with its own UTS hostname gvm-hN, an address on the management bridge
# gvm-mgmt (head = $GRIDVM_MGMT_NET.1, host N = .(10+N)) and a VM bridge vbr0 uplinked to the
# shared LAN bridge lan0 in namespace gvm-lan, where the example lab's gateway lives.
# Idempotent: what exists is left alone. Writes $GRIDVM_STATE/hosts.json.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[[ $(id -u) -eq 0 ]] || die "sim-hosts: needs root (network namespaces)"
[[ $GRIDVM_HOSTS =~ ^[0-9]+$ ]] && ((GRIDVM_HOSTS >= 1 && GRIDVM_HOSTS <= 200)) ||
  die "sim-hosts: GRIDVM_HOSTS must be 1..200, got '$GRIDVM_HOSTS'"
mkdir -p "$GRIDVM_STATE" "$GRIDVM_RUN/hosts"

has_ns() { [[ -e /run/netns/$1 ]]; }
has_link() { ip ${2:+-n "$2"} link show "$1" >/dev/null 2>&1; }

# 1. Head side of the management network.
if ! has_link "$GRIDVM_MGMT_BRIDGE"; then
  ip link add "$GRIDVM_MGMT_BRIDGE" type bridge
  say "sim-hosts: created bridge $GRIDVM_MGMT_BRIDGE"
fi
ip addr replace "$GRIDVM_HEAD_IP/24" dev "$GRIDVM_MGMT_BRIDGE"
ip link set "$GRIDVM_MGMT_BRIDGE" up

# 2. The LAN segment with the lab's gateway.
has_ns "$GRIDVM_LAN_NS" || ip netns add "$GRIDVM_LAN_NS"
ip -n "$GRIDVM_LAN_NS" link set lo up
if ! has_link "$GRIDVM_LAN_BRIDGE" "$GRIDVM_LAN_NS"; then
  ip -n "$GRIDVM_LAN_NS" link add "$GRIDVM_LAN_BRIDGE" address "$GRIDVM_LAN_GATEWAY_MAC" type bridge
fi
ip -n "$GRIDVM_LAN_NS" addr replace "$GRIDVM_LAN_GATEWAY" dev "$GRIDVM_LAN_BRIDGE"
ip -n "$GRIDVM_LAN_NS" link set "$GRIDVM_LAN_BRIDGE" up

# 3. Name resolution: every host and the head know each other by name.
hosts_block() {
  local j
  echo "$HOSTS_BEGIN"
  echo "$GRIDVM_HEAD_IP $GRIDVM_HEAD_NAME"
  for ((j = 1; j <= GRIDVM_HOSTS; j++)); do echo "$(sim_host_ip "$j") $(sim_host_name "$j")"; done
  echo "$HOSTS_END"
}
# Replace our block in /etc/hosts in place (it may be a bind mount, so no rename).
current=$(without_our_block /etc/hosts)
printf '%s\n%s\n' "$current" "$(hosts_block)" >/etc/hosts

# 4. The hosts.
for ((i = 1; i <= GRIDVM_HOSTS; i++)); do
  name=$(sim_host_name "$i") ip_addr=$(sim_host_ip "$i") dir=$(sim_host_dir "$i") uts=$(sim_host_uts "$i")
  mkdir -p "/etc/netns/$name" "$dir"
  { echo "127.0.0.1 localhost"; echo "::1 localhost ip6-localhost ip6-loopback"; hosts_block; } >"/etc/netns/$name/hosts"
  if ! has_ns "$name"; then ip netns add "$name"; say "sim-hosts: created namespace $name ($ip_addr)"; fi
  ip -n "$name" link set lo up
  # Management link: <name>-m on the head's bridge <-> mgmt0 inside.
  if ! has_link mgmt0 "$name"; then
    has_link "$name-m" && ip link del "$name-m"
    ip link add "$name-m" type veth peer name mgmt0 netns "$name"
  fi
  ip link set "$name-m" master "$GRIDVM_MGMT_BRIDGE" up
  ip -n "$name" addr replace "$ip_addr/24" dev mgmt0
  ip -n "$name" link set mgmt0 up
  # VM bridge vbr0, uplinked to the LAN: uplink0 inside <-> <name>-l on lan0.
  has_link "$GRIDVM_VM_BRIDGE" "$name" || ip -n "$name" link add "$GRIDVM_VM_BRIDGE" type bridge
  if ! has_link uplink0 "$name"; then
    has_link "$name-l" "$GRIDVM_LAN_NS" && ip -n "$GRIDVM_LAN_NS" link del "$name-l"
    ip link add uplink0 netns "$name" type veth peer name "$name-l" netns "$GRIDVM_LAN_NS"
  fi
  ip -n "$name" link set uplink0 master "$GRIDVM_VM_BRIDGE" up
  ip -n "$name" link set "$GRIDVM_VM_BRIDGE" up
  ip -n "$GRIDVM_LAN_NS" link set "$name-l" master "$GRIDVM_LAN_BRIDGE" up
  # Persistent UTS namespace with the host's own hostname.
  if ! mountpoint -q "$uts" 2>/dev/null && ! nsenter --uts="$uts" true 2>/dev/null; then
    : >"$uts"
    unshare --uts="$uts" hostname "$name"
  fi
  [[ $(nsenter --uts="$uts" hostname) == "$name" ]] || die "sim-hosts: $name: UTS hostname is not $name"
done

# 5. The host list for other scripts, the controller and tests.
{
  echo "["
  for ((i = 1; i <= GRIDVM_HOSTS; i++)); do
    sep=","; ((i == GRIDVM_HOSTS)) && sep=""
    printf '  {"name": "%s", "netns": "%s", "mgmtIp": "%s", "uts": "%s", "runDir": "%s"}%s\n' \
      "$(sim_host_name "$i")" "$(sim_host_name "$i")" "$(sim_host_ip "$i")" "$(sim_host_uts "$i")" "$(sim_host_dir "$i")" "$sep"
  done
  echo "]"
} >"$GRIDVM_STATE/hosts.json.tmp"
mv "$GRIDVM_STATE/hosts.json.tmp" "$GRIDVM_STATE/hosts.json"

# 6. Check: every host resolves the head and itself, and has a route to the head.
for ((i = 1; i <= GRIDVM_HOSTS; i++)); do
  name=$(sim_host_name "$i")
  seen=$("$(dirname "$0")/exec.sh" "$name" sh -c 'getent hosts "$1" | cut -d" " -f1; getent hosts "$(hostname)" | cut -d" " -f1' sh "$GRIDVM_HEAD_NAME")
  [[ $seen == "$GRIDVM_HEAD_IP"$'\n'"$(sim_host_ip "$i")" ]] || die "sim-hosts: $name resolves wrongly: $seen"
  ip -n "$name" route get "$GRIDVM_HEAD_IP" >/dev/null || die "sim-hosts: $name has no route to $GRIDVM_HEAD_IP"
done
say "sim-hosts: $GRIDVM_HOSTS host(s) up: $(for ((i = 1; i <= GRIDVM_HOSTS; i++)); do printf '%s ' "$(sim_host_name "$i")"; done)(list in $GRIDVM_STATE/hosts.json)"
