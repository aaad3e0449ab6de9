#!/usr/bin/env bash
# Runs a command inside L1, a Linux with a faithful KVM (kvm_amd, nested
# paging) under qemu-system-x86_64 -accel tcg -cpu max (SVM emulated), or
# with L1_ARCH=arm64 (tests/l1-arm64/run.sh) inside the arm64 machine: arm64
# KVM under qemu-system-aarch64 -accel tcg with EL2 emulated. In both, the
# host's root is L1's root (read-only share, writes kept in L1's memory),
# the working directory, PATH, MICROVM_* and BENCH_* variables carry over, and the
# command's exit status is this script's. Its output goes to L1's console,
# i.e. here. Builds L1 first if needed (tests/l1/build-l1.sh).
# Usage: tests/l1/run.sh COMMAND [ARG...]
# L1 has two CPUs, a host thread each (MTTCG). Run one L1 at a time on a
# 2-core machine: with two L1s sharing it, L1's CPUs were found livelocked
# in L1's int3 handler while L1 patched its kernel text (docs/kvm-here.md).
# Concurrent callers (several worktrees, helpers) queue on the lock file
# /var/tmp/microvm-l1.lock (L1_LOCK overrides) rather than share the CPUs.
# Env: L1_MEM_MIB (default 4096; arm64: 2048), L1_CPUS (default 2),
#      L1_TIMEOUT seconds (default 1500),
#      L1_STALL seconds (default 300) without L1's heartbeat,
#      L1_RUN_DIR: the run folder to use (kept; default a new one, removed),
#      L1_GIC (arm64: the machine's GIC version, 3 or 2; default 3).
# While it runs, QEMU's monitor is on the socket $run/monitor (the run
# folder is printed): `info registers -a` shows where a stuck L1 is.
# A frozen L1: its init writes $run/heartbeat every 10 s; when that stops
# for L1_STALL seconds this script prints where L1's CPUs are
# (tests/l1/frozen.py), stops QEMU and exits 75 (EX_TEMPFAIL). Past
# L1_TIMEOUT it stops QEMU and exits 124.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }
case ${L1_ARCH:-x86_64} in
x86_64)
	l1=$here/../../build/l1
	"$here/build-l1.sh" "$l1" >&2
	machine=(qemu-system-x86_64 -M pc -cpu max -kernel "$l1/vmlinuz")
	console=ttyS0 mem=4096 what="Debian's kernel with kvm_amd" ;;
arm64)
	l1=$here/../../build/l1-arm64
	"$here/../l1-arm64/build.sh" "$l1" >&2
	# pauth-impdef: QEMU's own pointer-authentication algorithm, much
	# cheaper to emulate than the architected one (docs/kvm-here.md).
	machine=(qemu-system-aarch64
		-M virt,virtualization=on,gic-version=${L1_GIC:-3}
		-cpu max,pauth-impdef=on -kernel "$l1/Image")
	console=ttyAMA0 mem=2048 what="Debian's arm64 kernel with KVM at EL2" ;;
*) echo "l1: L1_ARCH is x86_64 or arm64" >&2; exit 2 ;;
esac
lock=${L1_LOCK:-/var/tmp/microvm-l1.lock}
exec 9>"$lock"
if ! flock -n 9; then
	echo "l1: another L1 is running; waiting for $lock" >&2
	flock 9
fi
echo "l1: running $* inside L1 ($what under QEMU TCG)" >&2
cpus=${L1_CPUS:-2}
if [ -n "${L1_RUN_DIR:-}" ]; then
	run=$(realpath -m "$L1_RUN_DIR")
	mkdir -p "$run"
	rm -f "$run/rc" "$run/heartbeat" "$run/cmd" "$run/monitor"
	trap 'stop_l1' EXIT
else
	run=$(mktemp -d /tmp/microvm-l1.XXXXXX)
	trap 'stop_l1; rm -rf "$run"' EXIT
fi
qemu=
stop_l1() {
	[ -z "$qemu" ] || kill "$qemu" 2>/dev/null || true
}
{
	printf 'export PATH=%q HOME=%q\n' "$PATH" "$HOME"
	for v in $(compgen -e | grep -E '^(MICROVM|BENCH)_' || true); do
		printf 'export %s=%q\n' "$v" "${!v}"
	done
	printf 'cd %q || exit 125\n' "$PWD"
	printf '%q ' "$@"
	echo
} > "$run/cmd"
echo "l1: run folder $run" >&2
# L1's kernel symbols, written by L1's init on the first run of a build.
syms=$l1/kallsyms
ask_syms=
[ -s "$syms" ] || ask_syms=" l1.kallsyms"
"${machine[@]}" \
	-accel tcg -smp "$cpus" -m "${L1_MEM_MIB:-$mem}" \
	-nographic -no-reboot -nic none -monitor "unix:$run/monitor,server,nowait" \
	-initrd "$l1/l1.cpio" \
	-append "console=$console rdinit=/init quiet panic=-1 nokaslr l1.run=$run$ask_syms" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap \
	-virtfs "local,path=$run,mount_tag=out,security_model=passthrough" \
	</dev/null &
qemu=$!
start=$(date +%s)
while kill -0 "$qemu" 2>/dev/null; do
	sleep 5
	now=$(date +%s)
	beat=$(stat -c %Y "$run/heartbeat" 2>/dev/null || echo "$start")
	if [ $((now - beat)) -gt "${L1_STALL:-300}" ]; then
		echo "l1: L1 froze: no heartbeat for $((now - beat)) s" >&2
		[ -s "$syms" ] || syms=$run/kallsyms
		"$here/frozen.py" "$run/monitor" "$syms" || true
		exit 75
	fi
	if [ $((now - start)) -gt "${L1_TIMEOUT:-1500}" ]; then
		echo "l1: stopped after L1_TIMEOUT=${L1_TIMEOUT:-1500} s" >&2
		exit 124
	fi
	if [ -n "$ask_syms" ] && [ -s "$run/kallsyms" ]; then
		cp "$run/kallsyms" "$syms.tmp" && mv "$syms.tmp" "$syms"
		ask_syms=
	fi
done
wait "$qemu" || true
qemu=
if [ -n "$ask_syms" ] && [ -s "$run/kallsyms" ]; then
	cp "$run/kallsyms" "$syms.tmp" && mv "$syms.tmp" "$syms"
fi
[ -s "$run/rc" ] || { echo "l1: L1 ended without the command's exit status" >&2; exit 125; }
exit "$(cat "$run/rc")"
