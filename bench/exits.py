#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Port-I/O exits of one guest boot, per port: boots the guest with
`--level Trace` (one log line per port-I/O exit), then prints the boot
timer's figure, the total and the busiest ports. The log goes to a
temporary directory (use a tmpfs: tens of thousands of lines).

  python3 bench/exits.py [--microvm BIN] [--kernel K] [--initrd I]
                         [--mem MIB] [--args "console=ttyS0 ... -- true"]

Defaults: build/microvm, the test guest, 128 MiB, the plain command line
`console=ttyS0 reboot=k panic=1 -- true`. Tracing slows each exit a
little: take boot times from bench/boot.py, not from here."""
import argparse
import collections
import json
import os
import re
import subprocess
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
GUEST = os.path.join(ROOT, "build", "guest")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--microvm", default=os.path.join(ROOT, "build", "microvm"))
    p.add_argument("--kernel", default=os.path.join(GUEST, "vmlinux"))
    p.add_argument("--initrd", default=os.path.join(GUEST, "initrd.cpio"))
    p.add_argument("--mem", type=int, default=128)
    p.add_argument("--args", default="console=ttyS0 reboot=k panic=1 -- true")
    p.add_argument("--top", type=int, default=15)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = {"boot-source": {"kernel_image_path": a.kernel,
                               "initrd_path": a.initrd, "boot_args": a.args},
               "machine-config": {"vcpu_count": 1, "mem_size_mib": a.mem}}
        with open(os.path.join(tmp, "vm.json"), "w") as f:
            json.dump(cfg, f)
        log = os.path.join(tmp, "log")
        r = subprocess.run([a.microvm, "--config-file", f.name, "--no-api",
                            "--boot-timer", "--level", "Trace",
                            "--log-path", log],
                           stdout=subprocess.DEVNULL, timeout=900)
        counts = collections.Counter()
        boot = "none"
        with open(log, errors="replace") as f:
            for line in f:
                m = re.search(r"port-I/O (in|out) (0x[0-9a-f]+)", line)
                if m:
                    counts[m.group(1) + " " + m.group(2)] += 1
                elif "Guest-boot-time" in line:
                    boot = line.split("Guest-boot-time = ")[1].strip()
    print("exit code %d, boot timer: %s" % (r.returncode, boot))
    print("port-I/O exits: %d" % sum(counts.values()))
    for port, n in counts.most_common(a.top):
        print("%8d  %s" % (n, port))


if __name__ == "__main__":
    main()
