# SPDX-License-Identifier: Apache-2.0
"""CPU templates (issue 14): machine-config's static cpu_template and PUT
/cpu-config's custom templates, as Firecracker takes them.

This host and L1 are AMD (docs/kvm-here.md, "CPU templates and these
CPUs"): every static template is refused at InstanceStart, the Intel ones
for the vendor, T2A for the model, as Firecracker refuses them. A custom
template that clears a CPUID leaf 7 bit the CPU has: the guest's
/proc/cpuinfo loses the flag. It also sets an MSR: the test kernel has no
CONFIG_X86_MSR (tests/guest/kernel.fragment), so the MSR is read back from
the vCPUs' saved MSRs in a snapshot's state file. After a snapshot load the
restored vCPUs (saved again) still lack the bit and keep the MSR."""
import os
import shutil
import struct
import subprocess
import tempfile
import unittest

from microvm_harness import (INITRD, VMLINUX, ApiProcess, LineReader,
                             RestoredGuest, guest_cmdline, needs_kvm)

# Leaf 7.0 EBX bits and their /proc/cpuinfo names; the first one the guest
# shows without a template is cleared.
LEAF7_EBX = (("bmi1", 3), ("bmi2", 8), ("erms", 9), ("adx", 19),
             ("smap", 20), ("clflushopt", 23))
ARCH_CAPABILITIES = 0x10a  # readable in L1 (docs/kvm-here.md)
FLAGS_THEN_COUNT = (
    'sh -c "echo FLAGS $(grep -m1 ^flags /proc/cpuinfo); i=0; '
    'while true; do echo tick $i; i=$((i+1)); sleep 0.3; done"')


def template(bit):
    """A custom template: leaf 7.0 EBX `bit` cleared, IA32_ARCH_CAPABILITIES
    bit 0 (RDCL_NO) set."""
    bitmap = ["x"] * 32
    bitmap[31 - bit] = "0"
    return {"cpuid_modifiers": [{
        "leaf": "0x7", "subleaf": "0x0", "flags": 1,
        "modifiers": [{"register": "ebx", "bitmap": "0b" + "".join(bitmap)}]}],
        "msr_modifiers": [{"addr": "0x%x" % ARCH_CAPABILITIES,
                           "bitmap": "0b1"}]}


def vcpu_sections(state):
    """Each saved vCPU's (MSRs {index: value}, CPUID {(fn, index): regs}).
    Layout: snapshot/snapshot.h struct snap_vcpu, snapshot/format.c."""
    off, out = 32, []
    while off < len(state):
        kind, length = struct.unpack_from("<II", state, off)
        body = off + 8
        if kind == 3:
            nmsrs, ncpuid = struct.unpack_from("<II", state, body + 4)
            table = body + length - 256 * 40
            msr_table = table - 256 * 16
            msrs = {}
            for i in range(nmsrs):
                index, _, data = struct.unpack_from("<IIQ", state,
                                                    msr_table + 16 * i)
                msrs[index] = data
            cpuid = {}
            for i in range(ncpuid):
                fn, index, _, eax, ebx, ecx, edx = struct.unpack_from(
                    "<7I", state, table + 40 * i)
                cpuid[(fn, index)] = (eax, ebx, ecx, edx)
            out.append((msrs, cpuid))
        off = body + length
    return out


def configure(api, machine=None):
    for path, body in (
            ("/boot-source", {"kernel_image_path": VMLINUX,
                              "initrd_path": INITRD,
                              "boot_args": guest_cmdline() + " -- " +
                              FLAGS_THEN_COUNT}),
            ("/machine-config", machine or {"vcpu_count": 2,
                                            "mem_size_mib": 128})):
        status, reply, _ = api.request("PUT", path, body)
        assert status == 204, (path, status, reply)


class CpuTemplateApi(unittest.TestCase):
    """What the API keeps and shows (no guest)."""

    def setUp(self):
        self.api = ApiProcess()

    def tearDown(self):
        self.api.stop()

    def machine(self):
        return self.api.request("GET", "/machine-config")[1]

    def test_static_template_kept_shown_deprecated(self):
        status, reply, hdrs = self.api.request("PUT", "/machine-config", {
            "vcpu_count": 2, "mem_size_mib": 256, "cpu_template": "T2"})
        self.assertEqual(status, 204, reply)
        self.assertEqual(hdrs.get("Deprecation"), "true")
        self.assertEqual(self.machine()["cpu_template"], "T2")
        vm = self.api.request("GET", "/vm/config")[1]
        self.assertEqual(vm["machine-config"]["cpu_template"], "T2")
        self.assertIsNone(vm["cpu-config"])
        # a PUT without it keeps it (Firecracker's MachineConfigUpdate)
        self.api.request("PUT", "/machine-config",
                         {"vcpu_count": 1, "mem_size_mib": 128})
        self.assertEqual(self.machine()["cpu_template"], "T2")
        # None: not shown
        status, _, hdrs = self.api.request("PATCH", "/machine-config",
                                           {"cpu_template": "None"})
        self.assertEqual(status, 204)
        self.assertEqual(hdrs.get("Deprecation"), "true")
        self.assertNotIn("cpu_template", self.machine())
        status, reply, _ = self.api.request("PUT", "/machine-config", {
            "vcpu_count": 1, "mem_size_mib": 128, "cpu_template": "T3"})
        self.assertEqual(status, 400)
        self.assertIn("'T3' is not one of None, C3, T2, T2S, T2CL, T2A",
                      reply["fault_message"])

    def test_custom_template_last_one_wins(self):
        self.api.request("PUT", "/machine-config", {
            "vcpu_count": 1, "mem_size_mib": 128, "cpu_template": "C3"})
        status, reply, _ = self.api.request("PUT", "/cpu-config",
                                            template(3))
        self.assertEqual(status, 204, reply)
        self.assertNotIn("cpu_template", self.machine())
        self.api.request("PATCH", "/machine-config", {"cpu_template": "T2S"})
        self.assertEqual(self.machine()["cpu_template"], "T2S")

    def test_bad_custom_templates(self):
        for body, why in (
                ({"foo": False}, "foo"),
                ({"cpuid_modifiers": [{"leaf": "0x7", "subleaf": "0x0",
                                       "flags": 0, "modifiers": [{
                                           "register": "ebx",
                                           "bitmap": "0b2"}]}]}, "bitmap"),
                ({"msr_modifiers": [{"addr": "zz", "bitmap": "0b1"}]},
                 "addr")):
            status, reply, _ = self.api.request("PUT", "/cpu-config", body)
            self.assertEqual(status, 400, body)
            self.assertIn(why, reply["fault_message"])
        self.assertTrue(self.api.alive())


@needs_kvm
class CpuTemplateGuest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.apis = []

    def tearDown(self):
        for api in self.apis:
            api.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def api(self, args=()):
        api = ApiProcess(stdout=subprocess.PIPE, extra_args=args)
        self.apis.append(api)
        return api, LineReader(api.proc.stdout)

    def boot(self, tmpl=None):
        api, lines = self.api()
        configure(api)
        if tmpl:
            status, reply, _ = api.request("PUT", "/cpu-config", tmpl)
            self.assertEqual(status, 204, reply)
        status, reply, _ = api.request("PUT", "/actions",
                                       {"action_type": "InstanceStart"})
        self.assertEqual(status, 204, reply)
        lines.wait_for("tick 1", 120)
        flags = [l for l in lines.lines if l.startswith("FLAGS")][0]
        return api, lines, flags.split()

    def snapshot(self, api, name):
        api.request("PATCH", "/vm", {"state": "Paused"})
        status, reply, _ = api.request("PUT", "/snapshot/create", {
            "snapshot_path": os.path.join(self.dir, name),
            "mem_file_path": os.path.join(self.dir, name + ".mem")})
        self.assertEqual(status, 204, reply)
        with open(os.path.join(self.dir, name), "rb") as f:
            return vcpu_sections(f.read())

    def assert_template_state(self, vcpus, bit):
        self.assertEqual(len(vcpus), 2)
        for msrs, cpuid in vcpus:
            self.assertEqual(cpuid[(7, 0)][1] & (1 << bit), 0)
            self.assertIn(ARCH_CAPABILITIES, msrs)
            self.assertEqual(msrs[ARCH_CAPABILITIES] & 1, 1)

    def test_custom_template_in_guest_and_snapshot(self):
        # the flags a guest without a template shows: the run's booted
        # snapshot (2 vCPUs, no template) tells
        r = RestoredGuest(self).run("grep -m1 ^flags /proc/cpuinfo")
        self.assertEqual(r.code, 0, r)
        present = [(n, b) for n, b in LEAF7_EBX if n in r.out.split()]
        if not present:
            self.skipTest("the guest shows none of %s" % (LEAF7_EBX,))
        name, bit = present[0]
        api, _, flags = self.boot(template(bit))
        self.assertNotIn(name, flags)
        self.assertIn("fpu", flags)  # the rest is still there
        self.assert_template_state(self.snapshot(api, "state"), bit)
        # restored (cold, and warm: its load runs under the load's seccomp
        # filter): the vCPUs still lack the bit and keep the MSR
        for args in ((), ("--warm", "vcpus=2,mem_mib=128")):
            fresh, lines = self.api(args)
            status, reply, _ = fresh.request("PUT", "/snapshot/load", {
                "snapshot_path": os.path.join(self.dir, "state"),
                "mem_backend": {"backend_type": "File",
                                "backend_path": os.path.join(self.dir,
                                                             "state.mem")},
                "resume_vm": True})
            self.assertEqual(status, 204, (args, reply))
            lines.wait_for("tick", 60)
            self.assert_template_state(self.snapshot(fresh, "again"), bit)
            fresh.stop()

    def refused(self, machine, why):
        api, _ = self.api()
        configure(api, machine)
        status, reply, _ = api.request("PUT", "/actions",
                                       {"action_type": "InstanceStart"})
        self.assertEqual(status, 400)
        self.assertIn(why, reply["fault_message"])
        self.assertTrue(api.alive())
        return api

    def test_static_templates_refused_on_amd(self):
        for name in ("C3", "T2", "T2S", "T2CL"):
            self.refused({"vcpu_count": 1, "mem_size_mib": 128,
                          "cpu_template": name},
                         "CPU vendor mismatched between actual CPU and "
                         "CPU template")
        self.refused({"vcpu_count": 1, "mem_size_mib": 128,
                      "cpu_template": "T2A"},
                     "The current CPU model is not permitted to apply the "
                     "CPU template")

    def test_firecracker_containerd_t2(self):
        """firecracker-containerd's runtime (runtime/service.go,
        machineConfigurationFromProto: cpu_template from its config, "T2"
        in the Intel default) through the Go SDK's order: logger, metrics,
        machine-config, boot-source, drives, InstanceStart. On AMD,
        Firecracker refuses it at InstanceStart; microvm the same."""
        api, _ = self.api()
        for path, body in (
                ("/logger", {"log_path": os.path.join(self.dir, "log"),
                             "level": "Debug"}),
                ("/metrics", {"metrics_path": os.path.join(self.dir, "m")}),
                ("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128,
                                     "smt": False, "cpu_template": "T2"})):
            if path != "/machine-config":
                open(body.get("log_path") or body["metrics_path"],
                     "w").close()
            status, reply, _ = api.request("PUT", path, body)
            self.assertEqual(status, 204, (path, reply))
        configure(api, {"vcpu_count": 1, "mem_size_mib": 128})
        status, reply, _ = api.request("PUT", "/actions",
                                       {"action_type": "InstanceStart"})
        self.assertEqual(status, 400)
        self.assertIn("CPU vendor mismatched", reply["fault_message"])
        self.assertTrue(api.alive())


if __name__ == "__main__":
    unittest.main()
