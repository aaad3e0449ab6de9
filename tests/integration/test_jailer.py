# SPDX-License-Identifier: Apache-2.0
"""microvm-jailer: microvm runs caged as an unprivileged uid/gid, in its own
mount and pid namespaces and netns, in cgroups (v1, the default, and v2)
with the asked values, with only the expected files in its root; its API
works through the jailed socket and a tiny guest boots; the pid file,
--daemonize and --new-pid-ns behave as Firecracker's jailer's; bad
arguments fail clearly and leave no jail. Needs root (it is what the
jailer needs); only the guest-booting tests need /dev/kvm."""
import os
import shutil
import socket
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


def cgroup1_mount(controller):
    """Where this host mounts a cgroup v1 hierarchy with the controller."""
    with open("/proc/mounts") as f:
        for line in f:
            _, point, fstype, opts = line.split()[:4]
            if fstype == "cgroup" and controller in opts.split(","):
                return point
    return None


def v2_controllers():
    mnt = cgroup2_mount()
    if not mnt:
        return []
    with open(os.path.join(mnt, "cgroup.controllers")) as f:
        return f.read().split()


def read(path):
    with open(path) as f:
        return f.read().strip()


def remove_cgroup(mnt, *parts):
    """rmdir <mnt>/<parts...> bottom up, as far as each is empty."""
    for i in range(len(parts), 0, -1):
        try:
            os.rmdir(os.path.join(mnt, *parts[:i]))
        except OSError:
            return


def kill_pid(pid):
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
        try:
            if status(pid)["State"].startswith("Z"):
                break
        except OSError:
            break
        time.sleep(0.01)


def cgroup_limit():
    """A cgroup v2 key=value this host's v2 hierarchy can take."""
    ctrls = v2_controllers()
    for ctrl, kv in (("memory", "memory.max=268435456"), ("pids", "pids.max=64"),
                     ("hugetlb", "hugetlb.2MB.max=0")):
        if ctrl in ctrls:
            return kv
    return None


def listening(path):
    """The API socket accepts (bound is not enough: listen() follows)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def leave_pid_file(root):
    """What marks a jail as left by an earlier run: its pid file."""
    with open(os.path.join(root, "microvm.pid"), "w") as f:
        f.write("1")


def wait_listening(path, deadline=None):
    deadline = deadline or time.monotonic() + 10
    while not listening(path):
        if time.monotonic() > deadline:
            raise AssertionError("%s never accepted" % path)
        time.sleep(0.01)


def wait_for(path, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while not listening(path):
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

    def jail(self, *extra, id="t1", exec_file=MICROVM):
        return [JAILER, "--id", id, "--exec-file", exec_file, "--uid",
                str(UID), "--gid", str(GID), "--chroot-base-dir",
                self.base] + list(extra)

    def root(self, id="t1", name="microvm"):
        return os.path.join(self.base, name, id, "root")

    def start_detached(self, args, sock, id="t1", name="microvm", **kw):
        """A jailer with --new-pid-ns or --daemonize exits 0 once the
        monitor is on its way; the monitor's pid is in the pid file."""
        with tempfile.TemporaryFile() as err:  # the monitor keeps stderr
            r = subprocess.run(args, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=err,
                               timeout=20, **kw)
            err.seek(0)
            self.assertEqual(r.returncode, 0, err.read())
        pid_file = os.path.join(self.root(id, name), name + ".pid")
        deadline = time.monotonic() + 10
        while not (os.path.exists(pid_file) and read(pid_file)):
            self.assertLess(time.monotonic(), deadline, "no pid file")
            time.sleep(0.01)
        pid = int(read(pid_file))
        self.addCleanup(kill_pid, pid)
        sock = os.path.join(self.root(id, name), sock.lstrip("/"))
        wait_listening(sock, deadline)
        return pid, sock

    @needs_kvm
    def test_caged_microvm_boots_and_serves(self):
        limit = cgroup_limit()
        args = self.jail("--netns", "/var/run/netns/" + self.netns,
                         "--resource-limit", "no-file=512", "--new-pid-ns",
                         "--cgroup-version", "2",
                         *(["--cgroup", limit] if limit else []),
                         "--", "--api-sock", "/api.sock")
        root = self.root()
        pid, sock = self.start_detached(args, "/api.sock")
        if limit:
            self.addCleanup(remove_cgroup, cgroup2_mount(), "microvm", "t1")
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

    def sdk_cpuset_args(self):
        """What the Go SDK's jailer path passes (jailer.go: the NUMA node's
        cpuset): cpuset.mems=0 and cpuset.cpus=<the CPUs this process may
        use>."""
        cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
        return ["--cgroup", "cpuset.mems=0", "--cgroup", "cpuset.cpus=" + cpus]

    def check_api(self, sock):
        self.assertEqual(request(sock, "GET", "/")[1]["state"], "Not started")

    def test_cgroup_v1_sdk_cpuset_nested_parent(self):
        """cgroup v1, the default: the SDK's cpuset arguments under a nested
        --parent-cgroup whose new levels inherit cpus and mems, plus pids in
        another hierarchy; the API socket at /run/firecracker.socket, the
        Go SDK's default."""
        cpuset, pids = cgroup1_mount("cpuset"), cgroup1_mount("pids")
        if not cpuset or not pids:
            self.skipTest("no cgroup v1 cpuset and pids hierarchies here")
        parent = ("mvtest%d" % os.getpid(), "vms")
        for mnt in (cpuset, pids):
            self.addCleanup(remove_cgroup, mnt, *parent, "t1")
        args = self.jail(*self.sdk_cpuset_args(), "--cgroup", "pids.max=64",
                         "--parent-cgroup", "/".join(parent), "--",
                         "--api-sock", "/run/firecracker.socket")
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        self.addCleanup(proc.stderr.close)
        self.addCleanup(proc.wait, 10)
        self.addCleanup(proc.kill)
        sock = os.path.join(self.root(), "run", "firecracker.socket")
        wait_for(sock, proc)
        self.check_api(sock)
        with open("/proc/%d/cgroup" % proc.pid) as f:
            groups = f.read()
        path = "/" + "/".join(parent) + "/t1"
        self.assertIn(":cpuset:" + path + "\n", groups)
        self.assertIn(":pids:" + path + "\n", groups)
        cg = os.path.join(cpuset, *parent, "t1")
        self.assertEqual(read(os.path.join(cg, "cpuset.mems")), "0")
        self.assertEqual(read(os.path.join(cg, "cpuset.cpus")),
                         read(os.path.join(cpuset, "cpuset.cpus")))
        self.assertEqual(read(os.path.join(pids, *parent, "t1", "pids.max")),
                         "64")
        self.assertEqual(read(os.path.join(cpuset, parent[0], "cpuset.mems")),
                         "0")

    def test_cgroup_v2_sdk_cpuset(self):
        """--cgroup-version 2 with the SDK's cpuset arguments: the
        controller is enabled down to the parent for the new cgroup."""
        if "cpuset" not in v2_controllers():
            self.skipTest("cgroup v2 here offers no cpuset (L1's does)")
        mnt = cgroup2_mount()
        self.addCleanup(remove_cgroup, mnt, "microvm", "t1")
        pid, sock = self.start_detached(
            self.jail("--cgroup-version", "2", *self.sdk_cpuset_args(),
                      "--new-pid-ns", "--", "--api-sock",
                      "/run/firecracker.socket"), "/run/firecracker.socket")
        self.check_api(sock)
        self.assertIn("0::/microvm/t1\n", read("/proc/%d/cgroup" % pid) + "\n")
        self.assertEqual(read(os.path.join(mnt, "microvm", "t1",
                                           "cpuset.mems")), "0")

    def test_cgroup_v2_value(self):
        """--cgroup-version 2 with whatever controller this host's v2
        hierarchy offers (here: hugetlb)."""
        limit = cgroup_limit()
        if not limit:
            self.skipTest("no cgroup v2 controller to limit here")
        mnt = cgroup2_mount()
        self.addCleanup(remove_cgroup, mnt, "microvm", "t1")
        pid, sock = self.start_detached(
            self.jail("--cgroup-version", "2", "--cgroup", limit,
                      "--new-pid-ns", "--", "--api-sock", "/api.sock"),
            "/api.sock")
        self.check_api(sock)
        self.assertIn("0::/microvm/t1\n", read("/proc/%d/cgroup" % pid) + "\n")
        key, value = limit.split("=")
        self.assertEqual(read(os.path.join(mnt, "microvm", "t1", key)), value)

    def test_pid_file_without_flags_is_the_jailers_pid(self):
        """The jailer execs the monitor in place: the same pid, in the pid
        file; Firecracker's arguments come first."""
        proc = subprocess.Popen(self.jail("--", "--api-sock", "/api.sock"),
                                stdin=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        self.addCleanup(proc.stderr.close)
        self.addCleanup(proc.wait, 10)
        self.addCleanup(proc.kill)
        wait_for(os.path.join(self.root(), "api.sock"), proc)
        self.assertEqual(read(os.path.join(self.root(), "microvm.pid")),
                         str(proc.pid))
        with open("/proc/%d/cmdline" % proc.pid) as f:
            argv = f.read().split("\0")[:-1]
        self.assertEqual(argv[:3], ["/microvm", "--id", "t1"])
        self.assertEqual([argv[3], argv[5], argv[7]],
                         ["--start-time-us", "--start-time-cpu-us",
                          "--parent-cpu-time-us"])
        self.assertTrue(all(a.isdigit() for a in (argv[4], argv[6], argv[8])))
        self.assertEqual(argv[9:], ["--api-sock", "/api.sock"])
        with open("/proc/%d/limits" % proc.pid) as f:
            self.assertIn("2048", [l for l in f if "open files" in l][0])

    def test_new_pid_ns_jailer_exits_monitor_is_init(self):
        """--new-pid-ns: the jailer exits 0 at once; the monitor is pid 1
        of its own pid namespace, its host pid in the pid file."""
        pid, sock = self.start_detached(
            self.jail("--new-pid-ns", "--", "--api-sock", "/api.sock"),
            "/api.sock")
        self.check_api(sock)
        self.assertEqual(status(pid)["NSpid"].split(), [str(pid), "1"])
        self.assertNotEqual(os.readlink("/proc/%d/ns/pid" % pid),
                            os.readlink("/proc/self/ns/pid"))

    def test_daemonize_detaches(self):
        """--daemonize: the jailer exits 0; the monitor is in a session of
        its own without leading it (double fork), stdio on /dev/null."""
        pid, sock = self.start_detached(
            self.jail("--daemonize", "--", "--api-sock", "/api.sock"),
            "/api.sock")
        self.check_api(sock)
        self.assertNotEqual(os.getsid(pid), os.getsid(0))
        self.assertNotEqual(os.getsid(pid), pid)
        for fd in (0, 1, 2):
            self.assertEqual(os.readlink("/proc/%d/fd/%d" % (pid, fd)),
                             "/dev/null")

    def test_daemonize_and_new_pid_ns(self):
        pid, sock = self.start_detached(
            self.jail("--daemonize", "--new-pid-ns", "--", "--api-sock",
                      "/api.sock"), "/api.sock")
        self.check_api(sock)
        self.assertEqual(status(pid)["NSpid"].split()[-1], "1")
        self.assertEqual(os.readlink("/proc/%d/fd/0" % pid), "/dev/null")

    def test_relative_exec_file_and_base(self):
        """Relative --exec-file and --chroot-base-dir, from the caller's
        working directory, as Firecracker's jailer resolves them."""
        cwd = os.path.dirname(self.base)
        args = [JAILER, "--id", "t1", "--exec-file",
                os.path.relpath(MICROVM, cwd), "--uid", str(UID), "--gid",
                str(GID), "--chroot-base-dir",
                os.path.relpath(self.base, cwd), "--new-pid-ns", "--",
                "--api-sock", "/api.sock"]
        pid, sock = self.start_detached(args, "/api.sock", cwd=cwd)
        self.check_api(sock)

    def test_version(self):
        r = subprocess.run([JAILER, "--version"], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^microvm-jailer v\d+\.\d+\.\d+\n$")

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
        with open("/proc/misc") as f:
            uffd = " userfaultfd\n" in f.read()
        self.assertEqual(sorted(set(files) - set(libs)),
                         ["api.sock", "dev/kvm", "dev/net/tun", "dev/urandom"] +
                         (["dev/userfaultfd"] if uffd else []) +
                         ["microvm", "microvm.pid"])
        for d in ("", "dev", "dev/net", "run"):
            st = os.stat(os.path.join(root, d))
            self.assertEqual((st.st_mode & 0o7777, st.st_uid, st.st_gid),
                             (0o700, UID, GID), d)
        self.assertEqual(read(os.path.join(root, "microvm.pid")), str(pid))
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
        self.bad(self.jail(id="a/b"), "--id must be 1-64")
        self.bad(self.jail("--uid", "x"), "invalid --uid")
        self.bad([JAILER, "--id", "t1", "--exec-file", "/nonexistent",
                  "--uid", "1", "--gid", "1", "--chroot-base-dir", self.base],
                 "exec-file: /nonexistent is not an executable file")
        self.bad(self.jail("--netns", "/var/run/netns/nonexistent-ns"),
                 "netns: cannot open network namespace")
        self.bad(self.jail("--cgroup", "bogus.max=1"),
                 "cgroup: Controller bogus is unavailable")
        self.bad(self.jail("--cgroup-version", "2", "--cgroup", "bogus.max=1"),
                 "cgroup: Controller bogus is unavailable")
        self.bad(self.jail("--cgroup", "noequals"),
                 "Invalid format for cgroups")
        self.bad(self.jail("--cgroup", "cpuset.cpus=0=1"),
                 "Invalid format for cgroups")
        self.bad(self.jail("--cgroup", "nodot=1"), "Cgroup invalid file")
        self.bad(self.jail("--cgroup", "../x.y=1"), "Cgroup invalid file")
        self.bad(self.jail("--cgroup-version", "3"),
                 "invalid cgroup version specifier")
        self.bad(self.jail("--parent-cgroup", "a/../b"),
                 "Parent cgroup path is invalid")
        self.bad(self.jail("--resource-limit", "cores=1"),
                 "unknown --resource-limit")
        self.bad(self.jail("--bogus"), "unknown or incomplete option")

    def test_stale_jail_is_cleaned(self):
        stale = os.path.join(self.base, "microvm", "t1", "root", "junk")
        os.makedirs(stale)
        leave_pid_file(os.path.dirname(stale))  # an earlier run's
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
        leave_pid_file(root)  # an earlier run's
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
            r = subprocess.run(self.jail("--cgroup-version", "2", "--cgroup",
                                         limit),
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
