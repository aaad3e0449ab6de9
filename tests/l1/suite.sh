#!/bin/sh
# What `make integration-l1` runs inside L1: the unit tests that use
# /dev/kvm, then the integration tests whose files match PATTERN (all
# when empty).  Usage: suite.sh PATTERN [UNIT_TEST...]
set -e
pattern=$1
shift
for t in "$@"; do "$t"; done
exec python3 tests/integration/run.py ${pattern:+"$pattern"}
