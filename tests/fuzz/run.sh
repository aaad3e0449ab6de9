#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for FUZZ_RUNS
# executions (default 100000) from its seed corpus. Prints executions and
# crashes; exits non-zero on a crash. Usage: tests/fuzz/run.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build/fuzz}
runs=${FUZZ_RUNS:-100000}
api_srcs="$root/api/http.c $root/api/routes.c $root/config/schema.c $root/config/resources.c $root/config/config.c $root/config/cpu_template.c $root/config/channel.c $root/base/log.c $root/base/metrics.c"
vq_srcs="$root/virtio/queue.c $root/vmm/memory.c $root/base/log.c $root/base/metrics.c"
vsock_srcs="$root/virtio/vsock_mux.c $vq_srcs"
# fuzz_dev_*: a device of the guest-side harness, driven by a script.
dev_srcs="$root/tests/fuzz/guest_script.c $root/tests/harness/guest.c \
	$(ls "$root"/virtio/*.c "$root"/mmds/*.c) $root/vmm/memory.c $root/vmm/bus.c \
	$root/config/config.c $root/config/cpu_template.c $root/config/schema.c \
	$root/config/resources.c \
	$root/base/event_loop.c $root/base/log.c $root/base/metrics.c"
mkdir -p "$out"
for target in http json config vq vsock snapshot cpu_template \
	dev_block dev_net dev_vsock dev_rng dev_balloon dev_mem mmds arm64_image \
	seccomp_file; do
	bin="$out/fuzz_$target"
	srcs=$api_srcs
	[ "$target" = vq ] && srcs=$vq_srcs
	[ "$target" = vsock ] && srcs=$vsock_srcs
	[ "$target" = snapshot ] &&
		srcs="$root/snapshot/format.c $root/config/cpu_template.c $root/config/schema.c $root/config/resources.c $root/config/config.c $root/base/log.c $root/base/metrics.c"
	[ "$target" = mmds ] && srcs="$(ls "$root"/mmds/*.c)"
	[ "$target" = cpu_template ] &&
		srcs="$api_srcs $root/vmm/cpu_template.c"
	[ "$target" = arm64_image ] && srcs="$root/vmm/arm64/image.c"
	[ "$target" = seccomp_file ] && srcs="$root/base/seccomp_file.c"
	[ "${target#dev_}" != "$target" ] && srcs="$dev_srcs -luring"
	clang -std=gnu11 -g -O1 -D_GNU_SOURCE -I"$root" \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-o "$bin" "$root/tests/fuzz/fuzz_$target.c" $srcs -lcjson -lm
	corpus="$out/corpus_$target"
	mkdir -p "$corpus"
	cp -n "$root/tests/fuzz/corpus/$target/"* "$corpus/" 2>/dev/null || true
	log="$out/fuzz_$target.log"
	max_len=8192
	[ "$target" = snapshot ] && max_len=65536 # vCPU sections are ~20 KiB
	if ! (cd "$out" && "$bin" -runs="$runs" -max_len=$max_len "$corpus") >"$log" 2>&1; then
		tail -40 "$log"
		echo "fuzz_$target: CRASH (see $log and $out/crash-*)"
		exit 1
	fi
	echo "fuzz_$target: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log"), 0 crashes"
done
