#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs the integration tests (tests/integration/test_*.py), or those of
the files the arguments name.

A test that fails is run once more after the others, in the same process
(and L1). It fails the run only if it fails again ("FAIL AGAIN"); one that
passes then is listed at the end as flaky, with the traceback of its first
failure printed where it failed. Guests here run under an emulated
nested KVM whose rare faults are not microvm's (docs/kvm-here.md, "Flaky
tests"); a bug that shows every time still fails the run.

With MICROVM_TEST_JOURNAL=FILE each finished test's outcome is appended to
FILE as it ends ("PASS id", "FAIL id", "SKIP id"; on the rerun "FLAKY id"
or "FAIL-AGAIN id"), tests FILE already names are not run again (a first
failure is rerun), and the verdict counts the outcomes of earlier runs:
tests/l1/integration.sh uses it to carry on in a new L1 after a frozen one
(docs/kvm-here.md)."""
import faulthandler
import os
import sys
import time
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
journal = os.environ.get("MICROVM_TEST_JOURNAL")
STUCK_S = int(os.environ.get("MICROVM_TEST_STUCK_S", "600"))


def tests_of(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from tests_of(item)
        else:
            yield item


FAILED = ("FAIL", "FAIL-AGAIN")
outcomes = {}  # test id -> its last outcome, earlier runs' included


def record(outcome, test_id):
    outcomes[test_id] = outcome
    if journal:
        with open(journal, "a") as f:
            f.write(f"{outcome} {test_id}\n")


def earlier_outcomes():
    """Each test's last outcome in the journal."""
    if not journal or not os.path.exists(journal):
        return {}
    outcomes = {}
    with open(journal) as f:
        for line in f:
            outcome, _, test = line.strip().partition(" ")
            outcomes[test] = outcome
    return outcomes


class JournalledResult(unittest.TextTestResult):
    """Appends each outcome to the journal as it happens (a failing
    setUpClass included: it counts even if L1 freezes afterwards), and
    prints each test's wall time with its outcome; the time between one
    test's end and the next one's start (setUpClass, tearDownClass) is
    kept as the next test class's "fixtures"."""

    durations = {}  # name -> seconds
    started = None
    last_stop = None
    rerun = False  # the second pass: outcomes FLAKY / FAIL-AGAIN

    def startTestRun(self):
        super().startTestRun()
        self.last_stop = time.monotonic()  # the first class's setUpClass

    def startTest(self, test):
        now = time.monotonic()
        if self.last_stop is not None and now - self.last_stop > 0.5:
            fixture = "%s (class fixtures)" % type(test).__qualname__
            self.durations[fixture] = self.durations.get(fixture, 0) + \
                now - self.last_stop
        self.started = now
        # a test stuck past this shows where every thread waits
        faulthandler.dump_traceback_later(STUCK_S, exit=False)
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        self.last_stop = time.monotonic()

    def timed(self, test):
        """Writes "[12.3 s] " before the outcome word and keeps it."""
        if self.started is None or not hasattr(test, "_testMethodName"):
            return
        seconds = time.monotonic() - self.started
        self.durations[test.id()] = seconds
        if self.showAll:
            self.stream.write("[%.1f s] " % seconds)

    def print_slowest(self, count=15):
        slowest = sorted(self.durations.items(), key=lambda kv: -kv[1])
        self.stream.writeln("\nslowest %d (wall seconds, of %.0f in all):" %
                            (count, sum(self.durations.values())))
        for name, seconds in slowest[:count]:
            self.stream.writeln("%8.1f  %s" % (seconds, name))

    def journal(self, outcome, test):
        if self.rerun:
            outcome = {"PASS": "FLAKY", "FAIL": "FAIL-AGAIN"}[outcome] \
                if outcome != "SKIP" else outcome
        record(outcome, test.id())
        if journal and outcome in FAILED:  # now: the L1 may not live to
            self.stream.writeln("\n" + self.separator1)  # the summary
            self.stream.writeln(f"{outcome}: {test.id()}")
            self.stream.writeln(self.separator2)
            self.stream.writeln(self._exc_info_to_string(
                self.last_err, test) if self.last_err else "")
            self.stream.flush()

    def addSuccess(self, test):
        self.timed(test)
        super().addSuccess(test)
        self.journal("PASS", test)

    def addExpectedFailure(self, test, err):
        self.timed(test)
        super().addExpectedFailure(test, err)
        self.journal("PASS", test)

    def addSkip(self, test, reason):
        self.timed(test)
        super().addSkip(test, reason)
        self.journal("SKIP", test)

    last_err = None

    def addError(self, test, err):
        self.timed(test)
        super().addError(test, err)
        self.last_err = err
        self.journal("FAIL", test)

    def addFailure(self, test, err):
        self.timed(test)
        super().addFailure(test, err)
        self.last_err = err
        self.journal("FAIL", test)

    def addUnexpectedSuccess(self, test):
        self.timed(test)
        super().addUnexpectedSuccess(test)
        self.last_err = None
        self.journal("FAIL", test)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:  # its test fails: rerun as a whole
            self.last_err = err
            self.journal("FAIL", subtest.test_case)


if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    print("integration: /dev/kvm is missing: guest-booting tests are "
          "SKIPPED (reported below), not passed", file=sys.stderr)
# Each argument holds one or more file patterns (make's L1_TESTS="a.py b.py"
# arrives as one); none: every test file.
patterns = " ".join(sys.argv[1:]).split() or ["test_*.py"]
done = earlier_outcomes()
outcomes.update(done)
every = {t.id(): t for p in patterns for t in
         tests_of(unittest.defaultTestLoader.discover(here, pattern=p))}
suite = unittest.TestSuite(t for i, t in every.items() if i not in done)
if done:
    failed = sorted(t for t, outcome in done.items() if outcome in FAILED)
    print(f"integration: {len(done)} tests finished in an earlier run "
          f"({len(failed)} failed: {', '.join(failed) or 'none'}); "
          f"running the other {suite.countTestCases()}", file=sys.stderr)
runner = unittest.TextTestRunner(verbosity=2, resultclass=JournalledResult)
started = time.monotonic()
result = runner.run(suite)
result.print_slowest()
print("integration: %d tests in %.0f s" % (result.testsRun,
                                          time.monotonic() - started))
ran = result.testsRun + len(done)
if ran == 0:
    print(f"integration: no test matches {patterns}", file=sys.stderr)


def tests_behind(failure):
    """What a first failure reruns: the test, or for a fixture's failure
    ("setUpClass (module.Class)", "setUpModule (module)") the tests of its
    class or module."""
    if failure in every:
        return [failure]
    scope = failure.rpartition(" (")[2].rstrip(")")
    return [i for i in every if i.startswith(scope + ".")]


first_failures = sorted(i for i, o in list(outcomes.items()) if o == "FAIL")
if first_failures:
    print("integration: %d failed; running each once more: %s" % (
        len(first_failures), ", ".join(first_failures)), file=sys.stderr)
    JournalledResult.rerun = True
    again = sorted({t for f in first_failures for t in tests_behind(f)})
    runner.run(unittest.TestSuite(every[i] for i in again))
    for f in first_failures:  # a fixture passes with all of its tests
        if f not in every:
            behind = [outcomes.get(i) for i in tests_behind(f)]
            record("FLAKY" if behind and all(
                o in ("FLAKY", "PASS", "SKIP") for o in behind)
                else "FAIL-AGAIN", f)
flaky = sorted(i for i, o in outcomes.items() if o == "FLAKY")
failed = sorted(i for i, o in outcomes.items() if o in FAILED)
if flaky:
    print("integration: FLAKY (failed, then passed on the rerun; the first "
          "traceback is above): " + ", ".join(flaky))
if failed:
    print("integration: FAILED: " + ", ".join(failed))
sys.exit(0 if ran and not failed else 1)
