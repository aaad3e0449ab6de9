# SPDX-License-Identifier: Apache-2.0
"""Snapshots end to end: a guest counts on its console; pause, snapshot,
load in a new process (File and Uffd backends), resume: the count goes on
from where it stopped. A diff chain restores the last point; ten clones of
one snapshot each write their own disk and see only their own memory; bad
state files are refused with a clear message and the process stays
usable."""
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from microvm_harness import (BUILD, GUEST, INITRD, VMLINUX, ApiProcess,
                             LineReader, guest_cmdline, needs_kvm)

UFFD_HANDLER = os.path.join(BUILD, "microvm-uffd")
COUNTER = ('sh -c "i=0; while true; do echo tick $i; i=$((i+1)); '
           'sleep 0.3; done"')


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ok(api, method, path, body=None):
    status, reply, _ = api.request(method, path, body)
    if status >= 300:
        raise AssertionError("%s %s: %s %s" % (method, path, status, reply))


def boot_counter(extra_cfg=None, mem=128, track_dirty=False):
    api = ApiProcess(stdout=subprocess.PIPE)
    ok(api, "PUT", "/boot-source", {
        "kernel_image_path": VMLINUX, "initrd_path": INITRD,
        "boot_args": guest_cmdline() + " -- " + COUNTER})
    ok(api, "PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": mem,
                                       "track_dirty_pages": track_dirty})
    for path, body in (extra_cfg or []):
        ok(api, "PUT", path, body)
    ok(api, "PUT", "/actions", {"action_type": "InstanceStart"})
    return api, LineReader(api.proc.stdout)


def pause_and_snapshot(api, lines, d, name, kind="Full", mem="mem"):
    ok(api, "PATCH", "/vm", {"state": "Paused"})
    time.sleep(0.5)  # the last console bytes drain
    last = lines.ticks()[-1]
    ok(api, "PUT", "/snapshot/create", {
        "snapshot_path": os.path.join(d, name),
        "mem_file_path": os.path.join(d, mem), "snapshot_type": kind})
    return last


def load(d, name, backend=None, mem="mem", extra=None):
    api = ApiProcess(stdout=subprocess.PIPE)
    lines = LineReader(api.proc.stdout)
    body = {"snapshot_path": os.path.join(d, name),
            "mem_backend": backend or {"backend_type": "File",
                                       "backend_path": os.path.join(d, mem)},
            "resume_vm": True}
    body.update(extra or {})
    status, reply, _ = api.request("PUT", "/snapshot/load", body)
    return api, lines, status, reply


@needs_kvm
class Snapshot(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.apis = []

    def tearDown(self):
        for api in self.apis:
            api.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def continues_after(self, last, backend=None, name="state", mem="mem"):
        api, lines, status, reply = load(self.dir, name, backend, mem)
        self.apis.append(api)
        self.assertEqual(status, 204, reply)
        self.assertEqual(api.request("GET", "/")[1]["state"], "Running")
        lines.wait_for("tick %d" % (last + 3), 60)
        ticks = lines.ticks()
        self.assertEqual(ticks[0], last + 1, "did not continue: %r" % ticks)
        self.assertEqual(ticks, list(range(last + 1, last + 1 + len(ticks))))
        return api

    def test_counter_continues_file_backend(self):
        api, lines = boot_counter()
        self.apis.append(api)
        lines.wait_for("tick 3", 120)
        last = pause_and_snapshot(api, lines, self.dir, "state")
        api.stop()
        self.apis.remove(api)
        self.continues_after(last)
