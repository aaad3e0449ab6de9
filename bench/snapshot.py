#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Snapshot benchmark. One guest (1 vCPU, 128 MiB, vsock-echo on port
5000) is booted once (its cold boot time is printed beside), then:

- snapshot create time and file sizes, Full and then Diff;
- BENCH_RESTORES (default 50) restores per variant, each in a fresh
  microvm process: PUT /snapshot/load (resume_vm) -> 204, i.e. vCPUs
  running, as the client sees it ("load"), and as microvm logs it (request
  to vCPUs released on its VMM thread, "monitor"); and, BENCH_REPLIES (5)
  times, load + the first 1-byte vsock echo through the restored guest.
  Variants: File backend, File + --prefetch of the working set, Uffd
  (microvm-uffd), Uffd + --prefetch, and the same into a warm microvm
  (--warm: VM, memory slots and vCPUs made before the request; its start
  is not timed); the working set is recorded once by microvm-uffd --record;
  then BENCH_POOL (10) warm microvms started together, left idle
  BENCH_IDLE_S (5) seconds and loaded one after the other (max, not p99);
- QEMU -M microvm on the same kernel/initrd: migrate to a file, then
  process start -> incoming migration done (status running), beside
  microvm's process start -> load done.
Writes bench/results/snapshot-restore.dat and, with gnuplot, .png."""
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "integration"))
from microvm_harness import (BUILD, INITRD, VMLINUX,  # noqa: E402
                             ApiProcess, LineReader, guest_cmdline)
import benchenv  # noqa: E402
from guestvm import ok, echo  # noqa: E402

RESTORES = int(os.environ.get("BENCH_RESTORES", "50"))
REPLIES = int(os.environ.get("BENCH_REPLIES", "5"))
POOL = int(os.environ.get("BENCH_POOL", "10"))
IDLE_S = float(os.environ.get("BENCH_IDLE_S", "5"))
QEMU_RUNS = int(os.environ.get("BENCH_QEMU_RUNS", "5"))
MEM = 128
WARM = ["--warm", "vcpus=1,mem_mib=%d" % MEM]
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
UFFD = os.path.join(BUILD, "microvm-uffd")
SCRIPT = 'sh -c "vsock-echo 5000 & sleep 1; echo snap-ready; sleep 36000"'


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def make_snapshot(d):
    api = ApiProcess(stdout=subprocess.PIPE, extra_args=["--boot-timer"])
    ok(api, "PUT", "/boot-source", {
        "kernel_image_path": VMLINUX, "initrd_path": INITRD,
        "boot_args": guest_cmdline() + " -- " + SCRIPT})
    ok(api, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": MEM,
                                       "track_dirty_pages": True})
    ok(api, "PUT", "/vsock", {"guest_cid": 3,
                              "uds_path": os.path.join(d, "base.sock")})
    t0 = time.monotonic()
    ok(api, "PUT", "/actions", {"action_type": "InstanceStart"})
    lines = LineReader(api.proc.stdout)
    lines.wait_for("snap-ready", 180)
    boot_s = time.monotonic() - t0
    figures = {"boot_s": boot_s}
    ok(api, "PATCH", "/vm", {"state": "Paused"})
    for kind, name in (("Full", "state"), ("Diff", "state-diff")):
        if kind == "Diff":
            ok(api, "PATCH", "/vm", {"state": "Resumed"})
            time.sleep(2)
            ok(api, "PATCH", "/vm", {"state": "Paused"})
            mem_before = os.path.join(d, "mem")
        t = time.monotonic()
        ok(api, "PUT", "/snapshot/create", {
            "snapshot_path": os.path.join(d, name),
            "mem_file_path": os.path.join(d, "mem"), "snapshot_type": kind})
        figures[kind] = (time.monotonic() - t,
                         os.path.getsize(os.path.join(d, name)),
                         os.stat(os.path.join(d, "mem")).st_blocks * 512)
    del mem_before
    err = api.stop()
    figures["pages"] = [l for l in err.splitlines() if "snapshot:" in l]
    return figures


def restore(d, backend, args=(), reply=False, api=None):
    """(client load ms, monitor load ms, load -> echo ms or None), in a
    microvm started here with args, or in `api` (started before)."""
    uds = os.path.join(d, "r.sock")
    api = api or ApiProcess(extra_args=list(args))
    done = None
    try:
        t = time.perf_counter()
        ok(api, "PUT", "/snapshot/load", {
            "snapshot_path": os.path.join(d, "state-diff"),
            "mem_backend": backend, "resume_vm": True,
            "vsock_override": {"uds_path": uds}})
        load = time.perf_counter() - t
        if reply:
            echo(uds)
            done = (time.perf_counter() - t) * 1e3
    finally:
        err = api.stop()
    monitor = re.search(r"loaded \(.*\) in (\d+) us", err)
    if not monitor:
        raise SystemExit("no load time in microvm's log: " + err[-500:])
    return load * 1e3, int(monitor.group(1)) / 1e3, done


def uffd_handler(d, args):
    sock = os.path.join(d, "uffd.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    h = subprocess.Popen([UFFD, "--socket", sock, "--mem-file",
                          os.path.join(d, "mem")] + args,
                         stderr=subprocess.DEVNULL)
    while not os.path.exists(sock):
        time.sleep(0.005)
    return h, {"backend_type": "Uffd", "backend_path": sock}


def run_variants(d):
    """{variant: ([(load, monitor, None)...], [(load, monitor, echo)...])}"""
    ws = os.path.join(d, "ws")
    h, backend = uffd_handler(d, ["--record", ws])
    restore(d, backend, reply=True)
    time.sleep(0.5)
    h.kill()
    file_backend = {"backend_type": "File",
                    "backend_path": os.path.join(d, "mem")}
    variants = [("file", file_backend, [], []),
                ("file+prefetch", file_backend, ["--prefetch", ws], []),
                ("uffd", None, [], []),
                ("uffd+prefetch", None, [], ["--prefetch", ws])]
    variants += [("warm-" + name, backend, WARM + margs, hargs)
                 for name, backend, margs, hargs in variants]
    res = {}
    for name, backend, margs, hargs in variants:
        h = None
        if backend is None:
            h, backend = uffd_handler(d, hargs)
        res[name] = ([restore(d, backend, margs) for _ in range(RESTORES)],
                     [restore(d, backend, margs, reply=True)
                      for _ in range(REPLIES)])
        if h:
            h.kill()
        print("%-18s load median %.2f ms" % (
            name, statistics.median(r[0] for r in res[name][0])),
            file=sys.stderr)
    return res, os.path.getsize(ws) // 8


def idle_pool_restores(d):
    """Loads into BENCH_POOL warm microvms started together and left idle
    BENCH_IDLE_S seconds first, as members of a platform's pool wait."""
    pool = [ApiProcess(extra_args=WARM) for _ in range(POOL)]
    time.sleep(IDLE_S)
    backend = {"backend_type": "File",
               "backend_path": os.path.join(d, "mem")}
    return [restore(d, backend, api=api) for api in pool]


def microvm_process_to_loaded(d):
    """Process start -> load done, to compare with QEMU's incoming."""
    times = []
    for _ in range(QEMU_RUNS):
        t = time.perf_counter()
        api = ApiProcess()
        ok(api, "PUT", "/snapshot/load", {
            "snapshot_path": os.path.join(d, "state-diff"),
            "mem_backend": {"backend_type": "File",
                            "backend_path": os.path.join(d, "mem")},
            "resume_vm": True,
            "vsock_override": {"uds_path": os.path.join(d, "p.sock")}})
        times.append((time.perf_counter() - t) * 1e3)
        api.stop()
    return times


def qmp(sock_path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    for _ in range(500):
        try:
            s.connect(sock_path)
            break
        except OSError:
            time.sleep(0.01)
    f = s.makefile("rw")
    f.readline()

    def cmd(name, args=None):
        f.write(json.dumps({"execute": name, "arguments": args or {}}) + "\n")
        f.flush()
        while True:
            reply = json.loads(f.readline())
            if "return" in reply or "error" in reply:
                return reply
    cmd("qmp_capabilities")
    return s, cmd


def qemu_argv(d, extra):
    return ["qemu-system-x86_64", "-M", "microvm,x-option-roms=off,rtc=off",
            *benchenv.qemu_kvm_args(), "-m", str(MEM), "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none",
            "-serial", "file:" + os.path.join(d, "qemu-console"),
            "-kernel", VMLINUX, "-initrd", INITRD,
            "-append", guest_cmdline() + " -- " + SCRIPT,
            "-qmp", "unix:%s,server=on,wait=off" % os.path.join(d, "qmp")
            ] + extra


def qemu_restore_ms(d):
    state = os.path.join(d, "qemu.state")
    p = subprocess.Popen(qemu_argv(d, []), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if os.path.exists(os.path.join(d, "qemu-console")) and \
                "snap-ready" in open(os.path.join(d, "qemu-console"),
                                     errors="replace").read():
            break
        time.sleep(0.2)
    s, cmd = qmp(os.path.join(d, "qmp"))
    cmd("stop")
    t = time.monotonic()
    cmd("migrate", {"uri": "exec:cat > " + state})
    while cmd("query-migrate")["return"].get("status") != "completed":
        time.sleep(0.01)
    save_ms = (time.monotonic() - t) * 1e3
    cmd("quit")
    s.close()
    p.wait()
    times = []
    for _ in range(QEMU_RUNS):
        if os.path.exists(os.path.join(d, "qmp")):
            os.unlink(os.path.join(d, "qmp"))
        t = time.perf_counter()
        p = subprocess.Popen(qemu_argv(d, ["-incoming",
                                           "exec:cat " + state]),
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        s, cmd = qmp(os.path.join(d, "qmp"))
        while cmd("query-migrate")["return"].get("status") != "completed":
            time.sleep(0.001)
        cmd("cont")
        times.append((time.perf_counter() - t) * 1e3)
        cmd("quit")
        s.close()
        p.wait()
    return save_ms, os.path.getsize(state), times


def plot(res):
    os.makedirs(RESULTS, exist_ok=True)
    dat = os.path.join(RESULTS, "snapshot-restore.dat")
    names = list(res)
    with open(dat, "w") as f:
        f.write("# rank " + " ".join(names) + "  (load ms, sorted)\n")
        for i in range(RESTORES):
            f.write("%d %s\n" % (i, " ".join(
                "%.3f" % sorted(r[0] for r in res[n][0])[i] for n in names)))
    script = ("set terminal png size 800,500; set output '%s'; "
              "set title 'microvm PUT /snapshot/load -> 204 at the client (%d restores)'; "
              "set xlabel 'ms'; set ylabel 'fraction of restores'; "
              "set key bottom right; plot %s" % (
                  os.path.join(RESULTS, "snapshot-restore.png"), RESTORES,
                  ", ".join("'%s' using %d:(($1+1)/%d.0) with steps title '%s'"
                            % (dat, i + 2, RESTORES, n)
                            for i, n in enumerate(names))))
    try:
        subprocess.run(["gnuplot", "-e", script], check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print("plot: gnuplot failed (%s); data in %s" % (e, dat))


def main():
    benchenv.run_with_kvm()
    with tempfile.TemporaryDirectory() as d:
        fig = make_snapshot(d)
        res, ws_pages = run_variants(d)
        idle = idle_pool_restores(d)
        mv_proc = microvm_process_to_loaded(d)
        q_save, q_size, q_times = qemu_restore_ms(d)
    print("\nsnapshot: 1 vCPU, %d MiB guest, %d restores per variant\n"
          "%s; QEMU -cpu %s" % (MEM, RESTORES, benchenv.describe(),
                                benchenv.qemu_cpu()))
    print("cold boot (InstanceStart -> init ready): %.2f s" % fig["boot_s"])
    for kind in ("Full", "Diff"):
        t, state, mem = fig[kind]
        print("create %-4s %.1f ms, state file %d KiB, memory file %.1f MiB "
              "on disk (of %d)" % (kind, t * 1e3, state // 1024,
                                   mem / 2**20, MEM))
    for l in fig["pages"]:
        print("  " + l.split("] ")[-1])
    print("working set recorded by microvm-uffd: %d pages (%.1f MiB)"
          % (ws_pages, ws_pages * 4096 / 2**20))
    print("load = PUT /snapshot/load -> 204 at the client; monitor = request "
          "-> vCPUs released, as microvm logs it; echo = load -> first vsock "
          "echo (%d runs)" % REPLIES)
    print("%-18s %9s %9s %12s %12s %10s" % (
        "variant", "load med", "load p99", "monitor med", "monitor p99",
        "echo med"))
    for name, (rows, replies) in res.items():
        loads = [r[0] for r in rows]
        mons = [r[1] for r in rows]
        print("%-18s %9.2f %9.2f %12.2f %12.2f %10.1f" % (
            name, statistics.median(loads), pct(loads, 99),
            statistics.median(mons), pct(mons, 99),
            statistics.median(r[2] for r in replies)))
    loads, mons = [r[0] for r in idle], [r[1] for r in idle]
    print("%-18s %9.2f %9.2f %12.2f %12.2f   (%d warm microvms idle %.0f s "
          "first)" % ("warm-file, idle", statistics.median(loads),
                      max(loads), statistics.median(mons), max(mons), POOL,
                      IDLE_S))
    print("process start -> running, %d runs: microvm (File) median %.1f ms;"
          " QEMU -incoming median %.1f ms (ratio %.3f)" % (
              QEMU_RUNS, statistics.median(mv_proc),
              statistics.median(q_times),
              statistics.median(mv_proc) / statistics.median(q_times)))
    print("QEMU migrate to file: %.1f ms, %.1f MiB" % (q_save,
                                                       q_size / 2**20))
    plot(res)


if __name__ == "__main__":
    main()
