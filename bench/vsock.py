#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""vsock benchmark: one microvm guest running vsock-echo, driven from the
host through uds_path (Firecracker's CONNECT protocol).

Measures, BENCH_RUNS times (default 3): host -> guest -> host echo
throughput of BENCH_VSOCK_MIB (default 16) MiB; guest -> host throughput
(the guest's vsock-cat sends /dev/zero to <uds_path>_6000); and the round
trip of 1-byte messages over one echo connection (BENCH_PINGS, default 500,
median and p99). QEMU's vsock needs /dev/vhost-vsock; the script says
whether this host has it and, if not, prints microvm's figures alone."""
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "integration"))
from microvm_harness import MICROVM, linux_config, write_config  # noqa: E402
import benchenv  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
MIB = int(os.environ.get("BENCH_VSOCK_MIB", "16"))
PINGS = int(os.environ.get("BENCH_PINGS", "500"))
PORT = 5000


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def connect(uds):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(120)
    s.connect(uds)
    s.sendall(b"CONNECT %d\n" % PORT)
    line = b""
    while not line.endswith(b"\n"):
        ch = s.recv(1)
        if not ch:
            raise SystemExit("CONNECT refused")
        line += ch
    return s


def echo_mib_s(uds):
    s = connect(uds)
    data = os.urandom(1 << 20)
    start = time.monotonic()

    def send():
        for _ in range(MIB):
            s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=send)
    t.start()
    got = 0
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        got += len(chunk)
    t.join()
    s.close()
    if got != MIB << 20:
        raise SystemExit("echo returned %d of %d bytes" % (got, MIB << 20))
    return MIB / (time.monotonic() - start)


def ping_us(uds):
    s = connect(uds)
    times = []
    for _ in range(PINGS):
        t = time.perf_counter()
        s.sendall(b"x")
        if s.recv(1) != b"x":
            raise SystemExit("ping lost")
        times.append((time.perf_counter() - t) * 1e6)
    s.close()
    return times


def guest_to_host_mib_s(listener):
    conn, _ = listener.accept()
    conn.settimeout(300)
    got, start = 0, None
    while True:
        chunk = conn.recv(1 << 20)
        if not chunk:
            break
        start = start or time.monotonic()
        got += len(chunk)
    conn.close()
    return got / (1 << 20) / (time.monotonic() - start)


def run_once(tmp):
    uds = os.path.join(tmp, "v.sock")
    for p in (uds, uds + "_6000"):
        if os.path.exists(p):
            os.unlink(p)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(uds + "_6000")
    listener.listen(1)
    listener.settimeout(300)
    script = ("vsock-echo %d & sleep 1; dd if=/dev/zero bs=64k count=%d "
              "2>/dev/null | vsock-cat 2 6000; sleep 3600" % (PORT, MIB * 16))
    cfg = linux_config('sh -c "%s"' % script, vcpus=2)
    cfg["vsock"] = {"guest_cid": 3, "uds_path": uds}
    proc = subprocess.Popen([MICROVM, "--no-api", "--config-file",
                             write_config(tmp, cfg)],
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        g2h = guest_to_host_mib_s(listener)
        return echo_mib_s(uds), g2h, ping_us(uds)
    finally:
        proc.kill()
        proc.wait()
        listener.close()


def main():
    benchenv.run_with_kvm()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(RUNS):
            rows.append(run_once(tmp))
            print("run %d: echo %.2f MiB/s, guest->host %.2f MiB/s, "
                  "1-byte RTT median %.0f us" % (
                      i + 1, rows[-1][0], rows[-1][1],
                      statistics.median(rows[-1][2])), file=sys.stderr)
    pings = [t for r in rows for t in r[2]]
    print("\nvsock: %d runs, %d MiB per transfer, %d pings per run\n%s" % (
        RUNS, MIB, PINGS, benchenv.describe()))
    print("microvm  echo host->guest->host  median %.2f MiB/s" %
          statistics.median(r[0] for r in rows))
    print("microvm  guest->host (vsock-cat) median %.2f MiB/s" %
          statistics.median(r[1] for r in rows))
    print("microvm  1-byte round trip       median %.0f us, p99 %.0f us" % (
        statistics.median(pings), pct(pings, 99)))
    print("qemu: not compared: its vsock is vhost-vsock-device (the host "
          "kernel's AF_VSOCK, not Unix sockets), which needs "
          "/dev/vhost-vsock; this host %s it" % (
              "has" if os.path.exists("/dev/vhost-vsock") else "lacks"))


if __name__ == "__main__":
    main()
