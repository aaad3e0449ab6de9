#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Density: how many clones of one snapshot a host holds, and what each
costs. One guest (1 vCPU, 128 MiB, vsock-echo on port 5000) is booted and
snapshotted with a read-only virtio-blk drive, a virtio-net device and
the vsock device attached (Full; the memory file on the machine's own
/tmp, so the clones share its page cache); then clones are restored into
concurrently running microvm processes (PUT /snapshot/load, File backend,
resume_vm, each its own vsock socket and tap; BENCH_PARALLEL (4) loads at
a time) until
there are N of them, for each N of BENCH_CLONES (default
10,50,100,200); each clone answers one vsock echo. At each N, after the
clones have idled BENCH_IDLE_S (10) seconds:

- memory per clone: the PSS of each whole process (smaps_rollup: the
  memory file's pages they share through the page cache counted once,
  split between them), its private part, the monitor's own private memory
  (every mapping but guest RAM: heap, stacks, rings, buffers), and the
  drop of the machine's MemAvailable since before the first clone,
  divided by N;
- clones started per second (wall time of the N loads + echoes);
- the CPU the idle clones burn (utime + stime of every process, vCPU
  threads included, over BENCH_IDLE_S), as % of one CPU per clone and in
  total;
- whether every clone still answers an echo.

It stops early when a load or an echo fails or MemAvailable falls below
BENCH_MIN_FREE_MIB (512), and says where. Beside it, QEMU -M microvm on
the same kernel and initrd restored BENCH_QEMU_CLONES (5) times with
-incoming from a migration file (its RAM is anonymous memory filled from
the file: no sharing), PSS per process after the same idle time.
Writes bench/results/density.dat and, with gnuplot, density.png."""
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import benchenv
from guestvm import ok, boot, snapshot, echo
from microvm_harness import INITRD, MICROVM, VMLINUX, ApiProcess, \
    guest_cmdline

STEPS = [int(n) for n in
         os.environ.get("BENCH_CLONES", "10,50,100,200").split(",")]
PARALLEL = int(os.environ.get("BENCH_PARALLEL", "4"))
IDLE_S = float(os.environ.get("BENCH_IDLE_S", "10"))
MIN_FREE_MIB = int(os.environ.get("BENCH_MIN_FREE_MIB", "512"))
QEMU_CLONES = int(os.environ.get("BENCH_QEMU_CLONES", "5"))
MEM = 128
SCRIPT = 'sh -c "vsock-echo 5000 & sleep 1; echo snap-ready; sleep 36000"'
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
TICK = os.sysconf("SC_CLK_TCK")


def tap(name):
    subprocess.run(["ip", "tuntap", "add", name, "mode", "tap"], check=True)
    subprocess.run(["ip", "link", "set", name, "up"], check=True)


def remove_taps(n):
    for name in ["dbase"] + ["d%d" % i for i in range(n)]:
        subprocess.run(["ip", "link", "delete", name],
                       stderr=subprocess.DEVNULL)


def make_snapshot(d):
    drive = os.path.join(d, "drive.img")
    with open(drive, "wb") as f:
        f.truncate(16 << 20)
    tap("dbase")
    api, _ = boot(SCRIPT, "snap-ready", mem=MEM, devices=(
        ("/vsock", {"guest_cid": 3,
                    "uds_path": os.path.join(d, "base.sock")}),
        ("/drives/scratch", {"drive_id": "scratch", "path_on_host": drive,
                             "is_root_device": False,
                             "is_read_only": True}),
        ("/network-interfaces/eth0", {"iface_id": "eth0",
                                      "host_dev_name": "dbase"})))
    snapshot(api, os.path.join(d, "state"), os.path.join(d, "mem"))
    api.stop()


def start_clone(d, i):
    """A new microvm with clone i of the snapshot, answering an echo."""
    uds = os.path.join(d, "c%d.sock" % i)
    tap("d%d" % i)
    api = ApiProcess()
    try:
        ok(api, "PUT", "/snapshot/load", {
            "snapshot_path": os.path.join(d, "state"),
            "mem_backend": {"backend_type": "File",
                            "backend_path": os.path.join(d, "mem")},
            "resume_vm": True, "vsock_override": {"uds_path": uds},
            "network_overrides": [{"iface_id": "eth0",
                                   "host_dev_name": "d%d" % i}]})
        echo(uds, timeout=120)
    except Exception:
        api.stop()
        raise
    return api, uds


def meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # KiB
    raise KeyError(key)


def rollup(pid):
    """{Pss, Private_Clean, ...} in KiB of a whole process."""
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def monitor_private_kib(pid):
    """Private memory of every mapping but guest RAM (the one mapping of
    at least MEM MiB): what the monitor itself costs."""
    total, guest = 0, False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            first = line.split()[0]
            if "-" in first and not first.endswith(":"):
                lo, hi = (int(x, 16) for x in first.split("-"))
                guest = hi - lo >= MEM << 20
            elif first in ("Private_Clean:", "Private_Dirty:") and not guest:
                total += int(line.split()[1])
    return total


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def idle_cpu(pids):
    """% of one CPU the processes used over IDLE_S seconds."""
    before = sum(cpu_ticks(p) for p in pids)
    t = time.monotonic()
    time.sleep(IDLE_S)
    used = sum(cpu_ticks(p) for p in pids) - before
    return 100.0 * used / TICK / (time.monotonic() - t)


def measure(clones, avail_before, start_s, started):
    pids = [api.proc.pid for api, _ in clones]
    cpu = idle_cpu(pids)
    roll = [rollup(p) for p in pids]
    answering = 0
    for _, uds in clones:
        try:
            echo(uds, timeout=120)
            answering += 1
        except (OSError, RuntimeError):
            pass
    n = len(clones)
    return {
        "n": n, "pss_mib": statistics.mean(r["Pss"] for r in roll) / 1024,
        "private_mib": statistics.mean(
            r["Private_Clean"] + r["Private_Dirty"] for r in roll) / 1024,
        "monitor_mib": statistics.mean(
            monitor_private_kib(p) for p in pids) / 1024,
        "avail_mib": (avail_before - meminfo("MemAvailable")) / 1024 / n,
        "per_s": started / start_s if start_s else 0.0,
        "cpu_pct": cpu / n, "cpu_total": cpu, "answering": answering}


def grow(d, clones, target):
    """Adds clones up to target; (seconds, clones added, error or None)."""
    first = len(clones)
    t = time.monotonic()
    error = None
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = [pool.submit(start_clone, d, i)
                   for i in range(first, target)]
        for f in futures:
            try:
                clones.append(f.result())
            except Exception as e:  # a load or echo that failed
                error = error or str(e)
    return time.monotonic() - t, len(clones) - first, error


def microvm_density(d):
    avail_before = meminfo("MemAvailable")
    clones, rows, stop = [], [], None
    try:
        for target in STEPS:
            if meminfo("MemAvailable") < MIN_FREE_MIB * 1024:
                stop = "MemAvailable below %d MiB before %d clones" % (
                    MIN_FREE_MIB, target)
                break
            secs, added, error = grow(d, clones, target)
            rows.append(measure(clones, avail_before, secs, added))
            print("  %d clones: %s" % (len(clones), rows[-1]),
                  file=sys.stderr, flush=True)
            if error:
                stop = "at %d clones: %s" % (target, error)
                break
    finally:
        for api, _ in clones:
            api.stop()
    return rows, stop


def qemu_argv(d, extra):
    return ["qemu-system-x86_64", "-M", "microvm,x-option-roms=off,rtc=off",
            *benchenv.qemu_kvm_args(), "-m", str(MEM), "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none",
            "-serial", "file:" + os.path.join(d, "qemu-console"),
            "-kernel", VMLINUX, "-initrd", INITRD,
            "-append", guest_cmdline() + " -- " + SCRIPT] + extra


def qemu_state(d):
    """Boots the guest under QEMU and migrates it to a file (its
    snapshot), through the human monitor on stdin."""
    state = os.path.join(d, "qemu.state")
    p = subprocess.Popen(qemu_argv(d, ["-monitor", "stdio"]),
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, text=True)
    console = os.path.join(d, "qemu-console")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (
            os.path.exists(console) and
            "snap-ready" in open(console, errors="replace").read()):
        time.sleep(0.2)
    p.stdin.write("stop\nmigrate \"exec:cat > %s\"\nquit\n" % state)
    p.stdin.flush()
    p.wait(timeout=300)
    return state


def qemu_density(d):
    state = qemu_state(d)
    procs = [subprocess.Popen(
        qemu_argv(d, ["-monitor", "none", "-incoming", "exec:cat " + state]),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(QEMU_CLONES)]
    try:
        time.sleep(IDLE_S + 5)  # incoming migration done, then idle
        roll = [rollup(p.pid) for p in procs if p.poll() is None]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    if not roll:
        return None
    return statistics.mean(r["Pss"] for r in roll) / 1024, len(roll)


def plot(rows):
    os.makedirs(RESULTS, exist_ok=True)
    dat = os.path.join(RESULTS, "density.dat")
    with open(dat, "w") as f:
        f.write("# clones pss_mib private_mib avail_mib_per_clone "
                "started_per_s idle_cpu_pct_per_clone monitor_mib\n")
        for r in rows:
            f.write("%d %.2f %.2f %.2f %.2f %.3f %.2f\n" % (
                r["n"], r["pss_mib"], r["private_mib"], r["avail_mib"],
                r["per_s"], r["cpu_pct"], r["monitor_mib"]))
    script = ("set terminal png size 800,500; set output '%s'; "
              "set title 'microvm clones of one 128 MiB snapshot'; "
              "set xlabel 'clones'; set ylabel 'MiB per clone'; "
              "set y2label 'idle CPU %% per clone'; set y2tics; "
              "plot '%s' using 1:2 with linespoints title 'PSS', "
              "'' using 1:4 with linespoints title 'MemAvailable drop', "
              "'' using 1:6 axes x1y2 with linespoints title 'idle CPU %%'"
              % (os.path.join(RESULTS, "density.png"), dat))
    try:
        subprocess.run(["gnuplot", "-e", script], check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print("plot: gnuplot failed (%s); data in %s" % (e, dat))


def main():
    benchenv.run_with_kvm()
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        try:
            make_snapshot(d)
            rows, stop = microvm_density(d)
            qemu = qemu_density(d) if QEMU_CLONES else None
        finally:
            remove_taps(max(STEPS))
    print("\ndensity: %s, clones of a 1 vCPU, %d MiB snapshot (File "
          "backend), %d loads at a time, idle %.0f s\n%s" % (
              MICROVM, MEM, PARALLEL, IDLE_S, benchenv.describe()))
    print("%7s %9s %12s %12s %14s %10s %14s %12s %10s" % (
        "clones", "PSS MiB", "private MiB", "monitor MiB", "MemAvail MiB",
        "started/s", "idle CPU %/cl", "idle CPU %", "answering"))
    for r in rows:
        print("%7d %9.2f %12.2f %12.2f %14.2f %10.2f %14.3f %12.1f %10d" % (
            r["n"], r["pss_mib"], r["private_mib"], r["monitor_mib"],
            r["avail_mib"], r["per_s"], r["cpu_pct"], r["cpu_total"],
            r["answering"]))
    print("stopped: %s" % (stop or "no: every step ran"))
    if qemu:
        print("QEMU -M microvm -incoming: %.2f MiB PSS per process (%d "
              "processes)%s" % (qemu[0], qemu[1], "; ratio microvm/QEMU "
                                "at %d clones: %.3f" % (
                                    rows[-1]["n"],
                                    rows[-1]["pss_mib"] / qemu[0])
                                if rows else ""))
    if rows:
        plot(rows)


if __name__ == "__main__":
    main()
