#!/usr/bin/env bash
# Installs the Debian packages gridvm's local cluster and tests need, and the npm dependencies.
# Idempotent: a second run only checks. Needs root (or sudo) for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  etcd-server                                        # the control plane's store
  gridengine-master gridengine-exec gridengine-client # the batch system (Son of Grid Engine 8.1.9)
  qemu-system-x86 qemu-utils                         # VMs and qcow2 discs
  ebtables iproute2 dnsmasq-base isc-dhcp-server     # host networking and DHCP
  iptables                                           # ebtables-nft (legacy ebtables has no kernel support here)
  busybox-static kmod cpio                           # the tiny test guest
  gcc libc6-dev                                      # the guest-side packet probe tool (static)
  openssl ca-certificates procps psmisc
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo=sudo
  echo "install-deps: installing ${missing[*]}"
  # Grid Engine asks debconf questions at install time; answer them up front.
  $sudo debconf-set-selections <<'EOF'
gridengine-common shared/gridenginemaster string localhost
gridengine-common shared/gridenginecell string default
gridengine-common shared/gridengineconfig boolean true
gridengine-client shared/gridenginemaster string localhost
gridengine-client shared/gridenginecell string default
gridengine-client shared/gridengineconfig boolean true
postfix postfix/main_mailer_type select No configuration
EOF
  # Packages must not start services inside this machine; we run every daemon ourselves.
  policy=/usr/sbin/policy-rc.d
  added_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee $policy >/dev/null && $sudo chmod +x $policy && added_policy=1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  ((added_policy)) && $sudo rm -f $policy
  # Debian enables the services on install; the local cluster runs its own copies.
  for svc in etcd isc-dhcp-server gridengine-master gridengine-exec; do
    $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true
  done
  pkill -x etcd 2>/dev/null || true
else
  echo "install-deps: Debian packages present"
fi

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
