# SPDX-License-Identifier: Apache-2.0
"""What every bench needs from the machine it runs on:
- run_with_kvm(): where there is no /dev/kvm (and this is not L1), run the
  bench again inside L1 (tests/l1/run.sh), telling it the host's CPU;
- describe(): the line printed with every figure: the CPU model, which KVM
  (kvm_intel, kvm_amd, kvm_pvm), and whether it ran in L1 under QEMU TCG;
- run_inside_tap_namespace(): re-run the bench as root inside a fresh
  network namespace with a tap at a given host address (net, mmds);
- qemu_kvm_args(): QEMU's accelerator and a CPU model that starts on Intel
  and AMD hosts. `-cpu host` aborts QEMU 7.2 on some AMD EPYC hosts
  ("failed to set MSR 0x10a": KVM lists IA32_ARCH_CAPABILITIES, QEMU
  cannot set the value it computed); so the tiny guest is started once
  with `-cpu host` and, if that fails, with `host,-arch-capabilities`
  (the guest then does not see that MSR)."""
import os
import re
import subprocess
import sys
import tempfile

import tinyguest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
L1_RUN = os.path.join(ROOT, "tests", "l1", "run.sh")
CPU_CHOICES = ("host", "host,-arch-capabilities")
_qemu_cpu = None


def in_l1():
    with open("/proc/cmdline") as f:
        return "l1.run=" in f.read()


def have_kvm():
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def cpu_model():
    with open("/proc/cpuinfo") as f:
        m = re.search(r"^model name\s*: (.*)$", f.read(), re.M)
    return m.group(1).strip() if m else "unknown"


def kvm_module():
    mods = [m for m in ("kvm_intel", "kvm_amd", "kvm_pvm")
            if os.path.isdir("/sys/module/" + m)]
    return "+".join(mods) or "no KVM module"


def run_with_kvm():
    """Returns where /dev/kvm is usable; else re-executes this bench in L1
    (which queues for the one L1 this machine can run)."""
    if have_kvm():
        return
    if in_l1() or not os.path.exists(L1_RUN):
        raise SystemExit("%s: no usable /dev/kvm" % sys.argv[0])
    print("no /dev/kvm here: running %s in L1 (tests/l1/run.sh)"
          % " ".join(sys.argv), file=sys.stderr)
    env = dict(os.environ, BENCH_HOST_CPU=cpu_model())
    os.execve(L1_RUN, [L1_RUN, sys.executable] + sys.argv, env)


def run_inside_tap_namespace(ns, host_ip):
    """Runs this bench again as `BENCH --inside` in a new network namespace
    NS whose tap0 (up, HOST_IP/30) the guest's eth0 uses; removes NS."""
    if os.geteuid() != 0:
        raise SystemExit("%s needs root (netns and tap)" % sys.argv[0])

    def sh(*args):
        subprocess.run(args, check=True)

    subprocess.run(["ip", "netns", "delete", ns], stderr=subprocess.DEVNULL)
    sh("ip", "netns", "add", ns)
    try:
        for cmd in (["ip", "tuntap", "add", "tap0", "mode", "tap"],
                    ["ip", "addr", "add", host_ip + "/30", "dev", "tap0"],
                    ["ip", "link", "set", "tap0", "up"]):
            sh("ip", "netns", "exec", ns, *cmd)
        sh("ip", "netns", "exec", ns, sys.executable,
           os.path.abspath(sys.argv[0]), "--inside")
    finally:
        subprocess.run(["ip", "netns", "delete", ns])


def describe():
    """Where the figures come from, for every bench's output."""
    if in_l1():
        return ("in L1: %s under QEMU TCG (L1's CPU \"%s\"), host CPU %s; "
                "absolute times are TCG's, compare ratios" % (
                    kvm_module(), cpu_model(),
                    os.environ.get("BENCH_HOST_CPU", "not told (set "
                                   "BENCH_HOST_CPU)")))
    return "host CPU %s, %s" % (cpu_model(), kvm_module() if have_kvm()
                                else "no /dev/kvm")


def qemu_cpu():
    """The first of CPU_CHOICES with which QEMU runs the tiny guest;
    probed once per bench."""
    global _qemu_cpu
    if _qemu_cpu:
        return _qemu_cpu
    errors = []
    with tempfile.TemporaryDirectory() as d:
        kernel = tinyguest.write_kernel(os.path.join(d, "tiny.elf"))
        for cpu in CPU_CHOICES:
            _, why = tinyguest.first_output(qemu_argv(kernel, 16, cpu))
            if why is None:
                _qemu_cpu = cpu
                return cpu
            errors.append("-cpu %s: %s" % (cpu, why))
    raise SystemExit("QEMU starts with none of the CPU models tried:\n"
                     + "\n".join(errors))


def qemu_kvm_args():
    return ["-accel", "kvm", "-cpu", qemu_cpu()]


def qemu_argv(kernel, mem_mib, cpu=None):
    """QEMU -M microvm booting `kernel` with 1 vCPU, the serial port on
    stdout, nothing else (what bench/boot.py compares with microvm)."""
    return ["qemu-system-x86_64", "-M", "microvm,x-option-roms=off,rtc=off",
            "-accel", "kvm", "-cpu", cpu or qemu_cpu(), "-m", str(mem_mib),
            "-smp", "1", "-nodefaults", "-no-user-config", "-nographic",
            "-serial", "stdio", "-kernel", kernel, "-no-reboot"]
