#!/bin/sh
# The inside of bench/boot_arm64.py, run in the arm64 KVM machine
# (tests/l1-arm64/run.sh; busybox sh there): boots the same kernel and
# initrd under microvm (--config-file, --no-api) and under Debian's arm64
# QEMU (-M virt -accel kvm -cpu host), 1 vCPU and MEM_MIB each, RUNS
# rounds with the order swapped every round, after one boot of each that
# is not counted (it checks both run and warms the page cache). Each boot
# is timed by boot_arm64_timer: process start -> MARKER on the console.
# The console differs as the machines do (microvm's 8250 is ttyS0,
# QEMU virt's PL011 ttyAMA0); the rest of the command line is the same.
# Prints "boot-arm64 MONITOR ROUND SECONDS" lines, and the machine's CPU
# and KVM in "boot-arm64-machine" lines.
# Usage: boot_arm64.sh RUNS TIMER MICROVM QEMU_DIR IMAGE INITRD MARKER
set -eu
runs=$1 timer=$2 microvm=$3 qemu_dir=$4 image=$5 initrd=$6 marker=$7
mem_mib=256 timeout_s=300
args="quiet panic=-1 rdinit=/init"
work=$(mktemp -d)
cat >"$work/vm.json" <<EOF
{"boot-source": {"kernel_image_path": "$image", "initrd_path": "$initrd",
  "boot_args": "console=ttyS0 $args"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": $mem_mib}}
EOF

boot() { # boot ROUND MONITOR: prints its line, or fails the script
	case $2 in
	microvm)
		t=$("$timer" $timeout_s "$marker" "$microvm" \
			--config-file "$work/vm.json" --no-api) ;;
	qemu)
		t=$(LD_LIBRARY_PATH=$qemu_dir/lib "$timer" $timeout_s "$marker" \
			"$qemu_dir/usr/bin/qemu-system-aarch64" \
			-M virt,gic-version=3 -accel kvm -cpu host \
			-m $mem_mib -smp 1 -nodefaults -no-user-config \
			-nographic -serial stdio -kernel "$image" \
			-initrd "$initrd" -append "console=ttyAMA0 $args" \
			-no-reboot) ;;
	esac
	echo "boot-arm64 $2 $1 $t"
}

echo "boot-arm64-machine $(uname -m), $(grep -c ^processor /proc/cpuinfo)" \
	"CPUs, $(grep -m1 '^CPU part' /proc/cpuinfo | tr -s '\t ' ' ')," \
	"kvm: $(ls /dev/kvm), $(dmesg | grep -m1 -o 'kvm \[1\]: .*mode' || true)"
boot 0 microvm
boot 0 qemu
round=1
while [ $round -le "$runs" ]; do
	if [ $((round % 2)) = 1 ]; then
		boot $round microvm
		boot $round qemu
	else
		boot $round qemu
		boot $round microvm
	fi
	round=$((round + 1))
done
rm -rf "$work"
