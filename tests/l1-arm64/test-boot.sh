#!/bin/sh
# The first arm64 integration test (issue 18), run inside the arm64 KVM
# machine by `make ARCH=arm64 test-arm64` (busybox sh there): microvm's
# aarch64 build boots the arm64 guest kernel through its API socket
# (boot-source, machine-config, InstanceStart) with seccomp on, and
#   - with 1 vCPU the guest's init runs (its line on the serial console)
#     with that CPU up, and its PSCI SYSTEM_OFF ends microvm with exit
#     status 0 (2 vCPUs: the snapshot case's guest brings both up);
#   - a guest reboot (PSCI SYSTEM_RESET) ends microvm with 0 too (the
#     device guest's init reboots);
#   - Linux's PL031 driver binds to the RTC (rtc0);
#   - an x86 kernel is refused at InstanceStart with a clear 400;
#   - one guest with every virtio device (tests/l1-arm64/guest-devices.sh
#     is its side): a drive whose first 512 KiB the guest reads back
#     (md5) and whose next 512 KiB it writes, which the host reads back
#     after the guest is gone; the entropy device behind /dev/hwrng; a tap
#     (made here by microvm) the guest pings; vsock echoes both ways
#     (build/arm64/vsock-host on the host side); a balloon the guest's
#     driver inflates to the configured size (the API's statistics); and
#     every thread of that microvm runs under its seccomp filter;
#   - a snapshot of a counting 2-vCPU guest, loaded in a fresh microvm
#     from its memory file, through microvm-uffd, and in a warm microvm
#     (--warm: VM, memory and vCPUs made before the load), counts on from
#     where it was, with its drive and vsock working (snapshot_case,
#     load_case), and the first, rewound to the snapshot, counts from
#     there again (rewind_case); a guest booted with dirty tracking, saved
#     Full and then Diff into the same memory file, loads at the Diff's
#     count (diff_case); a state file from x86 is refused with a
#     400, and so is one with a register this host's KVM does not have;
#   - microvm-jailer cages microvm, which boots the guest (jail_case).
#   - GIC=2 (the machine made with a GICv2, so KVM has no GICv3): all of
#     the above with GICv2 VMs, and a VM of more vCPUs than KVM runs with
#     a GICv2 is refused at InstanceStart with a clear 400.
# Usage: test-boot.sh BUILD_DIR IMAGE INITRD X86_KERNEL [GIC (3)]
set -u
build=$1 image=$2 initrd=$3 x86_kernel=$4 gic=${5:-3}
api=$build/api-client
work=$(mktemp -d)
args="console=ttyS0 earlycon panic=-1 rdinit=/init"
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# start_vm NAME [ARGS...]: microvm on $work/NAME.sock, console in
# $work/NAME.out
start_vm() {
	name=$1
	shift
	"$build/microvm" --api-sock "$work/$name.sock" "$@" >"$work/$name.out" 2>&1 &
	pid=$!
}

# configure NAME VCPUS KERNEL BOOT_ARGS [INITRD]: boot-source and
# machine-config
configure() {
	"$api" "$work/$1.sock" PUT /boot-source \
		"{\"kernel_image_path\": \"$3\", \"initrd_path\": \"${5:-$initrd}\", \"boot_args\": \"$4\"}" >/dev/null &&
		"$api" "$work/$1.sock" PUT /machine-config \
			"{\"vcpu_count\": $2, \"mem_size_mib\": 256}" >/dev/null
}

# wait_exit NAME: waits for microvm ($pid) to end by itself; rc is its
# exit status. One still running after 240 s (a hung guest) is killed, its
# console's last lines printed, so its case fails rather than the run
# hanging until L1's timeout.
wait_exit() {
	(sleep 240 && kill -9 "$pid" 2>/dev/null &&
		echo "$1: still running after 240 s, killed; its console:" &&
		tail -n 20 "$work/$1.out") &
	dog=$!
	wait "$pid"
	rc=$?
	kill "$dog" 2>/dev/null
}

start_instance() {
	"$api" "$work/$1.sock" PUT /actions '{"action_type": "InstanceStart"}'
}

# boot_case NAME VCPUS BOOT_ARGS WANT_LINE: boots, waits for the exit
boot_case() {
	start_vm "$1"
	if ! configure "$1" "$2" "$image" "$3" || ! start_instance "$1" >/dev/null; then
		fail "$1: the API refused the configuration"
		kill "$pid"
	fi
	wait_exit "$1"
	[ "$rc" = 0 ] || fail "$1: microvm exited $rc, not 0"
	grep -q "kvm-smoke-init: running" "$work/$1.out" ||
		fail "$1: no line from the guest's init on the console"
	grep -q "$4" "$work/$1.out" || fail "$1: no '$4' on the console"
	echo "ok: $1 (exit $rc)"
}

boot_case one-vcpu 1 "$args" "Brought up 1 node, 1 CPU"
grep -q "reboot: Power down" "$work/one-vcpu.out" ||
	fail "one-vcpu: the guest did not power off"
grep -q "rtc-pl031 .*registered as rtc0" "$work/one-vcpu.out" ||
	fail "one-vcpu: the PL031 RTC was not registered"

# refused_at_start NAME VCPUS KERNEL WANT WHAT: InstanceStart answers a
# 400 matching WANT; microvm is stopped.
refused_at_start() {
	start_vm "$1"
	configure "$1" "$2" "$3" "$args" || fail "$1: configuration refused"
	reply=$(start_instance "$1") && fail "$1: InstanceStart accepted $5"
	echo "$reply" | grep -q "^400 .*$4" ||
		fail "$1: not the 400 expected: $reply"
	kill "$pid"
	wait "$pid"
	echo "ok: $5 is refused"
}
# A GICv2 has a byte of CPU targets: KVM runs 8 vCPUs with it.
[ "$gic" = 2 ] && refused_at_start gicv2 9 "$image" \
	"runs at most 8 vCPUs in a VM (8 where its GIC is a GICv2); vcpu_count is 9" \
	"a VM of 9 vCPUs on a GICv2"
refused_at_start x86 1 "$x86_kernel" "not an arm64 Image" "an x86 kernel"

# put NAME PATH JSON: one configuration request, a failure counted
put() {
	"$api" "$work/$1.sock" PUT "$2" "$3" >/dev/null ||
		fail "$1: PUT $2 refused"
}

# The balloon's statistics show `actual_mib` at $2 within 60 s.
balloon_reaches() {
	tries=0
	until "$api" "$work/$1.sock" GET /balloon/statistics |
		grep -q "\"actual_mib\": *$2[,}]"; do
		tries=$((tries + 1))
		[ $tries -lt 60 ] || return 1
		sleep 1
	done
}

# Every thread of process $1 (KVM's own kvm-* workers aside) has a
# seccomp filter, and there are at least $2 of them.
seccomp_everywhere() {
	threads=0
	for status in /proc/$1/task/*/status; do
		grep -q "^Name:[[:space:]]*kvm-" "$status" && continue
		grep -q "^Seccomp:[[:space:]]*2$" "$status" || return 1
		threads=$((threads + 1))
	done
	[ "$threads" -ge "$2" ]
}

# The host's side of guest-devices.sh, in the order the guest expects.
devices_case() {
	dd if=/dev/urandom of="$work/disk.img" bs=4096 count=256 2>/dev/null
	host_md5=$(dd if="$work/disk.img" bs=4096 count=128 2>/dev/null | md5sum | cut -d' ' -f1)
	start_vm devices
	configure devices 1 "$image" "$args -- sh /guest-devices.sh" \
		"$build/devices-initrd.cpio" || fail "devices: configuration refused"
	put devices /drives/disk "{\"drive_id\": \"disk\", \"path_on_host\": \"$work/disk.img\", \"is_root_device\": false, \"is_read_only\": false}"
	put devices /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "mvarm64tap"}'
	put devices /vsock "{\"guest_cid\": 3, \"uds_path\": \"$work/v.sock\"}"
	put devices /entropy '{}'
	put devices /balloon '{"amount_mib": 16, "deflate_on_oom": false, "stats_polling_interval_s": 1}'
	start_instance devices >/dev/null || fail "devices: InstanceStart refused"
	ip addr add 172.16.0.1/24 dev mvarm64tap && ip link set mvarm64tap up ||
		fail "devices: the tap microvm made cannot be configured"
	"$build/vsock-host" connect "$work/v.sock" 5000 host-to-guest ||
		fail "devices: no vsock echo from the guest"
	seccomp_everywhere "$pid" 3 ||
		fail "devices: a thread without its seccomp filter (main, API, vCPU)"
	balloon_reaches devices 16 || fail "devices: the balloon did not inflate to 16 MiB"
	"$build/vsock-host" listen "$work/v.sock_5001" ||
		fail "devices: the guest did not connect to the host's vsock port"
	wait_exit devices
	[ "$rc" = 0 ] || fail "devices: microvm exited $rc, not 0"
	out=$work/devices.out
	grep -q "guest: blk-read $host_md5" "$out" ||
		fail "devices: the guest did not read the host's bytes"
	wrote=$(sed -n 's/.*guest: blk-wrote \([0-9a-f]*\).*/\1/p' "$out")
	got=$(dd if="$work/disk.img" bs=4096 skip=128 count=128 2>/dev/null | md5sum | cut -d' ' -f1)
	[ -n "$wrote" ] && [ "$wrote" = "$got" ] ||
		fail "devices: the host did not read the guest's bytes ($wrote, $got)"
	grep -q "guest: rng virtio_rng.0 64" "$out" || fail "devices: no virtio rng"
	grep -q "guest: net ping ok" "$out" || fail "devices: no ping over the tap"
	grep -q "guest: balloon 1" "$out" || fail "devices: no balloon driver"
	grep -q "guest: vsock-back guest-to-host" "$out" ||
		fail "devices: no vsock echo through the host"
	grep -q "microvm-init: exit 0" "$out" || fail "devices: the guest's script failed"
	grep -q "reboot: Restarting system" "$out" || fail "devices: the guest did not reboot"
	echo "ok: devices (exit $rc)"
}
devices_case

# console_has NAME TEXT: TEXT on NAME's console within 60 s
console_has() {
	tries=0
	until grep -q "$2" "$work/$1.out"; do
		tries=$((tries + 1))
		[ $tries -lt 120 ] || return 1
		sleep 0.5
	done
}

# A 2-vCPU guest counting on its console (tests/l1-arm64/guest-snapshot.sh
# is its side) is paused and saved (snapshot_case); fresh microvms load it
# and resume, once from the memory file (File backend), once through
# microvm-uffd (Uffd backend): each time the count goes on from where it
# was, the drive and vsock work, and the guest's reboot ends microvm with
# 0 (load_case). The bytes the host writes to the drive between the
# processes are what the loaded guest reads.
snapshot_case() {
	dd if=/dev/zero of="$work/snap-disk.img" bs=4096 count=16 2>/dev/null
	start_vm snap
	configure snap 2 "$image" "$args -- sh /guest-snapshot.sh" \
		"$build/devices-initrd.cpio" || fail "snapshot: configuration refused"
	put snap /drives/disk "{\"drive_id\": \"disk\", \"path_on_host\": \"$work/snap-disk.img\", \"is_root_device\": false, \"is_read_only\": false}"
	put snap /vsock "{\"guest_cid\": 3, \"uds_path\": \"$work/s.sock\"}"
	start_instance snap >/dev/null || fail "snapshot: InstanceStart refused"
	console_has snap "guest: count 2" || fail "snapshot: the guest does not count"
	grep -q "Brought up 1 node, 2 CPUs" "$work/snap.out" ||
		fail "snapshot: the guest did not bring up its 2 vCPUs"
	"$api" "$work/snap.sock" PATCH /vm '{"state": "Paused"}' >/dev/null ||
		fail "snapshot: PATCH /vm refused the pause"
	put snap /snapshot/create "{\"snapshot_type\": \"Full\", \"snapshot_path\": \"$work/snap.state\", \"mem_file_path\": \"$work/snap.mem\"}"
	grep -q "GICv$gic of 128 interrupts" "$work/snap.out" ||
		fail "snapshot: the log does not name a GICv$gic"
	kill -9 "$pid"
	wait "$pid"
	before=$(tr -d '\r' <"$work/snap.out" |
		sed -n 's/^guest: count \([0-9]*\)$/\1/p' | tail -n 1)
	printf restored | dd of="$work/snap-disk.img" conv=notrunc 2>/dev/null
	echo "ok: snapshot of a guest at count $before"
}

# load_case NAME BACKEND_TYPE BACKEND_PATH [rewind|warm]: the snapshot
# loaded and resumed by a fresh microvm, and the guest's side of it
# checked; with "rewind", the running guest is then rewound (PUT
# /snapshot/rewind) to the loaded snapshot, and counts and reads its drive
# again from there; with "warm", the microvm made its VM before the load
# (--warm, the snapshot's shape).
load_case() {
	rm -f "$work/s.sock"
	dd if=/dev/zero of="$work/snap-disk.img" bs=512 seek=1 count=1 conv=notrunc 2>/dev/null
	dirty=false
	[ "${4:-}" != rewind ] || dirty=true
	if [ "${4:-}" = warm ]; then
		start_vm "$1" --warm vcpus=2,mem_mib=256 --level Info
		sleep 1 # the VM made before the request
	else
		start_vm "$1"
	fi
	"$api" "$work/$1.sock" PUT /snapshot/load "{\"snapshot_path\": \"$work/snap.state\", \"mem_backend\": {\"backend_type\": \"$2\", \"backend_path\": \"$3\"}, \"resume_vm\": true, \"track_dirty_pages\": $dirty}" >/dev/null ||
		fail "$1: the load was refused"
	console_has "$1" "guest: disk restored" ||
		fail "$1: the loaded guest did not read its drive"
	after=$(tr -d '\r' <"$work/$1.out" |
		sed -n 's/^guest: count \([0-9]*\) after the load$/\1/p')
	[ -n "$before" ] && [ -n "$after" ] && [ "$after" -gt "$before" ] &&
		[ "$after" -le $((before + 2)) ] ||
		fail "$1: the count was ${before:-none} before, ${after:-none} after the load"
	"$build/vsock-host" connect "$work/s.sock" 5000 after-the-load ||
		fail "$1: no vsock echo from the loaded guest"
	[ "${4:-}" != rewind ] || rewind_case "$1"
	"$build/vsock-host" listen "$work/s.sock_5001" ||
		fail "$1: the loaded guest did not connect to the host's vsock port"
	wait_exit "$1"
	[ "$rc" = 0 ] || fail "$1: the loaded microvm exited $rc, not 0"
	grep -q "guest: blk-wrote after-load" "$work/$1.out" ||
		fail "$1: the loaded guest could not write its drive"
	[ "$(dd if="$work/snap-disk.img" bs=512 skip=1 count=1 2>/dev/null | head -c 10)" = after-load ] ||
		fail "$1: the guest's write after the load is not in the file"
	echo "ok: $1 ($2: count $after after the load; exit $rc)"
}

# rewind_case NAME: the guest, past the point where it read the drive, is
# rewound to the snapshot: it prints the same count after the load again
# and reads its drive again.
rewind_case() {
	"$api" "$work/$1.sock" PUT /snapshot/rewind '{"resume_vm": true}' >/dev/null ||
		fail "$1: the rewind was refused"
	tries=0
	until [ "$(grep -c "guest: disk restored" "$work/$1.out")" = 2 ]; do
		tries=$((tries + 1))
		[ $tries -lt 120 ] || break
		sleep 0.5
	done
	[ "$(tr -d '\r' <"$work/$1.out" | grep -c "^guest: count $after after the load$")" = 2 ] ||
		fail "$1: after the rewind the guest did not count $after again"
	echo "ok: $1 rewound"
}

snapshot_case
load_case load-file File "$work/snap.mem" rewind
load_case load-warm File "$work/snap.mem" warm
grep -q "loaded (File backend, warm)" "$work/load-warm.out" ||
	fail "load-warm: the microvm does not say its load was warm"
"$build/microvm-uffd" --socket "$work/uffd.sock" --mem-file "$work/snap.mem" \
	>"$work/uffd.out" 2>&1 &
uffd_pid=$!
load_case load-uffd Uffd "$work/uffd.sock"
kill "$uffd_pid"
wait "$uffd_pid"

# diff_case: the counting guest booted with track_dirty_pages, saved Full
# at count 2, resumed, saved Diff at count 4 or later into the same memory
# file; a fresh microvm loads the Diff's state over that file and the
# count goes on from the Diff's (what the guest's shell changed since the
# Full came with the Diff), its drive and vsock working.
diff_case() {
	dd if=/dev/zero of="$work/diff-disk.img" bs=4096 count=16 2>/dev/null
	rm -f "$work/s.sock"
	start_vm diff
	configure diff 2 "$image" "$args -- sh /guest-snapshot.sh" \
		"$build/devices-initrd.cpio" || fail "diff: configuration refused"
	put diff /machine-config '{"vcpu_count": 2, "mem_size_mib": 256, "track_dirty_pages": true}'
	put diff /drives/disk "{\"drive_id\": \"disk\", \"path_on_host\": \"$work/diff-disk.img\", \"is_root_device\": false, \"is_read_only\": false}"
	put diff /vsock "{\"guest_cid\": 3, \"uds_path\": \"$work/s.sock\"}"
	start_instance diff >/dev/null || fail "diff: InstanceStart refused"
	console_has diff "guest: count 2" || fail "diff: the guest does not count"
	for kind in Full Diff; do
		"$api" "$work/diff.sock" PATCH /vm '{"state": "Paused"}' >/dev/null ||
			fail "diff: PATCH /vm refused the pause"
		put diff /snapshot/create "{\"snapshot_type\": \"$kind\", \"snapshot_path\": \"$work/diff-$kind.state\", \"mem_file_path\": \"$work/diff.mem\"}"
		"$api" "$work/diff.sock" PATCH /vm '{"state": "Resumed"}' >/dev/null
		console_has diff "guest: count 4" || fail "diff: no count 4"
	done
	kill -9 "$pid"
	wait "$pid"
	saved=$(tr -d '\r' <"$work/diff.out" |
		sed -n 's/^guest: count \([0-9]*\)$/\1/p' | tail -n 1)
	printf restored | dd of="$work/diff-disk.img" conv=notrunc 2>/dev/null
	rm -f "$work/s.sock"
	start_vm diff-load
	"$api" "$work/diff-load.sock" PUT /snapshot/load "{\"snapshot_path\": \"$work/diff-Diff.state\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$work/diff.mem\"}, \"resume_vm\": true}" >/dev/null ||
		fail "diff: the load was refused"
	console_has diff-load "guest: disk restored" ||
		fail "diff: the loaded guest did not read its drive"
	after=$(tr -d '\r' <"$work/diff-load.out" |
		sed -n 's/^guest: count \([0-9]*\) after the load$/\1/p')
	[ -n "$saved" ] && [ -n "$after" ] && [ "$after" -ge 5 ] &&
		[ "$after" -le $((saved + 1)) ] ||
		fail "diff: the count was ${saved:-none} at the end, ${after:-none} after the load"
	"$build/vsock-host" listen "$work/s.sock_5001" ||
		fail "diff: the loaded guest did not connect to the host's vsock port"
	wait_exit diff
	[ "$rc" = 0 ] || fail "diff: the loaded microvm exited $rc, not 0"
	echo "ok: diff (Full at 2, Diff by ${saved:-none}: count $after after the load)"
}
diff_case

# A state file whose vCPU has a register this host's KVM does not
# (tests/l1-arm64/snap-edit.c) is refused with a 400 naming it, before
# anything is set; microvm goes on answering.
bad_register_case() {
	"$build/snap-edit" "$work/snap.state" "$work/bad.state" >/dev/null ||
		fail "bad-register: no edited state file"
	start_vm bad-register
	reply=$("$api" "$work/bad-register.sock" PUT /snapshot/load "{\"snapshot_path\": \"$work/bad.state\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$work/snap.mem\"}}") &&
		fail "bad-register: the state file was loaded"
	echo "$reply" | grep -q "^400 .*vCPU 0 of the snapshot has register 0x603000000013ffff, which this host's KVM does not have" ||
		fail "bad-register: not the 400 expected: $reply"
	"$api" "$work/bad-register.sock" GET / >/dev/null ||
		fail "bad-register: microvm stopped answering"
	kill "$pid"
	wait "$pid"
	echo "ok: a register KVM does not have is refused"
}
bad_register_case

# A state file from x86 (its 32-byte header: magic, format version 3,
# EM_X86_64, no payload) is refused with a 400 naming both architectures.
x86_state_case() {
	# this microvm's format version (snapshot/snapshot.h), x86_64 (62)
	version=$(sed -n 's/^#define SNAP_VERSION \([0-9]*\)$/\1/p' \
		"$(dirname "$0")/../../snapshot/snapshot.h")
	printf "MVMSNAP\\000\\$(printf %03o "$version")\\000\\000\\000\\076\\000\\000\\000" \
		>"$work/x86.state"
	dd if=/dev/zero bs=16 count=1 2>/dev/null >>"$work/x86.state"
	start_vm x86-state
	reply=$("$api" "$work/x86-state.sock" PUT /snapshot/load "{\"snapshot_path\": \"$work/x86.state\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$work/snap.mem\"}}") &&
		fail "x86-state: an x86 state file was loaded"
	echo "$reply" | grep -q "^400 .*architecture 62 (x86_64), this microvm is aarch64" ||
		fail "x86-state: not the 400 expected: $reply"
	kill "$pid"
	wait "$pid"
	echo "ok: an x86 state file is refused"
}
x86_state_case

# microvm-jailer cross-built: microvm caged in a chroot of its own (its
# shared libraries, arm64's, copied in), as uid and gid 1000, boots the
# guest from files given into the jail, every thread under its seccomp
# filter; the guest's power-off ends it (the jailer's pid) with 0.
jail_case() {
	root=$work/jail/microvm/arm64jail/root
	"$build/microvm-jailer" --id arm64jail --exec-file "$build/microvm" \
		--uid 1000 --gid 1000 --chroot-base-dir "$work/jail" \
		-- --api-sock /api.sock >"$work/jail.out" 2>&1 &
	pid=$!
	tries=0
	until [ -S "$root/api.sock" ] || [ $tries = 100 ]; do
		tries=$((tries + 1))
		sleep 0.1
	done
	cp "$image" "$root/Image" && cp "$initrd" "$root/initrd.cpio" ||
		fail "jail: no jail root with the API socket"
	"$api" "$root/api.sock" PUT /boot-source "{\"kernel_image_path\": \"/Image\", \"initrd_path\": \"/initrd.cpio\", \"boot_args\": \"$args\"}" >/dev/null &&
		"$api" "$root/api.sock" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128}' >/dev/null &&
		"$api" "$root/api.sock" PUT /actions '{"action_type": "InstanceStart"}' >/dev/null ||
		fail "jail: the jailed microvm refused the boot"
	grep -q "^Uid:[[:space:]]*1000[[:space:]]" "/proc/$pid/status" ||
		fail "jail: microvm does not run as uid 1000"
	seccomp_everywhere "$pid" 3 ||
		fail "jail: a thread without its seccomp filter (main, API, vCPU)"
	wait_exit jail
	[ "$rc" = 0 ] || fail "jail: microvm exited $rc, not 0"
	grep -q "kvm-smoke-init: running" "$work/jail.out" ||
		fail "jail: no line from the guest's init on the console"
	echo "ok: a jailed boot (exit $rc)"
}
jail_case

for name in one-vcpu x86 devices snap load-file load-uffd jail; do
	echo "---- console of $name (last lines)"
	tail -n $([ "$failures" = 0 ] && echo 6 || echo 40) "$work/$name.out"
done
rm -rf "$work"
[ "$failures" = 0 ] && echo "test-boot: all passed" && exit 0
echo "test-boot: $failures failures"
exit 1
