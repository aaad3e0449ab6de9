# SPDX-License-Identifier: Apache-2.0
"""Helpers for integration tests: paths, the guest command line of
tests/guest/cmdline, config files, and running microvm with a timeout."""
import json
import os
import subprocess
import tempfile
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
    """The kernel command line this machine's KVM needs (one place)."""
    with open(os.path.join(ROOT, "tests", "guest", "cmdline")) as f:
        return f.read().strip()


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
