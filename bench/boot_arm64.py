#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""arm64 boot benchmark (issue 18): inside the arm64 KVM machine
(tests/l1-arm64/run.sh: qemu-system-aarch64 TCG with EL2 emulated, real
arm64 KVM inside), the same kernel and initrd booted under microvm's
aarch64 build and under Debian's arm64 QEMU (`-M virt -accel kvm -cpu
host`, fetched by bench/qemu_arm64.sh), BENCH_RUNS rounds each (default 5),
alternating, in one run of the machine (bench/boot_arm64.sh). The measure
is bench/boot.py's: process start -> a marker line the guest's init
prints (tests/l1-arm64/guest-init.c writes "kvm-smoke-init: running" to
the kernel log, which the console prints), timed in the machine by
bench/boot_arm64_timer.c.

The kernel is Debian's arm64 kernel of the arm64 machine itself
(build/l1-arm64/Image): the project's arm64 test guest has only the 8250
console microvm emulates, and QEMU's virt machine has only a PL011, so
that guest prints nothing under QEMU; Debian's kernel has both.

Prints the host's CPU, the arm64 machine's, every boot's time, the
medians and the ratio microvm/QEMU (absolute times are TCG's: only the
ratio means something). `make bench-arm64` builds what it needs first."""
import os
import re
import statistics
import subprocess
import sys

import benchenv

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.join(ROOT, "build", "arm64")
L1_ARM64 = os.path.join(ROOT, "tests", "l1-arm64")
IMAGE = os.path.join(ROOT, "build", "l1-arm64", "Image")
INITRD = os.path.join(BUILD, "smoke-initrd.cpio")
TIMER = os.path.join(BUILD, "boot_arm64_timer")
MICROVM = os.path.join(BUILD, "microvm")
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
MARKER = "kvm-smoke-init: running"


def prepare():
    """The cached pieces: Debian's arm64 QEMU and the machine's kernel."""
    for path in (TIMER, MICROVM, INITRD):
        if not os.path.exists(path):
            raise SystemExit("%s is missing: make bench-arm64 builds it"
                             % path)
    qemu_dir = subprocess.run(
        [os.path.join(ROOT, "bench", "qemu_arm64.sh")], check=True,
        stdout=subprocess.PIPE, text=True).stdout.strip()
    subprocess.run([os.path.join(L1_ARM64, "build.sh"),
                    os.path.dirname(IMAGE)], check=True,
                   stdout=subprocess.DEVNULL)
    return qemu_dir


def run_in_machine(qemu_dir):
    """Runs bench/boot_arm64.sh in the arm64 machine; returns its lines
    (echoed to stderr as they come) and exits if it failed."""
    argv = [os.path.join(L1_ARM64, "run.sh"), "sh",
            os.path.join(ROOT, "bench", "boot_arm64.sh"), str(RUNS), TIMER,
            MICROVM, qemu_dir, IMAGE, INITRD, MARKER]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                            errors="replace")
    lines = []
    for line in proc.stdout:
        sys.stderr.write(line)
        lines.append(line.strip())
    if proc.wait():
        raise SystemExit("the arm64 machine's run failed (exit %d)"
                         % proc.returncode)
    return lines


def report(lines, qemu_dir):
    times = {"microvm": [], "qemu": []}
    machine = "not printed"
    for line in lines:
        m = re.search(r"boot-arm64 (microvm|qemu) (\d+) ([0-9.]+)$", line)
        if m and m.group(2) != "0":
            times[m.group(1)].append(float(m.group(3)))
        m = re.search(r"boot-arm64-machine (.*)$", line)
        if m:
            machine = m.group(1)
    if not all(len(v) == RUNS for v in times.values()):
        raise SystemExit("expected %d boots of each, got %s"
                         % (RUNS, {k: len(v) for k, v in times.items()}))
    med = {k: statistics.median(v) for k, v in times.items()}
    print("\narm64 boot: process start -> guest init's marker, %d boots "
          "each (after one uncounted), 1 vCPU, 256 MiB, Debian's arm64 "
          "kernel + the smoke initrd" % RUNS)
    print("host CPU %s; in the arm64 KVM machine (qemu-system-aarch64 "
          "TCG, virtualization=on, -cpu max,pauth-impdef=on): %s"
          % (benchenv.cpu_model(), machine))
    print("QEMU: Debian's %s, -M virt,gic-version=3 -accel kvm -cpu host"
          % os.path.basename(qemu_dir))
    for name, values in times.items():
        print("%-8s boots s: %s  median %.3f  min %.3f" % (
            name, " ".join("%.3f" % v for v in values), med[name],
            min(values)))
    print("ratio microvm/qemu (medians): %.3f"
          % (med["microvm"] / med["qemu"]))


def main():
    qemu_dir = prepare()
    report(run_in_machine(qemu_dir), qemu_dir)


if __name__ == "__main__":
    main()
