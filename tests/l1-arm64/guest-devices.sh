#!/bin/sh
# The guest's side of the arm64 device test (tests/l1-arm64/test-boot.sh),
# run by the test guest's init (tests/guest/init.c: "-- sh
# /guest-devices.sh"); it prints what it finds as "guest: ..." lines on
# the console, which the host checks, then init reboots the guest.
#   block  /dev/vda: the md5 of the host's first 512 KiB; then 512 KiB of
#          its own written after them (with fsync), and their md5
#   rng    the hw_random driver in use and 64 bytes read from /dev/hwrng
#   net    eth0 172.16.0.2/24 pings the host's tap (172.16.0.1)
#   vsock  an echo server on port 5000 for the host; then, once the host
#          listens (it does after its own checks), an echo through the
#          host's port 5001
#   balloon  whether virtio_balloon drives a device
say() { echo "guest: $*"; }
md5() { md5sum | cut -d' ' -f1; }

say "blk-read $(dd if=/dev/vda bs=4096 count=128 2>/dev/null | md5)"
dd if=/dev/urandom of=/tmp/mine bs=4096 count=128 2>/dev/null
say "blk-wrote $(md5 </tmp/mine)"
dd if=/tmp/mine of=/dev/vda bs=4096 seek=128 conv=fsync 2>/dev/null

say "rng $(cat /sys/class/misc/hw_random/rng_current)" \
	"$(dd if=/dev/hwrng bs=64 count=1 2>/dev/null | wc -c)"

vsock-echo 5000 &

ip addr add 172.16.0.2/24 dev eth0 && ip link set eth0 up
tries=0
until ping -c 1 -W 1 172.16.0.1 >/dev/null 2>&1 || [ $tries = 30 ]; do
	tries=$((tries + 1))
done
ping -c 2 -W 2 172.16.0.1 | grep -q "2 packets received" && say "net ping ok"

say "balloon $(ls /sys/bus/virtio/drivers/virtio_balloon | grep -c virtio)"

tries=0
until back=$(echo guest-to-host | vsock-cat 2 5001) || [ $tries = 200 ]; do
	tries=$((tries + 1))
	sleep 0.3
done
say "vsock-back $back"
