#!/usr/bin/env bash
# make integration-l1: tests/l1/suite.sh (the unit tests that use
# /dev/kvm, then the integration tests) inside L1. If L1 freezes
# (tests/l1/run.sh exits 75: its heartbeat stopped) or its kernel dies
# (125: no exit status; the emulator, not a test, see docs/kvm-here.md),
# a new L1 carries on with the tests that had
# not finished: each finished test's outcome is journalled in the run
# folder and counts, a failure included (its traceback is printed when
# it fails, not only in the summary; tests/integration/run.py reruns a
# failed test once). At most L1_ATTEMPTS L1s (default 3); a freeze in
# the last one fails the run.
# Usage: integration.sh PATTERN [UNIT_TEST...]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=$(mktemp -d /tmp/microvm-suite.XXXXXX)
trap 'rm -rf "$run"' EXIT
export MICROVM_TEST_JOURNAL=$run/journal
attempts=${L1_ATTEMPTS:-3}
for ((i = 1; ; i++)); do
	L1_RUN_DIR=$run "$here/run.sh" "$here/suite.sh" "$@"
	rc=$?
	# 75: L1 froze; 125: L1's kernel died (a panic) without a status
	if { [ "$rc" != 75 ] && [ "$rc" != 125 ]; } || [ "$i" -ge "$attempts" ]; then
		exit "$rc"
	fi
	echo "integration-l1: L1 froze or died (exit $rc, L1 $i of" \
		"$attempts); a new L1 runs the tests that had not finished" >&2
done
