# SPDX-License-Identifier: Apache-2.0
"""virtio-blk with the real Linux driver: an ext4 root on a read-only
drive, 64 MiB copied by the guest from one drive to another and checked
byte for byte on the host, a read-only drive that refuses writes and stays
unchanged, and the drive id the guest reads back."""
import hashlib
import os
import shutil
import tempfile
import unittest

from microvm_harness import GUEST, VMLINUX, boot, guest_cmdline, needs_kvm


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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


if __name__ == "__main__":
    unittest.main()
