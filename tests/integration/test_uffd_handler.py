# SPDX-License-Identifier: Apache-2.0
"""microvm-uffd's handshake from the outside, no VM needed: a client sends
Firecracker's JSON array of regions and an fd (an eventfd stands in for the
userfaultfd: a child that accepts the handshake waits on it until the
client goes). Regions at their offsets that make up the whole memory file
(RAM, then a hot-plug region) are accepted; a region outside the file,
regions that are not the whole file or overlap, pages other than 4 KiB,
unaligned places and garbage are refused with "bad handshake"."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from microvm_harness import BUILD

HANDLER = os.path.join(BUILD, "microvm-uffd")
MIB = 1 << 20
BASE = 0x7f0000000000


def region(base, size, offset, kib=4):
    return {"base_host_virt_addr": base, "size": size, "offset": offset,
            "page_size": kib * 1024, "page_size_kib": kib}


class Handshake(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.mem = os.path.join(self.dir, "mem")
        with open(self.mem, "wb") as f:
            f.truncate(6 * MIB)  # 4 MiB of RAM, a 2 MiB region after it
        self.sock = os.path.join(self.dir, "uffd.sock")
        self.handler = subprocess.Popen(
            [HANDLER, "--socket", self.sock, "--mem-file", self.mem],
            stderr=subprocess.PIPE, text=True)
        while not os.path.exists(self.sock):
            time.sleep(0.01)

    def tearDown(self):
        if self.handler.returncode is None:
            self.handler.kill()
            self.handler.communicate()
        shutil.rmtree(self.dir, ignore_errors=True)

    def refused(self, text):
        """Sends text with an fd; True when the child said bad handshake
        and closed the connection."""
        fd = os.eventfd(0)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.connect(self.sock)
            socket.send_fds(c, [text.encode()], [fd])
            c.settimeout(0.5)
            try:
                closed = c.recv(1) == b""
            except socket.timeout:
                closed = False
        os.close(fd)
        return closed

    def test_regions_of_the_whole_file_are_accepted(self):
        for regions in ([region(BASE, 6 * MIB, 0)],
                        [region(BASE, 4 * MIB, 0),
                         region(BASE + 64 * MIB, 2 * MIB, 4 * MIB)]):
            self.assertFalse(self.refused(json.dumps(regions)), regions)

    def test_bad_handshakes_are_refused(self):
        for regions in (
                [region(BASE, 4 * MIB, 0)],  # not the whole file
                [region(BASE, 4 * MIB, 0),
                 region(BASE + 64 * MIB, 4 * MIB, 4 * MIB)],  # past its end
                [region(BASE, 4 * MIB, 0), region(BASE, 2 * MIB, 1 << 63)],
                # the whole file's size, but two regions share bytes of it
                [region(BASE, 4 * MIB, 0),
                 region(BASE + 64 * MIB, 2 * MIB, 2 * MIB)],
                # or host addresses
                [region(BASE, 4 * MIB, 0),
                 region(BASE + 2 * MIB, 2 * MIB, 4 * MIB)],
                [region((1 << 64) - 4096, 6 * MIB, 0)],  # past 2^64
                [region(BASE, 6 * MIB, 0, kib=2048)],  # 2 MiB pages
                [region(BASE + 1, 6 * MIB, 0)],  # unaligned
                [region(BASE, 6 * MIB - 1, 0)],
                [region(BASE, 0, 0)] * 9):
            self.assertTrue(self.refused(json.dumps(regions)), regions)
        for text in ("[", "{}", "[{\"size\": 6291456}]",
                     "[{" + "x" * 1000 + "}]"):
            self.assertTrue(self.refused(text), text)
        self.handler.kill()
        err = self.handler.communicate()[1]
        self.assertEqual(err.count("bad handshake"), 14, err)


if __name__ == "__main__":
    unittest.main()
