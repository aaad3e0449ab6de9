# SPDX-License-Identifier: Apache-2.0
"""The metadata service (MMDS) with a real guest on a tap in a network
namespace: V1 from a config file and --metadata (a leaf, a listing, JSON,
a 64 KiB value; a ping to the host still goes through the tap), V2
through the API (a token from PUT with busybox nc, GET with it, 401
without, a PATCH after boot the guest then reads), and a snapshot: the
MMDS configuration is kept, the store is empty after the load, the
guest's old token is refused and a new one works. Without a guest: the
API's answers and rejections as Firecracker gives them."""
import hashlib
import json
import os
import random
import shutil
import subprocess
import tempfile
import unittest

from microvm_harness import (BOOT_TIMEOUT, INITRD, MICROVM, VMLINUX,
                             ApiProcess, LineReader, guest_cmdline, needs_kvm,
                             run_microvm, tap_namespace, write_config)

MMDS = "169.254.169.254"
DATA = {"latest": {"meta-data": {"ami-id": "ami-12345678",
                                 "tags": {"env": "test", "role": "sandbox"}}}}
# A 64 KiB value: 45 full segments from the MMDS, any loss, reordering or
# corruption changes its digest.
BIG = "".join(random.Random(15).choice("abcdefghijklmnopqrstuvwxyz0123456789")
              for _ in range(65536))

# The guest's side, read by sh from a drive (/dev/vda, the initrd is root).
NET_UP = """
ip addr add 172.16.0.2/30 dev eth0
ip link set eth0 up
ip route add %s/32 dev eth0
get() { wget -q -O - "$@" 2>&1; }
tok() {
  printf 'PUT /latest/api/token HTTP/1.1\\r\\nHost: x\\r\\nX-metadata-token-ttl-seconds: 300\\r\\n\\r\\n' |
    timeout 5 nc %s 80 | tail -n 1
}
""" % (MMDS, MMDS)

V1_SCRIPT = NET_UP + """
echo "leaf=$(get http://%(m)s/latest/meta-data/ami-id)"
echo "listing=$(get http://%(m)s/latest/meta-data/ | tr '\\n' ,)"
echo "json=$(get --header 'Accept: application/json' http://%(m)s/latest/meta-data/tags)"
echo "big=$(get http://%(m)s/big | wc -c) $(get http://%(m)s/big | md5sum)"
ping -c 1 -W 10 172.16.0.1 >/dev/null && echo ping-through-tap
""" % {"m": MMDS}

V2_SCRIPT = NET_UP + """
T=$(tok)
echo "token-len=${#T}"
echo "v2=$(get --header "X-metadata-token: $T" http://%(m)s/latest/meta-data/ami-id)"
get http://%(m)s/latest/meta-data/ami-id | grep -q 401 && echo no-token-401
echo waiting-for-patch
until v=$(wget -q -O - --header "X-metadata-token: $T" http://%(m)s/late); do sleep 0.5; done
echo "late=$v"
until get --header "X-metadata-token: $T" http://%(m)s/after | grep -q 401; do sleep 0.5; done
echo old-token-401
T=$(tok)
until v=$(wget -q -O - --header "X-metadata-token: $T" http://%(m)s/after); do sleep 0.5; done
echo "after=$v"
""" % {"m": MMDS}


def script_drive(path, text):
    """The script padded with newlines to whole sectors."""
    data = text.encode()
    data += b"\n" * (-len(data) % 512)
    with open(path, "wb") as f:
        f.write(data)


def ok(api, method, path, body=None):
    status, reply, _ = api.request(method, path, body)
    if status >= 300:
        raise AssertionError("%s %s: %s %s" % (method, path, status, reply))
    return reply


def fault(api, method, path, body, status=400):
    got, reply, _ = api.request(method, path, body)
    if got != status:
        raise AssertionError("%s %s: %s %s, not %s" % (method, path, got,
                                                        reply, status))
    return reply["fault_message"]


@needs_kvm
@unittest.skipUnless(os.geteuid() == 0, "creating a netns and a tap needs root")
class MmdsGuest(unittest.TestCase):
    def setUp(self):
        self.ns = tap_namespace(self, "microvm-mmds")
        self.dir = tempfile.mkdtemp()
        self.apis = []

    def tearDown(self):
        for api in self.apis:
            api.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def boot_source(self, script):
        path = os.path.join(self.dir, "script")
        script_drive(path, script)
        return ({"kernel_image_path": VMLINUX, "initrd_path": INITRD,
                 "boot_args": guest_cmdline() + " -- sh /dev/vda"},
                {"drive_id": "script", "path_on_host": path,
                 "is_root_device": False, "is_read_only": True})

    def api(self, *args):
        api = ApiProcess(list(args), stdout=subprocess.PIPE,
                         wrapper=("ip", "netns", "exec", self.ns))
        self.apis.append(api)
        return api, LineReader(api.proc.stdout)

    def test_v1_from_config_file_and_metadata(self):
        boot, drive = self.boot_source(V1_SCRIPT)
        meta = os.path.join(self.dir, "meta.json")
        with open(meta, "w") as f:
            json.dump(dict(DATA, big=BIG), f, indent=4)
        cfg = {"boot-source": boot,
               "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},
               "drives": [drive],
               "mmds-config": {"network_interfaces": ["eth0"]},
               "network-interfaces": [{"iface_id": "eth0",
                                       "host_dev_name": "tap0"}]}
        path = write_config(self.dir, cfg)
        r = subprocess.run(["ip", "netns", "exec", self.ns, MICROVM,
                            "--config-file", path, "--no-api", "--metadata",
                            meta, "--mmds-size-limit", "100000"],
                           capture_output=True, text=True,
                           timeout=BOOT_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("leaf=ami-12345678", r.stdout)
        self.assertIn("listing=ami-id,tags/\n", r.stdout)  # no last newline
        self.assertIn('json={"env":"test","role":"sandbox"}', r.stdout)
        self.assertIn("big=65536 %s" % hashlib.md5(BIG.encode()).hexdigest(),
                      r.stdout)
        self.assertIn("ping-through-tap", r.stdout)

    def configure_v2(self, api):
        boot, drive = self.boot_source(V2_SCRIPT)
        ok(api, "PUT", "/boot-source", boot)
        ok(api, "PUT", "/drives/script", drive)
        self.assertIn("does not correspond to any existing network interface",
                      fault(api, "PUT", "/mmds/config",
                            {"network_interfaces": ["eth0"]}))
        ok(api, "PUT", "/network-interfaces/eth0",
           {"iface_id": "eth0", "host_dev_name": "tap0"})
        self.assertIn("The MMDS IPv4 address is not link local",
                      fault(api, "PUT", "/mmds/config",
                            {"network_interfaces": ["eth0"],
                             "ipv4_address": "172.16.0.9"}))
        ok(api, "PUT", "/mmds/config", {"version": "V2",
                                        "network_interfaces": ["eth0"]})
        ok(api, "PUT", "/mmds", DATA)

    def test_v2_patch_after_boot_and_snapshot(self):
        api, lines = self.api()
        self.configure_v2(api)
        expected = {"version": "V2", "network_interfaces": ["eth0"],
                    "ipv4_address": MMDS, "imds_compat": False}
        self.assertEqual(ok(api, "GET", "/vm/config")["mmds-config"],
                         expected)
        ok(api, "PUT", "/actions", {"action_type": "InstanceStart"})
        self.assertIn("not supported after starting",
                      fault(api, "PUT", "/mmds/config",
                            {"network_interfaces": ["eth0"]}))
        lines.wait_for("waiting-for-patch", BOOT_TIMEOUT)
        out = "\n".join(lines.lines)
        self.assertIn("token-len=32", out)
        self.assertIn("v2=ami-12345678", out)
        self.assertIn("no-token-401", out)
        ok(api, "PATCH", "/mmds", {"late": "patched", "latest": None})
        self.assertEqual(ok(api, "GET", "/mmds"), {"late": "patched"})
        lines.wait_for("late=patched", 60)

        ok(api, "PATCH", "/vm", {"state": "Paused"})
        ok(api, "PUT", "/snapshot/create", {
            "snapshot_path": os.path.join(self.dir, "state"),
            "mem_file_path": os.path.join(self.dir, "mem")})
        api.stop()
        self.apis.remove(api)

        api, lines = self.api()
        ok(api, "PUT", "/snapshot/load", {
            "snapshot_path": os.path.join(self.dir, "state"),
            "mem_backend": {"backend_type": "File",
                            "backend_path": os.path.join(self.dir, "mem")},
            "resume_vm": True})
        self.assertEqual(ok(api, "GET", "/vm/config")["mmds-config"],
                         expected)
        self.assertEqual(ok(api, "GET", "/mmds"), {})  # not in a snapshot
        lines.wait_for("old-token-401", 60)  # a new process, a new key
        ok(api, "PUT", "/mmds", {"after": "loaded"})
        lines.wait_for("after=loaded", 60)


class MmdsApi(unittest.TestCase):
    """The store and its configuration through the API, no guest."""

    def setUp(self):
        self.api = ApiProcess(["--mmds-size-limit", "64"])

    def tearDown(self):
        self.assertTrue(self.api.alive(), "microvm died during the test")
        self.api.stop()

    def test_store(self):
        api = self.api
        self.assertEqual(ok(api, "GET", "/mmds"), {})
        self.assertIn("The MMDS data store is not initialized",
                      fault(api, "PATCH", "/mmds", {"a": 1}))
        self.assertIn("MMDS limit exceeded error",
                      fault(api, "PUT", "/mmds", {"a": "x" * 64}, 413))
        ok(api, "PUT", "/mmds", {"b": {"c": 1, "d": [1, 2]}, "a": "x"})
        ok(api, "PATCH", "/mmds", {"b": {"c": None, "e": True}})
        self.assertEqual(ok(api, "GET", "/mmds"),
                         {"a": "x", "b": {"d": [1, 2], "e": True}})
        self.assertIn("MMDS limit exceeded error",
                      fault(api, "PATCH", "/mmds", {"z": "y" * 40}, 413))
        self.assertEqual(ok(api, "GET", "/mmds")["a"], "x")  # unchanged
        self.assertIn("invalid JSON body", fault(api, "PUT", "/mmds", "{"))

    def test_config_rejections(self):
        api = self.api
        self.assertIn("contains at least one ID that does not correspond",
                      fault(api, "PUT", "/mmds/config",
                            {"network_interfaces": ["eth0"]}))
        self.assertIn("is empty", fault(api, "PUT", "/mmds/config",
                                        {"network_interfaces": []}))
        for ip in ("10.0.0.1", "169.254.0.1", "169.254.255.7"):
            self.assertIn("The MMDS IPv4 address is not link local",
                          fault(api, "PUT", "/mmds/config",
                                {"network_interfaces": ["eth0"],
                                 "ipv4_address": ip}))
        self.assertIn("'V3' is not one of V1, V2",
                      fault(api, "PUT", "/mmds/config",
                            {"network_interfaces": ["eth0"],
                             "version": "V3"}))
        self.assertIn("Invalid request method and/or path",
                      fault(api, "PUT", "/mmds/other", {}))
        self.assertIsNone(ok(api, "GET", "/vm/config")["mmds-config"])

    def test_bad_command_line(self):
        for args in (["--mmds-size-limit", "0"],
                     ["--mmds-size-limit", "2147483648"],
                     ["--mmds-size-limit", "x"]):
            r = subprocess.run([MICROVM] + args, capture_output=True,
                               text=True, timeout=10)
            self.assertEqual(r.returncode, 153, args)
            self.assertIn("invalid --mmds-size-limit", r.stderr)
        with tempfile.TemporaryDirectory() as d:
            meta = os.path.join(d, "meta.json")
            with open(meta, "w") as f:
                f.write("{not json")
            cfg = write_config(d, {"boot-source": {
                "kernel_image_path": VMLINUX}})
            r = run_microvm(["--config-file", cfg, "--no-api", "--metadata",
                             meta], timeout=10)
            self.assertEqual(r.code, 152, r)
            self.assertIn("--metadata %s: not valid JSON" % meta, r.err)
