#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Snapshot load by vCPU count. For each of BENCH_VCPUS (default 1,2,4,8)
vCPUs, a 128 MiB guest is booted once (init waits, idle), paused and
snapshotted (Full); then BENCH_LOADS (default 15) paused loads
(resume_vm: false) into fresh warm microvms (--warm of that shape: the
VM, memory slots and parked vCPU threads made before the request) and as
many cold ones, each in a new process. The figures are microvm's own:
its log lines "snapshot ... loaded ... in N us" (the request to the vCPUs
released, on the VMM thread) and "KVM state of the VM and its N vCPUs set
in T us" (the part that grows with the vCPUs). Paused loads leave out the
guest's first run, which the client would otherwise wait for
(docs/kvm-here.md). Prints medians and min/max per vCPU count and the
growth per vCPU (least squares over the medians). BENCH_BUILDS (comma-separated build folders,
default the harness's: MICROVM_BUILD or build/) compares builds of other
commits on the same run: their loads alternate, one of each in turn."""
import os
import re
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "integration"))
from microvm_harness import BUILD, ApiProcess  # noqa: E402
import benchenv  # noqa: E402
from guestvm import ok, boot, snapshot  # noqa: E402

LOADS = int(os.environ.get("BENCH_LOADS", "15"))
VCPUS = [int(n) for n in os.environ.get("BENCH_VCPUS", "1,2,4,8").split(",")]
MEM = 128
SCRIPT = 'sh -c "echo snap-ready; sleep 36000"'
BUILDS = os.environ.get("BENCH_BUILDS", BUILD).split(",")


def make_snapshot(d, vcpus):
    api, _ = boot(SCRIPT, "snap-ready", vcpus=vcpus, mem=MEM)
    snapshot(api, os.path.join(d, "state%d" % vcpus),
             os.path.join(d, "mem%d" % vcpus))
    api.stop()


def load_us(d, vcpus, warm, build):
    args = ["--warm", "vcpus=%d,mem_mib=%d" % (vcpus, MEM)] if warm else []
    api = ApiProcess(extra_args=args, binary=os.path.join(build, "microvm"))
    try:
        ok(api, "PUT", "/snapshot/load", {
            "snapshot_path": os.path.join(d, "state%d" % vcpus),
            "mem_backend": {"backend_type": "File",
                            "backend_path": os.path.join(d, "mem%d" % vcpus)},
            "resume_vm": False})
    finally:
        err = api.stop()
    m = re.search(r"loaded \(.*\) in (\d+) us", err)
    k = re.search(r"KVM state of the VM and its \d+ vCPUs set in (\d+) us",
                  err)
    if not m or not k:
        raise SystemExit("no load time in microvm's log: " + err[-500:])
    return int(m.group(1)), int(k.group(1))


def slope(xs, ys):
    mx, my = statistics.mean(xs), statistics.mean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / \
        sum((x - mx) ** 2 for x in xs)


def main():
    benchenv.run_with_kvm()
    res = {}
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        for n in VCPUS:
            make_snapshot(d, n)
            for warm in (True, False):
                for b in BUILDS:
                    res[b, n, warm] = []
                for _ in range(LOADS):
                    for b in BUILDS:
                        res[b, n, warm].append(load_us(d, n, warm, b))
            print("%d vCPUs: warm load medians %s us" % (n, [
                statistics.median(r[0] for r in res[b, n, True])
                for b in BUILDS]), file=sys.stderr)
    print("\nsnapshot load by vCPU count: %d MiB, %d paused loads each; "
          "microvm's own figure (request -> vCPUs released)\n%s" % (
              MEM, LOADS, benchenv.describe()))
    for b in BUILDS:
        report(b, res)


def report(build, res):
    """Per vCPU count, warm and cold: the load and its KVM state part."""
    print("\n%s/microvm: ms, median (min-max)" % build)
    print("%6s %22s %22s %22s %22s" % ("vCPUs", "warm load", "warm state",
                                       "cold load", "cold state"))
    for n in VCPUS:
        cells = []
        for warm in (True, False):
            for part in (0, 1):
                v = [r[part] / 1e3 for r in res[build, n, warm]]
                cells.append("%.2f (%.2f-%.2f)" % (statistics.median(v),
                                                   min(v), max(v)))
        print("%6d %22s %22s %22s %22s" % (n, *cells))
    if len(VCPUS) > 1:
        for warm in (True, False):
            for part, what in ((0, "load"), (1, "state")):
                print("%s %s: %.3f ms more per vCPU (least squares over "
                      "medians)" % ("warm" if warm else "cold", what, slope(
                          VCPUS, [statistics.median(r[part] for r in
                                                    res[build, n, warm]) / 1e3
                                  for n in VCPUS])))


if __name__ == "__main__":
    main()
