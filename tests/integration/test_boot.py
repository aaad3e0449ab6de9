# SPDX-License-Identifier: Apache-2.0
"""Boots the real Linux guest (tests/guest) and checks what it does."""
import re
import unittest

from microvm_harness import (BZIMAGE, boot, linux_config, needs_kvm)


def init_exit(result):
    m = re.search(r"microvm-init: exit (\d+)", result.out)
    return int(m.group(1)) if m else None


@needs_kvm
class LinuxBoot(unittest.TestCase):
    def test_one_vcpu_runs_command_and_reports_boot_time(self):
        r = boot(linux_config("nproc"))
        self.assertEqual(r.code, 0, r)
        self.assertEqual(init_exit(r), 0, r)
        lines = r.out.splitlines()
        idx = lines.index("microvm-init: exit 0")
        self.assertEqual(lines[idx - 1].strip(), "1", r)
        m = re.search(r"Guest-boot-time = (\d+) us (\d+) ms, (\d+) CPU us "
                      r"(\d+) CPU ms", r.err)
        self.assertIsNotNone(m, r)
        self.assertEqual(int(m.group(1)) // 1000, int(m.group(2)))

    def test_two_vcpus_seen_by_guest(self):
        r = boot(linux_config("nproc", vcpus=2))
        self.assertEqual(r.code, 0, r)
        self.assertEqual(init_exit(r), 0, r)
        lines = r.out.splitlines()
        idx = lines.index("microvm-init: exit 0")
        self.assertEqual(lines[idx - 1].strip(), "2", r)

    def test_guest_reboot_exits_zero(self):
        # "reboot -f" calls reboot(2) at once: the command never returns,
        # so init never prints its exit line; microvm exits 0 on the reset.
        r = boot(linux_config("reboot -f"), extra_args=())
        self.assertEqual(r.code, 0, r)
        self.assertIsNone(init_exit(r), r)
        self.assertNotIn("Guest-boot-time", r.err)
        self.assertIn("reboot: Restarting system", r.out)

    def test_bzimage_boots(self):
        # 64-bit boot protocol; the LZ4 decompressor runs under this
        # machine's emulator, so this boot takes ~28 s instead of ~12 s.
        r = boot(linux_config("uname -r", kernel=BZIMAGE), timeout=300)
        self.assertEqual(r.code, 0, r)
        self.assertEqual(init_exit(r), 0, r)
        self.assertIn("6.1.", r.out)


if __name__ == "__main__":
    unittest.main()
