#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs the integration tests (tests/integration/test_*.py), or those of
the files the arguments name."""
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    print("integration: /dev/kvm is missing: guest-booting tests are "
          "SKIPPED (reported below), not passed", file=sys.stderr)
# Each argument holds one or more file patterns (make's L1_TESTS="a.py b.py"
# arrives as one); none: every test file.
patterns = " ".join(sys.argv[1:]).split() or ["test_*.py"]
suite = unittest.TestSuite(unittest.defaultTestLoader.discover(here, pattern=p)
                           for p in patterns)
result = unittest.TextTestRunner(verbosity=2).run(suite)
if result.testsRun == 0:
    print(f"integration: no test matches {patterns}", file=sys.stderr)
sys.exit(0 if result.wasSuccessful() and result.testsRun else 1)
