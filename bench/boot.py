#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Boot benchmark, two figures, each with its monitors alternating:

1. The tiny guest (bench/tinyguest.py: a PVH ELF whose first instructions
   write to the serial port), BENCH_TINY_RUNS runs (default 20): process
   start -> its first byte on stdout, for build/kvm-floor (bench/kvm-floor.c:
   create VM, irqchip, one memory slot, one vCPU, run to the first serial
   write: the floor), microvm and QEMU -M microvm. This shows the
   monitors' own start-up cost: how close microvm is to the floor.
2. The test guest's Linux (same vmlinux, initrd and command line),
   BENCH_RUNS runs (default 20; 0 skips it): process start -> its init
   printing a marker on the serial console, microvm's own boot-timer figure
   (InstanceStart -> init), and the monitor's RSS outside guest memory
   while the guest is up.

Prints medians, p90s and ratios, with the host's CPU and KVM (benchenv).
Without /dev/kvm it runs itself in L1 (tests/l1/run.sh)."""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "integration"))
from microvm_harness import guest_cmdline  # noqa: E402
import benchenv  # noqa: E402
import tinyguest  # noqa: E402
GUEST = os.path.join(ROOT, "build", "guest")
MICROVM = os.path.join(ROOT, "build", "microvm")
FLOOR = os.path.join(ROOT, "build", "kvm-floor")
RUNS = int(os.environ.get("BENCH_RUNS", "20"))
TINY_RUNS = int(os.environ.get("BENCH_TINY_RUNS", "20"))
MEM_MIB = 128
MARKER = "bench-ready"
COMMAND = 'sh -c "echo %s; sleep 1"' % MARKER


def cmdline():
    return guest_cmdline() + " -- " + COMMAND


def microvm_argv(tmp, name, boot_source):
    cfg = {"boot-source": boot_source,
           "machine-config": {"vcpu_count": 1, "mem_size_mib": MEM_MIB}}
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return [MICROVM, "--config-file", path, "--no-api", "--boot-timer"]


def linux_argvs(tmp):
    microvm = microvm_argv(tmp, "linux", {
        "kernel_image_path": GUEST + "/vmlinux",
        "initrd_path": GUEST + "/initrd.cpio", "boot_args": cmdline()})
    qemu = benchenv.qemu_argv(GUEST + "/vmlinux", MEM_MIB) + [
        "-initrd", GUEST + "/initrd.cpio", "-append", cmdline()]
    return {"microvm": microvm, "qemu": qemu}


def tiny_argvs(tmp):
    kernel = tinyguest.write_kernel(os.path.join(tmp, "tiny.elf"))
    return {"floor": [FLOOR, kernel, str(MEM_MIB)],
            "microvm": microvm_argv(tmp, "tiny",
                                    {"kernel_image_path": kernel}),
            "qemu": benchenv.qemu_argv(kernel, MEM_MIB)}


def rss_outside_guest_kib(pid):
    """Rss of every mapping except the guest-RAM one(s) of MEM_MIB."""
    total = guest = 0
    size = 0
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                lo, hi = line.split()[0].split("-")
                size = int(hi, 16) - int(lo, 16)
            elif line.startswith("Rss:"):
                kib = int(line.split()[1])
                total += kib
                if size >= MEM_MIB << 20:
                    guest += kib
    return total - guest


def run_linux_once(argv):
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, errors="replace")
    ready = rss = None
    for line in proc.stdout:
        if MARKER in line and "echo" not in line:
            ready = time.monotonic() - start
            rss = rss_outside_guest_kib(proc.pid)
            break
    proc.kill()
    _, err = proc.communicate()
    m = re.search(r"Guest-boot-time = (\d+) us", err)
    if ready is None:
        raise SystemExit("no marker from %s:\n%s" % (argv[0], err[-2000:]))
    return ready, (int(m.group(1)) / 1e6 if m else None), rss


def run_tiny_once(argv):
    seconds, why = tinyguest.first_output(argv)
    if why:
        raise SystemExit(why)
    return seconds


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def alternate(names, runs, run_one):
    """runs rounds of run_one(name) per name, the order rotating."""
    res = {n: [] for n in names}
    for i in range(runs):
        for name in names[i % len(names):] + names[:i % len(names)]:
            res[name].append(run_one(name))
    return res


def tiny_figure(tmp, where):
    argvs = tiny_argvs(tmp)

    def one(name):
        seconds = run_tiny_once(argvs[name])
        print("tiny run %-7s start->first output %.2f ms"
              % (name, seconds * 1e3), file=sys.stderr)
        return seconds

    res = alternate(["floor", "microvm", "qemu"], TINY_RUNS, one)
    med = {n: statistics.median(v) for n, v in res.items()}
    print("\ntiny PVH guest: process start -> first serial output, %d runs "
          "each, 1 vCPU, %d MiB\n%s" % (TINY_RUNS, MEM_MIB, where))
    print("%-8s %10s %10s %10s %14s" % ("monitor", "median ms", "p90 ms",
                                        "min ms", "over floor ms"))
    for name, values in res.items():
        print("%-8s %10.2f %10.2f %10.2f %14.2f" % (
            name, med[name] * 1e3, pct(values, 90) * 1e3, min(values) * 1e3,
            (med[name] - med["floor"]) * 1e3))
    print("ratios: microvm/floor %.2f, qemu/floor %.2f, microvm/qemu %.3f"
          % (med["microvm"] / med["floor"], med["qemu"] / med["floor"],
             med["microvm"] / med["qemu"]))


def linux_figure(tmp, where):
    argvs = linux_argvs(tmp)

    def one(name):
        row = run_linux_once(argvs[name])
        print("linux run %-7s start->init %.3f s  rss-outside-guest %d KiB"
              % (name, row[0], row[2]), file=sys.stderr)
        return row

    res = alternate(["microvm", "qemu"], RUNS, one)
    print("\nboot: %d runs each, 1 vCPU, %d MiB, same vmlinux/initrd/cmdline"
          "\n%s" % (RUNS, MEM_MIB, where))
    print("%-8s %12s %12s %16s %16s" % ("monitor", "median s", "p90 s",
                                       "boot-timer med s", "RSS-guest KiB"))
    for name, rows in res.items():
        starts = [r[0] for r in rows]
        timers = [r[1] for r in rows if r[1] is not None]
        print("%-8s %12.3f %12.3f %16s %16d" % (
            name, statistics.median(starts), pct(starts, 90),
            "%.3f" % statistics.median(timers) if timers else "-",
            statistics.median([r[2] for r in rows])))
    m = statistics.median([r[0] for r in res["microvm"]])
    q = statistics.median([r[0] for r in res["qemu"]])
    mr = statistics.median([r[2] for r in res["microvm"]])
    qr = statistics.median([r[2] for r in res["qemu"]])
    print("ratio microvm/qemu: start->init %.3f, RSS outside guest %.3f"
          % (m / q, mr / qr))


def main():
    benchenv.run_with_kvm()
    if not os.path.exists(FLOOR):
        raise SystemExit("%s is missing: make build/kvm-floor" % FLOOR)
    where = "%s; QEMU -cpu %s" % (benchenv.describe(), benchenv.qemu_cpu())
    with tempfile.TemporaryDirectory() as tmp:
        if TINY_RUNS:
            tiny_figure(tmp, where)
        if RUNS:
            linux_figure(tmp, where)


if __name__ == "__main__":
    main()
