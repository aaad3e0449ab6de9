#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (tests/fuzz/fuzz.mk: each source
# compiled once into BUILD_DIR/obj, then linked per target) and runs each
# for FUZZ_RUNS executions (default 100000) from its seed corpus, FUZZ_JOBS
# targets at a time (default: one per core), each for at most FUZZ_SECONDS
# when set (a campaign's time slice), inputs up to FUZZ_MAX_LEN bytes
# (default 8192; 65536 for snapshot). Prints per target executions,
# seconds, executions per second, coverage and crashes; exits non-zero on
# a crash (its input: BUILD_DIR/fuzz_<target>-crash-*).
# Usage: [FUZZ_RUNS=n] [FUZZ_TARGETS="dev_block dev_net"] [FUZZ_JOBS=n]
#        [FUZZ_SECONDS=s] [FUZZ_MAX_LEN=n] tests/fuzz/run.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${1:-$root/build/fuzz}")
# the slowest first: parallel runs end together
all="dev_net dev_vsock dev_block mmds dev_balloon dev_mem vsock dev_rng \
	config cpu_template json http vq snapshot arm64_image seccomp_file \
	uffd_handshake"
targets=${FUZZ_TARGETS:-$all}
jobs=${FUZZ_JOBS:-$(nproc)}
for t in $targets; do
	[[ " $(echo $all) " == *" $t "* ]] || {
		echo "run.sh: no fuzz target '$t' (targets: $(echo $all))" >&2
		exit 2
	}
done
mkdir -p "$out"
make -s -C "$root" -f tests/fuzz/fuzz.mk OUT="$out" TARGETS="$targets" \
	-j"$jobs"

# One target: its corpus (the seeds, plus what earlier runs kept), its
# log, one line of results; the log's tail and status 1 on a crash.
run_one() {
	local t=$1 max_len=${FUZZ_MAX_LEN:-8192} start end
	local corpus="$out/corpus_$t" log="$out/fuzz_$t.log"
	mkdir -p "$corpus"
	cp -n "$root/tests/fuzz/corpus/$t/"* "$corpus/" 2>/dev/null || true
	# vCPU sections are ~20 KiB
	[ "$t" = snapshot ] && [ -z "${FUZZ_MAX_LEN:-}" ] && max_len=65536
	start=$(date +%s.%N)
	if ! (cd "$out" && "./fuzz_$t" -runs="$FUZZ_RUNS" -max_len=$max_len \
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
