#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Boot benchmark: microvm vs QEMU -M microvm, same vmlinux, initrd and
command line, alternating, N runs each (BENCH_RUNS, default 20).

Measures, per run, process start -> the guest's init printing a marker on
the serial console (the same for both monitors), microvm's own boot-timer
figure (InstanceStart -> init), and the monitor's RSS outside guest memory
while the guest is up. Prints medians, p90s and ratios."""
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
GUEST = os.path.join(ROOT, "build", "guest")
MICROVM = os.path.join(ROOT, "build", "microvm")
RUNS = int(os.environ.get("BENCH_RUNS", "20"))
MEM_MIB = 128
MARKER = "bench-ready"
COMMAND = 'sh -c "echo %s; sleep 1"' % MARKER


def cmdline():
    return guest_cmdline() + " -- " + COMMAND


def microvm_argv(tmp):
    cfg = {"boot-source": {"kernel_image_path": GUEST + "/vmlinux",
                           "initrd_path": GUEST + "/initrd.cpio",
                           "boot_args": cmdline()},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": MEM_MIB}}
    path = os.path.join(tmp, "vm.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return [MICROVM, "--config-file", path, "--no-api", "--boot-timer"]


def qemu_argv():
    return ["qemu-system-x86_64", "-M", "microvm,x-option-roms=off,rtc=off",
            "-accel", "kvm", "-cpu", "host", "-m", str(MEM_MIB), "-smp", "1",
            "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
            "-kernel", GUEST + "/vmlinux", "-initrd", GUEST + "/initrd.cpio",
            "-append", cmdline(), "-no-reboot"]


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


def run_once(argv):
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


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    res = {"microvm": [], "qemu": []}
    with tempfile.TemporaryDirectory() as tmp:
        argvs = {"microvm": microvm_argv(tmp), "qemu": qemu_argv()}
        for i in range(RUNS):
            for name in ("microvm", "qemu") if i % 2 == 0 else ("qemu", "microvm"):
                res[name].append(run_once(argvs[name]))
                print("run %2d %-7s start->init %.3f s  rss-outside-guest %d KiB"
                      % (i + 1, name, res[name][-1][0], res[name][-1][2]),
                      file=sys.stderr)
    print("\nboot: %d runs each, 1 vCPU, %d MiB, same vmlinux/initrd/cmdline"
          % (RUNS, MEM_MIB))
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


if __name__ == "__main__":
    main()
