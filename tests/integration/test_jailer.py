# SPDX-License-Identifier: Apache-2.0
"""microvm-jailer: microvm runs caged as an unprivileged uid/gid, in its own
mount and pid namespaces and netns, in a cgroup with the asked limits, with
only the expected files in its root; its API works through the jailed
socket and a tiny guest boots; bad arguments fail clearly and leave no jail.
Needs root (it is what the jailer needs)."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from microvm_harness import (MICROVM, BUILD, ApiProcess, UnixHTTPConnection,
                             needs_kvm)
from test_errors import crash_kernel

JAILER = os.path.join(BUILD, "microvm-jailer")
UID = GID = 4321
SPIN = bytes([0xeb, 0xfe])


def status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)


def mount_points():
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f]


def cgroup2_mount():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if " - cgroup2 " in line:
                return line.split()[4]
    return None


def cgroup_limit():
    """A cgroup v2 key=value this host's v2 hierarchy can take."""
    mnt = cgroup2_mount()
    if not mnt:
        return None
    with open(os.path.join(mnt, "cgroup.controllers")) as f:
        ctrls = f.read().split()
    for ctrl, kv in (("memory", "memory.max=268435456"), ("pids", "pids.max=64"),
                     ("hugetlb", "hugetlb.2MB.max=0")):
        if ctrl in ctrls:
            return kv
    return None


def wait_for(path, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("no %s: %s" % (path, proc.stderr.read()))
        time.sleep(0.01)


def request(sock, method, path, body=None):
    import json
    conn = UnixHTTPConnection(sock)
    conn.request(method, path, body=json.dumps(body) if body else None)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, json.loads(data) if data else None


@unittest.skipUnless(os.geteuid() == 0, "the jailer needs root")
class Jailer(unittest.TestCase):
    def setUp(self):
        self.base = tempfile.mkdtemp()
        self.netns = "microvm-test-%d" % os.getpid()
        subprocess.run(["ip", "netns", "add", self.netns], check=True)

    def tearDown(self):
        subprocess.run(["ip", "netns", "delete", self.netns])
        shutil.rmtree(self.base, ignore_errors=True)

    def jail(self, *extra, id="t1"):
        return [JAILER, "--id", id, "--exec-file", MICROVM, "--uid", str(UID),
                "--gid", str(GID), "--chroot-base-dir", self.base] + list(extra)

    @needs_kvm
    def test_caged_microvm_boots_and_serves(self):
        limit = cgroup_limit()
        args = self.jail("--netns", "/var/run/netns/" + self.netns,
                         "--resource-limit", "no-file=512", "--new-pid-ns",
                         *(["--cgroup", limit] if limit else []),
                         "--", "--api-sock", "/api.sock")
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        root = os.path.join(self.base, "microvm", "t1", "root")
        sock = os.path.join(root, "api.sock")
        try:
            wait_for(sock, proc)
            pid = int(subprocess.check_output(
                ["pgrep", "-f", "^/microvm --id t1"]).split()[0])
            self.check_cage(pid, root, limit)
            with open(os.path.join(root, "spin.elf"), "wb") as f:
                f.write(crash_kernel(SPIN))
            os.chown(os.path.join(root, "spin.elf"), UID, GID)
            for path, body in (
                    ("/boot-source", {"kernel_image_path": "/spin.elf"}),
                    ("/machine-config", {"vcpu_count": 1, "mem_size_mib": 16}),
                    ("/actions", {"action_type": "InstanceStart"})):
                self.assertEqual(request(sock, "PUT", path, body)[0], 204, path)
            self.assertEqual(request(sock, "GET", "/")[1]["state"], "Running")
            self.assertEqual(status(pid)["Seccomp"], "2")
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    @needs_kvm
    def test_warm_jailed_microvm_loads_a_snapshot(self):
        """A warm pool member under the jailer: --warm after --, the
        snapshot files given into its root, the load through the jailed
        socket."""
        snap = os.path.join(self.base, "snap")
        os.makedirs(snap)
        with open(os.path.join(snap, "spin.elf"), "wb") as f:
            f.write(crash_kernel(SPIN))
        api = ApiProcess()
        try:
            for method, path, body in (
                    ("PUT", "/boot-source",
                     {"kernel_image_path": os.path.join(snap, "spin.elf")}),
                    ("PUT", "/machine-config",
                     {"vcpu_count": 1, "mem_size_mib": 16}),
                    ("PUT", "/actions", {"action_type": "InstanceStart"}),
                    ("PATCH", "/vm", {"state": "Paused"}),
                    ("PUT", "/snapshot/create",
                     {"snapshot_path": os.path.join(snap, "state"),
                      "mem_file_path": os.path.join(snap, "mem")})):
                self.assertEqual(api.request(method, path, body)[0], 204, path)
        finally:
            api.stop()
        proc = subprocess.Popen(
            self.jail("--netns", "/var/run/netns/" + self.netns, "--",
                      "--api-sock", "/api.sock", "--warm",
                      "vcpus=1,mem_mib=16"),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        root = os.path.join(self.base, "microvm", "t1", "root")
        sock = os.path.join(root, "api.sock")
        try:
            wait_for(sock, proc)
            for name in ("state", "mem"):
                shutil.copyfile(os.path.join(snap, name),
                                os.path.join(root, name))
                os.chown(os.path.join(root, name), UID, GID)
            status_code, reply = request(sock, "PUT", "/snapshot/load", {
                "snapshot_path": "/state", "resume_vm": True,
                "mem_backend": {"backend_type": "File",
                                "backend_path": "/mem"}})
            self.assertEqual(status_code, 204, reply)
            self.assertEqual(request(sock, "GET", "/")[1]["state"], "Running")
            pid = int(subprocess.check_output(
                ["pgrep", "-f", "^/microvm --id t1"]).split()[0])
            self.assertEqual(status(pid)["Seccomp"], "2")
            self.assertEqual(status(pid)["Uid"].split()[0], str(UID))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            proc.stderr.close()

    def check_cage(self, pid, root, limit):
        st = status(pid)
        self.assertEqual(st["Uid"].split()[0], str(UID))
        self.assertEqual(st["Gid"].split()[0], str(GID))
        self.assertEqual(int(st["CapEff"], 16), 0)
        self.assertEqual(st["NoNewPrivs"], "1")
        for ns in ("mnt", "pid", "net"):
            self.assertNotEqual(os.readlink("/proc/%d/ns/%s" % (pid, ns)),
                                os.readlink("/proc/self/ns/%s" % ns), ns)
        files = sorted(os.path.relpath(os.path.join(d, f), root)
                       for d, _, fs in os.walk(root) for f in fs)
        libs = [f for f in files if f.startswith(("lib/", "lib64/"))]
        self.assertEqual(sorted(set(files) - set(libs)),
                         ["api.sock", "dev/kvm", "dev/net/tun", "dev/urandom"] +
                         (["dev/userfaultfd"] if os.path.exists("/dev/userfaultfd")
                          else []) + ["microvm"])
        self.assertTrue(all(".so" in f for f in libs), libs)
        self.assertEqual(os.stat(os.path.join(root, "dev/kvm")).st_uid, UID)
        with open("/proc/%d/limits" % pid) as f:
            self.assertIn("512", [l for l in f if "open files" in l][0])
        with open("/proc/%d/cgroup" % pid) as f:
            self.assertIn("0::/microvm/t1\n", f.read())
        if limit:
            key, value = limit.split("=")
            with open(os.path.join(cgroup2_mount(), "microvm", "t1", key)) as f:
                self.assertEqual(f.read().strip(), value)

    def bad(self, args, message, code=1):
        r = subprocess.run(args, capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, code, r.stderr)
        self.assertIn(message, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.base, "microvm", "t1",
                                                     "root")),
                         "a half-built jail was left behind")

    def test_bad_arguments(self):
        self.bad(self.jail(id="a/b"), "--id must be 1-64", 153)
        self.bad(self.jail("--uid", "x"), "invalid --uid", 153)
        self.bad([JAILER, "--id", "t1", "--exec-file", "/nonexistent",
                  "--uid", "1", "--gid", "1", "--chroot-base-dir", self.base],
                 "exec-file: /nonexistent is not an executable file")
        self.bad(self.jail("--netns", "/var/run/netns/nonexistent-ns"),
                 "netns: cannot open network namespace")
        self.bad(self.jail("--cgroup", "bogus.max=1"),
                 "cgroup: ")
        self.bad(self.jail("--cgroup", "noequals"), "invalid --cgroup", 153)
        self.bad(self.jail("--resource-limit", "cores=1"),
                 "unknown --resource-limit", 153)

    def test_stale_jail_is_cleaned(self):
        stale = os.path.join(self.base, "microvm", "t1", "root", "junk")
        os.makedirs(stale)
        proc = subprocess.Popen(self.jail("--", "--api-sock", "/api.sock"),
                                stdin=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            wait_for(os.path.join(self.base, "microvm", "t1", "root",
                                  "api.sock"), proc)
            self.assertFalse(os.path.exists(stale))
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    def test_stale_jail_keeps_what_is_mounted_in_it(self):
        """A folder an orchestrator bind-mounted into a stale jail's root,
        and one a symlink there points to, keep their files when the next
        run with that id cleans the jail (finding 13)."""
        root = os.path.join(self.base, "microvm", "t1", "root")
        shared, junk = os.path.join(root, "shared"), os.path.join(root, "junk")
        outside = tempfile.mkdtemp()
        for d in ("mounted", "linked"):
            os.makedirs(os.path.join(outside, d))
            with open(os.path.join(outside, d, "keep"), "w") as f:
                f.write("the orchestrator's")
        os.makedirs(shared)
        os.makedirs(junk)
        os.symlink(os.path.join(outside, "linked"), os.path.join(root, "link"))
        subprocess.run(["mount", "--bind", os.path.join(outside, "mounted"),
                        shared], check=True)
        proc = subprocess.Popen(self.jail("--", "--api-sock", "/api.sock"),
                                stdin=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            wait_for(os.path.join(root, "api.sock"), proc)
            self.assertFalse(os.path.exists(junk))
            self.assertFalse(os.path.lexists(os.path.join(root, "link")))
            self.assertIn(shared, mount_points())  # (same st_dev: not ismount)
            for d in ("mounted", "linked"):
                self.assertTrue(os.path.exists(os.path.join(outside, d,
                                                            "keep")), d)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            subprocess.run(["umount", shared], check=True)
            shutil.rmtree(outside)

    def test_stale_jail_of_a_running_vm_is_left_alone(self):
        """The cgroup of the old VM with this id still holds a process:
        the jailer refuses and touches neither jail nor cgroup."""
        mnt, limit = cgroup2_mount(), cgroup_limit()
        if not limit:
            self.skipTest("no cgroup v2 controller to limit here")
        junk = os.path.join(self.base, "microvm", "t1", "root", "junk")
        os.makedirs(junk)
        cg = os.path.join(mnt, "microvm", "t1")
        os.makedirs(cg, exist_ok=True)
        sleeper = subprocess.Popen(["sleep", "60"])
        try:
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(sleeper.pid))
            r = subprocess.run(self.jail("--cgroup", limit),
                               capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("still runs", r.stderr)
            self.assertTrue(os.path.exists(junk))
        finally:
            sleeper.kill()
            sleeper.wait()
            os.rmdir(cg)


if __name__ == "__main__":
    unittest.main()
