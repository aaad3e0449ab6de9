#!/bin/sh
# The guest's side of the arm64 snapshot test (tests/l1-arm64/test-boot.sh),
# run by the test guest's init ("-- sh /guest-snapshot.sh"):
#   - a vsock echo server on port 5000, running across the snapshot;
#   - a counter on the console, "guest: count N" each second, until the
#     first sector of /dev/vda (read past the page cache) says "restored",
#     which the host writes between the snapshot and the load: then
#     "guest: count N after the load" with the next N;
#   - after the load: the drive read ("guest: disk restored"), 512 bytes of
#     its own written at sector 1 (with fsync), and "done" sent to the
#     host's vsock port 5001 once it listens; then init reboots, which
#     ends microvm with 0.
say() { echo "guest: $*"; }

vsock-echo 5000 &
i=0
until [ "$(dd if=/dev/vda bs=8 count=1 2>/dev/null)" = restored ]; do
	i=$((i + 1))
	say "count $i"
	sleep 1
	echo 3 >/proc/sys/vm/drop_caches
done
say "count $((i + 1)) after the load"
say "disk restored"
echo after-load | dd of=/dev/vda bs=512 seek=1 conv=fsync 2>/dev/null &&
	say "blk-wrote after-load"
tries=0
until echo done | vsock-cat 2 5001 >/dev/null || [ $tries = 200 ]; do
	tries=$((tries + 1))
	sleep 0.3
done
