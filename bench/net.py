#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Network benchmark: guest <-> host TCP over a tap, microvm's virtio-net
vs QEMU -M microvm's virtio-net-device on the same tap setup (a network
namespace this script creates, tap0 172.16.0.1/30, guest 172.16.0.2),
same vmlinux/initrd, alternating, BENCH_RUNS runs each (default 3).

Per run: guest -> host (the guest's busybox nc sends BENCH_NET_MIB MiB of
zeros, default 2) and host -> guest (the host sends as much to the guest's
nc -l), both timed on the host from the first byte to the end. Needs root.
QEMU gets vhost=off: this host has no /dev/vhost-net."""
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "integration"))
from microvm_harness import (INITRD, MICROVM, VMLINUX, guest_cmdline,  # noqa
                             write_config)
import benchenv  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
MIB = int(os.environ.get("BENCH_NET_MIB", "2"))
NS = "microvm-bench-net"
HOST, GUEST_IP = "172.16.0.1", "172.16.0.2"
SCRIPT = ("ip addr add %s/30 dev eth0; ip link set eth0 up; sleep 1; "
          "dd if=/dev/zero bs=64k count=%d 2>/dev/null | nc %s 5001; "
          "nc -l -p 5002 > /dev/null; sleep 3600" % (GUEST_IP, MIB * 16,
                                                       HOST))
# What QEMU 7.2's microvm (acpi=off) appends for one virtio-net-device; it
# would land after " -- " and reach init, so it is placed here instead.
QEMU_VIRTIO_ARG = "virtio_mmio.device=512@0xfeb00e00:12"


def microvm_argv(tmp):
    cfg = {"boot-source": {"kernel_image_path": VMLINUX, "initrd_path": INITRD,
                           "boot_args": guest_cmdline() + ' -- sh -c "%s"'
                           % SCRIPT},
           "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},
           "network-interfaces": [{"iface_id": "eth0",
                                   "host_dev_name": "tap0"}]}
    return [MICROVM, "--no-api", "--config-file", write_config(tmp, cfg)]


def qemu_argv(tmp):
    del tmp
    return ["qemu-system-x86_64", "-M",
            "microvm,x-option-roms=off,rtc=off,acpi=off,"
            "auto-kernel-cmdline=off", *benchenv.qemu_kvm_args(),
            "-m", "128", "-smp", "1", "-nodefaults", "-no-user-config",
            "-nographic", "-serial", "null", "-kernel", VMLINUX,
            "-initrd", INITRD, "-no-reboot",
            "-append", "%s %s -- sh -c \"%s\"" % (guest_cmdline(),
                                                 QEMU_VIRTIO_ARG, SCRIPT),
            "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no,"
            "vhost=off", "-device", "virtio-net-device,netdev=n0"]


def guest_to_host(listener):
    conn, _ = listener.accept()
    conn.settimeout(300)
    got, start = 0, None
    while True:
        chunk = conn.recv(1 << 16)
        if not chunk:
            break
        start = start or time.monotonic()
        got += len(chunk)
    conn.close()
    if got != MIB << 20:
        raise SystemExit("guest sent %d of %d bytes" % (got, MIB << 20))
    return MIB / (time.monotonic() - start)


def host_to_guest():
    deadline = time.monotonic() + 60
    while True:
        try:
            s = socket.create_connection((GUEST_IP, 5002), timeout=300)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    start = time.monotonic()
    s.sendall(bytes(MIB << 20))
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
    s.close()
    return MIB / (time.monotonic() - start)


def run_once(argv):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, 5001))
    listener.listen(1)
    listener.settimeout(180)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        return guest_to_host(listener), host_to_guest()
    finally:
        proc.kill()
        proc.wait()
        listener.close()


def inside_namespace():
    res = {"microvm": [], "qemu": []}
    argvs = {"microvm": microvm_argv, "qemu": qemu_argv}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(RUNS):
            for name in ("microvm", "qemu") if i % 2 == 0 else ("qemu",
                                                                "microvm"):
                res[name].append(run_once(argvs[name](tmp)))
                print("run %d %-7s guest->host %.3f MiB/s host->guest "
                      "%.3f MiB/s" % ((i + 1, name) + res[name][-1]),
                      file=sys.stderr)
    print("\nnet: %d runs each, %d MiB each way, tap in a netns, 1 vCPU\n"
          "%s; QEMU -cpu %s" % (RUNS, MIB, benchenv.describe(),
                                benchenv.qemu_cpu()))
    print("%-8s %18s %18s" % ("monitor", "guest->host MiB/s",
                              "host->guest MiB/s"))
    med = {}
    for name, rows in res.items():
        med[name] = [statistics.median(r[k] for r in rows) for k in (0, 1)]
        print("%-8s %18.3f %18.3f" % (name, med[name][0], med[name][1]))
    print("ratio microvm/qemu: guest->host %.2f, host->guest %.2f" % (
        med["microvm"][0] / med["qemu"][0],
        med["microvm"][1] / med["qemu"][1]))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--inside":
        return inside_namespace()
    benchenv.run_with_kvm()
    benchenv.run_inside_tap_namespace(NS, HOST)


if __name__ == "__main__":
    main()
