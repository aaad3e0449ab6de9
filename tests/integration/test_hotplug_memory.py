# SPDX-License-Identifier: Apache-2.0
"""virtio-mem with a real guest: plugging 128 MiB raises the guest's
MemTotal (read from /proc/meminfo) and the guest fills more than its boot
memory; unplugging gives the memory back to the host (the RSS of the
region's mapping in /proc/PID/smaps drops) and MemTotal falls again.
API errors are Firecracker's {"fault_message"} answers; a snapshot of a
VM with hot-pluggable memory is refused."""
import os
import shutil
import subprocess
import tempfile
import unittest

from microvm_harness import (INITRD, VMLINUX, ApiProcess, LineReader,
                             PreBootApi,
                             guest_cmdline, needs_kvm)
from test_balloon import guest_rss_mib, ok, wait_until

MEM_MIB = 128
TOTAL_MIB = 256
HOTPLUG = {"total_size_mib": TOTAL_MIB, "block_size_mib": 2,
           "slot_size_mib": 128}
# Prints MemTotal every second; once more than 200 MiB are there, fills
# all but 24 MiB of the free memory (more than the boot memory holds) in a
# tmpfs file, then frees it. tmpfs, not ramfs: its pages are movable, and
# hot-plugged memory onlined movable takes movable pages only (ramfs's
# would leave the guest out of memory).
WATCH_AND_FILL = (
    'sh -c "mount -t tmpfs -o size=1024m none /mnt; while true; do '
    "t=$(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo); "
    'echo memtotal $t; '
    'if [ $t -gt 200 ] && [ ! -e /done ]; then '
    "n=$(awk '/MemFree/{print int($2/1024)-24}' /proc/meminfo); "
    'dd if=/dev/zero of=/mnt/f bs=1M count=$n 2>/dev/null && '
    'echo filled $n; sleep 2; rm /mnt/f; touch /done; echo freed; fi; '
    'sleep 1; done"')


def mem_totals(lines):
    return [int(l.split()[1]) for l in list(lines.lines)
            if l.startswith("memtotal ")]


class HotplugApi(PreBootApi):
    """Before boot: no guest needed."""

    def test_pre_boot(self):
        self.bad("GET", "/hotplug/memory", None, "No hot-pluggable memory")
        for body, needle in (
                ({}, "total_size_mib"),
                ({"total_size_mib": 1024, "block_size_mib": 1},
                 "Block size must not be lower than 2 MiB"),
                ({"total_size_mib": 1024, "block_size_mib": 3},
                 "Block size must be a power of 2"),
                ({"total_size_mib": 1024, "slot_size_mib": 64},
                 "Slot size must not be lower than 128 MiB"),
                ({"total_size_mib": 1024, "block_size_mib": 4,
                  "slot_size_mib": 130},
                 "Slot size must be a multiple of block size (4 MiB)"),
                ({"total_size_mib": 64},
                 "Total size must not be lower than slot size (128 MiB)"),
                ({"total_size_mib": 1000},
                 "Total size must be a multiple of slot size (128 MiB)"),
                ({"total_size_mib": 1024, "x": 1}, "unknown field 'x'")):
            self.bad("PUT", "/hotplug/memory", body, needle)
        self.bad("PATCH", "/hotplug/memory", {"requested_size_mib": 2},
                 "not supported before starting")
        ok(self.api, "PUT", "/hotplug/memory", {"total_size_mib": 512})
        status = {"total_size_mib": 512, "block_size_mib": 2,
                  "slot_size_mib": 128}
        self.assertEqual(ok(self.api, "GET", "/vm/config")["memory-hotplug"],
                         status)
        status.update(plugged_size_mib=0, requested_size_mib=0)
        self.assertEqual(ok(self.api, "GET", "/hotplug/memory"), status)


@needs_kvm
class Hotplug(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.api = ApiProcess(stdout=subprocess.PIPE)
        ok(self.api, "PUT", "/boot-source", {
            "kernel_image_path": VMLINUX, "initrd_path": INITRD,
            # as Firecracker's docs advise: hot-plugged memory movable, so
            # that the guest can unplug it again
            "boot_args": guest_cmdline() + " memhp_default_state=online_movable"
            " -- " + WATCH_AND_FILL})
        ok(self.api, "PUT", "/machine-config",
           {"vcpu_count": 1, "mem_size_mib": MEM_MIB})
        ok(self.api, "PUT", "/hotplug/memory", HOTPLUG)
        ok(self.api, "PUT", "/actions", {"action_type": "InstanceStart"})
        self.lines = LineReader(self.api.proc.stdout)

    def tearDown(self):
        self.api.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def status(self):
        return ok(self.api, "GET", "/hotplug/memory")

    def region_rss(self):
        return guest_rss_mib(self.api.proc.pid, TOTAL_MIB)

    def resize(self, mib):
        ok(self.api, "PATCH", "/hotplug/memory", {"requested_size_mib": mib})
        wait_until("%d MiB plugged" % mib,
                   lambda: self.status()["plugged_size_mib"] == mib)

    def test_plug_use_and_unplug(self):
        self.lines.wait_for("memtotal", 120)
        boot_total = mem_totals(self.lines)[0]
        self.assertLess(boot_total, MEM_MIB)
        self.resize(128)
        self.assertEqual(self.status()["requested_size_mib"], 128)
        wait_until("MemTotal up by 120 MiB",
                   lambda: mem_totals(self.lines)[-1] - boot_total >= 120)
        # the guest uses it: more than the boot memory in one file
        self.lines.wait_for("filled", 120)
        filled = [int(l.split()[1]) for l in self.lines.lines
                  if l.startswith("filled ")][0]
        self.assertGreater(filled, MEM_MIB)
        rss_used = self.region_rss()
        self.assertGreaterEqual(rss_used, 64, "the guest wrote there")
        self.lines.wait_for("freed", 30)
        self.resize(0)
        wait_until("MemTotal back",
                   lambda: mem_totals(self.lines)[-1] <= boot_total + 8)
        rss_back = self.region_rss()
        self.assertLessEqual(rss_back, rss_used - 60,
                             "RSS %.1f -> %.1f MiB" % (rss_used, rss_back))
        # after boot: errors, and the guest runs on
        for body, needle in (
                ({"requested_size_mib": 3}, "multiple of block_size_mib"),
                ({"requested_size_mib": TOTAL_MIB + 2},
                 "more than total_size_mib"),
                ({}, "requested_size_mib is required")):
            status, reply, _ = self.api.request("PATCH", "/hotplug/memory",
                                                body)
            self.assertEqual(status, 400, (body, reply))
            self.assertIn(needle, reply["fault_message"])
        status, reply, _ = self.api.request("PUT", "/hotplug/memory", HOTPLUG)
        self.assertEqual(status, 400, reply)
        self.assertIn("not supported after starting", reply["fault_message"])
        n = len(mem_totals(self.lines))
        wait_until("the guest going on", lambda: len(mem_totals(self.lines))
                   >= n + 2, timeout=30)

    def test_snapshot_is_refused(self):
        self.lines.wait_for("memtotal", 120)
        self.resize(128)
        ok(self.api, "PATCH", "/vm", {"state": "Paused"})
        status, reply, _ = self.api.request("PUT", "/snapshot/create", {
            "snapshot_path": os.path.join(self.dir, "snap"),
            "mem_file_path": os.path.join(self.dir, "mem")})
        self.assertEqual(status, 400, reply)
        self.assertIn("hot-pluggable memory", reply["fault_message"])
        ok(self.api, "PATCH", "/vm", {"state": "Resumed"})
        self.assertEqual(self.status()["plugged_size_mib"], 128)


if __name__ == "__main__":
    unittest.main()
