# SPDX-License-Identifier: Apache-2.0
"""virtio-balloon with a real guest: the guest fills most of its free
memory (a ramfs file) and frees it; inflating 64 MiB makes the host RSS of
guest memory (from /proc/PID/smaps) drop by at least 48 MiB, deflating
gives the pages back to the guest; statistics arrive at the polling
interval; free page reporting gives freed memory back without inflating,
and so does a free page hinting run the host starts (the guest's memory
reads back intact afterwards); statistics, reporting and hinting work
together (five queues);
deflate_on_oom lets an allocation larger than what is left succeed; a
snapshot taken after inflating does not carry the inflated pages and the
loaded balloon still works. API errors are Firecracker's {"fault_message"}
answers."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from microvm_harness import (BUILD, INITRD, VMLINUX, ApiProcess, LineReader,
                             PreBootApi,
                             guest_cmdline, needs_kvm)

UFFD_HANDLER = os.path.join(BUILD, "microvm-uffd")
MEM_MIB = 256
# Fills all but 12 MiB of the guest's free memory with random bytes (1 MiB
# repeated), so that the pages the balloon later takes were touched (in the
# host's RSS) and are not zero (in a snapshot's memory file), then frees it
# and counts on the console.
FILL_AND_FREE = (
    'sh -c "mount -t ramfs none /mnt; '
    'dd if=/dev/urandom of=/c bs=1M count=1 2>/dev/null; '
    "n=$(awk '/MemFree/{print int($2/1024)-12}' /proc/meminfo); i=0; "
    'while [ $i -lt $n ]; do cat /c; i=$((i+1)); done > /mnt/f; '
    'echo filled $n; sleep 3; rm /mnt/f; echo freed; i=0; while true; do '
    'echo tick $i; i=$((i+1)); sleep 1; done"')
# The same, then once the balloon takes 8 MiB (MemTotal drops: no
# deflate_on_oom), i.e. after the host's hinting runs, the guest fills
# 64 MiB again and checks every MiB against what it wrote.
REFILL_AND_CHECK = FILL_AND_FREE.replace(
    "echo tick $i; i=$((i+1)); sleep 1; done",
    "echo tick $i; i=$((i+1)); sleep 1; "
    "t=$(awk '/MemTotal/{print $2}' /proc/meminfo); "
    "if [ -z $checked ] && [ $t -lt $((t0-4096)) ]; then checked=1; j=0; "
    "while [ $j -lt 64 ]; do cat /c; j=$((j+1)); done > /mnt/g; j=0; "
    "bad=0; while [ $j -lt 64 ]; do dd if=/mnt/g bs=1M skip=$j count=1 "
    "2>/dev/null | cmp -s - /c || bad=$((bad+1)); j=$((j+1)); done; "
    "echo checked $bad bad; fi; done").replace(
    "mount -t ramfs none /mnt; ",
    "mount -t ramfs none /mnt; "
    "t0=$(awk '/MemTotal/{print $2}' /proc/meminfo); ")
BALLOON = {"amount_mib": 0, "deflate_on_oom": False,
           "stats_polling_interval_s": 1}


def ok(api, method, path, body=None):
    status, reply, _ = api.request(method, path, body)
    if status >= 300:
        raise AssertionError("%s %s: %s %s" % (method, path, status, reply))
    return reply


def guest_rss_mib(pid, mem_mib=MEM_MIB):
    """The resident size of the guest memory mapping (its size is the
    guest's), from smaps."""
    size = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            if line.startswith("Size:"):
                size = int(line.split()[1])
            elif line.startswith("Rss:") and size == mem_mib * 1024:
                return int(line.split()[1]) / 1024
    raise AssertionError("no %d MiB mapping in microvm's smaps" % mem_mib)


def wait_until(what, fn, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError("timed out waiting for %s" % what)


FREE_HUGE = "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"


def free_huge_pages():
    with open(FREE_HUGE) as f:
        return int(f.read())


def reserve_huge_pages(n):
    """Makes sure n 2 MiB pages are free; False when that is impossible."""
    path = "/proc/sys/vm/nr_hugepages"
    try:
        if free_huge_pages() >= n:
            return True
        with open(path) as f:
            total = int(f.read())
        with open(path, "w") as f:
            f.write(str(total + n - free_huge_pages()))
        return free_huge_pages() >= n
    except OSError:
        return False


def start(balloon, script=FILL_AND_FREE, mem=MEM_MIB, huge=False):
    api = ApiProcess(stdout=subprocess.PIPE)
    ok(api, "PUT", "/boot-source", {
        "kernel_image_path": VMLINUX, "initrd_path": INITRD,
        "boot_args": guest_cmdline() + " -- " + script})
    ok(api, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": mem,
                                       "huge_pages": "2M" if huge else "None"})
    ok(api, "PUT", "/balloon", balloon)
    ok(api, "PUT", "/actions", {"action_type": "InstanceStart"})
    return api, LineReader(api.proc.stdout)


def stats(api):
    return ok(api, "GET", "/balloon/statistics")


class BalloonApi(PreBootApi):
    """Before boot: no guest needed."""

    def test_pre_boot(self):
        self.bad("GET", "/balloon", None, "No balloon device found.")
        self.bad("PUT", "/balloon", {"amount_mib": 129,
                                     "deflate_on_oom": False},
                 "129 MiB is more than the guest's memory (128 MiB)")
        self.bad("PUT", "/balloon", {"amount_mib": -1,
                                     "deflate_on_oom": True}, "amount_mib")
        self.bad("PUT", "/balloon", {"amount_mib": 1}, "deflate_on_oom")
        body = {"amount_mib": 16, "deflate_on_oom": True,
                "stats_polling_interval_s": 5, "free_page_reporting": True}
        ok(self.api, "PUT", "/balloon", body)
        body["free_page_hinting"] = False
        self.assertEqual(ok(self.api, "GET", "/balloon"), body)
        self.assertEqual(ok(self.api, "GET", "/vm/config")["balloon"], body)
        for method, path, req in (
                ("PATCH", "/balloon", {"amount_mib": 1}),
                ("PATCH", "/balloon/statistics",
                 {"stats_polling_interval_s": 1}),
                ("GET", "/balloon/statistics", None)):
            self.bad(method, path, req, "not supported before starting")
        for method, path, req in (
                ("PATCH", "/balloon/hinting/start",
                 {"acknowledge_on_stop": True}),
                ("PATCH", "/balloon/hinting/stop", None),
                ("GET", "/balloon/hinting/status", None)):
            self.bad(method, path, req, "not supported before starting")
        self.bad("PUT", "/balloon/hinting/start", {}, "Invalid request")
        self.bad("PATCH", "/balloon/hinting/start",
                 {"acknowledge_on_stop": 1}, "acknowledge_on_stop")


@needs_kvm
class Balloon(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.apis = []
        self.consoles = {}  # api -> its guest's console (LineReader)

    def tearDown(self):
        for api in self.apis:
            died = not api.alive()
            log = api.stop()
            if died:  # microvm exited under the test: say how
                print("\nmicrovm exited with %s; its log's end:\n%s" % (
                    api.proc.returncode, "".join(log.splitlines(True)[-20:])))
                console = self.consoles.get(api)
                print("its guest's console's end:\n" + "\n".join(
                    console.lines[-30:] if console else ["(not read)"]))
        shutil.rmtree(self.dir, ignore_errors=True)

    def boot(self, balloon, script=FILL_AND_FREE, mem=MEM_MIB, huge=False):
        api, lines = start(balloon, script, mem, huge)
        self.apis.append(api)
        self.consoles[api] = lines
        return api, lines

    def inflate(self, api, mib):
        ok(api, "PATCH", "/balloon", {"amount_mib": mib})
        seen = []
        try:
            wait_until("the balloon at %d MiB" % mib,
                       lambda: seen.append(stats(api)["actual_mib"]) or
                       seen[-1] == mib)
        except AssertionError:
            raise AssertionError("the balloon never reached %d MiB; "
                                 "actual_mib last %s" % (mib, seen[-3:]))

    def wait_reported(self, api, lines):
        """The guest filled its memory and freed it: free page reporting
        drops the RSS by 48 MiB without inflating."""
        lines.wait_for("filled", 120)
        peak = guest_rss_mib(api.proc.pid)
        lines.wait_for("freed", 30)
        wait_until("RSS to drop by 48 MiB",
                   lambda: peak - guest_rss_mib(api.proc.pid) >= 48,
                   timeout=60)

    def test_inflate_returns_memory_and_deflate_gives_it_back(self):
        api, lines = self.boot(BALLOON)
        lines.wait_for("tick 1", 120)
        before = guest_rss_mib(api.proc.pid)
        s = wait_until("statistics", lambda: "free_memory" in stats(api)
                       and stats(api))
        self.assertGreater(s["total_memory"], (MEM_MIB - 64) << 20)
        self.assertLessEqual(s["total_memory"], MEM_MIB << 20)
        free_before = s["free_memory"]
        self.inflate(api, 64)
        after = guest_rss_mib(api.proc.pid)
        self.assertGreaterEqual(before - after, 48,
                                "RSS %.1f -> %.1f MiB" % (before, after))
        # statistics at the polling interval see the balloon's pages gone
        wait_until("free_memory to drop by 48 MiB",
                   lambda: free_before - stats(api)["free_memory"]
                   >= 48 << 20, timeout=30)
        s = stats(api)
        self.assertEqual((s["target_pages"], s["target_mib"]),
                         (64 * 256, 64))
        self.inflate(api, 0)
        wait_until("free_memory back", lambda: stats(api)["free_memory"]
                   >= free_before - (16 << 20), timeout=30)
        self.assertEqual(ok(api, "GET", "/balloon")["amount_mib"], 0)
        # after boot: errors, and the VM runs on
        for method, path, req, needle in (
                ("PUT", "/balloon", BALLOON, "not supported after starting"),
                ("PATCH", "/balloon", {"amount_mib": MEM_MIB + 1},
                 "more than the guest's memory"),
                ("PATCH", "/balloon", {}, "amount_mib is required"),
                ("PATCH", "/balloon/statistics",
                 {"stats_polling_interval_s": 0},
                 "cannot be turned on or off after boot")):
            status, reply, _ = api.request(method, path, req)
            self.assertEqual(status, 400, (path, reply))
            self.assertIn(needle, reply["fault_message"])
        ok(api, "PATCH", "/balloon/statistics", {"stats_polling_interval_s": 2})
        self.assertEqual(
            ok(api, "GET", "/balloon")["stats_polling_interval_s"], 2)
        n = len(lines.ticks())
        lines.wait_for("tick %d" % (lines.ticks()[-1] + 2), 30)
        self.assertGreater(len(lines.ticks()), n)

    def test_huge_pages_go_back_whole(self):
        """2 MiB hugetlb guest memory: only huge pages whose 512 pages
        the guest all inflated go back, punched out of the memfd."""
        if not reserve_huge_pages(MEM_MIB // 2):
            self.skipTest("cannot reserve %d huge pages here" % (MEM_MIB // 2))
        api, lines = self.boot(BALLOON, huge=True)
        lines.wait_for("tick 1", 120)
        before = free_huge_pages()
        self.inflate(api, 64)
        back = free_huge_pages() - before
        self.assertGreaterEqual(back, 8, "only %d huge pages back" % back)
        self.assertLessEqual(back, 32)
        self.inflate(api, 0)
        lines.wait_for("tick %d" % (lines.ticks()[-1] + 2), 30)

    def test_free_page_reporting_returns_memory_without_inflating(self):
        api, lines = self.boot(dict(BALLOON, free_page_reporting=True,
                                    stats_polling_interval_s=0))
        self.wait_reported(api, lines)
        status, reply, _ = api.request("GET", "/balloon/statistics")
        self.assertEqual(status, 400)
        self.assertIn("not enabled", reply["fault_message"])

    def test_free_page_hinting_returns_memory_without_inflating(self):
        """The free page queue after statistics (queue 3); the guest's
        free memory shows the blocks it holds during a run."""
        api, lines = self.boot(dict(BALLOON, free_page_hinting=True),
                               script=REFILL_AND_CHECK)
        lines.wait_for("filled", 120)
        peak = guest_rss_mib(api.proc.pid)
        lines.wait_for("freed", 30)
        free = wait_until("statistics", lambda: stats(api).get(
            "free_memory", 0) > 100 << 20 and stats(api)["free_memory"])

        def status():
            return ok(api, "GET", "/balloon/hinting/status")

        self.assertEqual(status(), {"host_cmd": 0, "guest_cmd": None})
        # the default run: acknowledged (DONE, 1) at the guest's STOP (0);
        # from here only the guest's STOP leads to DONE
        ok(api, "PATCH", "/balloon/hinting/start")
        wait_until("DONE after the guest's STOP", lambda: status() == {
            "host_cmd": 1, "guest_cmd": 0}, timeout=60)
        dropped = peak - guest_rss_mib(api.proc.pid)
        self.assertGreaterEqual(dropped, 48, "RSS dropped %.1f MiB" % dropped)
        wait_until("the guest's memory free again", lambda: stats(api)[
            "free_memory"] > free - (16 << 20), timeout=30)
        # acknowledge_on_stop false: the guest holds the hinted blocks
        # (its free memory low) until PATCH /stop sets DONE
        ok(api, "PATCH", "/balloon/hinting/start",
           {"acknowledge_on_stop": False})
        wait_until("the guest to hold its free memory", lambda: stats(api)[
            "free_memory"] < free - (48 << 20), timeout=60)
        wait_until("the guest's STOP", lambda: status() == {
            "host_cmd": 3, "guest_cmd": 0}, timeout=60)
        time.sleep(2)
        self.assertEqual(status()["host_cmd"], 3)
        self.assertLess(stats(api)["free_memory"], free - (48 << 20))
        ok(api, "PATCH", "/balloon/hinting/stop")
        self.assertEqual(status()["host_cmd"], 1)
        wait_until("the guest's memory free again", lambda: stats(api)[
            "free_memory"] > free - (16 << 20), timeout=30)
        # the guest's signal to write and check its memory again
        ok(api, "PATCH", "/balloon", {"amount_mib": 8})
        lines.wait_for("checked", 180)
        self.assertIn("checked 0 bad",
                      [l for l in lines.lines if "checked" in l][-1])

    def test_statistics_reporting_and_hinting_together(self):
        """All five queues: reporting gives the freed memory back,
        statistics arrive, a hinting run ends, the balloon inflates."""
        balloon = dict(BALLOON, free_page_reporting=True,
                       free_page_hinting=True)
        api, lines = self.boot(balloon)
        self.assertEqual(ok(api, "GET", "/balloon"), balloon)
        self.wait_reported(api, lines)
        wait_until("statistics", lambda: stats(api).get(
            "free_memory", 0) > 100 << 20)
        ok(api, "PATCH", "/balloon/hinting/start")
        wait_until("the hinting run's DONE", lambda: ok(
            api, "GET", "/balloon/hinting/status") == {
                "host_cmd": 1, "guest_cmd": 0}, timeout=60)
        self.inflate(api, 16)
        self.inflate(api, 0)
        lines.wait_for("tick %d" % (lines.ticks()[-1] + 2), 30)

    def test_hinting_not_enabled(self):
        # The kernel's command line keeps double quotes only, and the
        # console shows that line: the guest prints what it does not hold.
        api, lines = self.boot(
            BALLOON, script='sh -c "echo hinting-off-$((40+2)); sleep 600"')
        lines.wait_for("hinting-off-42", 120)
        for method, path in (("PATCH", "/balloon/hinting/start"),
                             ("PATCH", "/balloon/hinting/stop"),
                             ("GET", "/balloon/hinting/status")):
            status, reply, _ = api.request(method, path, None)
            self.assertEqual(status, 400, reply)
            self.assertIn("hinting for the balloon device is not enabled",
                          reply["fault_message"])

    def test_deflate_on_oom_lets_a_large_allocation_succeed(self):
        script = ('sh -c "sleep 5; mount -t ramfs none /mnt; '
                  'dd if=/dev/zero of=/mnt/f bs=1M count=64 2>/dev/null '
                  '&& echo allocated; i=0; while true; do echo tick $i; '
                  'i=$((i+1)); sleep 1; done"')
        api, lines = self.boot({"amount_mib": 80, "deflate_on_oom": True,
                                "stats_polling_interval_s": 1},
                               script=script, mem=128)
        lines.wait_for("allocated", 120)
        lines.wait_for("tick 1", 30)
        self.assertLess(stats(api)["actual_mib"], 80)

    def test_snapshot_after_inflating_leaves_the_pages_out(self):
        api, lines = self.boot(BALLOON)
        lines.wait_for("tick 1", 120)
        sizes = {}
        for name, mib in (("full", 0), ("inflated", 64)):
            self.inflate(api, mib)
            ok(api, "PATCH", "/vm", {"state": "Paused"})
            ok(api, "PUT", "/snapshot/create", {
                "snapshot_path": os.path.join(self.dir, name),
                "mem_file_path": os.path.join(self.dir, name + ".mem")})
            ok(api, "PATCH", "/vm", {"state": "Resumed"})
            sizes[name] = os.stat(
                os.path.join(self.dir, name + ".mem")).st_blocks * 512
        self.assertGreaterEqual(sizes["full"] - sizes["inflated"], 48 << 20,
                                sizes)
        api.stop()
        self.apis.remove(api)
        loaded = ApiProcess(stdout=subprocess.PIPE)
        self.apis.append(loaded)
        lines = LineReader(loaded.proc.stdout)
        ok(loaded, "PUT", "/snapshot/load", {
            "snapshot_path": os.path.join(self.dir, "inflated"),
            "mem_backend": {"backend_type": "File", "backend_path":
                            os.path.join(self.dir, "inflated.mem")},
            "resume_vm": True})
        self.assertEqual(ok(loaded, "GET", "/balloon")["amount_mib"], 64)
        status, reply, _ = loaded.request("PUT", "/snapshot/rewind", {})
        self.assertEqual(status, 400, reply)  # the balloon's pages are gone
        self.assertIn("balloon", reply["fault_message"])
        s = stats(loaded)
        self.assertEqual((s["target_mib"], s["actual_mib"]), (64, 64))
        wait_until("statistics after the load",
                   lambda: "free_memory" in stats(loaded), timeout=30)
        self.inflate(loaded, 0)
        self.inflate(loaded, 32)  # given back from a MAP_PRIVATE file
        lines.wait_for("tick", 30)
        loaded.stop()
        self.apis.remove(loaded)
        self.uffd_load_inflates_and_runs_on()

    def uffd_load_inflates_and_runs_on(self):
        """The Uffd backend: the balloon's madvise waits until the page
        server read the remove event; the guest runs on with the pages
        it gets back served as zero pages."""
        sock = os.path.join(self.dir, "uffd.sock")
        handler_log = open(os.path.join(self.dir, "uffd.log"), "w+")
        handler = subprocess.Popen(
            [UFFD_HANDLER, "--socket", sock, "--mem-file",
             os.path.join(self.dir, "full.mem")], stderr=handler_log)
        api = None
        try:
            wait_until("the page server's socket",
                       lambda: os.path.exists(sock), timeout=30)
            api = ApiProcess(stdout=subprocess.PIPE)
            lines = LineReader(api.proc.stdout)
            ok(api, "PUT", "/snapshot/load", {
                "snapshot_path": os.path.join(self.dir, "full"),
                "mem_backend": {"backend_type": "Uffd",
                                "backend_path": sock},
                "resume_vm": True})
            self.inflate(api, 64)
            self.inflate(api, 0)
            self.inflate(api, 16)
            lines.wait_for("tick", 30)
            self.assertTrue(api.alive())
        finally:
            # microvm first: the handler's child serving it ends with it
            if api:
                api.stop()
            handler.kill()
            handler.wait()
            handler_log.seek(0)
            print(handler_log.read()[-2000:], end="")
            handler_log.close()


if __name__ == "__main__":
    unittest.main()
