#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""CPU per fresh sandbox: what a request costs the host's CPUs when each
request gets a guest fresh from one snapshot (density.py's: 1 vCPU,
128 MiB, a drive, a tap, vsock-echo on port 5000; File backend), the
request being one vsock echo.
Three ways, BENCH_REQUESTS (default 20) requests each:

- cold load: a new microvm process per request (start, PUT
  /snapshot/load with resume_vm, the echo, exit);
- warm load: the same into a process started with --warm (its VM, memory
  slots and vCPUs made before the request);
- rewind: one process loaded once with track_dirty_pages, then per
  request PUT /snapshot/rewind {"resume_vm": true} and the echo.

Two figures per way: the whole process's CPU (user + system, every
thread, the vCPU's guest time included; getrusage of the reaped child)
divided by the requests it served, and the CPU of the request alone (the
sum over the process's threads of their run time in
/proc/PID/task/*/schedstat, before and after the request: the load or
rewind and the echo). Beside them QEMU -M microvm: a process per request
restored with -incoming from a migration file, until its migration is done
and the guest runs (no echo: it has no vsock device here), whole process
CPU (BENCH_QEMU_RUNS, default 5)."""
import glob
import os
import resource
import statistics
import subprocess
import tempfile
import time

import benchenv
import density  # its snapshot and QEMU command line
import snapshot  # QEMU's QMP
from guestvm import ok, echo
from microvm_harness import MICROVM, ApiProcess

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "20"))
QEMU_RUNS = int(os.environ.get("BENCH_QEMU_RUNS", "5"))
WARM = ["--warm", "vcpus=1,mem_mib=%d" % density.MEM]


def children_cpu_ms():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime + r.ru_stime) * 1e3


def threads_cpu_ms(pid):
    total = 0
    for path in glob.glob("/proc/%d/task/*/schedstat" % pid):
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended meanwhile
    return total / 1e6


def load_body(d, uds, track=False):
    return {"snapshot_path": os.path.join(d, "state"),
            "mem_backend": {"backend_type": "File",
                            "backend_path": os.path.join(d, "mem")},
            "resume_vm": True, "track_dirty_pages": track,
            "vsock_override": {"uds_path": uds}}


def one_process_per_request(d, args):
    """[(whole process ms, request ms)] for a process per request."""
    rows = []
    for i in range(REQUESTS):
        uds = os.path.join(d, "r%d.sock" % i)
        before = children_cpu_ms()
        api = ApiProcess(extra_args=args)
        try:
            if args:
                time.sleep(0.2)  # the warm process has made its VM
            t = threads_cpu_ms(api.proc.pid)
            ok(api, "PUT", "/snapshot/load", load_body(d, uds))
            echo(uds)
            request = threads_cpu_ms(api.proc.pid) - t
        finally:
            api.stop()
        rows.append((children_cpu_ms() - before, request))
    return rows


def rewinds(d):
    """([(request ms)...], whole process ms per request)."""
    uds = os.path.join(d, "w.sock")
    before = children_cpu_ms()
    api = ApiProcess()
    rows = []
    try:
        ok(api, "PUT", "/snapshot/load", load_body(d, uds, True))
        echo(uds)
        for _ in range(REQUESTS):
            t = threads_cpu_ms(api.proc.pid)
            ok(api, "PUT", "/snapshot/rewind", {"resume_vm": True})
            echo(uds)
            rows.append(threads_cpu_ms(api.proc.pid) - t)
    finally:
        api.stop()
    return rows, (children_cpu_ms() - before) / (REQUESTS + 1)


def qemu_restores(d):
    state = density.qemu_state(d)
    rows = []
    qmp_sock = os.path.join(d, "qmp")
    for _ in range(QEMU_RUNS):
        if os.path.exists(qmp_sock):
            os.unlink(qmp_sock)
        before = children_cpu_ms()
        p = subprocess.Popen(
            density.qemu_argv(d, [
                "-monitor", "none", "-incoming", "exec:cat " + state,
                "-qmp", "unix:%s,server=on,wait=off" % qmp_sock]),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        s, cmd = snapshot.qmp(qmp_sock)
        while cmd("query-migrate")["return"].get("status") != "completed":
            time.sleep(0.001)
        cmd("cont")
        cmd("quit")
        s.close()
        p.wait()
        rows.append(children_cpu_ms() - before)
    return rows


def main():
    benchenv.run_with_kvm()
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        try:  # the snapshot's drive, tap and vsock are density.py's
            density.make_snapshot(d)
            cold = one_process_per_request(d, [])
            warm = one_process_per_request(d, WARM)
            rewound, rewind_whole = rewinds(d)
            qemu = qemu_restores(d) if QEMU_RUNS else []
        finally:
            density.remove_taps(0)
    med = statistics.median
    print("\nCPU per request (a fresh guest from one snapshot + one vsock "
          "echo): %s, 1 vCPU, %d MiB, File backend, %d requests per way\n%s"
          % (MICROVM, density.MEM, REQUESTS, benchenv.describe()))
    print("%-12s %26s %22s" % ("way", "whole process ms/request",
                               "request alone ms (med)"))
    print("%-12s %26.2f %22.2f" % ("cold load", med(r[0] for r in cold),
                                   med(r[1] for r in cold)))
    print("%-12s %26.2f %22.2f" % ("warm load", med(r[0] for r in warm),
                                   med(r[1] for r in warm)))
    print("%-12s %26.2f %22.2f" % ("rewind", rewind_whole, med(rewound)))
    if qemu:
        print("%-12s %26.2f %22s" % ("QEMU", med(qemu), "-"))
        print("ratio cold load / QEMU (whole process): %.3f" % (
            med(r[0] for r in cold) / med(qemu)))


if __name__ == "__main__":
    main()
