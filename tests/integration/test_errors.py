# SPDX-License-Identifier: Apache-2.0
"""Bad arguments, bad configs and dying guests: a clear message, the
contract's exit code, and never a hang."""
import os
import struct
import tempfile
import time
import unittest

from microvm_harness import (INITRD, VMLINUX, boot, linux_config, needs_kvm,
                             run_microvm, write_config)


class Arguments(unittest.TestCase):
    def test_help_and_version(self):
        r = run_microvm(["--help"], timeout=10)
        self.assertEqual(r.code, 0)
        self.assertIn("--config-file", r.out)
        r = run_microvm(["--version"], timeout=10)
        self.assertEqual(r.code, 0)
        self.assertRegex(r.out, r"^microvm v\d+\.\d+\.\d+\n$")

    def test_version_passes_katas_check(self):
        # kata-containers src/runtime/virtcontainers/fc.go: getVersionNumber
        # splits the whole output on " ", trims the second field and its
        # "v"; checkVersion needs semver >= 0.21.1
        out = run_microvm(["--version"], timeout=10).out
        version = out.split(" ")[1].strip().lstrip("v")
        self.assertRegex(version, r"^\d+\.\d+\.\d+$")
        self.assertGreaterEqual(tuple(map(int, version.split("."))), (0, 21, 1))
        # its MAJOR.MINOR is a Firecracker release with the API microvm
        # implements: 1.x
        self.assertEqual(version.split(".")[0], "1")

    def test_bad_arguments_exit_153(self):
        for args, msg in ((["--bogus"], "unknown or incomplete option"),
                          (["--config-file"], "unknown or incomplete option"),
                          (["--no-api"], "--no-api needs --config-file"),
                          (["--start-time-us", "-1"], "invalid --start-time-us"),
                          (["--start-time-cpu-us", "x"],
                           "invalid --start-time-cpu-us"),
                          (["--parent-cpu-time-us", ""],
                           "invalid --parent-cpu-time-us"),
                          (["--module", "m" * 200], "--module is too long"),
                          (["--level", "Warnings"], "invalid --level"),
                          (["--http-api-max-payload-size", "0"],
                           "invalid --http-api-max-payload-size"),
                          (["--seccomp-filter", "f.bpf", "--no-seccomp"],
                           "exclude each other"),
                          (["--level", "Loud"], "invalid --level"),
                          (["--id", "a/b"], "invalid --id"),
                          (["--no-api", "--config-file", "a", "extra"],
                           "unexpected argument"),
                          (["--warm", "vcpus=2"], "invalid --warm"),
                          (["--warm", "mem_mib=128"], "invalid --warm"),
                          (["--warm", "vcpus=0,mem_mib=128"], "invalid --warm"),
                          (["--warm", "vcpus=33,mem_mib=128"], "invalid --warm"),
                          (["--warm", "vcpus=-1,mem_mib=128"], "invalid --warm"),
                          (["--warm", "vcpus=3,mem_mib=128,smt=on"],
                           "invalid --warm"),
                          (["--warm", "vcpus=1,mem_mib=128,huge=on"],
                           "invalid --warm"),
                          (["--warm", "vcpus=1,mem_mib=128", "--no-api",
                            "--config-file", "a"], "--warm waits for")):
            r = run_microvm(args, timeout=10)
            self.assertEqual(r.code, 153, (args, r))
            self.assertIn(msg, r.err, (args, r))


    def test_firecracker_options_accepted(self):
        # what Firecracker's jailer and orchestrators pass: accepted, and
        # --no-api makes --api-sock ignored (the socket is never made)
        with tempfile.TemporaryDirectory() as d:
            sock = os.path.join(d, "api.sock")
            for level in ("warn", "Warn", "WARNING", "warning", "trace", "OFF"):
                r = run_microvm(["--no-api", "--api-sock", sock,
                                 "--config-file", os.path.join(d, "none.json"),
                                 "--level", level, "--show-level",
                                 "--show-log-origin", "--module", "microvm",
                                 "--start-time-us", "1", "--start-time-cpu-us",
                                 "2", "--parent-cpu-time-us", "3"], timeout=10)
                self.assertEqual(r.code, 152, (level, r))  # the missing file
                self.assertFalse(os.path.exists(sock))
            r = run_microvm(["--no-api", "--api-sock", sock, "--config-file",
                             os.path.join(d, "none.json"), "--show-level",
                             "--show-log-origin"], timeout=10)
            self.assertIn(":ERROR:microvm/main.c:", r.err)

    def test_describe_snapshot(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "state")
            # a state file's header: magic, format version 7, x86_64, ...
            with open(path, "wb") as f:
                f.write(b"MVMSNAP\0" + struct.pack("<IIQII", 7, 62, 0, 0, 0))
            r = run_microvm(["--describe-snapshot", path], timeout=10)
            self.assertEqual((r.code, r.out), (0, "v7\n"), r)
            with open(path, "wb") as f:
                f.write(b"not a snapshot, clearly not one at all")
            r = run_microvm(["--describe-snapshot", path], timeout=10)
            self.assertEqual(r.code, 1, r)
            self.assertIn("is not a microvm snapshot", r.err)
            r = run_microvm(["--describe-snapshot", path + ".missing"],
                            timeout=10)
            self.assertEqual(r.code, 1, r)
            self.assertIn("No such file", r.err)


class FirecrackerConfigKeys(unittest.TestCase):
    def test_unknown_top_level_key_warned_and_ignored(self):
        cfg = linux_config()
        cfg["future-feature"] = {"x": 1}
        cfg["pmem"] = [{"id": "p"}]  # Firecracker's, not microvm's: refused
        r = boot(cfg, timeout=20)
        self.assertEqual(r.code, 152, r)
        self.assertIn("config: unknown top-level key 'future-feature' ignored",
                      r.err)
        self.assertIn("'pmem' is not supported", r.err)


def bad_config(test, cfg, message):
    start = time.monotonic()
    r = boot(cfg, timeout=20)
    test.assertEqual(r.code, 152, r)
    test.assertIn(message, r.err, r)
    test.assertEqual(r.out, "", "no guest may start: %r" % r)
    test.assertLess(time.monotonic() - start, 10, "rejected slowly")


class BadConfig(unittest.TestCase):
    def test_vcpu_count_zero(self):
        cfg = linux_config()
        cfg["machine-config"]["vcpu_count"] = 0
        bad_config(self, cfg, "machine-config.vcpu_count: 0 is out of range")

    def test_missing_and_unreadable_files(self):
        cfg = linux_config()
        cfg["boot-source"]["initrd_path"] = "/nonexistent/initrd"
        bad_config(self, cfg, "initrd_path: cannot read '/nonexistent/initrd'")
        cfg = linux_config()
        cfg["boot-source"]["kernel_image_path"] = "/nonexistent/vmlinux"
        bad_config(self, cfg, "cannot read '/nonexistent/vmlinux'")
        with tempfile.TemporaryDirectory() as d:
            r = run_microvm(["--no-api", "--config-file",
                             os.path.join(d, "none.json")], timeout=10)
            self.assertEqual(r.code, 152)
            self.assertIn("cannot open config file", r.err)

    def test_not_a_kernel(self):
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"#!/bin/sh\necho this is no kernel\n" * 100)
            f.flush()
            cfg = linux_config()
            cfg["boot-source"]["kernel_image_path"] = f.name
            bad_config(self, cfg, "is not an x86_64 ELF vmlinux or a bzImage")

    def test_kernel_too_big_for_memory(self):
        cfg = linux_config(mem=8)
        bad_config(self, cfg, "raise mem_size_mib")

    def test_invalid_json(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "vm.json")
            with open(path, "w") as f:
                f.write('{"boot-source": ')
            r = run_microvm(["--no-api", "--config-file", path], timeout=10)
            self.assertEqual(r.code, 152, r)
            self.assertIn("invalid JSON", r.err)


def crash_kernel(code):
    """A PVH ELF 'kernel' whose entry runs `code` in 32-bit mode."""
    load = 0x100000
    ehdr_size, phdr_size = 64, 56
    note = struct.pack("<III4sI", 4, 4, 18, b"Xen\0", load)
    code_off = ehdr_size + 2 * phdr_size + len(note)
    ehdr = struct.pack("<4sBBBBB7xHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0,
                       2, 62, 1, load, ehdr_size, 0, 0, ehdr_size,
                       phdr_size, 2, 0, 0, 0)
    ph_load = struct.pack("<IIQQQQQQ", 1, 7, code_off, load, load,
                          len(code), len(code), 0x1000)
    ph_note = struct.pack("<IIQQQQQQ", 4, 4, ehdr_size + 2 * phdr_size, 0, 0,
                          len(note), len(note), 4)
    return ehdr + ph_load + ph_note + note + code


def assert_triple_fault(test, err, rip, insn):
    """A triple fault is reported with the fault's RIP and bytes where KVM
    keeps them (Intel, this machine's kvm_pvm); on AMD, KVM resets the
    vCPU first, and microvm must say so instead of printing the reset
    vector's RIP."""
    test.assertIn("guest triple fault", err)
    if "reset by the triple fault" in err:
        test.assertNotIn("RIP 0x", err)
    else:
        test.assertIn(f"RIP {rip:#x}, instruction bytes: {insn}", err)


@needs_kvm
class DyingGuest(unittest.TestCase):
    def crash(self, code, what):
        with tempfile.NamedTemporaryFile(suffix=".elf") as f:
            f.write(crash_kernel(code))
            f.flush()
            cfg = {"boot-source": {"kernel_image_path": f.name},
                   "machine-config": {"vcpu_count": 1, "mem_size_mib": 16}}
            r = boot(cfg, timeout=30)
        self.assertNotEqual(r.code, 0, r)
        self.assertNotIn(r.code, (152, 153), r)
        self.assertIn("vCPU 0: " + what, r.err, r)
        return r

    def test_int3_is_reported(self):
        # lidt of an empty IDT, then int3: this machine's KVM cannot
        # emulate int3 (emulation failure); elsewhere it triple-faults.
        code = bytes([0x0f, 0x01, 0x1d, 0, 0, 0, 0, 0xcc, 0xf4])
        r = self.crash(code, "")
        if "instruction emulation failed" in r.err:
            self.assertIn("RIP 0x100007, instruction bytes: cc f4", r.err, r)
        else:
            assert_triple_fault(self, r.err, 0x100007, "cc f4")

    def test_ud2_is_reported(self):
        # An invalid opcode with no IDT: #UD, #DF, triple fault.
        r = self.crash(bytes([0x0f, 0x0b]), "guest triple fault")
        assert_triple_fault(self, r.err, 0x100000, "0f 0b")


if __name__ == "__main__":
    unittest.main()
