#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Block benchmark: the guest's blkbench (tests/guest/blkbench.c) measures
sequential 1 MiB O_DIRECT read and write MiB/s and 4 KiB random-read IOPS on
a drive of BENCH_BLOCK_MIB (default 128) MiB, under microvm (Sync and Async engines) and QEMU -M microvm
(virtio-blk on the same raw file, aio=io_uring, cache=none), same kernel,
initrd and command line, alternating, BENCH_RUNS rounds (default 3). Also
the monitor's host CPU (utime+stime of the whole process) per GiB moved
during the sequential phases."""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "integration"))
from microvm_harness import guest_cmdline  # noqa: E402
import benchenv  # noqa: E402
GUEST = os.path.join(ROOT, "build", "guest")
MICROVM = os.path.join(ROOT, "build", "microvm")
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SEQ_MIB = int(os.environ.get("BENCH_BLOCK_MIB", "128"))
RAND_OPS = int(os.environ.get("BENCH_BLOCK_RANDOM_READS", "2000"))
HZ = os.sysconf("SC_CLK_TCK")
COMMAND = ('sh -c "echo phase-start; blkbench seqwrite /dev/vda %d; '
           'blkbench seqread /dev/vda %d; echo phase-end; '
           'blkbench randread /dev/vda %d"' % (SEQ_MIB, SEQ_MIB, RAND_OPS))


def cmdline():
    return guest_cmdline() + " -- " + COMMAND


def microvm_argv(tmp, disk, engine):
    cfg = {"boot-source": {"kernel_image_path": GUEST + "/vmlinux",
                           "initrd_path": GUEST + "/initrd.cpio",
                           "boot_args": cmdline()},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 256},
           "drives": [{"drive_id": "bench", "path_on_host": disk,
                       "is_root_device": False, "io_engine": engine}]}
    path = os.path.join(tmp, "vm-%s.json" % engine)
    with open(path, "w") as f:
        json.dump(cfg, f)
    return [MICROVM, "--config-file", path, "--no-api"]


def qemu_cache(disk):
    """cache=none (O_DIRECT, as on real hosts) where the file system
    allows it; L1's (overlay on tmpfs, Linux 6.1) does not, so QEMU gets
    the page cache there, as microvm always does."""
    try:
        os.close(os.open(disk, os.O_RDONLY | os.O_DIRECT))
        return "none"
    except OSError:
        return "writeback"


def qemu_argv(disk):
    # QEMU's microvm announces virtio-mmio only through ACPI, which this
    # guest kernel lacks: name its transports on the command line (before
    # " -- "), with the second I/O APIC off so their IRQs are 5, 6, ...
    extra = "".join(" virtio_mmio.device=512@0x%x:%d" % (0xfeb00000 + i * 512,
                                                         5 + i)
                    for i in range(8))
    head, _, tail = cmdline().partition(" -- ")
    return ["qemu-system-x86_64", "-M",
            "microvm,x-option-roms=off,rtc=off,ioapic2=off,acpi=off",
            *benchenv.qemu_kvm_args(),
            "-m", "256", "-smp", "1",
            "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
            "-kernel", GUEST + "/vmlinux", "-initrd", GUEST + "/initrd.cpio",
            "-append", head + extra + " -- " + tail, "-no-reboot",
            "-drive", "file=%s,if=none,id=d0,format=raw,cache=%s,aio=io_uring"
            % (disk, qemu_cache(disk)), "-device", "virtio-blk-device,drive=d0"]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def run_once(argv):
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=err,
                            text=True, errors="replace")
    res, cpu = {}, {}
    deadline = time.monotonic() + 600
    for line in proc.stdout:
        line = line.strip()
        if line in ("phase-start", "phase-end"):
            cpu[line] = cpu_seconds(proc.pid)
        m = re.match(r"blkbench (\w+) ([\d.]+)", line)
        if m:
            res[m.group(1)] = float(m.group(2))
        if "randread" in res or time.monotonic() > deadline:
            break
    proc.kill()
    proc.wait()
    if len(res) != 3 or len(cpu) != 2:
        err.seek(0)
        raise SystemExit("incomplete run of %s: %r %r\n%s" % (
            argv[0], res, cpu, err.read()[-2000:].decode(errors="replace")))
    res["cpu_s_per_gib"] = (cpu["phase-end"] - cpu["phase-start"]) / (
        2 * SEQ_MIB / 1024)
    return res


def main():
    benchenv.run_with_kvm()
    names = ("microvm-sync", "microvm-async", "qemu")
    results = {n: [] for n in names}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR", "/var/tmp")) as tmp:
        disk = os.path.join(tmp, "disk.img")
        with open(disk, "wb") as f:
            f.truncate(SEQ_MIB << 20)
        cache = qemu_cache(disk)
        argvs = {"microvm-sync": microvm_argv(tmp, disk, "Sync"),
                 "microvm-async": microvm_argv(tmp, disk, "Async"),
                 "qemu": qemu_argv(disk)}
        for i in range(RUNS):
            order = names if i % 2 == 0 else tuple(reversed(names))
            for n in order:
                results[n].append(run_once(argvs[n]))
                print("run %d %-14s %r" % (i + 1, n, results[n][-1]),
                      file=sys.stderr)
    print("\nblock: %d rounds, %d MiB raw file, 1 vCPU, guest O_DIRECT\n%s; "
          "QEMU -cpu %s, cache=%s" % (RUNS, SEQ_MIB, benchenv.describe(),
                                      benchenv.qemu_cpu(), cache))
    print("%-14s %12s %12s %12s %14s" % ("monitor", "write MiB/s", "read MiB/s",
                                         "4K rand IOPS", "CPU s per GiB"))
    for n in names:
        med = {k: statistics.median(r[k] for r in results[n])
               for k in ("seqwrite", "seqread", "randread", "cpu_s_per_gib")}
        print("%-14s %12.1f %12.1f %12.0f %14.2f" % (
            n, med["seqwrite"], med["seqread"], med["randread"],
            med["cpu_s_per_gib"]))


if __name__ == "__main__":
    main()
