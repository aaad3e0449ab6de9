#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""PUT /snapshot/rewind (microvm's own route). A guest (1 vCPU, 128 MiB)
is snapshotted while it waits to be told, over vsock, how many pages to
write; it is loaded once (File backend, track_dirty_pages) and rewound
BENCH_REWINDS (default 8) times per size of BENCH_PAGES (default
0,256,2048,8192 pages of 4 KiB): each time the guest, back at the
snapshot, fetches the size from the host (vsock-cat to port 7000),
writes that many pages into /tmp (its RAM) with dd and says so; the next
rewind drops what it wrote. Figures: microvm's own (its log line
"snapshot rewound: N pages ... dropped, in T us", request -> vCPUs
released on the VMM thread), the client's PUT -> 204, and the base cost
and cost per dropped page (least squares over every rewind; the pages
are what microvm dropped: the guest's writes plus what its kernel
touched)."""
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "integration"))
from microvm_harness import MICROVM, ApiProcess, LineReader  # noqa: E402
import benchenv  # noqa: E402
from guestvm import ok, boot, snapshot  # noqa: E402

REWINDS = int(os.environ.get("BENCH_REWINDS", "8"))
SIZES = [int(n) for n in
         os.environ.get("BENCH_PAGES", "0,256,2048,8192").split(",")]
MEM = 128
SCRIPT = ('sh -c "echo ready; sleep 2; '
          'until n=$(vsock-cat 2 7000 </dev/null); do sleep 0.1; done; '
          'dd if=/dev/zero of=/tmp/f bs=4096 count=$n 2>/dev/null; '
          'echo dirtied $n; sleep 36000"')


def make_snapshot(d):
    api, _ = boot(SCRIPT, "ready", mem=MEM, devices=(
        ("/vsock", {"guest_cid": 3,
                    "uds_path": os.path.join(d, "boot.sock")}),))
    snapshot(api, os.path.join(d, "state"), os.path.join(d, "mem"))
    api.stop()


class SizeServer:
    """Answers each guest connection to port 7000 with the current size."""

    def __init__(self, path):
        self.pages = 0
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(8)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            conn.sendall(b"%d\n" % self.pages)
            conn.close()


def wait_dirtied(lines, count, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with lines.cond:
            done = [l for l in lines.lines if l.startswith("dirtied ")]
        if len(done) >= count:
            return done[-1]
        time.sleep(0.01)
    raise SystemExit("the guest did not write its pages: %r"
                     % lines.lines[-5:])


def run(d):
    uds = os.path.join(d, "v.sock")
    sizes = SizeServer(uds + "_7000")
    api = ApiProcess(stdout=subprocess.PIPE)
    lines = LineReader(api.proc.stdout)
    rows = []  # (pages asked, client ms)
    try:
        sizes.pages = SIZES[0]
        ok(api, "PUT", "/snapshot/load", {
            "snapshot_path": os.path.join(d, "state"),
            "mem_backend": {"backend_type": "File",
                            "backend_path": os.path.join(d, "mem")},
            "track_dirty_pages": True, "resume_vm": True,
            "vsock_override": {"uds_path": uds}})
        done = 1
        wait_dirtied(lines, done)
        order = [n for n in SIZES for _ in range(REWINDS)][1:] + [SIZES[0]]
        asked = SIZES[0]
        for n in order:
            sizes.pages = n
            t = time.perf_counter()
            ok(api, "PUT", "/snapshot/rewind", {"resume_vm": True})
            rows.append((asked, (time.perf_counter() - t) * 1e3))
            done += 1
            wait_dirtied(lines, done)
            asked = n
    finally:
        err = api.stop()
        sizes.srv.close()
    logged = [(int(p), int(us)) for p, us in re.findall(
        r"snapshot rewound: (\d+) pages .* in (\d+) us", err)]
    if len(logged) != len(rows):
        raise SystemExit("%d rewinds, %d log lines: %s" % (
            len(rows), len(logged), err[-800:]))
    return [(a, c, p, us) for (a, c), (p, us) in zip(rows, logged)]


def fit(points):
    """Least squares us = a + b * pages."""
    xs, ys = [p for p, _ in points], [u for _, u in points]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / \
        sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def main():
    benchenv.run_with_kvm()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        make_snapshot(d)
        res = run(d)
    print("\nrewind: %s, 1 vCPU, %d MiB, File backend, %d rewinds per "
          "size\n%s" % (MICROVM, MEM, REWINDS, benchenv.describe()))
    print("%12s %14s %18s %14s" % ("pages asked", "pages dropped",
                                   "monitor us median", "client ms med"))
    for n in SIZES:
        r = [x for x in res if x[0] == n]
        print("%12d %14d %18d %14.2f" % (
            n, statistics.median(x[2] for x in r),
            statistics.median(x[3] for x in r),
            statistics.median(x[1] for x in r)))
    if len(SIZES) > 1:
        a, b = fit([(x[2], x[3]) for x in res])
        print("monitor: %.0f us + %.3f us per dropped page (least squares, "
              "%d rewinds)" % (a, b, len(res)))


if __name__ == "__main__":
    main()
