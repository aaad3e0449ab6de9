# SPDX-License-Identifier: Apache-2.0
"""virtio-rng: the guest's hw_random core picks our device and reads
entropy from /dev/hwrng through it (under a rate limiter). The guest is
restored from the run's booted snapshot (its layout has the rng device
with a 4096-byte bucket refilled every 100 ms)."""
import re
import unittest

from microvm_harness import RestoredGuest, needs_kvm


@needs_kvm
class VirtioRng(unittest.TestCase):
    def test_guest_reads_hwrng(self):
        guest = RestoredGuest(self)
        r = guest.run("cat /sys/class/misc/hw_random/rng_current; "
                      "dd if=/dev/hwrng of=/tmp/r bs=64 count=16; "
                      "od -An -tx1 -N64 /tmp/r")
        self.assertEqual(r.code, 0, r)
        self.assertIn("virtio_rng.0", r.out, "the guest did not pick virtio-rng")
        self.assertIn("16+0 records out", r.out, r)
        hexbytes = re.findall(r"^(?: [0-9a-f]{2}){16}\s*$", r.out, re.M)
        self.assertEqual(len(hexbytes), 4, r.out)
        values = "".join(hexbytes).split()
        self.assertGreater(len(set(values)), 16, "not random: %s" % values)


if __name__ == "__main__":
    unittest.main()
