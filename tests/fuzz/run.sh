#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (tests/fuzz/fuzz.mk: each source
# compiled once into BUILD_DIR/obj, then linked per target) and runs each
# for FUZZ_RUNS executions (default 100000) from its seed corpus, FUZZ_JOBS
# targets at a time (default: one per core), each for at most FUZZ_SECONDS
# when set (a campaign's time slice), inputs up to FUZZ_MAX_LEN bytes
# (default 8192; 65536 for snapshot, 131072 for snapshot_arm64). Prints
# per target executions, seconds, executions per second, coverage and
# crashes; exits non-zero on a crash (its input:
# BUILD_DIR/fuzz_<target>-crash-*).
# An _arm64 target (an aarch64 build, fuzz.mk) runs under
# qemu-aarch64-static, which needs two of libFuzzer's helpers off: its
# watchdog thread (-timeout, -rss_limit_mb: under qemu-user it stalls the
# run before the first input) and LeakSanitizer (it cannot inspect the
# threads under qemu-user and fails at exit). Its x86 twin keeps both.
# It runs FUZZ_RUNS / 10 executions: under qemu-user, on ~100 KB state
# files, snapshot_arm64 makes ~100 a second where native targets make
# thousands.
# Usage: [FUZZ_RUNS=n] [FUZZ_TARGETS="dev_block dev_net"] [FUZZ_JOBS=n]
#        [FUZZ_SECONDS=s] [FUZZ_MAX_LEN=n] tests/fuzz/run.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${1:-$root/build/fuzz}")
# the slowest first: parallel runs end together
all="dev_net dev_vsock snapshot_arm64 dev_block mmds dev_balloon dev_mem \
	vsock dev_rng config cpu_template json http vq snapshot arm64_image \
	seccomp_file uffd_handshake"
targets=${FUZZ_TARGETS:-$all}
jobs=${FUZZ_JOBS:-$(nproc)}
for t in $targets; do
	[[ " $(echo $all) " == *" $t "* ]] || {
		echo "run.sh: no fuzz target '$t' (targets: $(echo $all))" >&2
		exit 2
	}
done
if [[ " $targets " == *_arm64* ]] &&
	[ ! -f "$root/build/arm64-sysroot/clang/lib/libstdc++.so" ]; then
	echo "run.sh: the _arm64 targets need scripts/deps-arm64.sh first" >&2
	exit 2
fi
mkdir -p "$out"
make -s -C "$root" -f tests/fuzz/fuzz.mk OUT="$out" TARGETS="$targets" \
	-j"$jobs"

# One target: its corpus (the seeds, plus what earlier runs kept), its
# log, one line of results; the log's tail and status 1 on a crash.
run_one() {
	local t=$1 max_len=${FUZZ_MAX_LEN:-8192} start end run=("./fuzz_$1")
	local runs=$FUZZ_RUNS
	local corpus="$out/corpus_$t" log="$out/fuzz_$t.log"
	mkdir -p "$corpus"
	cp -n "$root/tests/fuzz/corpus/$t/"* "$corpus/" 2>/dev/null || true
	# x86 vCPU sections are ~20 KiB; an arm64 file of 2 vCPUs ~100 KB
	case $t in
	snapshot) max_len=${FUZZ_MAX_LEN:-65536} ;;
	snapshot_arm64) max_len=${FUZZ_MAX_LEN:-131072} ;;
	esac
	if [[ $t == *_arm64 ]]; then
		run=(env ASAN_OPTIONS=detect_leaks=0 qemu-aarch64-static
			"./fuzz_$t" -timeout=0 -rss_limit_mb=0)
		runs=$((FUZZ_RUNS / 10))
	fi
	start=$(date +%s.%N)
	if ! (cd "$out" && "${run[@]}" -runs="$runs" -max_len=$max_len \
		-max_total_time="$FUZZ_SECONDS" \
		-artifact_prefix="$out/fuzz_$t-" "$corpus") >"$log" 2>&1; then
		tail -40 "$log"
		echo "fuzz_$t: CRASH (see $log and $out/fuzz_$t-crash-*)"
		return 1
	fi
	end=$(date +%s.%N)
	awk -v t="$t" -v s="$(echo "$end - $start" | bc)" '
		/^#[0-9]+[ \t]+DONE/ { runs = substr($1, 2); cov = $4; ft = $6 }
		END { printf "fuzz_%s: %d runs in %.0f s (%.0f/s), cov %s ft %s, 0 crashes\n",
			t, runs, s, runs / s, cov, ft }' "$log"
}
export -f run_one
export out root FUZZ_RUNS=${FUZZ_RUNS:-100000} FUZZ_SECONDS=${FUZZ_SECONDS:-0} \
	FUZZ_MAX_LEN
echo $targets | tr ' ' '\n' | xargs -P "$jobs" -I{} bash -c 'run_one {}'
