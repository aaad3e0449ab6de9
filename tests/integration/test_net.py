# SPDX-License-Identifier: Apache-2.0
"""virtio-net on a tap in a network namespace the test creates: the guest
sees the MAC the API gave it, pings the host, and TCP transfers in both
directions arrive intact (sha256 on the host for guest->host, the bytes
the guest wrote to a drive for host->guest)."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import time

from microvm_harness import (BOOT_TIMEOUT, GUEST, INITRD, MICROVM, VMLINUX,
                             ApiProcess, LineReader, guest_cmdline, needs_kvm,
                             tap_namespace, write_config)

SIZE = 2 << 20  # the guest's TCP stack runs under the emulator: ~120 KB/s
MAC = "06:00:ac:10:00:02"


@needs_kvm
@unittest.skipUnless(os.geteuid() == 0, "creating a netns and a tap needs root")
class VirtioNet(unittest.TestCase):
    def setUp(self):
        self.ns = tap_namespace(self, "microvm-net")
        self.dir = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_ping_mac_and_tcp_both_ways(self):
        d = self.dir
        root, src, dst = (os.path.join(d, n) for n in ("root.ext4", "src.img",
                                                       "dst.img"))
        shutil.copyfile(os.path.join(GUEST, "rootfs.ext4"), root)
        with open(src, "wb") as f:
            f.write(os.urandom(SIZE))
        with open(dst, "wb") as f:
            f.truncate(SIZE)
        command = ('sh -c "ip addr add 172.16.0.2/30 dev eth0; '
                   'ip link set eth0 up; cat /sys/class/net/eth0/address; '
                   'ping -c 2 172.16.0.1; nc 172.16.0.1 5001 < /dev/vdb; '
                   'nc -l -p 5002 > /dev/vdc; sync; echo net-done"')
        cfg = {"boot-source": {"kernel_image_path": VMLINUX,
                               "boot_args": guest_cmdline() + " -- " + command},
               "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},
               "drives": [
                   {"drive_id": "root", "path_on_host": root,
                    "is_root_device": True, "is_read_only": True},
                   {"drive_id": "src", "path_on_host": src,
                    "is_root_device": False, "is_read_only": True},
                   {"drive_id": "dst", "path_on_host": dst,
                    "is_root_device": False}],
               "network-interfaces": [{"iface_id": "eth0",
                                       "host_dev_name": "tap0",
                                       "guest_mac": MAC}]}
        path = write_config(d, cfg)
        peer = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, sys.executable,
             os.path.join(os.path.dirname(__file__), "net_peer.py"), src,
             str(SIZE)], stdout=subprocess.PIPE, text=True)
        try:
            vm = subprocess.run(["ip", "netns", "exec", self.ns, MICROVM,
                                 "--config-file", path, "--no-api"],
                                capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired as e:
            peer.kill()
            said = e.stdout or b""  # bytes, even with text=True
            if isinstance(said, bytes):
                said = said.decode(errors="replace")
            self.fail("the guest did not finish within 600 s; it wrote:\n" +
                      said[-3000:])
        out, _ = peer.communicate(timeout=60)
        self.assertEqual(vm.returncode, 0, vm.stdout + vm.stderr)
        self.assertIn(MAC, vm.stdout)
        self.assertIn("2 packets received", vm.stdout)
        self.assertIn("net-done", vm.stdout)
        result = json.loads(out)
        print("net: %d bytes guest->host in %.1f s, host->guest in %.1f s" %
              (SIZE, result["rx_s"], result["tx_s"]))
        with open(src, "rb") as f:
            sent = f.read()
        self.assertEqual(result["received"], SIZE)
        self.assertEqual(result["sha256"], hashlib.sha256(sent).hexdigest())
        with open(dst, "rb") as f:
            self.assertEqual(f.read(), sent, "host->guest bytes differ")

    def test_patch_lifts_the_tx_limit(self):
        """PATCH /network-interfaces/{id} after boot (finding 7): with tx
        limited to one frame per 100 s the guest's ping does not get
        through; a PATCH limiting rx, created unlimited, is refused; the
        PATCH that removes the tx limit lets the ping through at once."""
        command = ('sh -c "ip addr add 172.16.0.2/30 dev eth0; '
                   'ip link set eth0 up; echo eth0-up; '
                   'until ping -c 1 -W 1 172.16.0.1; do :; done; '
                   'echo reached-host; sleep 1000"')
        one_per_100s = {"ops": {"size": 1, "refill_time": 100000}}
        api = ApiProcess(stdout=subprocess.PIPE,
                         wrapper=["ip", "netns", "exec", self.ns])
        self.addCleanup(api.stop)
        lines = LineReader(api.proc.stdout)
        for path, body in (
                ("/boot-source", {"kernel_image_path": VMLINUX,
                                  "initrd_path": INITRD,
                                  "boot_args": guest_cmdline() + " -- " +
                                  command}),
                ("/network-interfaces/eth0", {
                    "iface_id": "eth0", "host_dev_name": "tap0",
                    "tx_rate_limiter": one_per_100s}),
                ("/actions", {"action_type": "InstanceStart"})):
            self.assertEqual(api.request("PUT", path, body)[0], 204, path)
        lines.wait_for("eth0-up", BOOT_TIMEOUT)
        time.sleep(10)
        self.assertNotIn("reached-host", "\n".join(lines.lines))
        status, reply, _ = api.request("PATCH", "/network-interfaces/eth0", {
            "iface_id": "eth0", "rx_rate_limiter": one_per_100s,
            "tx_rate_limiter": {"ops": {"size": 0, "refill_time": 0}}})
        self.assertEqual(status, 400, reply)
        self.assertIn("created with one", reply["fault_message"])
        self.assertEqual(api.request("PATCH", "/network-interfaces/eth0", {
            "iface_id": "eth0",
            "tx_rate_limiter": {"ops": {"size": 0, "refill_time": 0}}})[0],
            204)
        lines.wait_for("reached-host", 30)
        iface = api.request("GET", "/vm/config")[1]["network-interfaces"][0]
        self.assertNotIn("tx_rate_limiter", iface)  # the config follows

    def test_mtu_offered_to_guest_and_set_on_tap(self):
        command = 'sh -c "echo mtu=$(cat /sys/class/net/eth0/mtu)"'
        cfg = {"boot-source": {"kernel_image_path": VMLINUX,
                               "initrd_path": os.path.join(GUEST, "initrd.cpio"),
                               "boot_args": guest_cmdline() + " -- " + command},
               "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},
               "network-interfaces": [{"iface_id": "eth0",
                                       "host_dev_name": "tap0", "mtu": 4000}]}
        vm = subprocess.run(["ip", "netns", "exec", self.ns, MICROVM,
                             "--config-file", write_config(self.dir, cfg),
                             "--no-api"],
                            capture_output=True, text=True, timeout=BOOT_TIMEOUT)
        self.assertEqual(vm.returncode, 0, vm.stdout + vm.stderr)
        self.assertIn("mtu=4000", vm.stdout)  # VIRTIO_NET_F_MTU
        link = subprocess.run(["ip", "netns", "exec", self.ns, "cat",
                               "/sys/class/net/tap0/mtu"], capture_output=True,
                              text=True, check=True).stdout
        self.assertEqual(link.strip(), "4000")


if __name__ == "__main__":
    unittest.main()
