# SPDX-License-Identifier: Apache-2.0
"""virtio-blk with the real Linux driver: an ext4 root on a read-only
drive, 64 MiB copied by the guest from one drive to another and checked
byte for byte on the host, a read-only drive that refuses writes and stays
unchanged, and the drive id the guest reads back."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from microvm_harness import (sha256, BOOT_TIMEOUT, GUEST, INITRD, MICROVM,
                             VMLINUX, ApiProcess, RestoredGuest, boot,
                             guest_cmdline, needs_kvm, write_config)


@needs_kvm
class VirtioBlock(unittest.TestCase):
    def test_sync_engine(self):
        self.copy_read_only_and_id("Sync")

    def test_async_engine(self):
        self.copy_read_only_and_id("Async")

    def copy_read_only_and_id(self, engine):
        with tempfile.TemporaryDirectory() as d:
            root = os.path.join(d, "root.ext4")
            src = os.path.join(d, "src.img")
            dst = os.path.join(d, "dst.img")
            shutil.copyfile(os.path.join(GUEST, "rootfs.ext4"), root)
            with open(src, "wb") as f:
                f.write(os.urandom(64 << 20))
            with open(dst, "wb") as f:
                f.truncate(64 << 20)
            before = {p: sha256(p) for p in (root, src)}
            command = ('sh -c "cat /sys/block/vda/ro /sys/block/vdb/serial; echo; '
                       'dd if=/dev/vdb of=/dev/vdc bs=1M iflag=direct '
                       'oflag=direct; sync; '
                       'dd if=/dev/zero of=/dev/vdb bs=4k count=1 oflag=direct; '
                       'echo ro-write-rc=$?"')
            cfg = {
                "boot-source": {"kernel_image_path": VMLINUX,
                                "boot_args": guest_cmdline() + " -- " + command},
                "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},
                "drives": [
                    {"drive_id": "src", "path_on_host": src,
                     "is_root_device": False, "is_read_only": True},
                    {"drive_id": "rootfs", "path_on_host": root,
                     "is_root_device": True, "is_read_only": True},
                    {"drive_id": "dst", "path_on_host": dst,
                     "is_root_device": False, "cache_type": "Writeback"},
                ],
            }
            for drive in cfg["drives"]:
                drive["io_engine"] = engine
            r = boot(cfg)
            self.assertEqual(r.code, 0, r)
            self.assertIn("microvm-init: exit 0", r.out, r)
            self.assertIn("64+0 records out", r.out, r)
            lines = [l.strip() for l in r.out.splitlines()]
            self.assertIn("1", lines, "root drive not read-only in the guest")
            self.assertIn("src", lines, "GET_ID did not return the drive id")
            self.assertRegex(r.out, r"ro-write-rc=[1-9]")
            self.assertEqual(sha256(dst), before[src],
                             "the copy differs from its source")
            for path, digest in before.items():
                self.assertEqual(sha256(path), digest,
                                 "read-only %s changed" % path)


    def test_rate_limiter_bounds_bandwidth(self):
        # 4 MiB/s (1 MiB bucket refilled every 250 ms): the guest reads
        # 32 MiB with O_DIRECT; the first MiB is the full bucket, the other
        # 31 MiB take 7.75 s. The host times the guest's start and end lines.
        mib = 1 << 20
        with tempfile.TemporaryDirectory() as d:
            root = os.path.join(d, "root.ext4")
            data = os.path.join(d, "data.img")
            shutil.copyfile(os.path.join(GUEST, "rootfs.ext4"), root)
            with open(data, "wb") as f:
                f.truncate(32 * mib)
            command = ('sh -c "echo rl-start; dd if=/dev/vdb of=/dev/null '
                       'bs=1M count=32 iflag=direct; echo rl-end"')
            cfg = {
                "boot-source": {"kernel_image_path": VMLINUX,
                                "boot_args": guest_cmdline() + " -- " + command},
                "drives": [
                    {"drive_id": "rootfs", "path_on_host": root,
                     "is_root_device": True, "is_read_only": True},
                    {"drive_id": "data", "path_on_host": data,
                     "is_root_device": False, "is_read_only": True,
                     "rate_limiter": {"bandwidth": {"size": mib,
                                                    "refill_time": 250}}},
                ],
            }
            path = write_config(d, cfg)
            proc = subprocess.Popen([MICROVM, "--no-api", "--config-file", path],
                                    stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)
            stamps = {}
            deadline = time.monotonic() + BOOT_TIMEOUT
            for line in proc.stdout:
                for mark in ("rl-start", "rl-end"):
                    if line.strip() == mark:
                        stamps[mark] = time.monotonic()
                if "rl-end" in stamps or time.monotonic() > deadline:
                    break
            proc.wait(timeout=60)
        self.assertEqual(proc.returncode, 0)
        self.assertIn("rl-end", stamps, "the guest never finished")
        elapsed = stamps["rl-end"] - stamps["rl-start"]
        expected = 31 / 4
        print("rate limiter: 32 MiB at 4 MiB/s took %.2f s (expected %.2f s)"
              % (elapsed, expected))
        self.assertGreater(elapsed, expected * 0.9, "faster than the limit")
        self.assertLess(elapsed, expected * 1.1 + 0.3,
                        "much slower than the limit (dd start-up allowed)")


    def test_patch_drive_on_a_running_guest_swaps_file_and_size(self):
        """The run's booted snapshot with its scratch drive: each load
        swaps in its own 16 MiB file (PATCH on the paused load), then a
        PATCH on the running guest swaps in a 32 MiB one: the guest sees
        the new size and reads all of it."""
        mib = 1 << 20
        with tempfile.TemporaryDirectory() as d:
            small, big = os.path.join(d, "small.img"), os.path.join(d, "big.img")
            for path, size in ((small, 16 * mib), (big, 32 * mib)):
                with open(path, "wb") as f:
                    f.truncate(size)
            guest = RestoredGuest(self, "scratch", drives={"scratch": small})
            r = guest.run("cat /sys/block/vda/size")
            self.assertEqual((r.code, r.out.split()), (0, ["32768"]), r)
            st, js, _ = guest.api.request("PATCH", "/drives/scratch", {
                "drive_id": "scratch", "path_on_host": big})
            self.assertEqual(st, 204, js)
            self.assertEqual(guest.api.request("PATCH", "/drives/nope", {
                "drive_id": "nope", "path_on_host": big})[0], 400)
            r = guest.run("cat /sys/block/vda/size; "
                          "dd if=/dev/vda of=/dev/null bs=1M iflag=direct")
            self.assertEqual(r.code, 0, r)
            self.assertIn("65536", r.out.split(), r)
            self.assertIn("32+0 records out", r.out, r)
            cfg = guest.check("GET", "/vm/config")
            self.assertEqual(cfg["drives"][0]["path_on_host"], big)

    def test_patch_drive_before_the_driver_probed(self):
        """PATCH /drives right after InstanceStart, before the guest's
        driver has set the device up (finding 2): both a new file and a new
        rate limiter answer 204, and microvm keeps running."""
        api = ApiProcess()
        try:
            d = api.dir.name
            old, new = os.path.join(d, "old.img"), os.path.join(d, "new.img")
            for path in (old, new):
                with open(path, "wb") as f:
                    f.truncate(1 << 20)
            limit = {"bandwidth": {"size": 1 << 20, "refill_time": 100}}
            for path, body in (
                    ("/boot-source", {"kernel_image_path": VMLINUX,
                                      "initrd_path": INITRD,
                                      "boot_args": guest_cmdline() +
                                      " -- sleep 3600"}),
                    ("/drives/data", {"drive_id": "data", "path_on_host": old,
                                      "is_root_device": False,
                                      "rate_limiter": limit}),
                    ("/actions", {"action_type": "InstanceStart"})):
                self.assertEqual(api.request("PUT", path, body)[0], 204, path)
            limit["bandwidth"]["size"] = 2 << 20
            for body in ({"drive_id": "data", "path_on_host": new},
                         {"drive_id": "data", "rate_limiter": limit}):
                st, js, _ = api.request("PATCH", "/drives/data", body)
                self.assertEqual(st, 204, js)
            self.assertEqual(api.request("GET", "/")[1]["state"], "Running")
            self.assertTrue(api.alive())
        finally:
            api.stop()


if __name__ == "__main__":
    unittest.main()
