# SPDX-License-Identifier: Apache-2.0
"""PUT /snapshot/rewind (microvm's own): a guest counts on its console and
writes a secret into its RAM (/tmp, in the initramfs) once its count
passes SECRET_AT; it is snapshotted before that. Loaded with
track_dirty_pages and rewound five times, running or paused, its count
restarts each time at the snapshot's value, the secret is gone, a host
vsock connection open across the rewind is closed, and the echo server
answers a new one. The same with the Uffd backend in a warm microvm. A
booted VM, a VM loaded without dirty tracking and bad bodies are refused
with a reason, and the VM goes on."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from microvm_harness import (BUILD, INITRD, VMLINUX, ApiProcess, LineReader,
                             guest_cmdline, needs_kvm)
from test_vsock import connect, echo

UFFD_HANDLER = os.path.join(BUILD, "microvm-uffd")
SECRET_AT = 14
SECRET = "s3cr3t-in-ram"
SCRIPT = ('sh -c "vsock-echo 5000 & i=0; while true; do '
          'echo tick $i $(cat /tmp/secret 2>/dev/null); '
          '[ $i -eq %d ] && echo %s > /tmp/secret; '
          'i=$((i+1)); sleep 0.3; done"' % (SECRET_AT, SECRET))
WARM = ["--warm", "vcpus=2,mem_mib=128"]


def ok(api, method, path, body=None):
    status, reply, _ = api.request(method, path, body)
    if status >= 300:
        raise AssertionError("%s %s: %s %s" % (method, path, status, reply))


def tick_lines(lines, since):
    """The console's tick lines from index `since` on, split. A rewind of
    a running guest can cut its line short ("tick 17 s"): the rewound
    guest's first line then runs on from it, and its tick is the last in
    the line."""
    with lines.cond:
        return [l[l.rfind("tick "):].split() for l in lines.lines[since:]
                if "tick " in l]


@needs_kvm
class Rewind(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        """One snapshot of the counter, taken before it wrote the secret."""
        cls.dir = tempfile.mkdtemp()
        api = ApiProcess(stdout=subprocess.PIPE)
        try:
            ok(api, "PUT", "/boot-source", {
                "kernel_image_path": VMLINUX, "initrd_path": INITRD,
                "boot_args": guest_cmdline() + " -- " + SCRIPT})
            ok(api, "PUT", "/machine-config", {"vcpu_count": 2,
                                               "mem_size_mib": 128})
            ok(api, "PUT", "/vsock", {
                "guest_cid": 3, "uds_path": os.path.join(cls.dir, "b.sock")})
            ok(api, "PUT", "/actions", {"action_type": "InstanceStart"})
            lines = LineReader(api.proc.stdout)
            lines.wait_for("tick 3", 180)
            ok(api, "PATCH", "/vm", {"state": "Paused"})
            time.sleep(0.5)  # the last console bytes drain
            cls.last = lines.ticks()[-1]
            ok(api, "PUT", "/snapshot/create", {
                "snapshot_path": os.path.join(cls.dir, "state"),
                "mem_file_path": os.path.join(cls.dir, "mem")})
        finally:
            api.stop()
        assert cls.last < SECRET_AT - 2, "snapshot too late: %d" % cls.last

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.apis = []

    def tearDown(self):
        for api in self.apis:
            api.stop()

    def load(self, backend, args=(), track_dirty=True):
        api = ApiProcess(stdout=subprocess.PIPE, extra_args=args)
        self.apis.append(api)
        lines = LineReader(api.proc.stdout)
        self.uds = os.path.join(api.dir.name, "v.sock")
        ok(api, "PUT", "/snapshot/load", {
            "snapshot_path": os.path.join(self.dir, "state"),
            "mem_backend": backend, "resume_vm": True,
            "track_dirty_pages": track_dirty,
            "vsock_override": {"uds_path": self.uds}})
        return api, lines

    def runs_past_the_secret(self, lines, since):
        """From console line `since`: the count restarts at the
        snapshot's value without the secret, passes SECRET_AT and shows
        the secret the guest wrote again; the echo server answers."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ticks = tick_lines(lines, since)
            if ticks and int(ticks[-1][1]) >= SECRET_AT + 2:
                break
            time.sleep(0.2)
        ticks = tick_lines(lines, since)
        self.assertTrue(ticks, "no tick after the rewind")
        self.assertEqual(ticks[0], ["tick", str(self.last + 1)],
                         "did not restart at the snapshot's count: %r"
                         % ticks[:3])
        self.assertEqual(int(ticks[-1][1]), int(ticks[0][1]) + len(ticks) - 1,
                         "the count skipped: %r" % ticks)
        for t in ticks:
            self.assertEqual(t[2:], [SECRET] if int(t[1]) > SECRET_AT else [],
                             "secret where it should not be: %r" % t)
        self.assertEqual(echo(self.uds, b"after rewind"), b"after rewind")

    def rewind(self, api, lines, running, resume):
        """Rewinds with a vsock connection open; returns the console line
        from which the rewound guest's output starts."""
        conn, line = connect(self.uds, 5000)
        self.assertTrue(line.startswith(b"OK "), line)
        if not running:
            ok(api, "PATCH", "/vm", {"state": "Paused"})
            time.sleep(0.5)
            since = len(lines.lines)
        ok(api, "PUT", "/snapshot/rewind", {"resume_vm": resume})
        if running:  # paused by the rewind: nothing new is printed
            self.assertEqual(api.request("GET", "/")[1]["state"], "Paused")
            time.sleep(0.5)
            since = len(lines.lines)
            ok(api, "PATCH", "/vm", {"state": "Resumed"})
        self.assertEqual(api.request("GET", "/")[1]["state"], "Running")
        try:
            rest = conn.recv(16)
        except ConnectionResetError:
            rest = b""
        self.assertEqual(rest, b"", "host connection not reset")
        conn.close()
        return since

    def test_five_rewinds_file_backend(self):
        api, lines = self.load({"backend_type": "File",
                                "backend_path": os.path.join(self.dir, "mem")})
        self.runs_past_the_secret(lines, 0)
        # running + resume_vm false, then paused + resume_vm true, in turn
        for i in range(5):
            try:
                since = self.rewind(api, lines, running=i % 2 == 0,
                                    resume=i % 2 == 1)
                self.runs_past_the_secret(lines, since)
            except (AssertionError, OSError) as e:
                raise AssertionError(
                    "rewind %d: %s; microvm's exit status %s; its log: %s; "
                    "the console's last lines: %s" % (
                        i + 1, e, api.proc.poll(),
                        "".join(api.err_lines)[-3000:], lines.lines[-10:]))
        err = "".join(api.err_lines)
        self.assertEqual(err.count("snapshot rewound"), 5, err[-2000:])

    def test_rewinds_uffd_backend_warm(self):
        sock = os.path.join(self.dir, "uffd.sock")
        handler = subprocess.Popen([UFFD_HANDLER, "--socket", sock,
                                    "--mem-file",
                                    os.path.join(self.dir, "mem")])
        try:
            while not os.path.exists(sock):
                time.sleep(0.01)
            api, lines = self.load({"backend_type": "Uffd",
                                    "backend_path": sock}, WARM)
            self.runs_past_the_secret(lines, 0)
            for i in range(2):
                since = self.rewind(api, lines, running=i == 0,
                                    resume=i == 1)
                self.runs_past_the_secret(lines, since)
        finally:
            handler.kill()
            handler.wait()
            if os.path.exists(sock):
                os.unlink(sock)

    def test_refused_without_dirty_tracking(self):
        api, lines = self.load({"backend_type": "File",
                                "backend_path": os.path.join(self.dir, "mem")},
                               track_dirty=False)
        status, reply, _ = api.request("PUT", "/snapshot/rewind",
                                       {"resume_vm": True})
        self.assertEqual(status, 400, reply)
        self.assertIn("track_dirty_pages", reply["fault_message"])
        self.assertEqual(api.request("GET", "/")[1]["state"], "Running")
        for body in ('{"resume_vm": 1}', '{"resume": true}', '[]'):
            status, reply, _ = api.request("PUT", "/snapshot/rewind", body)
            self.assertEqual(status, 400, body)
            self.assertIn("resume_vm", reply["fault_message"])
        lines.wait_for("tick %d" % (self.last + 3), 60)

    def test_refused_on_a_booted_vm(self):
        api = ApiProcess(stdout=subprocess.PIPE)
        self.apis.append(api)
        status, reply, _ = api.request("PUT", "/snapshot/rewind",
                                       {"resume_vm": True})
        self.assertEqual(status, 400, reply)
        self.assertIn("before starting", reply["fault_message"])
        ok(api, "PUT", "/boot-source", {
            "kernel_image_path": VMLINUX, "initrd_path": INITRD,
            "boot_args": guest_cmdline() + " -- " + SCRIPT})
        ok(api, "PUT", "/machine-config", {"vcpu_count": 1,
                                           "mem_size_mib": 128,
                                           "track_dirty_pages": True})
        ok(api, "PUT", "/actions", {"action_type": "InstanceStart"})
        lines = LineReader(api.proc.stdout)
        lines.wait_for("tick 1", 180)
        status, reply, _ = api.request("PUT", "/snapshot/rewind", {})
        self.assertEqual(status, 400, reply)
        self.assertIn("booted", reply["fault_message"])
        self.assertEqual(api.request("GET", "/")[1]["state"], "Running")
        lines.wait_for("tick 3", 60)


if __name__ == "__main__":
    unittest.main()
