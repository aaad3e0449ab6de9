#!/bin/sh
# What `make integration-l1` runs inside L1: the unit tests that use
# /dev/kvm, then the integration tests whose files match PATTERN (all
# when empty).  Usage: suite.sh PATTERN [UNIT_TEST...]
# With MICROVM_TEST_JOURNAL (tests/l1/integration.sh), unit tests that
# passed in an earlier L1 are not run again (tests/integration/run.py
# does the same for the integration tests).
set -e
pattern=$1
shift
journal=${MICROVM_TEST_JOURNAL:+$MICROVM_TEST_JOURNAL.unit}
for t in "$@"; do
	if ! grep -qxF "PASS $t" "${journal:-/dev/null}" 2>/dev/null; then
		"$t"
		echo "PASS $t" >> "${journal:-/dev/null}"
	fi
done
exec python3 tests/integration/run.py ${pattern:+"$pattern"}
