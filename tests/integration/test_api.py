# SPDX-License-Identifier: Apache-2.0
"""The Firecracker-compatible API, driven over the Unix socket by a real
HTTP client (Python's http.client) and by raw sockets."""
import json
import os
import socket
import tempfile
import threading
import time
import unittest

from microvm_harness import (LineReader, INITRD, VMLINUX, ApiProcess,
                             RestoredGuest, UnixHTTPConnection,
                             boot, guest_cmdline, linux_config, needs_kvm,
                             run_microvm)


class ApiBase(unittest.TestCase):
    def setUp(self):
        self.api = ApiProcess()

    def tearDown(self):
        self.assertTrue(self.api.alive(), "microvm died during the test")
        self.api.stop()

    def ok(self, method, path, body=None, **kw):
        status, js, hdrs = self.api.request(method, path, body, **kw)
        self.assertIn(status, (200, 204), (method, path, body, js))
        return js, hdrs

    def bad(self, method, path, body=None, needle="", status=400, **kw):
        st, js, _ = self.api.request(method, path, body, **kw)
        self.assertEqual(st, status, (method, path, body, js))
        self.assertIn("fault_message", js, js)
        self.assertIn(needle, js["fault_message"], (method, path, body))
        return js["fault_message"]


class Resources(ApiBase):
    def test_info_version_and_defaults(self):
        js, _ = self.ok("GET", "/")
        self.assertEqual(js["state"], "Not started")
        self.assertEqual(js["id"], "anonymous-instance")
        info_version = js["vmm_version"]
        js, _ = self.ok("GET", "/version")
        self.assertEqual(js["firecracker_version"], info_version)
        # --version says the same, in the form Kata reads
        out = run_microvm(["--version"], timeout=10).out
        self.assertEqual(out, "microvm v%s\n" % info_version)
        js, _ = self.ok("GET", "/machine-config")
        self.assertEqual((js["vcpu_count"], js["mem_size_mib"]), (1, 128))

    def test_machine_config_put_patch_get(self):
        self.ok("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 256,
                                           "smt": False})
        self.ok("PATCH", "/machine-config", {"mem_size_mib": 512})
        js, _ = self.ok("GET", "/machine-config")
        self.assertEqual((js["vcpu_count"], js["mem_size_mib"]), (2, 512))
        # a PATCH that breaks a rule changes nothing
        self.ok("PATCH", "/machine-config", {"smt": True})
        self.bad("PATCH", "/machine-config", {"vcpu_count": 3},
                 "with smt, vcpu_count must be 1 or even")
        js, _ = self.ok("GET", "/machine-config")
        self.assertEqual(js["vcpu_count"], 2)

    def test_every_resource_accepted_and_reported(self):
        with tempfile.NamedTemporaryFile() as disk:
            self.ok("PUT", "/boot-source", {"kernel_image_path": VMLINUX,
                                            "initrd_path": INITRD,
                                            "boot_args": "console=ttyS0"})
            self.ok("PUT", "/drives/rootfs", {
                "drive_id": "rootfs", "path_on_host": disk.name,
                "is_root_device": True, "is_read_only": False,
                "cache_type": "Writeback", "io_engine": "Async",
                "rate_limiter": {"bandwidth": {"size": 1000,
                                               "refill_time": 100}}})
            self.ok("PUT", "/network-interfaces/eth0", {
                "iface_id": "eth0", "host_dev_name": "lo",  # not a tap
                "guest_mac": "06:00:ac:10:00:02", "rx_rate_limiter": None,
                "tx_rate_limiter": {}})
            self.ok("PUT", "/vsock", {"guest_cid": 3, "uds_path": "/tmp/v.sock"})
            self.ok("PUT", "/entropy", {"rate_limiter": {"ops": {
                "size": 10, "refill_time": 1000, "one_time_burst": 5}}})
            js, _ = self.ok("GET", "/vm/config")
        self.assertEqual(js["boot-source"]["kernel_image_path"], VMLINUX)
        self.assertEqual(js["drives"][0]["drive_id"], "rootfs")
        self.assertEqual(js["drives"][0]["io_engine"], "Async")
        self.assertEqual(js["drives"][0]["rate_limiter"]["bandwidth"]["size"],
                         1000)
        self.assertEqual(js["network-interfaces"][0]["guest_mac"],
                         "06:00:ac:10:00:02")
        self.assertEqual(js["vsock"], {"guest_cid": 3, "uds_path": "/tmp/v.sock"})
        self.assertEqual(js["entropy"]["rate_limiter"]["ops"]["one_time_burst"], 5)
        # a device that cannot be built: InstanceStart names it, and the
        # VM stays "Not started"
        self.bad("PUT", "/actions", {"action_type": "InstanceStart"},
                 "InstanceStart failed: drive 'rootfs'")  # file gone
        self.assertEqual(self.ok("GET", "/")[0]["state"], "Not started")

    def test_drive_rules(self):
        with tempfile.NamedTemporaryFile() as a:
            d = {"drive_id": "a", "path_on_host": a.name,
                 "is_root_device": True}
            self.ok("PUT", "/drives/a", d)
            self.ok("PUT", "/drives/a", d)  # same id: replaced
            self.bad("PUT", "/drives/b", dict(d, drive_id="b"),
                     "a root device is already configured")
            self.bad("PUT", "/drives/c", dict(d, drive_id="x"),
                     "differs from the one in the body")
            self.bad("PUT", "/drives/a", dict(d, path_on_host="/nonexistent"),
                     "cannot read '/nonexistent'")
            self.bad("PUT", "/drives/bad-id", dict(d, drive_id="bad-id"),
                     "invalid id in path")
            self.bad("PATCH", "/drives/a", {"drive_id": "a"},
                     "not supported before starting")

    def test_logger_to_fifo_and_metrics(self):
        with tempfile.TemporaryDirectory() as d:
            fifo = os.path.join(d, "log.fifo")
            os.mkfifo(fifo)  # nobody reads it: must not block
            self.ok("PUT", "/logger", {"log_path": fifo, "level": "Debug",
                                       "show_level": True,
                                       "show_log_origin": True})
            # nothing to flush yet: 204, as Firecracker answers
            self.ok("PUT", "/actions", {"action_type": "FlushMetrics"})
            metrics = os.path.join(d, "metrics.json")
            # fields microvm does not know are ignored, as by Firecracker
            self.ok("PUT", "/metrics", {"metrics_path": metrics,
                                        "emit_id": True, "properties": {}})
            self.bad("PUT", "/metrics", {"metrics_path": metrics},
                     "already configured")
            self.ok("PUT", "/machine-config", {"vcpu_count": 1,
                                               "mem_size_mib": 64})
            self.bad("PUT", "/machine-config", {"vcpu_count": 0,
                                                "mem_size_mib": 64})
            self.ok("PUT", "/actions", {"action_type": "FlushMetrics"})
            with open(fifo, "rb", buffering=0) as f:  # O_RDONLY: writer exists
                os.set_blocking(f.fileno(), False)
                logged = f.read(65536) or b""
            with open(metrics) as f:
                lines = [json.loads(l) for l in f]
        self.assertIn(b":WARN:", logged)  # level shown
        self.assertIn(b"microvm/controller.c:", logged)  # origin shown
        last = lines[-1]
        self.assertIn("utc_timestamp_ms", last)
        self.assertEqual(last["put_api_requests"]["machine_cfg_count"], 2)
        self.assertEqual(last["put_api_requests"]["machine_cfg_fails"], 1)
        self.assertEqual(last["put_api_requests"]["metrics_fails"], 1)

    def test_network_interface_mtu(self):
        iface = {"iface_id": "eth0", "host_dev_name": "tap-mtu0"}
        self.ok("PUT", "/network-interfaces/eth0", dict(iface, mtu=9000))
        js, _ = self.ok("GET", "/vm/config")
        self.assertEqual(js["network-interfaces"][0]["mtu"], 9000)
        self.ok("PUT", "/network-interfaces/eth0", dict(iface, mtu=None))
        js, _ = self.ok("GET", "/vm/config")
        self.assertNotIn("mtu", js["network-interfaces"][0])
        for bad in (67, 65536, "1500", 1500.5):
            self.bad("PUT", "/network-interfaces/eth0", dict(iface, mtu=bad),
                     "network-interface.mtu:")

    def test_deprecated_field_sets_header(self):
        _, hdrs = self.ok("PUT", "/vsock", {"vsock_id": "v", "guest_cid": 3,
                                            "uds_path": "/tmp/v.sock"})
        self.assertEqual(hdrs.get("Deprecation"), "true")


class FirecrackerCommandLine(unittest.TestCase):
    """The options Firecracker's jailer and orchestrators pass."""

    def test_startup_times_reported_in_metrics(self):
        with tempfile.TemporaryDirectory() as d:
            metrics = os.path.join(d, "metrics.json")
            start_us = int(time.monotonic() * 1e6)  # CLOCK_MONOTONIC
            api = ApiProcess(["--metrics-path", metrics,
                              "--start-time-us", str(start_us),
                              "--start-time-cpu-us", "1",
                              "--parent-cpu-time-us", "5000000"])
            try:
                st, _, _ = api.request("PUT", "/actions",
                                       {"action_type": "FlushMetrics"})
                elapsed_us = int(time.monotonic() * 1e6) - start_us
                self.assertEqual(st, 204)
                with open(metrics) as f:
                    last = [json.loads(l) for l in f][-1]
            finally:
                api.stop()
        server = last["api_server"]
        self.assertGreater(server["process_startup_time_us"], 0)
        self.assertLessEqual(server["process_startup_time_us"], elapsed_us)
        # the parent's CPU time is added to this process's
        self.assertGreaterEqual(server["process_startup_time_cpu_us"], 5000000)

    def test_log_options_and_module_filter(self):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "log")
            api = ApiProcess(["--log-path", log, "--level", "warn",
                              "--show-level", "--show-log-origin",
                              "--module", "microvm/controller"])
            try:
                api.request("PUT", "/actions", {"action_type": "Bogus"})
                st, _, _ = api.request("PATCH", "/vm", {"state": "Paused"})
                self.assertEqual(st, 400)  # logged by microvm/controller.c
                # PUT /logger keeps what it does not name; module "api"
                # then hides microvm/controller.c's lines
                st, _, _ = api.request("PUT", "/logger", {"module": "api",
                                                          "level": "WARNING"})
                self.assertEqual(st, 204)
                api.request("PATCH", "/vm", {"state": "Resumed"})
                with open(log) as f:
                    lines = f.read().splitlines()
            finally:
                api.stop()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn(":WARN:microvm/controller.c:", lines[0])
        self.assertIn("not supported before starting", lines[0])


class RequestLog(unittest.TestCase):
    def test_requests_logged_bodies_only_at_debug(self):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "log")
            api = ApiProcess(["--log-path", log])  # level Info
            try:
                api.request("GET", "/")
                api.request("PUT", "/machine-config",
                            '{"vcpu_count": 1,\n "mem_size_mib": 64}')
                api.request("PUT", "/logger", {"level": "Debug"})
                api.request("PUT", "/machine-config",
                            '{"vcpu_count": 2,\n "mem_size_mib": 64}')
                api.request("PUT", "/mmds", {"secret": "s3cr3t"})
                with open(log) as f:
                    text = f.read()
            finally:
                api.stop()
        self.assertIn('The API server received a GET request on "/".', text)
        self.assertIn('received a PUT request on "/machine-config".', text)
        self.assertNotIn('"vcpu_count": 1', text)  # Info: no body
        # Debug: the body, its newline shown as '.' (one request, one line)
        self.assertIn('PUT request on "/machine-config" with body '
                      '"{"vcpu_count": 2,. "mem_size_mib": 64}" (38 bytes)', text)
        self.assertIn('received a PUT request on "/mmds".', text)
        self.assertNotIn("s3cr3t", text)  # never /mmds bodies


# virtio devices: one per I/O APIC pin from IRQ 5 to 23, as Firecracker
MAX_DEVICES = 19


class DeviceCapacity(ApiBase):
    """MAX_DEVICES virtio devices, one more refused at PUT time, not at
    InstanceStart."""

    def test_one_device_too_many_refused_at_put(self):
        with tempfile.NamedTemporaryFile() as disk:  # 0 bytes, as Kata's
            drive = {"path_on_host": disk.name, "is_root_device": False}
            for i in range(MAX_DEVICES - 2):
                self.ok("PUT", "/drives/d%d" % i, dict(drive, drive_id="d%d" % i))
            self.ok("PUT", "/vsock", {"guest_cid": 3, "uds_path": "/tmp/v.sock"})
            self.ok("PUT", "/network-interfaces/eth0",
                    {"iface_id": "eth0", "host_dev_name": "tap-cap0"})
            self.bad("PUT", "/entropy", {}, "entropy: no room for another "
                     "device: microvm has %d virtio devices" % MAX_DEVICES)
            self.bad("PUT", "/drives/dx", dict(drive, drive_id="dx"),
                     "drive: no room for another device")
            self.bad("PUT", "/network-interfaces/eth1",
                     {"iface_id": "eth1", "host_dev_name": "tap-cap1"},
                     "network interface: no room")
            # replacing a device by id needs no new room
            self.ok("PUT", "/drives/d3", dict(drive, drive_id="d3",
                                              is_read_only=True))
            self.ok("PUT", "/vsock", {"guest_cid": 4, "uds_path": "/tmp/v.sock"})
            js, _ = self.ok("GET", "/vm/config")
        self.assertEqual(len(js["drives"]), MAX_DEVICES - 2)
        self.assertIsNone(js["entropy"])


@needs_kvm
class DeviceCapacityBoot(unittest.TestCase):
    def test_guest_uses_every_device(self):
        # MAX_DEVICES drives take every IRQ: the guest reads each one
        with tempfile.TemporaryDirectory() as d:
            drives = []
            for i in range(MAX_DEVICES):
                path = os.path.join(d, "d%d" % i)
                with open(path, "wb") as f:
                    f.write(b"drive-%02d" % i + bytes(4088))
                drives.append({"drive_id": "d%d" % i, "path_on_host": path,
                               "is_root_device": False, "is_read_only": True})
            cfg = linux_config(
                'sh -c "for b in /sys/block/vd*; do head -c 8 /dev/${b##*/};'
                ' echo; done"')
            cfg["drives"] = drives
            r = boot(cfg)
        self.assertEqual(r.code, 0, r)
        for i in range(MAX_DEVICES):
            self.assertIn("drive-%02d" % i, r.out, r)


class Rejections(ApiBase):
    def test_paths_methods_and_bodies(self):
        self.bad("GET", "/nope", None, "Invalid request method and/or path")
        self.bad("DELETE", "/", None, "Invalid request method and/or path")
        self.bad("PUT", "/nope", {}, "Invalid request method and/or path")
        self.bad("GET", "/", "{}", "GET requests take no body")
        self.bad("PUT", "/boot-source", None, "needs a JSON body")
        self.bad("PUT", "/boot-source", "{not json", "invalid JSON body")
        self.bad("PUT", "/snapshot/create", {"snapshot_path": "x"},
                 "missing 'mem_file_path'")

    def test_fields(self):
        self.bad("PUT", "/boot-source", {"kernel_image_path": VMLINUX, "x": 1},
                 "unknown field 'x'")
        self.bad("PUT", "/boot-source", {"kernel_image_path": 5},
                 "expected a string")
        self.bad("PUT", "/boot-source", {"kernel_image_path": "/nonexistent"},
                 "cannot read '/nonexistent'")
        self.bad("PUT", "/boot-source", {"kernel_image_path": VMLINUX,
                                         "initrd_path": "/nonexistent"},
                 "initrd_path: cannot read")
        self.bad("PUT", "/machine-config", {"vcpu_count": 33,
                                            "mem_size_mib": 64},
                 "vcpu_count: 33 is out of range [1, 32]")
        self.bad("PUT", "/machine-config", {"vcpu_count": "1",
                                            "mem_size_mib": 64},
                 "expected an integer")
        self.bad("PUT", "/machine-config", {"mem_size_mib": 64},
                 "missing 'vcpu_count'")
        self.bad("PUT", "/network-interfaces/e", {
            "iface_id": "e", "host_dev_name": "tap0", "guest_mac": "01:00:00:00:00:00"},
            "is not a unicast MAC")
        self.bad("PUT", "/vsock", {"guest_cid": 4294967295, "uds_path": "/x"},
                 "out of range")
        self.bad("PUT", "/actions", {"action_type": "Reboot"},
                 "unknown action 'Reboot'")
        self.bad("PATCH", "/vm", {"state": "Frozen"},
                 "'Frozen' is not one of Paused, Resumed")
        self.bad("PATCH", "/vm", {"state": "Paused"},
                 "not supported before starting")
        self.bad("PUT", "/logger", {"level": "Loud"}, "is not one of")
        self.bad("PUT", "/snapshot/load", {
            "snapshot_path": "/s", "mem_backend": {
                "backend_type": "File", "backend_path": "/m"},
            "clock_realtime": "yes"},
            "snapshot/load.clock_realtime: expected true or false")

    def test_oversized_body(self):
        big = json.dumps({"kernel_image_path": "x" * 60000})
        self.bad("PUT", "/boot-source", big, "larger than the limit of 51200")
        self.ok("GET", "/")  # still answering

    def test_body_sent_after_the_rejection(self):
        """The 400 for a body over the limit comes after the headers; a
        client still sending the body (as http.client and Go do) may
        finish, then reads the 400 and the end of the stream. Before,
        microvm closed at once: the rest of the body failed with EPIPE."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.api.sock)
        s.sendall(b"PUT /boot-source HTTP/1.1\r\nContent-Type: "
                  b"application/json\r\nContent-Length: 200000\r\n\r\n")
        reply = b""
        while not response_complete(reply):
            chunk = s.recv(65536)
            self.assertTrue(chunk, "closed before the reply: %r" % reply)
            reply += chunk
        self.assertTrue(reply.startswith(b"HTTP/1.1 400"), reply)
        self.assertIn(b"larger than the limit of 51200", reply)
        s.sendall(b"x" * 200000)  # the body, after the reply
        self.assertEqual(s.recv(1), b"")  # then microvm closes
        s.close()
        self.ok("GET", "/")

    def test_client_quirks(self):
        # lower-case headers, curl's form content type, tabs, no newline
        raw = ('PUT /machine-config HTTP/1.1\r\nhost: x\r\n'
               'content-type: application/x-www-form-urlencoded\r\n'
               'content-length: %d\r\n\r\n%s')
        body = '{\n\t"vcpu_count":\t2,\n\t"mem_size_mib": 64\n}'
        reply = raw_exchange(self.api.sock, (raw % (len(body), body)).encode())
        self.assertTrue(reply.startswith(b"HTTP/1.1 204"), reply)
        self.assertEqual(self.ok("GET", "/machine-config")[0]["vcpu_count"], 2)


def raw_exchange(path, data, expect_responses=1, timeout=5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(data)
    out = b""
    try:
        while out.count(b"HTTP/1.1 ") < expect_responses or \
                not response_complete(out):
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return out


def response_complete(buf):
    """True when the last response in buf has its whole body."""
    head, sep, rest = buf.rpartition(b"HTTP/1.1 ")[2].partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(rest) >= int(line.split(b":")[1])
    return True


class Connections(ApiBase):
    def test_keep_alive_and_pipelining(self):
        conn = UnixHTTPConnection(self.api.sock)
        for _ in range(5):
            self.assertEqual(self.api.request("GET", "/", conn=conn)[0], 200)
        conn.close()
        req = b"GET / HTTP/1.1\r\n\r\n"
        put = (b'PUT /machine-config HTTP/1.1\r\nContent-Length: 36\r\n\r\n'
               b'{"vcpu_count": 4, "mem_size_mib": 8}')
        out = raw_exchange(self.api.sock, req + put + b"GET /machine-config HTTP/1.1\r\n\r\n",
                           expect_responses=3)
        self.assertEqual(out.count(b"HTTP/1.1 200"), 2, out)
        self.assertEqual(out.count(b"HTTP/1.1 204"), 1, out)
        self.assertIn(b'"vcpu_count":4', out)

    def test_garbage_and_partial_requests(self):
        for junk in (b"\x00\xff\x13garbage\r\n\r\n", b"GET\r\n\r\n",
                     b"GET / HTTP/9.9\r\n\r\n", b"A" * 20000,
                     b"PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                     b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"):
            out = raw_exchange(self.api.sock, junk)
            self.assertTrue(out.startswith(b"HTTP/1.1 400"), (junk[:40], out))
        self.ok("GET", "/")

    def test_fifty_clients_and_an_idle_one(self):
        idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        idle.connect(self.api.sock)
        partial = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        partial.connect(self.api.sock)
        partial.sendall(b"PUT /machine-config HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
        errors, done = [], []

        def client(i):
            try:
                conn = UnixHTTPConnection(self.api.sock, timeout=5)
                for _ in range(4):
                    st, js, _ = self.api.request("GET", "/", conn=conn)
                    if st != 200 or js["state"] != "Not started":
                        errors.append((i, st, js))
                conn.close()
                done.append(i)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append((i, repr(e)))

        start = time.monotonic()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        elapsed = time.monotonic() - start
        idle.close()
        partial.close()
        self.assertEqual(errors, [])
        self.assertEqual(len(done), 50)
        self.assertLess(elapsed, 20, "clients were stalled")


@needs_kvm
class BootThroughApi(unittest.TestCase):
    def test_instance_start_through_the_api(self):
        """InstanceStart after PUT /boot-source and /machine-config: the VM
        runs and /boot-source is refused from then on. (The guest's boot
        itself, and the boot timer, are test_boot's.)"""
        api = ApiProcess()
        try:
            st, _, _ = api.request("PUT", "/boot-source", {
                "kernel_image_path": VMLINUX, "initrd_path": INITRD,
                "boot_args": guest_cmdline() + " -- sleep 3600"})
            self.assertEqual(st, 204)
            self.assertEqual(api.request("PUT", "/machine-config", {
                "vcpu_count": 2, "mem_size_mib": 128})[0], 204)
            self.assertEqual(api.request("PUT", "/actions", {
                "action_type": "InstanceStart"})[0], 204)
            self.assertEqual(api.request("GET", "/")[1]["state"], "Running")
            self.assertEqual(api.request("PUT", "/boot-source", {
                "kernel_image_path": VMLINUX})[0], 400)  # pre-boot only now
        finally:
            api.stop()
        self.assertFalse(os.path.exists(api.sock), "socket left behind")


# The guest's counter, on its console (microvm's stdout), in the background.
COUNTER = ("i=0; while [ $i -lt 40 ]; do echo tick $i; i=$((i+1)); "
           "sleep 0.2; done >/dev/console 2>&1 &")


@needs_kvm
class PauseResume(unittest.TestCase):
    def test_pause_resume_and_ctrl_alt_del(self):
        """A guest restored from the run's booted snapshot counts on its
        console: paused, it stops counting; resumed, it goes on; Ctrl+Alt+Del
        reboots it before its counter is done, and microvm exits 0."""
        guest = RestoredGuest(self)
        api, lines = guest.api, guest.lines
        self.assertEqual(guest.run(COUNTER).code, 0)
        lines.wait_for("tick 3", 60)
        self.assertEqual(api.request("PATCH", "/vm", {"state": "Paused"})[0], 204)
        self.assertEqual(api.request("GET", "/")[1]["state"], "Paused")
        time.sleep(0.5)  # let the last console bytes drain
        before = lines.ticks()
        time.sleep(2.5)
        self.assertEqual(lines.ticks(), before, "the guest ran while paused")
        self.assertEqual(api.request("PATCH", "/vm", {"state": "Resumed"})[0], 204)
        self.assertEqual(api.request("GET", "/")[1]["state"], "Running")
        lines.wait_for("tick %d" % (before[-1] + 3), 30)
        # Ctrl+Alt+Del through the i8042: the guest reboots at once, before
        # its counter is done, and microvm exits 0.
        self.assertEqual(api.request("PUT", "/actions",
                                     {"action_type": "SendCtrlAltDel"})[0], 204)
        api.proc.wait(timeout=60)
        self.assertEqual(api.proc.returncode, 0)
        time.sleep(0.2)
        ticks = lines.ticks()
        self.assertEqual(ticks, list(range(len(ticks))),
                         "the counter skipped or repeated")
        self.assertLess(len(ticks), 40, "the guest did not reboot early")
        self.assertIn("reboot: Restarting system", lines.lines)


@needs_kvm
class UndrainedConsole(unittest.TestCase):
    def test_full_console_pipe_never_blocks_pause(self):
        # Nobody reads microvm's stdout while the guest floods the console:
        # the pipe fills, console bytes are dropped (and counted), the vCPU
        # keeps going, and pause still answers at once.
        with tempfile.TemporaryDirectory() as d:
            metrics = os.path.join(d, "metrics.json")
            guest = RestoredGuest(self, drain_console=False, setup=[
                ("PUT", "/metrics", {"metrics_path": metrics})])
            api = guest.api
            self.assertEqual(guest.run("yes flood >/dev/console 2>&1 &").code,
                             0)
            missed = 0
            deadline = time.monotonic() + 120
            while not missed and time.monotonic() < deadline:
                time.sleep(2)
                api.request("PUT", "/actions", {"action_type": "FlushMetrics"})
                with open(metrics) as f:
                    missed = sum(json.loads(l)["uart"]["missed_write_count"]
                                 for l in f)
            self.assertGreater(missed, 0, "the console pipe never filled")
            start = time.monotonic()
            self.assertEqual(api.request("PATCH", "/vm", {"state": "Paused"})[0],
                             204)
            self.assertLess(time.monotonic() - start, 2, "pause was blocked")
            self.assertEqual(api.request("GET", "/")[1]["state"], "Paused")


if __name__ == "__main__":
    unittest.main()
