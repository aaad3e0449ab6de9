# SPDX-License-Identifier: Apache-2.0
"""virtio-mem with a real guest: plugging 128 MiB raises the guest's
MemTotal (read from /proc/meminfo) and the guest fills more than its boot
memory; unplugging gives the memory back to the host (the RSS of the
region's mapping in /proc/PID/smaps drops) and MemTotal falls again.
API errors are Firecracker's {"fault_message"} answers. A snapshot of a
VM with 128 MiB plugged and a file written into them loads in a fresh
microvm, from the memory file (File) and through microvm-uffd (Uffd), with
the same MemTotal and the file's checksum; unplugging works after the
load. The File load, with its memory unplugged and the file gone, is
rewound: the blocks, MemTotal and the file's bytes are back, and
unplugging works again. A rewind of the Uffd load is refused."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from microvm_harness import (INITRD, VMLINUX, ApiProcess, LineReader,
                             PreBootApi,
                             guest_cmdline, needs_kvm)
from test_balloon import guest_rss_mib, ok, wait_until
from test_snapshot import UFFD_HANDLER

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


# After 200 MiB are there: counts the online memory blocks, writes 160 MiB
# of random bytes (8 MiB repeated) in a tmpfs file (into the hot-plugged,
# movable memory first), then prints its checksum five times, one a second,
# and removes it.
WRITE_AND_SUM = (
    'sh -c "mount -t tmpfs -o size=1024m none /mnt; '
    'dd if=/dev/urandom of=/c bs=1M count=8 2>/dev/null; k=0; while true; do '
    "t=$(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo); "
    'echo memtotal $t; '
    'if [ $t -gt 200 ] && [ ! -e /mnt/f ] && [ ! -e /done ]; then '
    'echo online $(grep -l online /sys/devices/system/memory/memory*/state'
    ' | wc -l); i=0; while [ $i -lt 20 ]; do cat /c; i=$((i+1)); done '
    '> /mnt/f; echo written; fi; '
    'if [ -e /mnt/f ]; then echo sum $(md5sum /mnt/f | cut -c1-32); '
    'k=$((k+1)); if [ $k -ge 5 ]; then rm /mnt/f; touch /done; '
    'echo freed; fi; fi; sleep 1; done"')


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
    # the guest's script, by test (else WATCH_AND_FILL)
    SCRIPTS = {"test_snapshot_and_load_keep_hotplugged_memory": WRITE_AND_SUM}

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.api = ApiProcess(stdout=subprocess.PIPE)
        script = self.SCRIPTS.get(self._testMethodName, WATCH_AND_FILL)
        ok(self.api, "PUT", "/boot-source", {
            "kernel_image_path": VMLINUX, "initrd_path": INITRD,
            # as Firecracker's docs advise: hot-plugged memory movable, so
            # that the guest can unplug it again
            "boot_args": guest_cmdline() + " memhp_default_state=online_movable"
            " -- " + script})
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

    def test_snapshot_and_load_keep_hotplugged_memory(self):
        self.lines.wait_for("memtotal", 120)
        boot_total = mem_totals(self.lines)[0]
        self.resize(128)
        self.lines.wait_for("sum ", 180)
        total = mem_totals(self.lines)[-1]
        self.assertGreaterEqual(total - boot_total, 120)
        online = [int(l.split()[1]) for l in self.lines.lines
                  if l.startswith("online ")][0]
        self.assertGreater(online, 0)
        sums = [l.split()[1] for l in self.lines.lines if l.startswith("sum ")]
        self.assertGreaterEqual(self.region_rss(), 64, "the file is there")
        ok(self.api, "PATCH", "/vm", {"state": "Paused"})
        snap, mem = (os.path.join(self.dir, n) for n in ("snap", "mem"))
        ok(self.api, "PUT", "/snapshot/create",
           {"snapshot_path": snap, "mem_file_path": mem})
        self.assertEqual(os.path.getsize(mem), (MEM_MIB + TOTAL_MIB) << 20)
        self.api.stop()

        for backend in ("File", "Uffd"):
            with self.subTest(backend=backend):
                self.load_and_check(snap, mem, backend, sums[0], total,
                                    boot_total)

    def load_and_check(self, snap, mem, backend, want_sum, total,
                       boot_total):
        """A fresh microvm loads the snapshot: the plugged memory, MemTotal
        and the file's bytes are back; unplugging works after it."""
        path, handler = mem, None
        if backend == "Uffd":
            path = os.path.join(self.dir, "uffd.sock")
            handler = subprocess.Popen(
                [UFFD_HANDLER, "--socket", path, "--mem-file", mem])
            while not os.path.exists(path):
                time.sleep(0.01)
        try:
            self.api = ApiProcess(stdout=subprocess.PIPE)
            self.lines = LineReader(self.api.proc.stdout)
            ok(self.api, "PUT", "/snapshot/load", {
                "snapshot_path": snap,
                "mem_backend": {"backend_type": backend,
                                "backend_path": path},
                "track_dirty_pages": True, "resume_vm": True})
            if backend == "Uffd":
                status, reply, _ = self.api.request(
                    "PUT", "/snapshot/rewind", {})
                self.assertEqual(status, 400, reply)
                self.assertIn("needs the snapshot loaded from its memory "
                              "file", reply["fault_message"])
            self.check_plugged_file_and_unplug(want_sum, total, boot_total,
                                               "the load")
            if backend == "File":
                ok(self.api, "PUT", "/snapshot/rewind", {"resume_vm": True})
                self.lines.lines.clear()
                self.check_plugged_file_and_unplug(want_sum, total,
                                                   boot_total, "the rewind")
        finally:
            self.api.stop()
            if handler:
                handler.kill()
                handler.wait()

    def check_plugged_file_and_unplug(self, want_sum, total, boot_total,
                                      after):
        """128 MiB plugged, MemTotal and the file's checksum as saved; once
        the guest removed the file, unplugging all of it works."""
        self.assertEqual(self.status()["plugged_size_mib"], 128)
        self.assertEqual(self.status()["requested_size_mib"], 128)
        self.lines.wait_for("sum ", 120)
        self.assertEqual(mem_totals(self.lines)[-1], total)
        sums = [l.split()[1] for l in self.lines.lines
                if l.startswith("sum ")]
        self.assertEqual(set(sums), {want_sum},
                         "the file's bytes came back after " + after)
        self.lines.wait_for("freed", 60)
        self.resize(0)
        wait_until("MemTotal back after " + after,
                   lambda: mem_totals(self.lines)[-1] <= boot_total + 8)

    def test_hostile_memory_file(self):
        """A memory file that lacks the hot-plug region is refused."""
        self.lines.wait_for("memtotal", 120)
        ok(self.api, "PATCH", "/vm", {"state": "Paused"})
        snap, mem = (os.path.join(self.dir, n) for n in ("snap", "mem"))
        ok(self.api, "PUT", "/snapshot/create",
           {"snapshot_path": snap, "mem_file_path": mem})
        os.truncate(mem, MEM_MIB << 20)
        api = ApiProcess()
        try:
            status, reply, _ = api.request("PUT", "/snapshot/load", {
                "snapshot_path": snap,
                "mem_backend": {"backend_type": "File", "backend_path": mem}})
            self.assertEqual(status, 400, reply)
            self.assertIn("size is not the VM's memory size",
                          reply["fault_message"])
        finally:
            api.stop()
        ok(self.api, "PATCH", "/vm", {"state": "Resumed"})
        n = len(mem_totals(self.lines))
        wait_until("the guest going on", lambda: len(mem_totals(self.lines))
                   >= n + 2, timeout=30)


if __name__ == "__main__":
    unittest.main()
