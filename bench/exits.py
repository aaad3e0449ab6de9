#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Exit counts of one test-guest boot, counted by the host kernel's KVM
tracepoints (kvm:kvm_exit, kvm:kvm_pio, kvm:kvm_mmio), for microvm and for
QEMU -M microvm on the same kernel, initrd and command line. Needs root and
tracefs; meant for L1 (`tests/l1/run.sh python3 bench/exits.py`), whose
kvm_amd is a KVM like the one on real hardware.

Usage: bench/exits.py [NAME=MICROVM_BINARY ...]   (default: build/microvm)
BENCH_CMDLINE: the guest's command line instead of tests/guest/cmdline.sh's.
Counts from the monitor's start to the guest's init printing its exit
line. Prints, per monitor: boot-timer time (microvm), exits by reason, and
the port-I/O exits of the busiest ports."""
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "integration"))
from microvm_harness import guest_cmdline  # noqa: E402
import benchenv  # noqa: E402
GUEST = os.path.join(ROOT, "build", "guest")
TRACING = "/sys/kernel/tracing"
EVENTS = ("kvm/kvm_exit", "kvm/kvm_pio", "kvm/kvm_mmio")
COMMAND = "true"  # init runs it and prints its exit line


def cmdline():
    if os.environ.get("BENCH_CMDLINE"):
        return os.environ["BENCH_CMDLINE"] + " -- " + COMMAND
    return guest_cmdline() + " -- " + COMMAND


def tracefs(path, value):
    with open(os.path.join(TRACING, path), "w") as f:
        f.write(value)


def start_tracing():
    if not os.path.exists(os.path.join(TRACING, "trace")):
        subprocess.run(["mount", "-t", "tracefs", "tracefs", TRACING],
                       check=True)
    tracefs("tracing_on", "0")
    tracefs("buffer_size_kb", "65536")
    for event in EVENTS:
        tracefs("events/%s/enable" % event, "1")
    tracefs("trace", "")
    tracefs("tracing_on", "1")


def stop_tracing():
    tracefs("tracing_on", "0")
    with open(os.path.join(TRACING, "trace")) as f:
        text = f.read()
    for event in EVENTS:
        tracefs("events/%s/enable" % event, "0")
    if re.search(r"LOST \d+ events", text):
        raise SystemExit("exits: the trace buffer overflowed")
    return text


def count(trace):
    reasons = collections.Counter()
    ports = collections.Counter()
    mmio = 0
    for line in trace.splitlines():
        m = re.search(r"kvm_exit: (?:vcpu \d+ )?reason (\S+)", line)
        if m:
            reasons[m.group(1)] += 1
            continue
        m = re.search(r"kvm_pio: pio_(read|write) at (0x[0-9a-f]+)", line)
        if m:
            ports["0x%x" % int(m.group(2), 16)] += 1
        elif "kvm_mmio:" in line:
            mmio += 1
    return reasons, ports, mmio


def microvm_argv(binary, tmp):
    cfg = {"boot-source": {"kernel_image_path": GUEST + "/vmlinux",
                           "initrd_path": GUEST + "/initrd.cpio",
                           "boot_args": cmdline()},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 128}}
    path = os.path.join(tmp, "vm.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return [binary, "--config-file", path, "--no-api", "--boot-timer"]


def qemu_argv():
    return benchenv.qemu_argv(GUEST + "/vmlinux", 128) + [
        "-initrd", GUEST + "/initrd.cpio", "-append", cmdline()]


def run_to_init_exit(name, argv):
    """Runs a monitor until its guest's init printed its exit line (a
    guest that hangs on reboot then still counts), returns stderr."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, errors="replace")
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "microvm-init: exit 0" in line:
            break
    proc.kill()
    _, err = proc.communicate()
    if "microvm-init: exit 0" not in "".join(seen[-1:]):
        raise SystemExit("%s: the guest did not finish:\n%s" % (
            name, ("".join(seen) + err)[-2000:]))
    return err


def measure(name, argv):
    start_tracing()
    err = run_to_init_exit(name, argv)
    reasons, ports, mmio = count(stop_tracing())
    m = re.search(r"Guest-boot-time = (\d+) us", err)
    print("\n== %s: %d exits%s" % (
        name, sum(reasons.values()),
        ", boot timer %.3f s" % (int(m.group(1)) / 1e6) if m else ""))
    print("   by reason: " + ", ".join(
        "%s %d" % kv for kv in reasons.most_common(8)))
    print("   port I/O %d, MMIO (to userspace or in-kernel) %d" % (
        sum(ports.values()), mmio))
    print("   busiest ports: " + ", ".join(
        "%s %d" % kv for kv in ports.most_common(10)))


def main():
    benchenv.run_with_kvm()
    print("exits: one boot of the test guest to init and back (`%s`), "
          "1 vCPU, 128 MiB\n%s; QEMU -cpu %s" % (
              COMMAND, benchenv.describe(), benchenv.qemu_cpu()))
    monitors = [a.split("=", 1) for a in sys.argv[1:]] or [
        ("microvm", os.path.join(ROOT, "build", "microvm"))]
    with tempfile.TemporaryDirectory() as tmp:
        for name, binary in monitors:
            measure(name, microvm_argv(binary, tmp))
    measure("qemu -M microvm", qemu_argv())


if __name__ == "__main__":
    main()
