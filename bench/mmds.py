#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""MMDS benchmark: from inside one guest, the time of a request for a small
value (`GET /latest/meta-data/ami-id`, 12 bytes) answered by microvm's
metadata service (169.254.169.254, V1) vs the same request answered by an
HTTP server on the host over the tap (172.16.0.1:8080, in a network
namespace this script makes), same guest, same run, alternating in rounds.

The guest's `http-time` (tests/guest/http-time.c) times each request as a
client like wget sees it: connect() to the response's last byte, a new
TCP connection each time. The host server sends the very bytes the MMDS
sends (same headers, same body), one connection at a time from one
thread (the guest asks one at a time).
BENCH_MMDS_ROUNDS rounds (default 20) of BENCH_MMDS_PER_ROUND requests to
each (default 10), after 3 warm-up requests to each. Needs root."""
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
from microvm_harness import (INITRD, MICROVM, VMLINUX, guest_cmdline,  # noqa
                             write_config)
import benchenv  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_MMDS_ROUNDS", "20"))
PER_ROUND = int(os.environ.get("BENCH_MMDS_PER_ROUND", "10"))
NS = "microvm-bench-mmds"
HOST, GUEST_IP, MMDS = "172.16.0.1", "172.16.0.2", "169.254.169.254"
PORT = 8080
PATH = "/latest/meta-data/ami-id"
VALUE = "ami-12345678"
# What microvm's MMDS answers for PATH (tests/unit/test_mmds_stack.c).
RESPONSE = ("HTTP/1.1 200 \r\nServer: microvm\r\nConnection: keep-alive\r\n"
            "Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
            % (len(VALUE), VALUE)).encode()
SCRIPT = """
ip addr add {g}/30 dev eth0
ip link set eth0 up
ip route add {m}/32 dev eth0
http-time {m} 80 {p} 3 | sed 's/^/warm-mmds /'
http-time {h} {port} {p} 3 | sed 's/^/warm-host /'
i=0
while [ $i -lt {rounds} ]; do
  http-time {m} 80 {p} {n} | sed 's/^/mmds /'
  http-time {h} {port} {p} {n} | sed 's/^/host /'
  i=$((i + 1))
done
echo bench-done
""".format(g=GUEST_IP, m=MMDS, h=HOST, port=PORT, p=PATH, rounds=ROUNDS,
           n=PER_ROUND)


def serve_one(conn):
    with conn:
        conn.settimeout(60)
        req = b""
        while b"\r\n\r\n" not in req:
            chunk = conn.recv(4096)
            if not chunk:
                return
            req += chunk
        conn.sendall(RESPONSE)
        while conn.recv(4096):  # the client closes first, as with the MMDS
            pass


def host_server():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, PORT))
    listener.listen(16)

    def accept_loop():  # one client at a time, as the guest asks
        while True:
            serve_one(listener.accept()[0])
    threading.Thread(target=accept_loop, daemon=True).start()


def microvm_argv(tmp):
    script = os.path.join(tmp, "script")
    data = SCRIPT.encode()
    with open(script, "wb") as f:
        f.write(data + b"\n" * (-len(data) % 512))
    meta = os.path.join(tmp, "meta.json")
    with open(meta, "w") as f:
        f.write('{"latest": {"meta-data": {"ami-id": "%s"}}}' % VALUE)
    cfg = {"boot-source": {"kernel_image_path": VMLINUX, "initrd_path": INITRD,
                           "boot_args": guest_cmdline() + " -- sh /dev/vda"},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},
           "drives": [{"drive_id": "script", "path_on_host": script,
                       "is_root_device": False, "is_read_only": True}],
           "network-interfaces": [{"iface_id": "eth0",
                                   "host_dev_name": "tap0"}],
           "mmds-config": {"version": "V1", "network_interfaces": ["eth0"]}}
    return [MICROVM, "--no-api", "--config-file", write_config(tmp, cfg),
            "--metadata", meta]


def guest_times(tmp):
    """{"mmds": [us...], "host": [us...]} from the guest's lines."""
    times = {"mmds": [], "host": []}
    proc = subprocess.Popen(microvm_argv(tmp), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        for line in proc.stdout:
            words = line.split()
            if words[:1] == ["bench-done"]:
                return times
            if len(words) == 4 and words[0] in times:
                if words[2:] != ["200", str(len(VALUE))]:
                    raise SystemExit("bad answer: " + line)
                times[words[0]].append(int(words[1]))
            elif "http-time" in line or "microvm-init: exit" in line:
                raise SystemExit("guest: " + line)
        raise SystemExit("microvm ended before the guest was done")
    finally:
        proc.kill()
        proc.wait()


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def inside_namespace():
    host_server()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        times = guest_times(tmp)
        took = time.monotonic() - start
    print("\nmmds: %d requests to each, alternating in %d rounds of %d, "
          "guest-side, a new TCP connection each (%.0f s in all)\n%s"
          % (ROUNDS * PER_ROUND, ROUNDS, PER_ROUND, took,
             benchenv.describe()))
    print("%-28s %10s %10s %10s" % ("answered by", "median", "p10", "p90"))
    med = {}
    for name, label in (("mmds", "microvm's MMDS"),
                        ("host", "host HTTP server, tap")):
        med[name] = statistics.median(times[name])
        print("%-28s %8.2f ms %7.2f ms %7.2f ms" % (
            label, med[name] / 1000, pct(times[name], 10) / 1000,
            pct(times[name], 90) / 1000))
    print("ratio MMDS/host (medians): %.2f" % (med["mmds"] / med["host"]))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--inside":
        return inside_namespace()
    benchenv.run_with_kvm()
    benchenv.run_inside_tap_namespace(NS, HOST)


if __name__ == "__main__":
    main()
