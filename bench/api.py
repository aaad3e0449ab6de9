#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""API benchmark: process start -> API socket accepting (wall ms, and the
CPU ms of a start + immediate SIGTERM), and the latency of GET / and
PUT /machine-config over one keep-alive connection (BENCH_REQUESTS each,
default 10,000). Raw sockets with pre-built requests keep the client's own
cost small."""
import os
import resource
import socket
import statistics
import subprocess
import tempfile
import time

import benchenv

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MICROVM = os.path.join(ROOT, "build", "microvm")
STARTS = int(os.environ.get("BENCH_STARTS", "50"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "10000"))


def start(sock):
    t0 = time.monotonic()
    proc = subprocess.Popen([MICROVM, "--api-sock", sock],
                            stdin=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    while True:
        try:
            s.connect(sock)
            break
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() - t0 > 5:
                raise SystemExit("socket never came up")
    ready = time.monotonic() - t0
    return proc, s, ready


def spawn_baseline():
    """What the harness alone costs: spawn and reap /bin/true."""
    walls = []
    for _ in range(STARTS):
        t0 = time.monotonic()
        subprocess.run(["/bin/true"], stdin=subprocess.DEVNULL)
        walls.append((time.monotonic() - t0) * 1000)
    return statistics.median(walls)


def measure_starts(d):
    walls, cpus = [], []
    for i in range(STARTS):
        sock = os.path.join(d, "s%d.sock" % i)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc, s, ready = start(sock)
        s.close()
        proc.terminate()
        proc.wait()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        walls.append(ready * 1000)
        cpus.append((after.ru_utime - before.ru_utime +
                     after.ru_stime - before.ru_stime) * 1000)
    return walls, cpus


def read_response(s, buf):
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(rest) < length:
        rest += s.recv(65536)
    return head, rest[length:]


def latency(s, request, expect):
    times = []
    buf = b""
    for _ in range(REQUESTS):
        t0 = time.perf_counter_ns()
        s.sendall(request)
        head, buf = read_response(s, buf)
        times.append((time.perf_counter_ns() - t0) / 1000)
        if not head.startswith(expect):
            raise SystemExit("unexpected reply: %r" % head)
    return times


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    with tempfile.TemporaryDirectory() as d:
        walls, cpus = measure_starts(d)
        proc, s, _ = start(os.path.join(d, "lat.sock"))
        get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        body = b'{"vcpu_count": 2, "mem_size_mib": 256}'
        put = (b"PUT /machine-config HTTP/1.1\r\nHost: x\r\n"
               b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
               % (len(body), body))
        get_us = latency(s, get, b"HTTP/1.1 200")
        put_us = latency(s, put, b"HTTP/1.1 204")
        s.close()
        proc.terminate()
        proc.wait()
    print("api: %d starts, %d requests each\n%s" % (STARTS, REQUESTS,
                                                   benchenv.describe()))
    print("harness baseline: spawn + reap /bin/true median %.2f ms"
          % spawn_baseline())
    print("start -> socket accepting: median %.2f ms (p90 %.2f ms) wall; "
          "start + SIGTERM exit: median %.2f CPU ms"
          % (statistics.median(walls), pct(walls, 90), statistics.median(cpus)))
    for name, t in (("GET /", get_us), ("PUT /machine-config", put_us)):
        print("%-20s median %.1f us  p99 %.1f us" %
              (name, statistics.median(t), pct(t, 99)))


if __name__ == "__main__":
    main()
