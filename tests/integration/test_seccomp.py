# SPDX-License-Identifier: Apache-2.0
"""Per-thread seccomp: each thread kind has a filter once it handles
untrusted input, and a forbidden system call on any of them ends microvm
with 148 and a log line naming the call. The forbidden call comes from the
test-only binary build/hooks/microvm (make TEST_HOOKS=1); the shipped
binary has no such trigger. Every other integration test runs with the
filters on, which is the check for false kills. --seccomp-filter files
(Firecracker's seccompiler-bin format) replace the built-in filters: a
file that allows the forbidden call lets it through, one that traps it on
one thread kind ends microvm there."""
import json
import os
import struct
import subprocess
import tempfile
import time
import unittest

from microvm_harness import MICROVM, ROOT, ApiProcess, needs_kvm
from test_errors import crash_kernel

HOOKS = os.path.join(ROOT, "build", "hooks", "microvm")
SPIN = bytes([0xeb, 0xfe])  # jmp . : a guest that runs forever


def seccomp_modes(pid):
    """Seccomp mode of every thread: {thread name: mode}."""
    modes = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            fields = dict(l.split(":", 1) for l in f if ":" in l)
        if fields["Name"].strip().startswith("kvm-"):
            continue  # KVM's own kernel workers (kvm-nx-lpage-recovery)
        modes[fields["Name"].strip() + "/" + tid] = int(fields["Seccomp"])
    return modes


def hooked_args(d, boot):
    """The hook binary with its API socket in D (a stale one removed);
    with BOOT, a config file booting a guest that spins forever."""
    sock = os.path.join(d, "s")
    if os.path.exists(sock):  # left by an earlier run that was killed
        os.unlink(sock)
    args = [HOOKS, "--api-sock", sock]
    if boot:
        kernel = os.path.join(d, "spin.elf")
        with open(kernel, "wb") as f:
            f.write(crash_kernel(SPIN))
        cfg = os.path.join(d, "vm.json")
        with open(cfg, "w") as f:
            json.dump({"boot-source": {"kernel_image_path": kernel},
                       "machine-config": {"vcpu_count": 1,
                                          "mem_size_mib": 16}}, f)
        args += ["--config-file", cfg]
    return args


@unittest.skipUnless(os.path.exists(HOOKS), "build/hooks/microvm missing "
                     "(make TEST_HOOKS=1)")
class ForbiddenCalls(unittest.TestCase):
    def run_hooked(self, thread, boot):
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, MICROVM_TEST_FORBIDDEN=thread)
            r = subprocess.run(hooked_args(d, boot), env=env,
                               capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 148, r.stderr)
        self.assertIn("seccomp: blocked system call 63 (uname)", r.stderr)

    def test_api_thread(self):
        self.run_hooked("api", boot=False)

    @needs_kvm
    def test_vmm_thread(self):
        self.run_hooked("vmm", boot=True)

    @needs_kvm
    def test_vcpu_thread(self):
        self.run_hooked("vcpu", boot=True)

    @needs_kvm
    def test_restored_rings_are_read_under_the_filter(self):
        """A cold snapshot load reads the guest's rings (pending kicks,
        vsock's transport reset) only once the VMM thread is filtered
        (finding 12): the hook there must be blocked."""
        with tempfile.TemporaryDirectory() as d:
            kernel = os.path.join(d, "spin.elf")
            with open(kernel, "wb") as f:
                f.write(crash_kernel(SPIN))
            api = ApiProcess()
            try:
                for method, path, body in (
                        ("PUT", "/boot-source", {"kernel_image_path": kernel}),
                        ("PUT", "/machine-config", {"vcpu_count": 1,
                                                    "mem_size_mib": 16}),
                        ("PUT", "/actions", {"action_type": "InstanceStart"}),
                        ("PATCH", "/vm", {"state": "Paused"}),
                        ("PUT", "/snapshot/create", {
                            "snapshot_path": os.path.join(d, "state"),
                            "mem_file_path": os.path.join(d, "mem")})):
                    self.assertEqual(api.request(method, path, body)[0], 204,
                                     path)
            finally:
                api.stop()
            env = dict(os.environ, MICROVM_TEST_FORBIDDEN="restored")
            load = ApiProcess(binary=HOOKS, env=env)
            try:
                load.request("PUT", "/snapshot/load", {
                    "snapshot_path": os.path.join(d, "state"),
                    "mem_backend": {"backend_type": "File",
                                    "backend_path": os.path.join(d, "mem")}})
            except OSError:
                pass  # the process died before it answered
            try:
                load.proc.wait(timeout=20)
            finally:
                err = load.stop()
        self.assertEqual(load.proc.returncode, 148, err)
        self.assertIn("seccomp: blocked system call 63 (uname)", err)


# BPF (struct sock_filter: u16 code, u8 jt, u8 jf, u32 k) for filter files.
RET_ALLOW = struct.pack("<HBBI", 0x06, 0, 0, 0x7fff0000)
RET_TRAP = struct.pack("<HBBI", 0x06, 0, 0, 0x00030000)
LOAD_NR = struct.pack("<HBBI", 0x20, 0, 0, 0)  # ld [seccomp_data.nr]
PROGRAMS = {
    "empty": b"",
    "allow": RET_ALLOW,
    # uname (63) traps, everything else is allowed
    "trap-uname": LOAD_NR + struct.pack("<HBBI", 0x15, 0, 1, 63) +
    RET_TRAP + RET_ALLOW,
}


def filter_file(path, **kinds):
    """What seccompiler-bin writes (bincode, fixed-width little-endian):
    the number of entries, then each kind's name and program."""
    data = struct.pack("<Q", len(kinds))
    for kind, program in kinds.items():
        code = PROGRAMS[program]
        data += struct.pack("<Q", len(kind)) + kind.encode()
        data += struct.pack("<Q", len(code) // 8) + code
    with open(path, "wb") as f:
        f.write(data)
    return path


@unittest.skipUnless(os.path.exists(HOOKS), "build/hooks/microvm missing "
                     "(make TEST_HOOKS=1)")
class CustomFilters(unittest.TestCase):
    def start(self, d, thread, filters, boot):
        args = hooked_args(d, boot) + [
            "--seccomp-filter", filter_file(os.path.join(d, "f.bpf"),
                                            **filters)]
        env = dict(os.environ, MICROVM_TEST_FORBIDDEN=thread)
        return subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)

    def check(self, thread, boot):
        others = {k: "allow" for k in ("api", "vmm", "vcpu")}
        with tempfile.TemporaryDirectory() as d:
            # the file traps uname on this thread kind only: exit 148
            proc = self.start(d, thread, dict(others, **{thread:
                                                         "trap-uname"}), boot)
            _, err = proc.communicate(timeout=30)
            self.assertEqual(proc.returncode, 148, err)
            self.assertIn("seccomp: blocked system call 63 (uname)", err)
            # the file allows everything: the built-in lists (which block
            # uname everywhere) are not in force
            proc = self.start(d, thread, others, boot)
            try:
                line = ""
                while "test hook" not in line and proc.poll() is None:
                    line = proc.stderr.readline()
                self.assertIn("the forbidden call went through", line)
                self.assertIsNone(proc.poll())
            finally:
                proc.kill()
                proc.communicate()

    def test_api_thread(self):
        self.check("api", boot=False)

    @needs_kvm
    def test_vmm_thread(self):
        self.check("vmm", boot=True)

    @needs_kvm
    def test_vcpu_thread(self):
        self.check("vcpu", boot=True)

    def test_empty_program_installs_nothing(self):
        with tempfile.TemporaryDirectory() as d:
            path = filter_file(os.path.join(d, "f.bpf"), api="empty",
                               vmm="empty", vcpu="empty")
            api = ApiProcess(extra_args=["--seccomp-filter", path])
            try:
                self.assertEqual(api.request("GET", "/")[0], 200)
                self.assertEqual(set(seccomp_modes(api.proc.pid).values()),
                                 {0})
            finally:
                api.stop()

    def test_bad_files_refused(self):
        with tempfile.TemporaryDirectory() as d:
            for kinds, why in (
                    ({"api": "allow", "vmm": "allow"},
                     "missing thread category: vcpu"),
                    ({"api": "allow", "vmm": "allow", "vcpu": "allow",
                      "main": "allow"}, "more thread categories"),
                    ({"api": "allow", "vmm": "allow", "io": "allow"},
                     "invalid thread category")):
                path = filter_file(os.path.join(d, "f.bpf"), **kinds)
                r = subprocess.run([MICROVM, "--api-sock",
                                    os.path.join(d, "s"),
                                    "--seccomp-filter", path],
                                   capture_output=True, text=True, timeout=20)
                self.assertEqual(r.returncode, 152, r.stderr)
                self.assertIn(why, r.stderr)
            r = subprocess.run([MICROVM, "--seccomp-filter", path,
                                "--no-seccomp"], capture_output=True,
                               text=True, timeout=20)
            self.assertEqual(r.returncode, 153, r.stderr)
            self.assertIn("exclude each other", r.stderr)


class FilterInstalled(unittest.TestCase):
    @needs_kvm
    def test_every_thread_filtered_after_boot(self):
        with tempfile.TemporaryDirectory() as d:
            kernel = os.path.join(d, "spin.elf")
            with open(kernel, "wb") as f:
                f.write(crash_kernel(SPIN))
            api = ApiProcess()
            try:
                deadline = time.monotonic() + 5
                while True:  # the socket listens before the thread starts
                    modes = seccomp_modes(api.proc.pid)
                    api_threads = [m for n, m in modes.items()
                                   if n != "microvm/%d" % api.proc.pid]
                    if api_threads == [2] or time.monotonic() > deadline:
                        break
                    time.sleep(0.01)
                self.assertEqual(api_threads, [2], modes)  # the API thread
                self.assertEqual(modes["microvm/%d" % api.proc.pid], 0)
                for path, body in (
                        ("/boot-source", {"kernel_image_path": kernel}),
                        ("/machine-config", {"vcpu_count": 2,
                                             "mem_size_mib": 16}),
                        ("/actions", {"action_type": "InstanceStart"})):
                    self.assertEqual(api.request("PUT", path, body)[0], 204)
                time.sleep(0.3)
                modes = seccomp_modes(api.proc.pid)
                self.assertEqual(len(modes), 4, modes)  # main, api, 2 vCPUs
                self.assertEqual(set(modes.values()), {2}, modes)
                # the filtered VMM and API threads still serve requests
                self.assertEqual(api.request("PATCH", "/vm",
                                             {"state": "Paused"})[0], 204)
                self.assertEqual(api.request("GET", "/")[1]["state"], "Paused")
            finally:
                api.stop()

    @needs_kvm
    def test_warm_microvm_is_filtered_before_its_load(self):
        api = ApiProcess(extra_args=["--warm", "vcpus=2,mem_mib=16"])
        try:
            deadline = time.monotonic() + 5
            while True:  # the VMM thread seals itself once the API runs
                modes = seccomp_modes(api.proc.pid)
                if set(modes.values()) == {2} or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            self.assertEqual(len(modes), 4, modes)  # main, api, 2 vCPUs
            self.assertEqual(set(modes.values()), {2}, modes)
            self.assertEqual(api.request("GET", "/")[1]["state"],
                             "Not started")
        finally:
            api.stop()

    def test_no_seccomp_flag(self):
        api = ApiProcess(extra_args=["--no-seccomp"])
        try:
            self.assertEqual(set(seccomp_modes(api.proc.pid).values()), {0})
        finally:
            api.stop()


if __name__ == "__main__":
    unittest.main()
