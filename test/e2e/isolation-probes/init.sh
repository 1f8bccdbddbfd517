#!/bin/sh
# The isolation probes' guest /init (replaces the tiny guest's): load virtio, take the DHCP lease
# as the tiny guest does, then fetch numbered jobs from the URL on the kernel command line
# (gvprobe.url=HOST:PORT, the gateway; fetched by gvprobe) and run each once, output to the serial console.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
for m in virtio_ring virtio failover net_failover virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_net; do
  for f in /lib/modules/$m.ko*; do insmod "$f" 2>/dev/null; done
done
hostname gvprobe-guest
ifconfig lo 127.0.0.1 up
echo "GRIDVM-GUEST-UP $(uname -r)" >/dev/console
ifconfig eth0 up
udhcpc -f -i eth0 -T 1 -t 5 -A 1 -s /usr/share/udhcpc/default.script >/dev/null 2>&1 &
url=$(sed -n 's/.*gvprobe\.url=\([^ ]*\).*/\1/p' /proc/cmdline)
host=${url%:*}
port=${url#*:}
me=$(tr : - </sys/class/net/eth0/address)
seq=1
tries=0
echo "GVPROBE-FETCHING http://$url/$me/" >/dev/console
while :; do
  if gvprobe fetch "$host" "$port" "/$me/$seq.txt" >/tmp/job 2>/tmp/fetch.err; then
    echo "GVPROBE-JOB $seq START" >/dev/console
    sh /tmp/job </dev/null >/dev/console 2>&1
    echo "GVPROBE-JOB $seq END $?" >/dev/console
    seq=$((seq + 1))
  else
    # Every 15th miss says why on the console, so a stuck channel can be diagnosed from the log.
    tries=$((tries + 1))
    [ $((tries % 15)) = 1 ] && echo "GVPROBE-WAITING $seq $(head -c 200 /tmp/fetch.err)" >/dev/console
    sleep 1
  fi
done
