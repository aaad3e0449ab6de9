# SPDX-License-Identifier: Apache-2.0
"""Boots the real Linux guest (tests/guest) and checks what it does."""
import os
import pty
import re
import subprocess
import tempfile
import time
import unittest

from microvm_harness import (BOOT_TIMEOUT, BZIMAGE, MICROVM, boot,
                             linux_config, needs_kvm, write_config)


def reserve_huge_pages(n):
    """Makes sure n 2 MiB pages are free; False when that is impossible."""
    path = "/proc/sys/vm/nr_hugepages"
    try:
        with open("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") as f:
            free = int(f.read())
        if free >= n:
            return True
        with open(path) as f:
            total = int(f.read())
        with open(path, "w") as f:
            f.write(str(total + n - free))
        with open("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") as f:
            return int(f.read()) >= n
    except OSError:
        return False


def wait_for(stream, text, timeout=BOOT_TIMEOUT):
    deadline = time.monotonic() + timeout
    for line in stream:
        if text in line:
            return line
        if time.monotonic() > deadline:
            break
    raise AssertionError("no %r within %d s" % (text, timeout))


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

    def test_two_vcpus_seen_by_guest_with_huge_pages(self):
        cfg = linux_config("nproc", vcpus=2)
        if reserve_huge_pages(64):
            cfg["machine-config"]["huge_pages"] = "2M"
        else:
            print("NOTE: cannot reserve 2 MiB huge pages here; booting "
                  "without them")
        r = boot(cfg)
        self.assertEqual(r.code, 0, r)
        self.assertEqual(init_exit(r), 0, r)
        lines = r.out.splitlines()
        idx = lines.index("microvm-init: exit 0")
        self.assertEqual(lines[idx - 1].strip(), "2", r)

    def test_console_input_from_a_terminal(self):
        # stdin is a pty: bytes typed there reach the guest's ttyS0.
        master, slave = pty.openpty()
        with tempfile.TemporaryDirectory() as d:
            path = write_config(d, linux_config('sh -c "read x; echo got:$x"'))
            proc = subprocess.Popen(
                [MICROVM, "--config-file", path, "--no-api", "--boot-timer"],
                stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True)
            os.close(slave)
            try:
                wait_for(proc.stderr, "Guest-boot-time")
                time.sleep(1)  # let init start sh and sh reach its read
                os.write(master, b"hello-serial\n")
                out, err = proc.communicate(timeout=BOOT_TIMEOUT)
            finally:
                proc.kill()
                os.close(master)
        self.assertEqual(proc.returncode, 0, out + err)
        self.assertIn("got:hello-serial", out)

    def test_guest_sleeps_and_its_clock_advances(self):
        # The guest's timer interrupts must arrive: on a KVM like the one
        # on real hardware a wrong MP table route for the PIT and no
        # TSC-deadline timer left the first sleep hanging forever.
        for vcpus in (1, 2):
            r = boot(linux_config(
                'sh -c "cat /proc/uptime; sleep 1; cat /proc/uptime"',
                vcpus=vcpus))
            self.assertEqual(r.code, 0, r)
            self.assertEqual(init_exit(r), 0, r)
            up = [float(m) for m in re.findall(r"^(\d+\.\d+) \d+\.\d+\s*$",
                                               r.out, re.M)]
            self.assertEqual(len(up), 2, r)
            self.assertGreaterEqual(up[1] - up[0], 1.0, r)

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
