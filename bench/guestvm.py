# SPDX-License-Identifier: Apache-2.0
"""What the snapshot benches share: API calls that must succeed, the test
guest booted through the API until it prints that it is ready and then
snapshotted (Full), and a one-byte echo through a guest's vsock-echo."""
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "integration"))
from microvm_harness import (INITRD, VMLINUX,  # noqa: E402
                             ApiProcess, LineReader, guest_cmdline)


def ok(api, method, path, body):
    """The request's parsed reply; raises RuntimeError on a 3xx-5xx."""
    status, reply, _ = api.request(method, path, body)
    if status >= 300:
        raise RuntimeError("%s %s: %s %s" % (method, path, status, reply))
    return reply


def boot(script, ready, vcpus=1, mem=128, devices=()):
    """A microvm booting the test guest with `script` as its command,
    after PUTting each (path, body) of `devices`; returns (api, lines)
    once the guest printed `ready`."""
    api = ApiProcess(stdout=subprocess.PIPE)
    ok(api, "PUT", "/boot-source", {
        "kernel_image_path": VMLINUX, "initrd_path": INITRD,
        "boot_args": guest_cmdline() + " -- " + script})
    ok(api, "PUT", "/machine-config", {"vcpu_count": vcpus,
                                       "mem_size_mib": mem})
    for path, body in devices:
        ok(api, "PUT", path, body)
    ok(api, "PUT", "/actions", {"action_type": "InstanceStart"})
    lines = LineReader(api.proc.stdout)
    lines.wait_for(ready, 300)
    return api, lines


def snapshot(api, state, mem):
    """Pauses the VM and writes a Full snapshot of it."""
    ok(api, "PATCH", "/vm", {"state": "Paused"})
    ok(api, "PUT", "/snapshot/create", {"snapshot_path": state,
                                        "mem_file_path": mem})


def echo(uds, port=5000, timeout=30):
    """One byte to the guest's vsock-echo on `port` and back, through
    microvm's vsock socket `uds`."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(uds)
        s.sendall(b"CONNECT %d\nx" % port)
        got = b""
        while not got.endswith(b"\nx"):
            chunk = s.recv(64)
            if not chunk:
                raise RuntimeError("echo on %s closed: %r" % (uds, got))
            got += chunk
    finally:
        s.close()
