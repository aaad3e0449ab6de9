# SPDX-License-Identifier: Apache-2.0
"""Helpers for integration tests: paths, the guest command line of
tests/guest/cmdline.sh, config files, and running microvm with a timeout."""
import hashlib
import json
import os
import subprocess
import tempfile
import threading
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("MICROVM_BUILD", os.path.join(ROOT, "build"))
MICROVM = os.path.join(BUILD, "microvm")
GUEST = os.path.join(ROOT, "build", "guest")
VMLINUX = os.path.join(GUEST, "vmlinux")
BZIMAGE = os.path.join(GUEST, "bzImage")
INITRD = os.path.join(GUEST, "initrd.cpio")
# A Linux boot takes ~12 s on this project's nested KVM; allow plenty.
BOOT_TIMEOUT = int(os.environ.get("MICROVM_BOOT_TIMEOUT", "120"))


def guest_cmdline():
    """The test guest's kernel command line for this machine's KVM, as
    tests/guest/cmdline.sh prints it (one place)."""
    return subprocess.run([os.path.join(ROOT, "tests", "guest", "cmdline.sh")],
                          check=True, capture_output=True,
                          text=True).stdout.strip()


def sha256(path):
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def have_kvm():
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def needs_kvm(cls):
    """Class decorator: skip loudly where /dev/kvm is missing."""
    if have_kvm():
        return cls
    return unittest.skip("SKIPPED: /dev/kvm is missing or not accessible; "
                         "these tests boot real guests")(cls)


class Result:
    def __init__(self, proc, out, err):
        self.code = proc.returncode
        self.out = out
        self.err = err

    def __repr__(self):
        return "exit %s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
            self.code, self.out[-3000:], self.err[-3000:])


def write_config(tmpdir, cfg):
    path = os.path.join(tmpdir, "vm.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def linux_config(command=None, vcpus=1, mem=128, kernel=VMLINUX):
    args = guest_cmdline()
    if command:
        args += " -- " + command
    return {
        "boot-source": {"kernel_image_path": kernel, "initrd_path": INITRD,
                        "boot_args": args},
        "machine-config": {"vcpu_count": vcpus, "mem_size_mib": mem},
    }


def run_microvm(args, timeout=BOOT_TIMEOUT):
    proc = subprocess.Popen([MICROVM] + args, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, errors="replace")
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError("microvm did not exit within %d s:\n%s" % (
            timeout, Result(proc, out, err)))
    return Result(proc, out, err)


def boot(cfg, extra_args=("--boot-timer",), timeout=BOOT_TIMEOUT):
    with tempfile.TemporaryDirectory() as d:
        path = write_config(d, cfg)
        return run_microvm(["--config-file", path, "--no-api"] +
                           list(extra_args), timeout)


def tap_namespace(test, name):
    """A new network namespace NAME-<pid> with tap0 up at 172.16.0.1/30
    (the guest is 172.16.0.2), deleted when TEST's cleanups run (after its
    tearDown); returns its name."""
    ns = "%s-%d" % (name, os.getpid())
    subprocess.run(["ip", "netns", "add", ns], check=True)
    test.addCleanup(subprocess.run, ["ip", "netns", "delete", ns])
    for cmd in (["ip", "tuntap", "add", "tap0", "mode", "tap"],
                ["ip", "addr", "add", "172.16.0.1/30", "dev", "tap0"],
                ["ip", "link", "set", "tap0", "up"]):
        subprocess.run(["ip", "netns", "exec", ns] + cmd, check=True)
    return ns


class UnixHTTPConnection(__import__("http.client").client.HTTPConnection):
    """http.client over a Unix stream socket."""

    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        import socket
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class ApiProcess:
    """A microvm started with --api-sock in a private directory."""

    def __init__(self, extra_args=(), stdout=subprocess.DEVNULL,
                 binary=MICROVM, env=None, wrapper=()):
        import time
        self.dir = tempfile.TemporaryDirectory()
        self.sock = os.path.join(self.dir.name, "api.sock")
        self.proc = subprocess.Popen(
            list(wrapper) + [binary, "--api-sock", self.sock] +
            list(extra_args), env=env,
            stdin=subprocess.DEVNULL, stdout=stdout,
            stderr=subprocess.PIPE, text=True, errors="replace")
        deadline = time.monotonic() + 5
        while not self._accepting():  # bound is not yet listening
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("API socket never appeared: %s" %
                                     self.proc.stderr.read())
            time.sleep(0.002)
        # drained as it comes: each request is logged, and a full pipe
        # would block microvm's logger
        self.err_lines = []
        self.err_thread = threading.Thread(target=self._drain_stderr,
                                           daemon=True)
        self.err_thread.start()

    def _drain_stderr(self):
        for line in self.proc.stderr:
            self.err_lines.append(line)

    def _accepting(self):
        import socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.sock)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def request(self, method, path, body=None, headers=None, conn=None):
        """Returns (status, parsed JSON or None, response headers)."""
        own = conn is None
        conn = conn or UnixHTTPConnection(self.sock)
        data = body if isinstance(body, (str, bytes)) or body is None \
            else json.dumps(body)
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        if own:
            conn.close()
        parsed = json.loads(raw) if raw else None
        return resp.status, parsed, dict(resp.getheaders())

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err_thread.join(timeout=10)
        err = "".join(self.err_lines)
        self.proc.stderr.close()
        if self.proc.stdout:
            time.sleep(0.05)  # a LineReader takes the last lines
            self.proc.stdout.close()
        self.dir.cleanup()
        return err


class PreBootApi(unittest.TestCase):
    """A fresh microvm per test, before boot: no guest needed."""

    def setUp(self):
        self.api = ApiProcess()

    def tearDown(self):
        self.api.stop()

    def bad(self, method, path, body, needle):
        """The request is refused with 400 naming `needle`."""
        status, reply, _ = self.api.request(method, path, body)
        self.assertEqual(status, 400, reply)
        self.assertIn(needle, reply["fault_message"])


class LineReader:
    """Collects a process's stdout lines in a background thread."""

    def __init__(self, stream):
        self.lines = []
        self.ended = False  # the stream reached its end: the process exited
        self.cond = threading.Condition()
        threading.Thread(target=self._run, args=(stream,), daemon=True).start()

    def _run(self, stream):
        try:
            for line in stream:
                with self.cond:
                    self.lines.append(line.rstrip("\r\n"))
                    self.cond.notify_all()
        except (ValueError, OSError):
            pass  # the stream was closed under us: the process is gone
        self.ended = True

    def wait_for(self, text, timeout):
        with self.cond:
            ok = self.cond.wait_for(lambda: any(text == l.strip() or text in l
                                                for l in self.lines), timeout)
        if not ok:
            raise AssertionError("no %r within %d s; got %r%s" % (
                text, timeout, self.lines[-20:],
                " (the output ended: the process exited)" if self.ended
                else ""))

    def ticks(self):
        with self.cond:
            return [int(l.split()[1]) for l in self.lines
                    if l.startswith("tick ")]


# Booted snapshots: tests that do not test booting start from a snapshot of
# a guest that booted once per test run (per device layout) and runs
# tests/guest/microvm-agent on vsock port AGENT_PORT; a restored guest is
# running within milliseconds and runs commands through the agent.
AGENT_PORT = 52
# A command through the agent: under a second in L1; allow for a host
# three times slower with room to spare. Tests pass their own for long ones.
AGENT_TIMEOUT = 60
# Layouts several tests share: {name: (vCPUs, MiB, extra config)}. Every
# layout has a vsock device (the agent's way in; uds_path is overridden on
# each load) and virtio-rng under a rate limiter; "scratch" adds a 16 MiB
# writable drive "scratch" that each restored guest replaces with its own
# file (PATCH /drives/scratch before it resumes).
LAYOUTS = {
    "default": (2, 128, {}),
    "scratch": (2, 128, {"drives": [{"drive_id": "scratch",
                                     "path_on_host": "scratch.img",
                                     "is_root_device": False}]}),
}
_snapshots = {}  # layout name -> (state path, mem path) or the exception
_snapshot_dir = None


def _run_dir():
    """This test run's folder for booted snapshots, removed at exit."""
    global _snapshot_dir
    if _snapshot_dir is None:
        import atexit
        import shutil
        _snapshot_dir = tempfile.mkdtemp(prefix="microvm-booted-")
        atexit.register(shutil.rmtree, _snapshot_dir, True)
    return _snapshot_dir


def _layout_config(name, d):
    vcpus, mem, extra = LAYOUTS[name]
    cfg = linux_config("microvm-agent %d" % AGENT_PORT, vcpus=vcpus, mem=mem)
    cfg["vsock"] = {"guest_cid": 3,
                    "uds_path": os.path.join(d, name + ".vsock")}
    cfg["entropy"] = {"rate_limiter": {"bandwidth": {"size": 4096,
                                                     "refill_time": 100}}}
    for drive in extra.get("drives", []):
        drive = dict(drive, path_on_host=os.path.join(
            d, name + "-" + drive["path_on_host"]))
        with open(drive["path_on_host"], "wb") as f:
            f.truncate(16 << 20)
        cfg.setdefault("drives", []).append(drive)
    return cfg


def _make_snapshot(name):
    """Boots LAYOUT's guest, waits for its agent, pauses it and snapshots
    it into this run's folder; returns (state path, mem path)."""
    d = _run_dir()
    path = os.path.join(d, name + ".json")
    with open(path, "w") as f:
        json.dump(_layout_config(name, d), f)
    started = time.monotonic()
    api = ApiProcess(extra_args=["--config-file", path],
                     stdout=subprocess.PIPE)
    try:
        LineReader(api.proc.stdout).wait_for(
            "microvm-agent: listening on port %d" % AGENT_PORT, BOOT_TIMEOUT)
        booted = time.monotonic()
        state, mem = (os.path.join(d, name + ".state"),
                      os.path.join(d, name + ".mem"))
        for method, where, body in (
                ("PATCH", "/vm", {"state": "Paused"}),
                ("PUT", "/snapshot/create", {"snapshot_path": state,
                                             "mem_file_path": mem})):
            status, reply, _ = api.request(method, where, body)
            if status != 204:
                raise AssertionError("booted snapshot %s: %s %s: %s %s" % (
                    name, method, where, status, reply))
    finally:
        err = api.stop()
    if not os.path.exists(mem):
        raise AssertionError("booted snapshot %s not made:\n%s" % (name, err))
    import sys
    print("[booted snapshot %r: boot to the agent %.1f s, pause, "
          "snapshot and stop %.1f s] " % (
              name, booted - started, time.monotonic() - booted),
          end="", file=sys.stderr, flush=True)
    return state, mem


def booted_snapshot(layout="default"):
    """(state path, mem path) of LAYOUT's booted guest, made on first use in
    this test run; a failure to make it fails every test that asks."""
    if layout not in _snapshots:
        try:
            _snapshots[layout] = _make_snapshot(layout)
        except Exception as e:  # noqa: BLE001 (kept for the next asker)
            _snapshots[layout] = e
    made = _snapshots[layout]
    if isinstance(made, Exception):
        raise AssertionError("booted snapshot %r failed: %s" % (layout, made))
    return made


class AgentResult:
    def __init__(self, code, out):
        self.code = code  # the command's exit status
        self.out = out  # its stdout and stderr

    def __repr__(self):
        return "exit %s\n--- output ---\n%s" % (self.code, self.out[-3000:])


class RestoredGuest:
    """A new microvm that loaded LAYOUT's booted snapshot: running (its
    console on .lines) unless drives or resume=False ask for it paused.
    DRIVES {drive_id: path} are swapped in with PATCH /drives before the
    guest resumes. SETUP: (method, path, body) requests before the load
    (e.g. /metrics). With drain_console=False nobody reads its console
    pipe. TEST (a TestCase, or a TestCase class in setUpClass) stops it at
    its cleanup."""

    def __init__(self, test, layout="default", drives=None, resume=True,
                 extra_args=(), setup=(), drain_console=True):
        state, mem = booted_snapshot(layout)
        self.api = ApiProcess(stdout=subprocess.PIPE, extra_args=extra_args)
        if isinstance(test, type):
            test.addClassCleanup(self.stop)
        else:
            test.addCleanup(self.stop)
        self.lines = LineReader(self.api.proc.stdout) if drain_console \
            else None
        self.uds = os.path.join(self.api.dir.name, "v.sock")
        for method, path, body in setup:
            self.check(method, path, body)
        self.check("PUT", "/snapshot/load", {
            "snapshot_path": state,
            "mem_backend": {"backend_type": "File", "backend_path": mem},
            "vsock_override": {"uds_path": self.uds},
            "resume_vm": resume and not drives})
        for drive_id, path in (drives or {}).items():
            self.check("PATCH", "/drives/" + drive_id,
                       {"drive_id": drive_id, "path_on_host": path})
        if resume and drives:
            self.resume()

    def check(self, method, path, body=None):
        status, reply, _ = self.api.request(method, path, body)
        if status >= 300:
            raise AssertionError("%s %s: %s %s\n%s" % (
                method, path, status, reply, "".join(self.api.err_lines)))
        return reply

    def resume(self):
        self.check("PATCH", "/vm", {"state": "Resumed"})

    def connect(self, port, timeout=AGENT_TIMEOUT):
        """A host connection to guest vsock PORT (Firecracker's CONNECT);
        returns the socket once microvm answered OK."""
        import socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(self.uds)
        s.sendall(b"CONNECT %d\n" % port)
        line = b""
        while not line.endswith(b"\n"):
            ch = s.recv(1)
            if not ch:
                break
            line += ch
        if not line.startswith(b"OK "):
            s.close()
            raise AssertionError("CONNECT %d answered %r" % (port, line))
        return s

    def run(self, command, timeout=AGENT_TIMEOUT):
        """Runs COMMAND with /bin/sh -c in the guest through its agent;
        returns an AgentResult once the command has exited."""
        import re
        import secrets
        nonce = secrets.token_hex(8)
        end = re.compile(rb"microvm-agent %s exit (\d+)\n" % nonce.encode())
        deadline = time.monotonic() + timeout
        s = self.connect(AGENT_PORT, timeout)
        got = bytearray()
        try:
            s.sendall(b"%s %s\n" % (nonce.encode(), command.encode()))
            while not end.search(got):
                s.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    chunk = s.recv(1 << 16)
                except OSError:
                    chunk = None
                if not chunk:
                    raise AssertionError(
                        "guest command %r: no end within %d s (%s); got %r" %
                        (command, timeout, "connection closed"
                         if chunk == b"" else "timed out", bytes(got[-3000:])))
                got += chunk
        finally:
            s.close()
        m = end.search(got)
        return AgentResult(int(m.group(1)),
                           got[:m.start()].decode(errors="replace"))

    def stop(self):
        return self.api.stop()
