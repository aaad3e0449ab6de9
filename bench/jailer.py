#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Jailer overhead: start -> API socket accepting, microvm alone vs through
microvm-jailer (new pid namespace, a cgroup v2 value, an rlimit) with the
dynamically linked build/microvm (its loader and libraries copied into the
jail) and with the static build/static/microvm (`make static`: only the
binary), median of BENCH_STARTS (50) each, alternating; then 20 jailers
started at once (time until the last socket accepts). Needs root."""
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

import benchenv

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MICROVM = os.path.join(ROOT, "build", "microvm")
STATIC = os.path.join(ROOT, "build", "static", "microvm")
JAILER = os.path.join(ROOT, "build", "microvm-jailer")
STARTS = int(os.environ.get("BENCH_STARTS", "50"))


def cgroup_args():
    with open("/proc/self/mountinfo") as f:
        mnt = next((l.split()[4] for l in f if " - cgroup2 " in l), None)
    if not mnt:
        return []
    with open(os.path.join(mnt, "cgroup.controllers")) as f:
        ctrls = f.read().split()
    for ctrl, kv in (("pids", "pids.max=64"), ("hugetlb", "hugetlb.2MB.max=0")):
        if ctrl in ctrls:
            return ["--cgroup-version", "2", "--cgroup", kv]
    return []


def remove_cgroups():
    """The jailer cannot remove a cgroup it ran in; the bench's are empty."""
    with open("/proc/self/mountinfo") as f:
        mnt = next((l.split()[4] for l in f if " - cgroup2 " in l), None)
    parent = os.path.join(mnt or "/nonexistent", "microvm")
    for name in os.listdir(parent) if os.path.isdir(parent) else []:
        if name.startswith("b"):
            try:
                os.rmdir(os.path.join(parent, name))
            except OSError:
                pass


def connect(path, deadline):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    while True:
        try:
            s.connect(path)
            s.close()
            return
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline:
                raise SystemExit("socket %s never came up" % path)


def start(argv, sock):
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    connect(sock, t0 + 10)
    return proc, (time.monotonic() - t0) * 1000


def jailer_argv(base, i, exec_file=MICROVM):
    return [JAILER, "--id", "b%d" % i, "--exec-file", exec_file, "--uid", "4321",
            "--gid", "4321", "--chroot-base-dir", base, "--new-pid-ns",
            "--resource-limit", "no-file=512"] + cgroup_args() + \
        ["--", "--api-sock", "/api.sock"]


def jail_sock(base, i):
    return os.path.join(base, "microvm", "b%d" % i, "root", "api.sock")


def stop(proc):
    proc.terminate()
    proc.wait()


def stop_jailed(proc, base, i):
    """With --new-pid-ns the jailer has exited: kill the pid it wrote."""
    proc.wait()
    with open(os.path.join(base, "microvm", "b%d" % i, "root",
                           "microvm.pid")) as f:
        pid = int(f.read())
    os.kill(pid, 9)
    while os.path.exists("/proc/%d/ns" % pid):
        time.sleep(0.001)


def main():
    benchenv.run_with_kvm()
    if not os.path.exists(STATIC):
        raise SystemExit("no %s: run make static" % STATIC)
    alone, jailed, jailed_static = [], [], []
    base = tempfile.mkdtemp(dir="/var/tmp")
    try:
        for i in range(STARTS):
            sock = os.path.join(base, "alone%d.sock" % i)
            p, ms = start([MICROVM, "--api-sock", sock], sock)
            stop(p)
            alone.append(ms)
            p, ms = start(jailer_argv(base, i), jail_sock(base, i))
            stop_jailed(p, base, i)
            jailed.append(ms)
            j = 500 + i
            p, ms = start(jailer_argv(base, j, STATIC), jail_sock(base, j))
            stop_jailed(p, base, j)
            jailed_static.append(ms)
        t0 = time.monotonic()
        procs = [subprocess.Popen(jailer_argv(base, 1000 + i),
                                  stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for i in range(20)]
        for i in range(20):
            connect(jail_sock(base, 1000 + i), t0 + 30)
        burst = (time.monotonic() - t0) * 1000
        for i, p in enumerate(procs):
            stop_jailed(p, base, 1000 + i)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        remove_cgroups()
    print("jailer: %d starts each\n%s" % (STARTS, benchenv.describe()))
    print("microvm alone   start -> socket: median %.2f ms" % statistics.median(alone))
    print("through jailer  start -> socket: median %.2f ms (ratio %.2f)" % (
        statistics.median(jailed),
        statistics.median(jailed) / statistics.median(alone)))
    print("jailer, static  start -> socket: median %.2f ms (ratio %.2f)" % (
        statistics.median(jailed_static),
        statistics.median(jailed_static) / statistics.median(alone)))
    print("20 jailers at once: all sockets accepting after %.1f ms" % burst)


if __name__ == "__main__":
    main()
