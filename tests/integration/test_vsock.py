# SPDX-License-Identifier: Apache-2.0
"""virtio-vsock end to end, one guest for the whole class, restored from
the run's booted snapshot: through its agent the guest starts
vsock-echo on port 5000 and connects out to host ports 6000 (a
listener the test runs at <uds_path>_6000) and 6001 (nobody). The host then
drives the Firecracker protocol (CONNECT <port> / OK <host_port>) on
uds_path: 64 MiB echoed intact, a port nobody listens on, 200 concurrent
connections, and a client that vanishes mid-stream."""
import hashlib
import os
import selectors
import socket
import tempfile
import threading
import time
import unittest

from microvm_harness import (AGENT_TIMEOUT, RestoredGuest, linux_config,
                             needs_kvm, run_microvm, write_config)

ECHO_PORT = 5000
BIG = 64 << 20  # ~40 s here: the guest's vsock stack runs emulated
GUEST_SCRIPT = (
    "vsock-echo %d >/tmp/echo.log 2>&1 & "
    "vsock-cat 2 6000 < /bin/busybox; "
    "vsock-cat 2 6001 < /dev/null; echo nolistener-rc=$?; "
    "until grep -q listening /tmp/echo.log; do sleep 0.1; done" % ECHO_PORT)


def host_sink(listener, results):
    """Port 6000: hash what the guest sends, answer with the hash."""
    conn, _ = listener.accept()
    h = hashlib.sha256()
    while True:
        data = conn.recv(1 << 16)
        if not data:
            break
        h.update(data)
    results["sha"] = h.hexdigest()
    conn.sendall(("host-sha=%s\n" % h.hexdigest()).encode())
    conn.close()


def connect(uds, port, timeout=60):
    """A host client through CONNECT; returns (socket, the OK line)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(uds)
    s.sendall(b"CONNECT %d\n" % port)
    line = b""
    while not line.endswith(b"\n"):
        ch = s.recv(1)
        if not ch:
            break
        line += ch
    return s, line


def echo(uds, data, timeout=120):
    """Sends data through the guest's echo; returns what came back."""
    s, line = connect(uds, ECHO_PORT, timeout)
    if not line.startswith(b"OK "):
        raise AssertionError("CONNECT answered %r" % line)
    sender = threading.Thread(target=lambda: (s.sendall(data),
                                              s.shutdown(socket.SHUT_WR)))
    sender.start()
    got = bytearray()
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        got += chunk
    sender.join()
    s.close()
    return bytes(got)


@needs_kvm
class Vsock(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.guest = RestoredGuest(cls)
        cls.uds = cls.guest.uds
        cls.sink = {}
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(cls.uds + "_6000")
        listener.listen(4)
        listener.settimeout(AGENT_TIMEOUT)
        cls.sink_thread = threading.Thread(target=host_sink,
                                           args=(listener, cls.sink),
                                           daemon=True)
        cls.sink_thread.start()
        cls.guest_side = cls.guest.run(GUEST_SCRIPT, timeout=120)
        if cls.guest_side.code != 0:
            raise AssertionError("guest side: %r" % cls.guest_side)

    def test_guest_connects_to_uds_path_port(self):
        with open("/bin/busybox", "rb") as f:
            want = hashlib.sha256(f.read()).hexdigest()
        self.sink_thread.join(timeout=10)
        self.assertEqual(self.sink.get("sha"), want)
        # and the host's reply crossed back to the guest's stdout
        self.assertIn("host-sha=" + want, self.guest_side.out)

    def test_guest_connect_without_host_listener_is_reset(self):
        out = self.guest_side.out
        self.assertIn("nolistener-rc=1", out)
        self.assertIn("Connection reset by peer", out)

    def test_echo_64_mib_intact(self):
        data = os.urandom(BIG)
        got = echo(self.uds, data, timeout=600)
        self.assertEqual(len(got), len(data))
        self.assertTrue(got == data, "echoed bytes differ")

    def test_connect_to_port_without_listener_closes(self):
        s, line = connect(self.uds, 5999, timeout=30)
        self.assertEqual(line, b"")  # closed, no OK
        self.assertEqual(s.recv(16), b"")
        s.close()
        # and the monitor still serves the next client
        self.assertEqual(echo(self.uds, b"still here"), b"still here")

    def test_bad_connect_line_closes(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(self.uds)
        s.sendall(b"HELLO\n")
        self.assertEqual(s.recv(16), b"")
        s.close()

    def test_200_concurrent_connections(self):
        n = 200
        payloads = [os.urandom(4096) for _ in range(n)]
        sel = selectors.DefaultSelector()
        socks = []
        for i in range(n):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.uds)
            s.sendall(b"CONNECT %d\n" % ECHO_PORT + payloads[i])
            s.shutdown(socket.SHUT_WR)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
            socks.append(s)
        got = [bytearray() for _ in range(n)]
        done = 0
        deadline = time.monotonic() + 300
        while done < n and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=5):
                chunk = key.fileobj.recv(1 << 16)
                if chunk:
                    got[key.data] += chunk
                else:
                    sel.unregister(key.fileobj)
                    done += 1
        for s in socks:
            s.close()
        self.assertEqual(done, n, "connections still open at the deadline")
        for i in range(n):
            line, _, body = bytes(got[i]).partition(b"\n")
            self.assertTrue(line.startswith(b"OK "), (i, line))
            self.assertEqual(body, payloads[i], "connection %d" % i)

    def test_vanishing_client_does_not_stall_others(self):
        quitter, line = connect(self.uds, ECHO_PORT)
        self.assertTrue(line.startswith(b"OK "))
        quitter.settimeout(2)
        try:  # its echo piles up unread until the whole path is full
            quitter.sendall(os.urandom(1 << 20))
        except socket.timeout:
            pass
        data = os.urandom(4 << 20)
        result = {}
        worker = threading.Thread(
            target=lambda: result.setdefault("got", echo(self.uds, data)))
        worker.start()
        time.sleep(1)
        quitter.close()  # gone mid-stream, with its echo unread
        worker.join(timeout=300)
        self.assertFalse(worker.is_alive(), "the other connection stalled")
        self.assertTrue(result.get("got") == data)
        self.assertTrue(self.guest.api.alive(), "microvm exited")


@needs_kvm
class VsockPathTaken(unittest.TestCase):
    def test_existing_file_at_uds_path_survives(self):
        """uds_path naming an existing regular file: InstanceStart fails,
        and the file is still there, unchanged, after microvm exits
        (finding 5). No guest runs."""
        with tempfile.TemporaryDirectory() as d:
            taken = os.path.join(d, "precious")
            with open(taken, "w") as f:
                f.write("keep me")
            cfg = linux_config()
            cfg["vsock"] = {"guest_cid": 3, "uds_path": taken}
            r = run_microvm(["--no-api", "--config-file",
                             write_config(d, cfg)], timeout=30)
            self.assertNotEqual(r.code, 0, r)
            self.assertIn("vsock", r.err, r)
            with open(taken) as f:
                self.assertEqual(f.read(), "keep me")


if __name__ == "__main__":
    unittest.main()
