#!/bin/sh
# The first arm64 integration test (issue 18), run inside the arm64 KVM
# machine by `make ARCH=arm64 test-arm64` (busybox sh there): microvm's
# aarch64 build boots the arm64 guest kernel through its API socket
# (boot-source, machine-config, InstanceStart) with seccomp on, and
#   - with 1 and 2 vCPUs the guest's init runs (its line on the serial
#     console) with that many CPUs up, and its PSCI SYSTEM_OFF ends
#     microvm with exit status 0;
#   - a guest reboot (PSCI SYSTEM_RESET) ends microvm with 0 too;
#   - Linux's PL031 driver binds to the RTC (rtc0);
#   - an x86 kernel is refused at InstanceStart with a clear 400.
# Usage: test-boot.sh BUILD_DIR IMAGE INITRD X86_KERNEL
set -u
build=$1 image=$2 initrd=$3 x86_kernel=$4
api=$build/api-client
work=$(mktemp -d)
args="console=ttyS0 earlycon panic=-1 rdinit=/init"
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# start_vm NAME: microvm on $work/NAME.sock, console in $work/NAME.out
start_vm() {
	"$build/microvm" --api-sock "$work/$1.sock" >"$work/$1.out" 2>&1 &
	pid=$!
}

# configure NAME VCPUS KERNEL BOOT_ARGS: boot-source and machine-config
configure() {
	"$api" "$work/$1.sock" PUT /boot-source \
		"{\"kernel_image_path\": \"$3\", \"initrd_path\": \"$initrd\", \"boot_args\": \"$4\"}" >/dev/null &&
		"$api" "$work/$1.sock" PUT /machine-config \
			"{\"vcpu_count\": $2, \"mem_size_mib\": 256}" >/dev/null
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
	wait "$pid"
	rc=$?
	[ "$rc" = 0 ] || fail "$1: microvm exited $rc, not 0"
	grep -q "kvm-smoke-init: running" "$work/$1.out" ||
		fail "$1: no line from the guest's init on the console"
	grep -q "$4" "$work/$1.out" || fail "$1: no '$4' on the console"
	echo "ok: $1 (exit $rc)"
}

boot_case one-vcpu 1 "$args" "Brought up 1 node, 1 CPU"
boot_case two-vcpus 2 "$args" "Brought up 1 node, 2 CPUs"
boot_case reboot 1 "$args -- reboot" "reboot: Restarting system"
grep -q "reboot: Power down" "$work/one-vcpu.out" ||
	fail "one-vcpu: the guest did not power off"
grep -q "rtc-pl031 .*registered as rtc0" "$work/one-vcpu.out" ||
	fail "one-vcpu: the PL031 RTC was not registered"

start_vm x86
configure x86 1 "$x86_kernel" "$args" || fail "x86: configuration refused"
reply=$(start_instance x86) && fail "x86: InstanceStart accepted an x86 kernel"
echo "$reply" | grep -q "^400 .*not an arm64 Image" ||
	fail "x86: not the 400 expected: $reply"
kill "$pid"
wait "$pid"
echo "ok: an x86 kernel is refused"

for name in one-vcpu two-vcpus reboot x86; do
	echo "---- console of $name (last lines)"
	tail -n 4 "$work/$name.out"
done
rm -rf "$work"
[ "$failures" = 0 ] && echo "test-boot: all passed" && exit 0
echo "test-boot: $failures failures"
exit 1
