#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""virtio-mem plug and unplug rate. A guest (1 vCPU, 256 MiB of boot
memory, memhp_default_state=online_movable as Firecracker advises) with
BENCH_HOTPLUG_MIB (default 512) of hot-pluggable memory in 2 MiB blocks
is asked BENCH_HOTPLUG_ROUNDS times (default 3) to plug all of it
(PATCH /hotplug/memory) and then to unplug all of it; each figure is the
time from the PATCH to GET /hotplug/memory reporting the new plugged size
(polled every 10 ms), as MiB/s of guest memory plugged or given back to
the host. The guest's Linux adds, onlines, offlines and removes the
memory itself: the figures are mostly the guest's. microvm only: QEMU's
virtio-mem is a PCI device, which its microvm machine has not here."""
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "integration"))
from microvm_harness import (INITRD, VMLINUX, ApiProcess,  # noqa: E402
                             LineReader, guest_cmdline)
import benchenv  # noqa: E402

TOTAL = int(os.environ.get("BENCH_HOTPLUG_MIB", "512"))
ROUNDS = int(os.environ.get("BENCH_HOTPLUG_ROUNDS", "3"))
MEM = 256


def ok(api, method, path, body=None):
    status, reply, _ = api.request(method, path, body)
    if status >= 300:
        raise SystemExit("%s %s: %s %s" % (method, path, status, reply))
    return reply


def resize(api, mib, timeout=300):
    """Seconds from the PATCH to the guest having plugged `mib` MiB."""
    start = time.monotonic()
    ok(api, "PATCH", "/hotplug/memory", {"requested_size_mib": mib})
    while time.monotonic() - start < timeout:
        if ok(api, "GET", "/hotplug/memory")["plugged_size_mib"] == mib:
            return time.monotonic() - start
        time.sleep(0.01)
    raise SystemExit("the guest did not reach %d MiB plugged in %d s"
                     % (mib, timeout))


def main():
    benchenv.run_with_kvm()
    api = ApiProcess(stdout=subprocess.PIPE)
    ok(api, "PUT", "/boot-source", {
        "kernel_image_path": VMLINUX, "initrd_path": INITRD,
        "boot_args": guest_cmdline() + " memhp_default_state=online_movable"
        ' -- sh -c "echo ready; sleep 36000"'})
    ok(api, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": MEM})
    ok(api, "PUT", "/hotplug/memory", {"total_size_mib": TOTAL})
    ok(api, "PUT", "/actions", {"action_type": "InstanceStart"})
    LineReader(api.proc.stdout).wait_for("ready", 300)
    plug, unplug = [], []
    try:
        for _ in range(ROUNDS):
            plug.append(TOTAL / resize(api, TOTAL))
            unplug.append(TOTAL / resize(api, 0))
    finally:
        api.stop()
    print("virtio-mem, %d MiB in 2 MiB blocks, %d rounds (%s)"
          % (TOTAL, ROUNDS, benchenv.describe()))
    for name, rates in (("plug", plug), ("unplug", unplug)):
        print("  %-7s median %8.1f MiB/s  (min %.1f, max %.1f)"
              % (name, statistics.median(rates), min(rates), max(rates)))


if __name__ == "__main__":
    main()
