# SPDX-License-Identifier: Apache-2.0
"""The host side of test_net.py, run inside the test's network namespace
(ip netns exec): receive SIZE bytes from the guest on 172.16.0.1:5001 and
hash them, then connect to the guest's 172.16.0.2:5002 and send FILE.
Prints one JSON line: bytes received, their sha256, seconds each way."""
import hashlib
import json
import socket
import sys
import time


def receive(size):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("172.16.0.1", 5001))
    srv.listen(1)
    srv.settimeout(540)  # the guest boots first: a slow host's minutes
    conn, _ = srv.accept()
    conn.settimeout(180)
    h, got, t0 = hashlib.sha256(), 0, time.monotonic()
    while got < size:
        chunk = conn.recv(1 << 20)
        if not chunk:
            break
        h.update(chunk)
        got += len(chunk)
    conn.close()
    return got, h.hexdigest(), time.monotonic() - t0


def send(path):
    with open(path, "rb") as f:
        data = f.read()
    deadline = time.monotonic() + 120
    while True:
        try:
            s = socket.create_connection(("172.16.0.2", 5002), timeout=5)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    s.settimeout(180)
    t0 = time.monotonic()
    s.sendall(data)
    s.close()
    return time.monotonic() - t0


got, digest, rx_s = receive(int(sys.argv[2]))
tx_s = send(sys.argv[1])
print(json.dumps({"received": got, "sha256": digest, "rx_s": rx_s,
                  "tx_s": tx_s}))
