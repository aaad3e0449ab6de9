# SPDX-License-Identifier: Apache-2.0
"""Snapshots end to end: a guest counts on its console; pause, snapshot,
load in a new process (File and Uffd backends, cold and warm microvms),
resume: the count goes on from where it stopped. A diff chain restores the
last point; ten clones of one snapshot (half of them warm) each write their
own disk and see only their own memory; bad state files are refused with a
clear message and the process stays usable (a warm one stays warm)."""
import hashlib
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest
import zlib

from microvm_harness import (sha256, BUILD, INITRD, VMLINUX, ApiProcess,
                             LineReader, guest_cmdline, needs_kvm)

UFFD_HANDLER = os.path.join(BUILD, "microvm-uffd")
COUNTER = ('sh -c "i=0; while true; do echo tick $i; i=$((i+1)); '
           'sleep 0.3; done"')
DEVICE_COUNTER = (
    'sh -c "i=0; while dd if=/dev/vda of=/dev/null bs=4096 count=1 '
    'iflag=direct 2>/dev/null && dd if=/dev/vdb of=/dev/null bs=4096 '
    'count=1 iflag=direct 2>/dev/null && head -c 16 /dev/hwrng >/dev/null; '
    'do echo tick $i; i=$((i+1)); sleep 0.3; done; echo device-failed"')


def ok(api, method, path, body=None):
    status, reply, _ = api.request(method, path, body)
    if status >= 300:
        raise AssertionError("%s %s: %s %s" % (method, path, status, reply))


def boot_counter(extra_cfg=None, mem=128, track_dirty=False, script=COUNTER):
    api = ApiProcess(stdout=subprocess.PIPE)
    ok(api, "PUT", "/boot-source", {
        "kernel_image_path": VMLINUX, "initrd_path": INITRD,
        "boot_args": guest_cmdline() + " -- " + script})
    ok(api, "PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": mem,
                                       "track_dirty_pages": track_dirty})
    for path, body in (extra_cfg or []):
        ok(api, "PUT", path, body)
    ok(api, "PUT", "/actions", {"action_type": "InstanceStart"})
    return api, LineReader(api.proc.stdout)


def pause_and_snapshot(api, lines, d, name, kind="Full", mem="mem"):
    ok(api, "PATCH", "/vm", {"state": "Paused"})
    time.sleep(0.5)  # the last console bytes drain
    ticks = lines.ticks()
    last = ticks[-1] if ticks else None  # the counter's, if it counts
    ok(api, "PUT", "/snapshot/create", {
        "snapshot_path": os.path.join(d, name),
        "mem_file_path": os.path.join(d, mem), "snapshot_type": kind})
    return last


WARM_COUNTER = ["--warm", "vcpus=2,mem_mib=128"]  # boot_counter's shape


def load(d, name, backend=None, mem="mem", extra=None, args=()):
    api = ApiProcess(stdout=subprocess.PIPE, extra_args=args)
    lines = LineReader(api.proc.stdout)
    body = {"snapshot_path": os.path.join(d, name),
            "mem_backend": backend or {"backend_type": "File",
                                       "backend_path": os.path.join(d, mem)},
            "resume_vm": True}
    body.update(extra or {})
    status, reply, _ = api.request("PUT", "/snapshot/load", body)
    return api, lines, status, reply


def with_every_leaf7_feature(state):
    """The state file with all of CPUID leaf 7.0 EBX set in vCPU 0's saved
    CPUID (a CPU newer than any), CRC redone. Layout: snapshot/format.c."""
    out = bytearray(state)
    off = 32
    while off < len(out):
        kind, length = struct.unpack_from("<II", out, off)
        body = off + 8
        if kind == 3:  # vCPU: index, nmsrs, ncpuid, ...; cpuid[256] last
            ncpuid = struct.unpack_from("<I", out, body + 8)[0]
            table = body + length - 256 * 40
            for i in range(ncpuid):  # function, index, flags, eax, ebx, ...
                fn, index = struct.unpack_from("<II", out, table + 40 * i)
                if (fn, index) == (7, 0):
                    struct.pack_into("<I", out, table + 40 * i + 16,
                                     0xffffffff)
            break
        off = body + length
    struct.pack_into("<I", out, 24, zlib.crc32(bytes(out[32:])))
    return bytes(out)


@needs_kvm
class Snapshot(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.apis = []

    def tearDown(self):
        for api in self.apis:
            api.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def continues_after(self, last, backend=None, name="state", mem="mem",
                        args=(), extra=None):
        api, lines, status, reply = load(self.dir, name, backend, mem,
                                         extra=extra, args=args)
        self.apis.append(api)
        self.assertEqual(status, 204, reply)
        self.assertEqual(api.request("GET", "/")[1]["state"], "Running")
        lines.wait_for("tick %d" % (last + 3), 60)
        ticks = lines.ticks()
        self.assertEqual(ticks[0], last + 1, "did not continue: %r" % ticks)
        self.assertEqual(ticks, list(range(last + 1, last + 1 + len(ticks))))
        return api

    def stop_loaded(self, api, args, backend):
        """Stops a process that loaded; its log says which way it loaded
        (a warm process must not have fallen back to building a VM)."""
        err = api.stop()
        self.apis.remove(api)
        self.assertIn("loaded (%s backend%s)" % (
            backend, ", warm" if args else ""), err)

    def snapshot_of_a_counter(self):
        """Boots the counting guest, snapshots it into self.dir ("state",
        "mem") and stops it; returns the last tick before the snapshot."""
        api, lines = boot_counter()
        self.apis.append(api)
        lines.wait_for("tick 3", 120)
        last = pause_and_snapshot(api, lines, self.dir, "state")
        api.stop()
        self.apis.remove(api)
        return last

    def test_counter_continues_file_backend(self):
        last = self.snapshot_of_a_counter()
        for args in ([], WARM_COUNTER):
            api = self.continues_after(last, args=args)
            # the restored guest still reboots on Ctrl+Alt+Del (i8042)
            ok(api, "PUT", "/actions", {"action_type": "SendCtrlAltDel"})
            self.assertEqual(api.proc.wait(timeout=60), 0)
            self.stop_loaded(api, args, "File")

    def test_clock_realtime(self):
        # as in Firecracker: the kvmclock advances by the wall time since
        # the snapshot, which needs a saved clock with its real time
        # (KVM_CLOCK_REALTIME, given by KVM on a host with a stable TSC);
        # without one the load is refused before anything is made
        last = self.snapshot_of_a_counter()
        api, lines, status, reply = load(self.dir, "state",
                                         extra={"clock_realtime": True})
        self.apis.append(api)
        print("clock_realtime: %s" % ("refused, no real time in the saved "
                                      "clock" if status == 400 else "loaded"))
        if status == 400:
            self.assertIn("clock_realtime: the snapshot's KVM clock carries "
                          "no real time", reply["fault_message"])
            self.assertEqual(api.request("GET", "/")[1]["state"], "Not started")
            return
        self.assertEqual(status, 204, reply)
        lines.wait_for("tick %d" % (last + 3), 60)
        self.assertEqual(lines.ticks()[0], last + 1)

    def test_counter_continues_uffd_backend_with_record_and_prefetch(self):
        last = self.snapshot_of_a_counter()
        sock = os.path.join(self.dir, "uffd.sock")
        ws = os.path.join(self.dir, "ws")
        mem = os.path.join(self.dir, "mem")
        before = sha256(mem)
        backend = {"backend_type": "Uffd", "backend_path": sock}
        # the second load goes into a warm microvm
        for args, warm in ((["--record", ws], []),
                           (["--prefetch", ws], WARM_COUNTER)):
            handler = subprocess.Popen(
                [UFFD_HANDLER, "--socket", sock, "--mem-file", mem] + args,
                stderr=subprocess.PIPE, text=True)
            try:
                while not os.path.exists(sock):
                    time.sleep(0.01)
                api = self.continues_after(last, backend, args=warm)
                self.stop_loaded(api, warm, "Uffd")
                time.sleep(0.5)  # the handler's child writes the record
            finally:
                handler.kill()
                err = handler.communicate()[1]
            if args[0] == "--record":
                pages = os.path.getsize(ws) // 8
                self.assertGreater(pages, 10, "nothing recorded")
                self.assertLess(pages, (128 << 20) // 4096)
            else:
                self.assertIn("prefetched %d pages" % pages, err)
        self.assertEqual(sha256(mem), before, "the memory file changed")

    def test_bad_state_files_are_refused(self):
        api, lines = boot_counter()
        self.apis.append(api)
        lines.wait_for("tick 1", 120)
        pause_and_snapshot(api, lines, self.dir, "state")
        with open(os.path.join(self.dir, "state"), "rb") as f:
            good = f.read()
        bad = {
            "truncated": (good[:len(good) // 2], "truncated"),
            "empty": (b"", "truncated"),
            "magic": (b"XXXXXXXX" + good[8:], "bad magic"),
            "version": (good[:8] + b"\x63\x00\x00\x00" + good[12:],
                        "format version 99"),
            "arch": (good[:12] + b"\x03\x00\x00\x00" + good[16:],
                     "architecture 3"),
            "corrupt": (good[:200] + bytes([good[200] ^ 1]) + good[201:],
                        "CRC mismatch"),
            "cpu": (with_every_leaf7_feature(good),
                    "vCPU 0 of the snapshot needs a CPU feature this host "
                    "lacks: CPUID leaf 0x7.0 EBX bits"),
        }
        for name, (data, _) in bad.items():
            with open(os.path.join(self.dir, name), "wb") as f:
                f.write(data)
        for args in ([], WARM_COUNTER):
            self.refuses_then_loads(bad, args)
        self.warm_of_another_shape_refuses()

    def refuses_then_loads(self, bad, args):
        fresh = ApiProcess(stdout=subprocess.PIPE, extra_args=args)
        self.apis.append(fresh)
        for name, (_, why) in bad.items():
            path = os.path.join(self.dir, name)
            status, reply, _ = fresh.request("PUT", "/snapshot/load", {
                "snapshot_path": path,
                "mem_backend": {"backend_type": "File",
                                "backend_path": os.path.join(self.dir, "mem")}})
            self.assertEqual(status, 400, name)
            self.assertIn(why, reply["fault_message"], name)
            self.assertEqual(fresh.request("GET", "/")[1]["state"],
                             "Not started")
        status, reply, _ = fresh.request("PUT", "/snapshot/load", {
            "snapshot_path": os.path.join(self.dir, "state"),
            "mem_backend": {"backend_type": "File",
                            "backend_path": VMLINUX}})  # wrong size
        self.assertEqual(status, 400)
        self.assertIn("memory file's size", reply["fault_message"])
        if args:  # a warm microvm boots no kernel
            status, reply, _ = fresh.request("PUT", "/actions",
                                             {"action_type": "InstanceStart"})
            self.assertEqual(status, 400)
            self.assertIn("--warm", reply["fault_message"])
        # still usable: the good snapshot loads in the same process
        status, reply, _ = fresh.request("PUT", "/snapshot/load", {
            "snapshot_path": os.path.join(self.dir, "state"),
            "mem_backend": {"backend_type": "File",
                            "backend_path": os.path.join(self.dir, "mem")},
            "track_dirty_pages": True})
        self.assertEqual(status, 204, reply)
        self.assertEqual(fresh.request("GET", "/")[1]["state"], "Paused")
        # and a snapshot needs a paused VM
        ok(fresh, "PATCH", "/vm", {"state": "Resumed"})
        status, reply, _ = fresh.request("PUT", "/snapshot/create", {
            "snapshot_path": os.path.join(self.dir, "s2"),
            "mem_file_path": os.path.join(self.dir, "m2")})
        self.assertEqual(status, 400)
        self.assertIn("paused", reply["fault_message"])
        ok(fresh, "PATCH", "/vm", {"state": "Paused"})
        shutil.copyfile(os.path.join(self.dir, "mem"),
                        os.path.join(self.dir, "m3"))
        ok(fresh, "PUT", "/snapshot/create", {
            "snapshot_path": os.path.join(self.dir, "s3"),
            "mem_file_path": os.path.join(self.dir, "m3"),
            "snapshot_type": "Diff"})

    def warm_of_another_shape_refuses(self):
        for shape, why in (("vcpus=1,mem_mib=128", "for 1 vCPUs, 128 MiB"),
                           ("vcpus=2,mem_mib=64", "for 2 vCPUs, 64 MiB"),
                           ("vcpus=2,mem_mib=128,smt=on", "smt on")):
            warm = ApiProcess(extra_args=["--warm", shape])
            self.apis.append(warm)
            status, reply, _ = warm.request("PUT", "/snapshot/load", {
                "snapshot_path": os.path.join(self.dir, "state"),
                "mem_backend": {"backend_type": "File",
                                "backend_path": os.path.join(self.dir, "mem")}})
            self.assertEqual(status, 400, shape)
            self.assertIn(why, reply["fault_message"])
            self.assertIn("the snapshot has 2 vCPUs, 128 MiB, smt off",
                          reply["fault_message"])
            self.assertTrue(warm.alive())

    @unittest.skipUnless(os.geteuid() == 0, "creating a tap needs root")
    def test_every_device_into_a_warm_microvm(self):
        """Block (Sync and Async, rate-limited), net, rng and vsock restored
        into a warm microvm, under its seccomp filters: the guest goes on
        reading both disks and the hwrng at every tick."""
        d = self.dir
        tap = "mvmw%d" % os.getpid()
        subprocess.run(["ip", "tuntap", "add", tap, "mode", "tap"],
                       check=True)
        self.addCleanup(subprocess.run, ["ip", "link", "delete", tap])
        disks = []
        for name in ("a.img", "b.img"):
            disks.append(os.path.join(d, name))
            with open(disks[-1], "wb") as f:
                f.write(os.urandom(1 << 20))
        limit = {"bandwidth": {"size": 1 << 20, "refill_time": 100}}
        drives = [("/drives/a", {"drive_id": "a", "path_on_host": disks[0],
                                 "is_root_device": False,
                                 "is_read_only": True, "io_engine": "Sync"}),
                  ("/drives/b", {"drive_id": "b", "path_on_host": disks[1],
                                 "is_root_device": False,
                                 "is_read_only": False, "io_engine": "Async",
                                 "rate_limiter": limit})]
        extra = drives + [
            ("/network-interfaces/eth0", {"iface_id": "eth0",
                                          "host_dev_name": tap}),
            ("/entropy", {"rate_limiter": limit}),
            ("/vsock", {"guest_cid": 3,
                        "uds_path": os.path.join(d, "v.sock")})]
        api, lines = boot_counter(extra, script=DEVICE_COUNTER)
        self.apis.append(api)
        lines.wait_for("tick 2", 120)
        last = pause_and_snapshot(api, lines, d, "state")
        api.stop()
        self.apis.remove(api)
        self.failed_warm_load_releases_the_vm()
        api = self.continues_after(last, args=WARM_COUNTER, extra={
            "vsock_override": {"uds_path": os.path.join(d, "w.sock")}})
        self.stop_loaded(api, WARM_COUNTER, "File")

    def failed_warm_load_releases_the_vm(self):
        """A load that fails after it replaced the warm VM's memory (here:
        the vsock socket cannot be bound) leaves a process that says so."""
        warm = ApiProcess(extra_args=WARM_COUNTER)
        self.apis.append(warm)
        body = {"snapshot_path": os.path.join(self.dir, "state"),
                "mem_backend": {"backend_type": "File",
                                "backend_path": os.path.join(self.dir, "mem")},
                "vsock_override": {"uds_path": "/nonexistent/v.sock"}}
        status, reply, _ = warm.request("PUT", "/snapshot/load", body)
        self.assertEqual(status, 400)
        self.assertIn("vsock", reply["fault_message"])
        body["vsock_override"]["uds_path"] = os.path.join(self.dir, "x.sock")
        status, reply, _ = warm.request("PUT", "/snapshot/load", body)
        self.assertEqual(status, 400)
        self.assertIn("start a new microvm --warm", reply["fault_message"])
        self.assertEqual(warm.request("GET", "/")[1]["state"], "Not started")

    def test_diff_chain_restores_the_last_point(self):
        api, lines = boot_counter(track_dirty=True)
        self.apis.append(api)
        lines.wait_for("tick 2", 120)
        pause_and_snapshot(api, lines, self.dir, "s0")
        base_hash = sha256(os.path.join(self.dir, "mem"))
        for name in ("s1", "s2"):
            ok(api, "PATCH", "/vm", {"state": "Resumed"})
            lines.wait_for("tick %d" % (lines.ticks()[-1] + 3), 30)
            last = pause_and_snapshot(api, lines, self.dir, name, "Diff")
        self.assertNotEqual(sha256(os.path.join(self.dir, "mem")), base_hash)
        api.stop()
        self.apis.remove(api)
        self.continues_after(last, name="s2")

    def test_diff_keeps_what_the_monitor_wrote(self):
        # Finding 3: a Diff snapshot must hold the guest pages that microvm
        # wrote itself (here a block read into the guest's page cache),
        # which KVM's dirty log does not see. After the Full snapshot the
        # guest reads a drive (buffered) and then only reads those cached
        # pages again;
        # the drive's file is zeroed before the chain is loaded, so the
        # restored guest's sums match only if the Diff carried the data.
        drive = os.path.join(self.dir, "data.img")
        data = os.urandom(4 << 20)
        with open(drive, "wb") as f:
            f.write(data)
        want = hashlib.md5(data).hexdigest()
        # fd 3 keeps /dev/vda open: Linux drops a block device's page
        # cache when its last opener closes it.
        script = ('sh -c "exec 3</dev/vda; echo ready; sleep 2; '
                  'while true; do md5sum /dev/vda; sleep 0.5; done"')
        api, lines = boot_counter(track_dirty=True, script=script, extra_cfg=[
            ("/drives/data", {"drive_id": "data", "path_on_host": drive,
                              "is_root_device": False,
                              "is_read_only": True})])
        self.apis.append(api)
        lines.wait_for("ready", 120)
        pause_and_snapshot(api, lines, self.dir, "s0")
        self.assertNotIn(want, "\n".join(lines.lines))
        ok(api, "PATCH", "/vm", {"state": "Resumed"})
        lines.wait_for(want, 60)
        pause_and_snapshot(api, lines, self.dir, "s1", "Diff")
        api.stop()
        self.apis.remove(api)
        with open(drive, "wb") as f:
            f.write(bytes(len(data)))
        api, lines, status, reply = load(self.dir, "s1")
        self.apis.append(api)
        self.assertEqual(status, 204, reply)
        sums = lambda: [l.split()[0] for l in lines.lines
                        if l.endswith("/dev/vda")]
        deadline = time.monotonic() + 30
        while len(sums()) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertGreaterEqual(len(sums()), 3, lines.lines[-10:])
        self.assertEqual(set(sums()), {want})


CLONE_SCRIPT = (
    'sh -c "echo base > /tmp/mem; echo clone-ready; while true; do '
    'vsock-cat 2 7000 < /dev/null > /tmp/id 2>/dev/null; '
    'if [ -s /tmp/id ]; then id=$(cat /tmp/id); echo $id >> /tmp/mem; '
    'echo $id | dd of=/dev/vda bs=512 count=1 conv=fsync 2>/dev/null; '
    'echo clone-done $id mem=$(cat /tmp/mem); sleep 3600; fi; '
    'sleep 0.2; done"')


def give_id(listener, ident):
    conn, _ = listener.accept()
    conn.sendall(ident.encode() + b"\n")
    conn.close()
    listener.close()


@needs_kvm
class Clones(unittest.TestCase):
    """Ten clones of one snapshot, restored at once, each with its own disk
    (PATCH /drives after a paused load) and vsock socket (vsock_override);
    every other one loads into a warm microvm."""

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.apis = []

    def tearDown(self):
        for api in self.apis:
            api.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def make_base(self):
        d = self.dir
        disk = os.path.join(d, "base.img")
        with open(disk, "wb") as f:
            f.truncate(1 << 20)
        api = ApiProcess(stdout=subprocess.PIPE)
        self.apis.append(api)
        ok(api, "PUT", "/boot-source", {
            "kernel_image_path": VMLINUX, "initrd_path": INITRD,
            "boot_args": guest_cmdline() + " -- " + CLONE_SCRIPT})
        ok(api, "PUT", "/machine-config", {"vcpu_count": 1,
                                           "mem_size_mib": 96})
        ok(api, "PUT", "/drives/data", {"drive_id": "data",
                                        "path_on_host": disk,
                                        "is_root_device": False,
                                        "is_read_only": False})
        ok(api, "PUT", "/vsock", {"guest_cid": 3,
                                  "uds_path": os.path.join(d, "base.sock")})
        ok(api, "PUT", "/actions", {"action_type": "InstanceStart"})
        lines = LineReader(api.proc.stdout)
        try:
            lines.wait_for("clone-ready", 120)
        except AssertionError as e:
            raise AssertionError("%s; microvm: exit %s, %s" % (
                e, api.proc.poll(), "".join(api.err_lines[-20:])))
        time.sleep(1)
        ok(api, "PATCH", "/vm", {"state": "Paused"})
        ok(api, "PUT", "/snapshot/create", {
            "snapshot_path": os.path.join(d, "state"),
            "mem_file_path": os.path.join(d, "mem")})
        api.stop()
        self.apis.remove(api)
        return disk

    def test_ten_clones_are_isolated(self):
        d = self.dir
        base_disk = self.make_base()
        mem_hash = sha256(os.path.join(d, "mem"))
        clones = []
        for n in range(10):
            disk = os.path.join(d, "disk%d.img" % n)
            shutil.copyfile(base_disk, disk)
            uds = os.path.join(d, "c%d.sock" % n)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(uds + "_7000")
            listener.listen(1)
            threading.Thread(target=give_id, args=(listener, "clone-%d" % n),
                             daemon=True).start()
            api, lines, status, reply = load(
                d, "state", extra={"resume_vm": False,
                                   "vsock_override": {"uds_path": uds}},
                args=["--warm", "vcpus=1,mem_mib=96"] if n % 2 else [])
            self.apis.append(api)
            self.assertEqual(status, 204, reply)
            ok(api, "PATCH", "/drives/data", {"drive_id": "data",
                                              "path_on_host": disk})
            clones.append((api, lines, disk))
        for api, _, _ in clones:  # all at once
            ok(api, "PATCH", "/vm", {"state": "Resumed"})
        for n, (api, lines, disk) in enumerate(clones):
            lines.wait_for("clone-done clone-%d" % n, 180)
            done = [l for l in lines.lines if "clone-done" in l][0]
            self.assertTrue(done.endswith("mem=base clone-%d" % n), done)
        for n, (api, _, disk) in enumerate(clones):
            self.assertIn("loaded (File backend%s)" % (", warm" if n % 2
                                                       else ""), api.stop())
            with open(disk, "rb") as f:
                self.assertEqual(f.read(8), b"clone-%d\n" % n)
        with open(base_disk, "rb") as f:
            self.assertEqual(f.read(512), bytes(512), "base disk written")
        self.apis = []
        self.assertEqual(sha256(os.path.join(d, "mem")), mem_hash,
                         "the memory file changed")
