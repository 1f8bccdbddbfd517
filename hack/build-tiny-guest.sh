#!/usr/bin/env bash
# Builds a tiny Linux guest for tests, from Debian packages only, into $GRIDVM_CACHE/guest/:
#   vmlinuz        Debian's cloud kernel (virtio drivers are modules; we load them from /init)
#   initramfs.gz   busybox-static + those modules + an /init that takes a DHCP lease and then
#                  runs commands it reads from the second serial port (ttyS1)
#   boot.env       the kernel command line to use, for scripts (GUEST_KERNEL, GUEST_INITRD, GUEST_APPEND)
# Boot it by direct kernel boot:
#   qemu-system-x86_64 -kernel vmlinuz -initrd initramfs.gz -append "console=ttyS0 quiet mitigations=off no_timer_check" \
#     -serial file:console.log -serial unix:cmd.sock,server,wait=off -netdev tap,... -device virtio-net-pci,...
# Serial console markers (ttyS0): GRIDVM-GUEST-UP, GRIDVM-DHCP-OK <ip>, GRIDVM-GUEST-POWEROFF.
# Command channel (ttyS1): write one shell command line ending in "\n"; the guest answers with its
# output followed by a line "GRIDVM-CMD-DONE <exit code>". Starts with "GRIDVM-CMD-READY".
# Cached: a second run with the same inputs does nothing. Idempotent.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

GUEST_DIR="$GRIDVM_CACHE/guest"
DEB_DIR="$GUEST_DIR/debs"
# Load order from `modinfo -F depends` (FACTS.md); button+evdev let acpid see the ACPI power
# button, so QMP system_powerdown really powers the guest off.
MODULES=(virtio_ring virtio failover net_failover virtio_pci_modern_dev virtio_pci_legacy_dev
  virtio_pci virtio_net virtio_blk button evdev)

# The version of this recipe: bump it (or edit this file) and the cache is rebuilt.
RECIPE_HASH=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)
STAMP="$GUEST_DIR/.stamp"

command -v apt-get >/dev/null || die "apt-get is needed (Debian packages are the guest's source)"
for tool in dpkg-deb cpio gzip; do command -v "$tool" >/dev/null || die "$tool is missing (hack/install-deps.sh)"; done

mkdir -p "$DEB_DIR"

# 1. Which kernel package: the metapackage names the concrete versioned image.
kernel_pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[[ -n $kernel_pkg ]] || die "cannot resolve linux-image-cloud-amd64 (apt-get update?)"
busybox_deb=$(ls /var/cache/apt/archives/busybox-static_*.deb 2>/dev/null | head -n1 || true)

if [[ -f $STAMP && $(cat "$STAMP") == "$RECIPE_HASH $kernel_pkg" && -s $GUEST_DIR/vmlinuz && -s $GUEST_DIR/initramfs.gz ]]; then
  say "tiny guest: up to date in $GUEST_DIR ($kernel_pkg)"
  exit 0
fi

# 2. Fetch the packages (not installed: only their files are used).
fetch() {
  local pkg=$1
  if ! ls "$DEB_DIR/${pkg}"_*.deb >/dev/null 2>&1; then
    say "downloading $pkg"
    (cd "$DEB_DIR" && apt-get download "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
    ls "$DEB_DIR/${pkg}"_*.deb >/dev/null 2>&1 || die "apt-get download $pkg failed"
  fi
}
fetch "$kernel_pkg"
if [[ -z $busybox_deb ]]; then fetch busybox-static; busybox_deb=$(ls "$DEB_DIR"/busybox-static_*.deb | head -n1); fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$(ls "$DEB_DIR/${kernel_pkg}"_*.deb | head -n1)" "$work/kernel"
dpkg-deb -x "$busybox_deb" "$work/busybox"
kver=${kernel_pkg#linux-image-}

# 3. The initramfs tree.
root="$work/root"
mkdir -p "$root"/{bin,sbin,etc/acpi/PWRF,proc,sys,dev,tmp,run,lib/modules,usr/share/udhcpc}
cp "$work/busybox/bin/busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
  [[ $applet == busybox ]] || ln -sf busybox "$root/bin/$applet"
done
for m in "${MODULES[@]}"; do
  ko=$(find "$work/kernel/lib/modules/$kver" -name "$m.ko" -o -name "$m.ko.xz" | head -n1)
  [[ -n $ko ]] || die "module $m not found in $kernel_pkg"
  cp "$ko" "$root/lib/modules/"
done

cat >"$root/usr/share/udhcpc/default.script" <<'EOF'
#!/bin/sh
# udhcpc hook: apply the lease and say so on the serial console.
case "$1" in
  deconfig) ifconfig "$interface" 0.0.0.0 ;;
  bound|renew)
    ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}"
    if [ -n "$router" ]; then
      while route del default gw 0.0.0.0 dev "$interface" 2>/dev/null; do :; done
      for r in $router; do route add default gw "$r" dev "$interface"; break; done
    fi
    echo "GRIDVM-DHCP-OK $ip" >/dev/console ;;
esac
exit 0
EOF

cat >"$root/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
echo "GRIDVM-GUEST-POWEROFF" >/dev/console
sync
poweroff -f
EOF

cat >"$root/init" <<'EOF'
#!/bin/sh
# gridvm tiny guest: load virtio, take a DHCP lease, serve commands on ttyS1, idle.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
for m in MODULE_LIST; do
  for f in /lib/modules/$m.ko*; do insmod "$f" 2>/dev/null; done
done
hostname gridvm-guest
ifconfig lo 127.0.0.1 up
echo "GRIDVM-GUEST-UP $(uname -r)" >/dev/console
acpid -c /etc/acpi -p /run/acpid.pid -l /run/acpid.log >/dev/null 2>&1
if ifconfig eth0 up 2>/dev/null; then
  # -f: stay in the foreground of this background job, retrying forever (-A) until a lease.
  udhcpc -f -i eth0 -T 1 -t 5 -A 1 -s /usr/share/udhcpc/default.script >/dev/null 2>&1 &
else
  echo "GRIDVM-NO-ETH0" >/dev/console
fi
# Command channel on the second serial port, if there is one.
if [ -c /dev/ttyS1 ] && stty -F /dev/ttyS1 raw -echo 115200 2>/dev/null; then
  while :; do
    exec 3<>/dev/ttyS1
    echo "GRIDVM-CMD-READY" >&3
    while IFS= read -r line <&3; do
      sh -c "$line" </dev/null >&3 2>&1
      echo "GRIDVM-CMD-DONE $?" >&3
    done
    exec 3>&-
    sleep 1
  done
fi
while :; do sleep 3600; done
EOF
sed -i "s/MODULE_LIST/${MODULES[*]}/" "$root/init"
chmod 755 "$root/init" "$root/usr/share/udhcpc/default.script" "$root/etc/acpi/PWRF/00000080"

# 4. Pack and publish atomically (a concurrent reader never sees half a file).
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet --owner 0:0) | gzip -9 >"$work/initramfs.gz"
cp "$work/kernel/boot/vmlinuz-$kver" "$work/vmlinuz"
mkdir -p "$GUEST_DIR"
mv -f "$work/initramfs.gz" "$GUEST_DIR/initramfs.gz"
mv -f "$work/vmlinuz" "$GUEST_DIR/vmlinuz"
cat >"$GUEST_DIR/boot.env" <<EOF
GUEST_KERNEL=$GUEST_DIR/vmlinuz
GUEST_INITRD=$GUEST_DIR/initramfs.gz
GUEST_APPEND="console=ttyS0 quiet mitigations=off no_timer_check"
EOF
echo "$RECIPE_HASH $kernel_pkg" >"$STAMP"
say "tiny guest: built in $GUEST_DIR ($kernel_pkg, initramfs $(du -h "$GUEST_DIR/initramfs.gz" | cut -f1))"
