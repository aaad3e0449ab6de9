#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs every integration test (tests/integration/test_*.py)."""
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    print("integration: /dev/kvm is missing: guest-booting tests are "
          "SKIPPED (reported below), not passed", file=sys.stderr)
suite = unittest.defaultTestLoader.discover(here, pattern=sys.argv[1]
                                            if len(sys.argv) > 1 else "test_*.py")
result = unittest.TextTestRunner(verbosity=2).run(suite)
sys.exit(0 if result.wasSuccessful() else 1)
