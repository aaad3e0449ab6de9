# SPDX-License-Identifier: Apache-2.0
"""make install, make install-compat and make static: what lands where,
the man pages render without a groff warning, microvm under Firecracker's
name takes Firecracker's default API socket, and a statically linked
microvm runs (and boots a guest, where /dev/kvm is) in a jail that holds
only the binary, as Firecracker's own jailer builds it."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from microvm_harness import ROOT, BUILD, needs_kvm
from test_errors import crash_kernel
from test_jailer import (JAILER, UID, GID, SPIN, request, status, read,
                         kill_pid, wait_listening)

STATIC = os.path.join(ROOT, "build", "static", "microvm")
MAN_PAGES = ["microvm.1", "microvm-jailer.1", "microvm-uffd.1"]
BINARIES = ["microvm", "microvm-jailer", "microvm-uffd"]


def make(*args):
    return subprocess.run(["make", "-s", "-C", ROOT] + list(args),
                          capture_output=True, text=True, timeout=600)


class ManPages(unittest.TestCase):
    def test_man_pages_render_without_warnings(self):
        for page in MAN_PAGES:
            path = os.path.join(ROOT, "docs", "man", page)
            r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", path],
                               capture_output=True, text=True)
            self.assertEqual((r.returncode, r.stderr), (0, ""), page)
            r = subprocess.run(["man", "-l", path], capture_output=True,
                               text=True, env=dict(os.environ, MANPAGER="cat",
                                                   MANWIDTH="80"))
            self.assertEqual(r.returncode, 0, r.stderr)
            for section in ("SYNOPSIS", "OPTIONS", "EXIT STATUS", "FILES",
                            "EXAMPLES"):
                self.assertIn(section, r.stdout, page)

    def test_every_option_is_in_its_man_page(self):
        """Each long option a binary's --help names is in its man page."""
        import re
        for binary, page in zip(BINARIES, MAN_PAGES):
            r = subprocess.run([os.path.join(BUILD, binary), "--help"],
                               capture_output=True, text=True)
            options = set(re.findall(r"--[a-z][a-z0-9-]+", r.stdout))
            self.assertTrue(options, binary)
            with open(os.path.join(ROOT, "docs", "man", page)) as f:
                text = f.read().replace("\\-", "-")
            for option in options:
                self.assertIn(option, text, page)


@unittest.skipUnless(os.geteuid() == 0, "installs as root")
class Install(unittest.TestCase):
    def setUp(self):
        self.dest = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dest, True)

    def test_install_and_compat_names(self):
        r = make("install-compat", "DESTDIR=" + self.dest, "PREFIX=/usr")
        self.assertEqual(r.returncode, 0, r.stderr)
        usr = os.path.join(self.dest, "usr")
        files = sorted(os.path.relpath(os.path.join(d, f), usr)
                       for d, _, fs in os.walk(usr) for f in fs)
        self.assertEqual(files, sorted(
            ["bin/" + b for b in BINARIES + ["firecracker", "jailer"]] +
            ["share/man/man1/" + p for p in MAN_PAGES] +
            ["share/man/man1/firecracker.1", "share/man/man1/jailer.1"]))
        self.assertEqual(os.readlink(os.path.join(usr, "bin", "firecracker")),
                         "microvm")
        self.assertEqual(os.readlink(os.path.join(usr, "bin", "jailer")),
                         "microvm-jailer")
        for b in BINARIES:
            self.assertEqual(os.stat(os.path.join(usr, "bin", b)).st_mode
                             & 0o777, 0o755, b)
        r = subprocess.run([os.path.join(usr, "bin", "jailer"), "--version"],
                           capture_output=True, text=True)
        self.assertRegex(r.stdout, r"^Jailer v\d+\.\d+\.\d+\n$")
        self.check_firecracker_default_socket(os.path.join(usr, "bin",
                                                           "firecracker"))

    def test_compat_jailer_with_compat_firecracker(self):
        """The Go SDK's jailer path on a platform configured with
        Firecracker's binary names: `jailer --exec-file .../firecracker`
        (the symlink) builds <base>/firecracker/<id>/root, where the SDK
        looks, and microvm, exec'd as /firecracker, binds Firecracker's
        default /run/firecracker.socket there."""
        r = make("install-compat", "DESTDIR=" + self.dest, "PREFIX=/usr")
        self.assertEqual(r.returncode, 0, r.stderr)
        bindir = os.path.join(self.dest, "usr", "bin")
        base = os.path.join(self.dest, "jails")
        r = subprocess.run(
            [os.path.join(bindir, "jailer"), "--id", "sdk", "--exec-file",
             os.path.join(bindir, "firecracker"), "--uid", str(UID), "--gid",
             str(GID), "--chroot-base-dir", base, "--new-pid-ns"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, timeout=20)
        self.assertEqual(r.returncode, 0)
        root = os.path.join(base, "firecracker", "sdk", "root")
        pid = int(read(os.path.join(root, "firecracker.pid")))
        self.addCleanup(kill_pid, pid)
        sock = os.path.join(root, "run", "firecracker.socket")
        wait_listening(sock)
        self.assertEqual(request(sock, "GET", "/")[1]["id"], "sdk")
        with open("/proc/%d/cmdline" % pid) as f:
            self.assertEqual(f.read().split("\0")[0], "/firecracker")

    def check_firecracker_default_socket(self, firecracker):
        """Run as `firecracker` without --api-sock, in a mount namespace of
        its own with an empty /run: the API is on /run/firecracker.socket."""
        script = ("mount -t tmpfs run /run || exit 1; "
                  "%s --id fc >/dev/null 2>&1 & pid=$!; "
                  "i=0; until out=$(curl -sf --unix-socket "
                  "/run/firecracker.socket http://localhost/) || "
                  "[ $i -ge 500 ]; do sleep 0.01; i=$((i+1)); done; "
                  "ls /run; echo \"$out\"; kill -9 $pid" % firecracker)
        r = subprocess.run(["unshare", "--mount", "--propagation", "private",
                            "sh", "-c", script], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.stdout.split("\n")[0], "firecracker.socket",
                         r.stdout + r.stderr)
        self.assertIn('"id":"fc"', r.stdout)


@unittest.skipUnless(os.geteuid() == 0, "the jailer needs root")
@unittest.skipUnless(os.path.exists(STATIC), "run make static first")
class StaticInJail(unittest.TestCase):
    """The jail Firecracker's jailer builds holds the exec file only: the
    static microvm needs nothing else."""

    def setUp(self):
        self.base = tempfile.mkdtemp(dir="/var/tmp")
        self.addCleanup(shutil.rmtree, self.base, True)
        self.root = os.path.join(self.base, "microvm", "s1", "root")

    def start(self):
        r = subprocess.run(
            [JAILER, "--id", "s1", "--exec-file", STATIC, "--uid", str(UID),
             "--gid", str(GID), "--chroot-base-dir", self.base,
             "--new-pid-ns", "--", "--api-sock", "/run/firecracker.socket"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, timeout=20)
        self.assertEqual(r.returncode, 0)
        pid = int(read(os.path.join(self.root, "microvm.pid")))
        self.addCleanup(kill_pid, pid)
        sock = os.path.join(self.root, "run", "firecracker.socket")
        wait_listening(sock)
        return pid, sock

    def test_static_binary_alone_in_the_jail_serves(self):
        r = subprocess.run(["file", "-L", STATIC], capture_output=True,
                           text=True)
        self.assertIn("statically linked", r.stdout)
        pid, sock = self.start()
        files = sorted(os.path.relpath(os.path.join(d, f), self.root)
                       for d, _, fs in os.walk(self.root) for f in fs)
        self.assertEqual([f for f in files if not f.startswith("dev/")],
                         ["microvm", "microvm.pid", "run/firecracker.socket"])
        self.assertEqual(request(sock, "GET", "/")[1]["state"], "Not started")

    @needs_kvm
    def test_static_binary_boots_in_the_jail(self):
        pid, sock = self.start()
        with open(os.path.join(self.root, "spin.elf"), "wb") as f:
            f.write(crash_kernel(SPIN))
        os.chown(os.path.join(self.root, "spin.elf"), UID, GID)
        for path, body in (
                ("/boot-source", {"kernel_image_path": "/spin.elf"}),
                ("/machine-config", {"vcpu_count": 1, "mem_size_mib": 16}),
                ("/actions", {"action_type": "InstanceStart"})):
            self.assertEqual(request(sock, "PUT", path, body)[0], 204, path)
        self.assertEqual(request(sock, "GET", "/")[1]["state"], "Running")
        time.sleep(0.5)  # the vCPU spins under its seccomp filter
        self.assertEqual(request(sock, "GET", "/")[1]["state"], "Running")
        self.assertEqual(status(pid)["Seccomp"], "2")


if __name__ == "__main__":
    unittest.main()
