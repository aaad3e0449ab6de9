#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The balloon: host memory of an idle guest, and how fast the balloon
gives memory back. A guest (1 vCPU, 256 MiB, a balloon with statistics
every second) boots and idles BOOT_IDLE_S (5) seconds, then runs
test_balloon's script: it fills all but 12 MiB of its free memory with
data (a ramfs file), frees it, then idles. Twice, with free page reporting
off and on:

- host RSS of guest memory (smaps of the guest's mapping) after boot (3 s
  into the idle), with the working set filled, and BENCH_SETTLE_S (10)
  seconds after the guest freed it (free page reporting gives freed
  blocks back on its own about 2 s after they are freed; without it the
  host keeps them);
- then BENCH_BALLOON_ROUNDS (3) times: inflate to BENCH_BALLOON_MIB (128)
  and deflate to 0, each timed from the PATCH to the guest's `actual`
  reaching the target (GET /balloon/statistics polled every 10 ms),
  printed as MiB/s of guest memory given back or taken again.
microvm only: the figures are mostly the guest's (Linux allocating and
listing the pages); microvm's part is one madvise per run of pages."""
import os
import statistics
import time

import benchenv
from guestvm import ok, boot
from test_balloon import FILL_AND_FREE, guest_rss_mib

MEM = 256
TARGET = int(os.environ.get("BENCH_BALLOON_MIB", "128"))
ROUNDS = int(os.environ.get("BENCH_BALLOON_ROUNDS", "3"))
SETTLE_S = float(os.environ.get("BENCH_SETTLE_S", "10"))
BOOT_IDLE_S = 5
IDLE_THEN_FILL = FILL_AND_FREE.replace(
    'sh -c "', 'sh -c "echo booted; sleep %d; ' % BOOT_IDLE_S, 1)


def actual_mib(api):
    return ok(api, "GET", "/balloon/statistics", None)["actual_mib"]


def resize(api, mib, timeout=300):
    """Seconds from the PATCH to the guest's balloon at `mib` MiB."""
    start = time.monotonic()
    ok(api, "PATCH", "/balloon", {"amount_mib": mib})
    while time.monotonic() - start < timeout:
        if actual_mib(api) == mib:
            return time.monotonic() - start
        time.sleep(0.01)
    raise RuntimeError("the balloon did not reach %d MiB in %d s"
                       % (mib, timeout))


def run(reporting):
    api, lines = boot(IDLE_THEN_FILL, "booted", mem=MEM, devices=(
        ("/balloon", {"amount_mib": 0, "deflate_on_oom": False,
                      "stats_polling_interval_s": 1,
                      "free_page_reporting": reporting}),))
    try:
        pid = api.proc.pid
        time.sleep(BOOT_IDLE_S - 2)
        booted = guest_rss_mib(pid, MEM)
        lines.wait_for("filled", 300)
        filled = guest_rss_mib(pid, MEM)
        lines.wait_for("freed", 120)
        time.sleep(SETTLE_S)
        freed = guest_rss_mib(pid, MEM)
        rates = [(TARGET / resize(api, TARGET), TARGET / resize(api, 0))
                 for _ in range(ROUNDS)]
    finally:
        api.stop()
    return booted, filled, freed, rates


def main():
    benchenv.run_with_kvm()
    res = {r: run(r) for r in (False, True)}
    print("\nballoon: 1 vCPU, %d MiB guest, working set all but 12 MiB of "
          "its free memory, settle %.0f s, %d rounds of %d MiB\n%s" % (
              MEM, SETTLE_S, ROUNDS, TARGET, benchenv.describe()))
    print("%-10s %14s %14s %14s %14s %14s" % (
        "reporting", "RSS boot MiB", "RSS filled MiB", "RSS freed MiB",
        "inflate MiB/s", "deflate MiB/s"))
    for reporting, (booted, filled, freed, rates) in res.items():
        print("%-10s %14.1f %14.1f %14.1f %14.1f %14.1f" % (
            "on" if reporting else "off", booted, filled, freed,
            statistics.median(r[0] for r in rates),
            statistics.median(r[1] for r in rates)))


if __name__ == "__main__":
    main()
