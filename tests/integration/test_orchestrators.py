# SPDX-License-Identifier: Apache-2.0
"""Orchestrators' replays: each client's real call sequence against
microvm, run as that client runs it -- the command line it builds, the API
calls in its order with the bodies it serializes (omitted, null and empty
fields included), the checks it makes on the answers -- against a real
guest. Clients: the firecracker-go-sdk (without and with its jailer path),
firectl, Kata Containers (Go runtime, jailed; Rust runtime), firecracker-
containerd, flintlock and an E2B-style snapshot + UFFD flow.

None of these clients can be fetched and built here (no network), so the
replay IS the test: each sequence was transcribed by hand from the client's
public source (named in a comment above it, with the commit read) -- no
code copied, the sequences written here. As the clients do, microvm runs as
`firecracker` (a link named so, as `make install-compat` installs it) and
microvm-jailer as their jailer. The jailer on cgroup v1 and v2 is covered
by test_jailer.py and not repeated here. Needs /dev/kvm and root (taps,
netns, bind mounts, the jailer)."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

from microvm_harness import (BOOT_TIMEOUT, BUILD, GUEST, INITRD, MICROVM,
                             VMLINUX, LineReader, UnixHTTPConnection,
                             guest_cmdline, needs_kvm)
from test_jailer import (cgroup1_mount, cgroup2_mount, remove_cgroup,
                         v2_controllers)

JAILER = os.path.join(BUILD, "microvm-jailer")
UFFD_HANDLER = os.path.join(BUILD, "microvm-uffd")
# a log line's prefix with its level shown, as Firecracker writes it
SHOWN_LEVEL = r"\[[\w-]+:[\w ]+:(ERROR|WARN|INFO|DEBUG|TRACE)"
ROOTFS = os.path.join(GUEST, "rootfs.ext4")


class Client:
    """What the clients' HTTP layers do: one request per connection with
    JSON in and out, the status the client requires checked (go-swagger
    clients take only the documented success code: 204 for PUT/PATCH, 200
    for GET)."""

    def __init__(self, sock):
        self.sock = sock
        self.calls = []

    def call(self, method, path, body=None, want=None):
        want = want or (200 if method == "GET" else 204)
        conn = UnixHTTPConnection(self.sock)
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        self.calls.append((method, path, resp.status))
        if resp.status != want:
            raise AssertionError("%s %s %s: %s %s (the client wants %s)" % (
                method, path, json.dumps(body), resp.status, raw, want))
        return json.loads(raw) if raw else None


def exited(pid):
    """Whether pid is gone or a zombie. It may go between the open and
    the read: the read then fails with ESRCH (ProcessLookupError)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def wait_for(predicate, what, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.01)


def answers_get(sock, path):
    """The go-sdk's waitForSocket probe (and Kata's vmRunning): the socket
    exists and a GET answers 200."""
    def probe():
        if not os.path.exists(sock):
            return None
        try:
            conn = UnixHTTPConnection(sock, timeout=2)
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            return json.loads(body) if resp.status == 200 else None
        except OSError:
            return None
    return probe


def firecracker_link(d):
    """microvm installed under Firecracker's name, as make install-compat
    does (its default socket, the jail's name and pid file follow)."""
    link = os.path.join(d, "firecracker")
    os.symlink(MICROVM, link)
    return link


def sh(*args):
    subprocess.run(args, check=True)


def drive_file(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def md5(data):
    import hashlib
    return hashlib.md5(data).hexdigest()


def read_fifo(path, lines):
    """A reader on a log FIFO, as the SDK's captureFifoToFile and Kata's
    fcListenToFifo keep one."""
    def run():
        with open(path, "rb") as f:
            for line in f:
                lines.append(line.decode(errors="replace"))
    threading.Thread(target=run, daemon=True).start()


def hybrid_vsock_connect(uds, port, timeout=60):
    """Firecracker's host-initiated vsock: CONNECT <port>\\n, then OK <n>\\n
    (Kata's HybridVSockDialer, the go-sdk's vsock.DialContext), retried
    while the guest's listener is not up yet."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(uds)
            s.sendall(b"CONNECT %d\n" % port)
            line = b""
            while not line.endswith(b"\n"):
                chunk = s.recv(1)
                if not chunk:
                    break
                line += chunk
            if line.startswith(b"OK "):
                return s
        except OSError:
            pass
        s.close()
        if time.monotonic() > deadline:
            raise AssertionError("vsock port %d never accepted" % port)
        time.sleep(0.2)


def echo_over(s, payload=b"orchestrator-ping\n"):
    s.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = s.recv(len(payload) - len(got))
        if not chunk:
            break
        got += chunk
    s.close()
    return got


class Netns:
    """A network namespace with a tap, as the orchestrators' CNI set-ups
    leave one."""

    def __init__(self, tap="tap0"):
        self.name = "mvm-orch-%d" % os.getpid()
        self.path = "/var/run/netns/" + self.name
        self.tap = tap
        sh("ip", "netns", "add", self.name)
        for cmd in (["ip", "tuntap", "add", tap, "mode", "tap"],
                    ["ip", "addr", "add", "172.16.0.1/30", "dev", tap],
                    ["ip", "link", "set", tap, "up"]):
            sh("ip", "netns", "exec", self.name, *cmd)

    def wrap(self):
        return ["ip", "netns", "exec", self.name]

    def delete(self):
        subprocess.run(["ip", "netns", "delete", self.name])


@needs_kvm
@unittest.skipUnless(os.geteuid() == 0, "taps, netns, mounts and the jailer "
                     "need root")
class Orchestrators(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="orch-")
        self.procs = []
        self.cleanups = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for fn in reversed(self.cleanups):
            fn()
        shutil.rmtree(self.dir, ignore_errors=True)

    def spawn(self, argv, cwd=None, stdout=subprocess.PIPE):
        p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                             stdout=stdout, stderr=subprocess.STDOUT,
                             text=True, errors="replace")
        self.procs.append(p)
        return p, (LineReader(p.stdout) if stdout == subprocess.PIPE
                   else None)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def wait_exit(self, p, timeout=60):
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("microvm still running after %d s" % timeout)

    # ---------------------------------------------------------------
    # firecracker-go-sdk, commit 6fb280e9 (firecracker-microvm/
    # firecracker-go-sdk): machine.go (NewMachine, configureBuilder,
    # seccompArgs, startVMM, waitForSocket, createMachine,
    # refreshMachineConfiguration, createBootSource, attachDrive, addVsock,
    # startInstance, Shutdown/sendCtrlAltDel, DescribeInstanceInfo,
    # GetFirecrackerVersion), handlers.go (defaultFcInitHandlerList order,
    # CreateLogFilesHandler), command_builder.go (Build: socket args first),
    # drives.go (DrivesBuilder ids), client/models/*.go (the JSON tags:
    # which fields are omitempty).
    # ---------------------------------------------------------------
    def sdk_sequence(self, api, kernel, initrd, drive, vsock, log=None,
                     metrics=None):
        """The FcInit handlers after StartVMM: logging, machine, boot
        source, drives, vsocks (no NIC: ConfigMmds then skips), then
        startInstance."""
        if log:  # BootstrapLoggingHandler: setupLogging, setupMetrics
            api.call("PUT", "/logger", {"log_path": log, "level": "Debug",
                                        "show_level": True,
                                        "show_log_origin": False})
            api.call("PUT", "/metrics", {"metrics_path": metrics})
        # Config.MachineCfg with Smt set, CPUTemplate "" and
        # TrackDirtyPages nil: both omitted
        api.call("PUT", "/machine-config", {"mem_size_mib": 128,
                                            "smt": False, "vcpu_count": 2})
        cfg = api.call("GET", "/machine-config")  # refreshMachineConfiguration
        self.assertEqual((cfg["vcpu_count"], cfg["mem_size_mib"], cfg["smt"]),
                         (2, 128, False))
        api.call("PUT", "/boot-source", {
            "boot_args": guest_cmdline() + " -- " + GUEST_MD5_AND_WAIT,
            "initrd_path": initrd, "kernel_image_path": kernel})
        # DrivesBuilder(...).AddDrive(path, true): id "0", no root drive
        # (the initrd is the root)
        api.call("PUT", "/drives/0", {"drive_id": "0", "is_read_only": True,
                                      "is_root_device": False,
                                      "path_on_host": drive})
        # VsockDevice{Path, CID: 3}: ID "" is omitted
        api.call("PUT", "/vsock", {"guest_cid": 3, "uds_path": vsock})
        api.call("PUT", "/actions", {"action_type": "InstanceStart"})

    def sdk_after_start(self, api, vmid, lines, data, p):
        info = api.call("GET", "/")  # DescribeInstanceInfo
        self.assertEqual(info["id"], vmid)
        self.assertEqual(info["state"], "Running")
        for key in ("app_name", "vmm_version"):
            self.assertIsInstance(info[key], str)
        version = api.call("GET", "/version")["firecracker_version"]
        self.assertRegex(version, r"^\d+\.\d+\.\d+")
        lines.wait_for(md5(data) + "  /dev/vda", BOOT_TIMEOUT)
        # Shutdown (x86): SendCtrlAltDel; the guest reboots, microvm exits
        api.call("PUT", "/actions", {"action_type": "SendCtrlAltDel"})
        self.assertEqual(self.wait_exit(p), 0)

    def test_go_sdk(self):
        link = firecracker_link(self.dir)
        data = os.urandom(1 << 20)
        drive = drive_file(self.path("data.img"), data)
        sock = self.path("fc.sock")
        log, metrics = self.path("fc.log"), self.path("fc.metrics")
        vmid = str(uuid.uuid4())  # NewMachine: a random VMID when none
        # configureBuilder: --api-sock, then --id, then seccompArgs:
        # Seccomp.Enabled is false by default, hence --no-seccomp
        p, lines = self.spawn([link, "--api-sock", sock, "--id", vmid,
                               "--no-seccomp"])
        wait_for(answers_get(sock, "/machine-config"), "the API socket")
        for path in (metrics, log):  # createFifoOrFile without a FIFO
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND,
                             0o600))
        api = Client(sock)
        self.sdk_sequence(api, VMLINUX, INITRD, drive, self.path("v.sock"),
                          log, metrics)
        self.sdk_after_start(api, vmid, lines, data, p)
        with open(log) as f:  # show_level without show_log_origin
            self.assertRegex(f.read(), SHOWN_LEVEL + r"\] ")

    def test_go_sdk_jailer(self):
        """jail() in jailer.go: the jailer's arguments, the socket path the
        SDK computes, NaiveChrootStrategy's LinkFilesHandler (hard links
        into the jail, paths then relative to it)."""
        base = self.path("jailer")  # JailerConfig.ChrootBaseDir
        os.makedirs(base)
        link = firecracker_link(self.dir)
        vmid = "sdk-jail-%d" % os.getpid()
        uid = gid = 4321
        data = os.urandom(1 << 20)
        # the user's files; hard links need them on the jail's filesystem
        kernel, initrd = self.path("vmlinux"), self.path("initrd.cpio")
        shutil.copyfile(VMLINUX, kernel)
        shutil.copyfile(INITRD, initrd)
        drive = drive_file(self.path("data.img"), data)
        args = [JAILER, "--id", vmid, "--uid", str(uid), "--gid", str(gid),
                "--exec-file", link]
        node = "/sys/devices/system/node/node0/cpulist"  # getNumaCpuset(0)
        if os.path.exists(node):
            with open(node) as f:
                cpus = f.read().strip()
            args += ["--cgroup", "cpuset.mems=0", "--cgroup",
                     "cpuset.cpus=" + cpus]
        # CgroupVersion as the host's cpuset is mounted (L1: v2 only; the
        # host: v1); no ParentCgroup, no NetNS, Daemonize false
        if "cpuset" in v2_controllers():
            version, mnt, procs = "2", cgroup2_mount(), "cgroup.procs"
        else:
            version, mnt, procs = "1", cgroup1_mount("cpuset"), "tasks"
        args += ["--cgroup-version", version, "--chroot-base-dir", base,
                 "--", "--no-seccomp", "--api-sock",
                 "/run/firecracker.socket"]
        self.cleanups.append(lambda: remove_cgroup(mnt, "firecracker", vmid))
        p, lines = self.spawn(args)
        root = os.path.join(base, "firecracker", vmid, "root")
        sock = os.path.join(root, "run/firecracker.socket")
        wait_for(answers_get(sock, "/machine-config"), "the jailed socket")
        for name, src in (("vmlinux", kernel), ("initrd.cpio", initrd),
                          ("data.img", drive)):
            os.link(src, os.path.join(root, name))
        api = Client(sock)
        self.sdk_sequence(api, "vmlinux", "initrd.cpio", "data.img",
                          "v.sock")
        with open(os.path.join(root, "firecracker.pid")) as f:
            self.assertEqual(int(f.read()), p.pid)  # exec'd in place
        with open(os.path.join(mnt, "firecracker", vmid, procs)) as f:
            self.assertIn(str(p.pid), f.read().split())
        self.sdk_after_start(api, vmid, lines, data, p)

    # ---------------------------------------------------------------
    # firectl, commit df2fb87a (firecracker-microvm/firectl): options.go
    # (getFirecrackerConfig, getBlockDevices: extra drives "2".., root
    # drive "1" last; parseDevice; handleFifos), main.go (runVMM: its own
    # VMCommandBuilder with only --api-sock, SetMetadata after Start,
    # SIGTERM -> Shutdown). Under it the go-sdk's handlers as above.
    # ---------------------------------------------------------------
    def test_firectl(self):
        link = firecracker_link(self.dir)
        data = os.urandom(1 << 20)
        extra = drive_file(self.path("extra.img"), data)
        root = self.path("root.ext4")
        shutil.copyfile(ROOTFS, root)
        sock = self.path("firectl.sock")  # --socket-path
        # --firecracker-log: firectl names two FIFOs, the SDK makes them
        fifo_dir = self.path("fcfifo")
        os.mkdir(fifo_dir)
        log_fifo = os.path.join(fifo_dir, "fc_fifo")
        metrics_fifo = os.path.join(fifo_dir, "fc_metrics_fifo")
        os.mkfifo(metrics_fifo, 0o700)
        os.mkfifo(log_fifo, 0o700)
        log_lines = []
        read_fifo(log_fifo, log_lines)  # captureFifoToFile
        p, lines = self.spawn([link, "--api-sock", sock])
        wait_for(answers_get(sock, "/machine-config"), "the API socket")
        api = Client(sock)
        api.call("PUT", "/logger", {"log_path": log_fifo, "level": "Debug",
                                    "show_level": True,
                                    "show_log_origin": False})
        api.call("PUT", "/metrics", {"metrics_path": metrics_fifo})
        # --ncpus 1 --memory 128, no --disable-smt: smt true; no
        # --cpu-template: omitted
        api.call("PUT", "/machine-config", {"mem_size_mib": 128,
                                            "smt": True, "vcpu_count": 1})
        self.assertTrue(api.call("GET", "/machine-config")["smt"])
        api.call("PUT", "/boot-source", {
            "boot_args": guest_cmdline() + " -- " + FIRECTL_GUEST,
            "initrd_path": INITRD, "kernel_image_path": VMLINUX})
        # --add-drive extra.img:ro then --root-drive root.ext4 (no suffix:
        # writable)
        api.call("PUT", "/drives/2", {"drive_id": "2", "is_read_only": True,
                                      "is_root_device": False,
                                      "path_on_host": extra})
        api.call("PUT", "/drives/1", {"drive_id": "1", "is_read_only": False,
                                      "is_root_device": True,
                                      "path_on_host": root})
        # --vsock-device v.sock:3
        api.call("PUT", "/vsock", {"guest_cid": 3,
                                   "uds_path": self.path("v.sock")})
        api.call("PUT", "/actions", {"action_type": "InstanceStart"})
        meta = {"firectl": {"greeting": "hello"}}  # --metadata
        api.call("PUT", "/mmds", meta)
        self.assertEqual(api.call("GET", "/mmds"), meta)
        # the root drive is /dev/vda wherever it is listed, as Firecracker
        # makes it; the extra drive is /dev/vdb
        lines.wait_for(md5(data) + "  /dev/vdb", BOOT_TIMEOUT)
        lines.wait_for("root-ro=0", 60)
        # firectl on SIGTERM (its own handler): m.Shutdown
        api.call("PUT", "/actions", {"action_type": "SendCtrlAltDel"})
        self.assertEqual(self.wait_exit(p), 0)
        self.assertRegex("".join(log_lines), SHOWN_LEVEL + r"\] ")

    # ---------------------------------------------------------------
    # Kata Containers Go runtime, commit 7c6ba40c (kata-containers/
    # kata-containers): src/runtime/virtcontainers/fc.go (setPaths,
    # getVersionNumber/parseVersion/checkVersion, fcInit: the jailer's
    # arguments, waitVMMRunning, readJailedFirecrackerPID;
    # fcInitConfiguration: fcSetVMBaseConfig, fcSetBootSource,
    # fcSetVMRootfs, createDiskPool, fcSetLogger, fcSetMetrics,
    # fcAddVsock, fcAddNetDevice; fcJailResource's bind mounts;
    # GetThreadIDs; fcEnd), types/fcConfig.go (the config file's keys).
    # ---------------------------------------------------------------
    def kata_version_check(self, link):
        out = subprocess.run([link, "--version"], capture_output=True,
                             text=True, check=True).stdout
        fields = out.split("\n")[0].split(" ")
        self.assertGreater(len(fields), 1, out)
        version = fields[1].strip().lstrip("v")
        m = re.match(r"^(\d+)\.(\d+)\.(\d+)$", version)  # semver.Make
        self.assertIsNotNone(m, "not semver: %r" % version)
        self.assertGreaterEqual(tuple(map(int, m.groups())), (0, 21, 1))

    def bind(self, src, dst):
        """fcJailResource: a bind mount into the jail's root."""
        if not os.path.exists(dst):
            open(dst, "a").close()
        sh("mount", "--bind", src, dst)
        self.cleanups.append(lambda: subprocess.run(["umount", "-l", dst]))

    def test_kata_go_jailed(self):
        link = firecracker_link(self.dir)
        self.kata_version_check(link)
        net = Netns()
        self.cleanups.append(net.delete)
        sid = "kata%d" % os.getpid()
        base = self.path("kata")  # fc.chrootBaseDir
        vm_path = os.path.join(base, "firecracker", sid)
        jail = os.path.join(vm_path, "root")
        os.makedirs(os.path.join(jail, "run"))  # fcInitConfiguration
        rootfs = self.path("kata-containers.img")
        shutil.copyfile(ROOTFS, rootfs)
        self.bind(VMLINUX, os.path.join(jail, "vmlinux"))
        self.bind(rootfs, os.path.join(jail, "rootfs"))
        for i in range(8):  # createDiskPool: empty placeholder files
            open(os.path.join(jail, "drive_%d" % i), "w").close()
        log_lines = []
        for name in ("logs.fifo", "metrics.fifo"):  # fcListenToFifo
            fifo = os.path.join(vm_path, name)
            os.mkfifo(fifo, 0o600)
            fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            self.cleanups.append(lambda fd=fd: os.close(fd))
            self.bind(fifo, os.path.join(jail, name))
        read_fifo(os.path.join(vm_path, "logs.fifo"), log_lines)
        # the guest's side of the vsock: it connects to the host, port 1025
        # (agent.log_vport), which the jail's kata.hvsock_1025 receives
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(os.path.join(jail, "kata.hvsock_1025"))
        listener.listen(1)
        listener.settimeout(BOOT_TIMEOUT)
        # Kata's params for an ext4 image (GetKernelRootParams) name
        # /dev/vda1 on its partitioned image; the test image has no
        # partition table, hence /dev/vda
        params = ("root=/dev/vda rootflags=data=ordered,errors=remount-ro ro "
                  "rootfstype=ext4 pci=off reboot=k panic=1 iommu=off "
                  "net.ifnames=0 random.trust_cpu=on acpi=off")
        config = {  # MarshalIndent(fcConfig): key order as the struct's
            "boot-source": {"kernel_image_path": "/vmlinux",
                            "boot_args": guest_cmdline() + " " + params +
                            " -- " + KATA_GUEST},
            "machine-config": {"mem_size_mib": 128, "smt": False,
                               "vcpu_count": 2},
            "vsock": {"guest_cid": 3, "uds_path": "/kata.hvsock",
                      "vsock_id": "root"},
            "logger": {"level": "Debug", "log_path": "/logs.fifo"},
            "metrics": {"metrics_path": "/metrics.fifo"},
            "drives": [{"drive_id": "rootfs", "is_read_only": True,
                        "is_root_device": False, "path_on_host": "/rootfs"}] +
                      [{"drive_id": "drive_%d" % i, "is_read_only": False,
                        "is_root_device": False,
                        "path_on_host": "/drive_%d" % i} for i in range(8)],
            # fcAddNetDevice without rate limits: empty limiter objects
            "network-interfaces": [{"guest_mac": "02:fc:00:00:00:05",
                                    "host_dev_name": net.tap,
                                    "iface_id": "eth0",
                                    "rx_rate_limiter": {},
                                    "tx_rate_limiter": {}}],
        }
        cfg_path = os.path.join(vm_path, "fcConfig.json")
        with open(cfg_path, "w") as f:
            json.dump(config, f, indent="\t")
        self.bind(cfg_path, os.path.join(jail, "fcConfig.json"))
        jailer = subprocess.run(
            [JAILER, "--id", sid, "--exec-file", link, "--uid", "0",
             "--gid", "0", "--chroot-base-dir", base, "--daemonize",
             "--netns", net.path, "--", "--config-file", "/fcConfig.json"],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(jailer.returncode, 0, jailer.stderr)
        pid_file = os.path.join(jail, "firecracker.pid")
        wait_for(lambda: os.path.exists(pid_file), "firecracker.pid", 60)
        with open(pid_file) as f:
            pid = int(f.read().strip())
        # what Kata put in the new jail before the jailer ran is kept
        for i in range(8):
            self.assertTrue(os.path.exists(os.path.join(jail, "drive_%d" % i)))
        self.cleanups.append(lambda: subprocess.run(["kill", "-9", str(pid)],
                                                    stderr=subprocess.DEVNULL))
        # waitVMMRunning: GET / on the default socket until "Running"
        sock = os.path.join(jail, "run", "firecracker.socket")
        try:
            wait_for(lambda: (answers_get(sock, "/")() or {}).get("state") ==
                     "Running", "state Running", 60)
        except AssertionError as e:
            raise AssertionError("%s; the jail: %s; its log: %s" % (
                e, sorted(os.listdir(jail)), "".join(log_lines)[-3000:]))
        # GetThreadIDs: /proc/<pid>/task/*/comm "fc_vcpu N"
        vcpus = {}
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                comm = f.read().strip()
            if comm.startswith("fc_vcpu"):
                vcpus[int(comm.split("fc_vcpu", 1)[1].strip())] = int(tid)
        self.assertEqual(sorted(vcpus), [0, 1])
        conn, _ = listener.accept()
        conn.settimeout(30)
        got = b""
        while b"\n" not in got:
            chunk = conn.recv(256)
            if not chunk:
                break
            got += chunk
        conn.close()
        listener.close()
        self.assertEqual(got.strip(), b"kata-guest-up eth0")
        self.assertTrue(log_lines, "nothing logged to the FIFO")
        os.kill(pid, 15)  # fcEnd: SIGTERM, then wait up to 15 s
        wait_for(lambda: exited(pid), "microvm to exit on SIGTERM", 60)

    # ---------------------------------------------------------------
    # Kata Containers Rust runtime, commit 7c6ba40c:
    # src/runtime-rs/crates/hypervisor/src/firecracker/inner.rs
    # (prepare_vmm: non-jailed, --api-sock <vm_path>/run/fc.sock),
    # inner_hypervisor.rs (prepare_vm order, start_vm, stop_vm: kill),
    # fc_api.rs (prepare_vmm_resources: the drive pool drive1..5,
    # prepare_hvsock, patch_container_rootfs with rate_limiter from
    # RateLimiterConfig::new: null without limits; request headers),
    # src/libs/kata-types/src/config/hypervisor/rate_limiter.rs.
    # ---------------------------------------------------------------
    def test_kata_rust(self):
        link = firecracker_link(self.dir)
        sid = "katars%d" % os.getpid()
        vm_path = self.path("kata-rs", sid)
        run_dir = os.path.join(vm_path, "run")
        os.makedirs(run_dir)
        sock = os.path.join(run_dir, "fc.sock")
        rootfs = self.path("kata-containers.img")
        shutil.copyfile(ROOTFS, rootfs)
        p, lines = self.spawn([link, "--api-sock", sock])
        wait_for(lambda: os.path.exists(sock), "the API socket")
        api = Client(sock)
        params = ("pci=off iommu=off root=/dev/vda "
                  "rootflags=data=ordered,errors=remount-ro ro "
                  "rootfstype=ext4")
        api.call("PUT", "/boot-source", {
            "kernel_image_path": VMLINUX,
            "boot_args": guest_cmdline() + " " + params + " -- " +
            KATA_RS_GUEST})
        api.call("PUT", "/machine-config", {"mem_size_mib": 128,
                                            "vcpu_count": 1})
        api.call("PUT", "/drives/rootfs", {"drive_id": "rootfs",
                                           "path_on_host": rootfs,
                                           "is_root_device": False,
                                           "is_read_only": True})
        os.makedirs(os.path.join(vm_path, "root"))
        for i in range(1, 6):
            placeholder = os.path.join(vm_path, "root", "drive%d" % i)
            open(placeholder, "w").close()
            api.call("PUT", "/drives/drive%d" % i, {
                "drive_id": "drive%d" % i, "path_on_host": placeholder,
                "is_root_device": False, "is_read_only": False})
        hvsock = os.path.join(vm_path, "kata.hvsock")
        api.call("PUT", "/vsock", {"guest_cid": 3, "uds_path": hvsock,
                                   "vsock_id": "root"})
        api.call("PUT", "/actions", {"action_type": "InstanceStart"})
        # the agent: a hybrid-vsock CONNECT to port 1024 (vsock-echo in
        # the guest stands in for kata-agent)
        self.assertEqual(echo_over(hybrid_vsock_connect(hvsock, 1024)),
                         b"orchestrator-ping\n")
        # a container's rootfs onto the first placeholder
        data = os.urandom(2 << 20)
        image = drive_file(self.path("container.img"), data)
        api.call("PATCH", "/drives/drive1", {"drive_id": "drive1",
                                             "path_on_host": image,
                                             "rate_limiter": None})
        lines.wait_for(md5(data) + "  /dev/vdb", 60)
        p.kill()  # stop_vm: Child::kill
        p.wait()

    # ---------------------------------------------------------------
    # firecracker-containerd, commit be68640a (firecracker-microvm/
    # firecracker-containerd): runtime/service.go (createVM,
    # buildVMConfiguration: relative socket and vsock paths, vsock id
    # "agent_api" with CID 0, log and metrics FIFOs, buildRootDrive),
    # runtime/noop_jailer.go (the command: --api-sock firecracker.sock
    # --id VMID, run in the shim's directory), runtime/helpers.go
    # (machineConfigurationFromProto), runtime/drive_handler.go (stub
    # drives: ids base32 of "ctrstubN", 512-byte stubs, PatchAndMount ->
    # UpdateGuestDrive), internal/cpu_template.go (T2 on Intel only),
    # internal/common.go (file names), config/config.go (kernel args).
    # No balloon: CreateVMRequest.BalloonDevice is optional and microvm
    # has no balloon device. Under it the go-sdk's handlers.
    # ---------------------------------------------------------------
    def test_firecracker_containerd(self):
        link = firecracker_link(self.dir)
        shim = self.path("shim")
        os.mkdir(shim)
        vmid = "fc-ctrd-%d" % os.getpid()
        root = self.path("default-rootfs.img")
        shutil.copyfile(ROOTFS, root)
        stub_id = "MN2HE43UOVRDA"  # base32("ctrstub0"), no padding
        stub = drive_file(os.path.join(shim, "ctrstub0"),
                          (b"stub:" + stub_id.encode()).ljust(512, b"\0"))
        log_fifo = os.path.join(shim, "fc-logs.fifo")
        metrics_fifo = os.path.join(shim, "fc-metrics.fifo")
        os.mkfifo(log_fifo, 0o700)
        os.mkfifo(metrics_fifo, 0o700)
        # no reader: firecracker-containerd passes them as LogPath and
        # MetricsPath, which the SDK only opens and closes
        for path in (metrics_fifo, log_fifo):
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND))
        p, lines = self.spawn([link, "--api-sock", "firecracker.sock",
                               "--id", vmid], cwd=shim)
        sock = os.path.join(shim, "firecracker.sock")
        wait_for(answers_get(sock, "/machine-config"), "the API socket")
        api = Client(sock)
        api.call("PUT", "/logger", {"log_path": log_fifo, "level": "Debug",
                                    "show_level": True,
                                    "show_log_origin": False})
        api.call("PUT", "/metrics", {"metrics_path": metrics_fifo})
        with open("/proc/cpuinfo") as f:
            intel = "GenuineIntel" in f.read()
        machine = {"mem_size_mib": 128, "smt": False, "vcpu_count": 1}
        if intel:  # the default template, kept on Intel only
            machine["cpu_template"] = "T2"
        api.call("PUT", "/machine-config", machine)
        api.call("GET", "/machine-config")
        api.call("PUT", "/boot-source", {
            "boot_args": guest_cmdline() + " noapic pci=off nomodules rw"
            " -- " + CONTAINERD_GUEST,
            "kernel_image_path": VMLINUX})
        api.call("PUT", "/drives/root_drive", {
            "drive_id": "root_drive", "is_read_only": True,
            "is_root_device": True, "path_on_host": root})
        api.call("PUT", "/drives/" + stub_id, {
            "drive_id": stub_id, "is_read_only": False,
            "is_root_device": False, "path_on_host": stub})
        # relative to the shim's directory, CID 0 (the SDK's zero value)
        api.call("PUT", "/vsock", {"guest_cid": 0,
                                   "uds_path": "firecracker.vsock",
                                   "vsock_id": "agent_api"})
        api.call("PUT", "/actions", {"action_type": "InstanceStart"})
        # the agent's ttrpc over vsock port 10789 (vsock-echo stands in)
        vsock = os.path.join(shim, "firecracker.vsock")
        self.assertEqual(echo_over(hybrid_vsock_connect(vsock, 10789)),
                         b"orchestrator-ping\n")
        # a task's container image onto the stub drive
        data = os.urandom(1 << 20)
        image = drive_file(self.path("container.img"), data)
        api.call("PATCH", "/drives/" + stub_id, {"drive_id": stub_id,
                                                 "path_on_host": image})
        lines.wait_for(md5(data) + "  /dev/vdb", 60)
        api.call("PUT", "/actions", {"action_type": "SendCtrlAltDel"})
        self.assertEqual(self.wait_exit(p), 0)

    # ---------------------------------------------------------------
    # flintlock, commit 71121229 (liquidmetal-dev/flintlock):
    # infrastructure/microvm/firecracker/create.go (the command: --id,
    # --boot-timer, --no-api, --config-file, --metadata), config.go
    # (CreateConfig: WithMicroVM, WithVsock, WithState;
    # DefaultKernelCmdLine), types.go (VmmConfig's JSON tags: which
    # fields are always written), state.go (the metadata file).
    # ---------------------------------------------------------------
    def test_flintlock(self):
        link = firecracker_link(self.dir)
        net = Netns()
        self.cleanups.append(net.delete)
        uid = str(uuid.uuid4()).replace("-", "")[:26]
        script = drive_file(self.path("root.img"), (FLINTLOCK_GUEST.encode()
                            + b"\n" * 512)[:4096])
        meta = {"latest": {  # Metadata{Latest: vm.Spec.Metadata}
            "meta-data": "instance_id: ns1/vm1/%s\nlocal_hostname: vm1\n"
                         "platform: liquid_metal\n" % uid,
            "user-data": "#cloud-config\nhostname: vm1\n"}}
        meta_path = self.path("metadata.json")
        with open(meta_path, "w") as f:
            json.dump(meta, f)
        kernel_cmdline = ("console=ttyS0 reboot=k panic=1 pci=off "
                          "i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd "
                          "ds=nocloud-net;s=http://169.254.169.254/latest/")
        log, metrics = self.path("firecracker.log"), self.path("metrics.fifo")
        config = {
            "drives": [{"drive_id": "root", "path_on_host": script,
                        "is_root_device": True, "is_read_only": False,
                        "cache_type": "Unsafe"}],
            "boot-source": {"kernel_image_path": VMLINUX,
                            "initrd_path": INITRD,
                            "boot_args": guest_cmdline() + " " +
                            kernel_cmdline + " -- sh /dev/vda"},
            "logger": {"log_path": log, "level": "Debug", "show_level": True,
                       "show_log_origin": True},
            "machine-config": {"vcpu_count": 2, "mem_size_mib": 128,
                               "smt": True, "track_dirty_pages": False},
            "metrics": {"metrics_path": metrics},
            "mmds-config": {"version": "V1", "network_interfaces": ["eth0"]},
            "network-interfaces": [{"iface_id": "eth0",
                                    "host_dev_name": net.tap,
                                    "guest_mac": "02:fc:00:00:00:07"}],
            "vsock": {"vsock_id": "guest-agent", "guest_cid": 3,
                      "uds_path": self.path("firecracker.vsock")},
        }
        cfg = self.path("firecracker.cfg")
        with open(cfg, "w") as f:
            json.dump(config, f)
        r = subprocess.run(net.wrap() + [
            link, "--id", uid, "--boot-timer", "--no-api", "--config-file",
            cfg, "--metadata", meta_path], capture_output=True, text=True,
            timeout=BOOT_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr)
        self.assertIn("instance_id: ns1/vm1/%s" % uid, r.stdout)
        self.assertIn("ud=#cloud-config", r.stdout)
        with open(log) as f:  # show_level and show_log_origin
            self.assertRegex(f.read(), SHOWN_LEVEL + r":[\w/]+\.c:\d+\] ")

    # ---------------------------------------------------------------
    # E2B, commit 54693ff3 (e2b-dev/infra): packages/orchestrator/pkg/
    # sandbox/fc/process.go (Create: the call order; Resume: metrics,
    # loadSnapshot, rate-limit resets, resumeVM, setMmds; CreateSnapshot
    # after Pause), fc/client.go (the bodies: setMachineConfig smt +
    # track_dirty_pages, setEntropyDevice, setNetworkInterface + MMDS V2,
    # loadSnapshot with the Uffd backend and resume_vm false,
    # createSnapshot Full; setTxRateLimit/setDriveRateLimit: {} resets),
    # fc/mmds.go (the metadata keys), fc/script_builder.go (firecracker
    # --api-sock in the sandbox's netns). E2B's own page server answers
    # the UFFD handshake; build/microvm-uffd does here, reading
    # page_size_kib from the handshake as E2B's does. E2B's current
    # createSnapshot sends no mem_file_path (its Firecracker fork takes
    # the memory another way); upstream Firecracker, and microvm,
    # require one, so this replay names the file.
    # ---------------------------------------------------------------
    def test_e2b_snapshot_uffd(self):
        link = firecracker_link(self.dir)
        net = Netns()
        self.cleanups.append(net.delete)
        rootfs = self.path("rootfs.ext4")
        shutil.copyfile(ROOTFS, rootfs)
        metrics = self.path("metrics.fifo")
        os.mkfifo(metrics, 0o600)
        mmds = {"instanceID": "isb1", "envID": "tpl1",
                "address": "http://192.0.2.1/logs",
                "accessTokenHash": "0" * 64}
        sock = self.path("fc.sock")
        p, lines = self.spawn(net.wrap() + [link, "--api-sock", sock])
        wait_for(lambda: os.path.exists(sock), "the API socket")
        api = Client(sock)
        api.call("PUT", "/metrics", {"metrics_path": metrics})
        api.call("PUT", "/boot-source", {
            "boot_args": guest_cmdline() + " -- " + COUNTER,
            "kernel_image_path": VMLINUX})
        api.call("PUT", "/drives/rootfs", {"drive_id": "rootfs",
                                           "is_read_only": False,
                                           "is_root_device": True,
                                           "path_on_host": rootfs})
        api.call("PUT", "/network-interfaces/eth0", {
            "guest_mac": "02:fc:00:00:00:09", "host_dev_name": net.tap,
            "iface_id": "eth0"})
        api.call("PUT", "/mmds/config", {"network_interfaces": ["eth0"],
                                         "version": "V2"})
        api.call("PUT", "/machine-config", {"mem_size_mib": 128,
                                            "smt": True,
                                            "track_dirty_pages": False,
                                            "vcpu_count": 2})
        api.call("PUT", "/entropy", {"rate_limiter": {"bandwidth": {
            "one_time_burst": 4096, "refill_time": 100, "size": 1024}}})
        api.call("PUT", "/mmds", mmds)
        api.call("PUT", "/actions", {"action_type": "InstanceStart"})
        lines.wait_for("tick 3", BOOT_TIMEOUT)
        api.call("PATCH", "/vm", {"state": "Paused"})
        time.sleep(0.5)
        last = lines.ticks()[-1]
        snap, mem = self.path("snapfile"), self.path("memfile")
        api.call("PUT", "/snapshot/create", {"mem_file_path": mem,
                                             "snapshot_path": snap,
                                             "snapshot_type": "Full"})
        p.kill()
        p.wait()
        # Resume: a new firecracker, the page server on its socket
        uffd_sock = self.path("uffd.sock")
        handler = subprocess.Popen([UFFD_HANDLER, "--socket", uffd_sock,
                                    "--mem-file", mem],
                                   stderr=subprocess.PIPE, text=True)
        self.procs.append(handler)
        wait_for(lambda: os.path.exists(uffd_sock), "the page server")
        os.unlink(sock)
        p, lines = self.spawn(net.wrap() + [link, "--api-sock", sock])
        wait_for(lambda: os.path.exists(sock), "the API socket")
        api = Client(sock)
        api.call("PUT", "/metrics", {"metrics_path": metrics})
        api.call("PUT", "/snapshot/load", {
            "mem_backend": {"backend_path": uffd_sock,
                            "backend_type": "Uffd"},
            "snapshot_path": snap})  # resume_vm false: omitted
        self.assertEqual(api.call("GET", "/")["state"], "Paused")
        api.call("PATCH", "/network-interfaces/eth0", {
            "iface_id": "eth0", "tx_rate_limiter": {}})
        api.call("PATCH", "/drives/rootfs", {"drive_id": "rootfs",
                                             "rate_limiter": {}})
        api.call("PATCH", "/vm", {"state": "Resumed"})
        api.call("PUT", "/mmds", mmds)
        self.assertEqual(api.call("GET", "/mmds"), mmds)
        lines.wait_for("tick %d" % (last + 3), 60)
        self.assertEqual(lines.ticks()[0], last + 1)
        p.kill()
        p.wait()


# The guests' commands (the test guest's init runs what follows "--").
GUEST_MD5_AND_WAIT = 'sh -c "md5sum /dev/vda; sleep 600"'
FIRECTL_GUEST = ('sh -c "md5sum /dev/vdb; echo root-ro=$(cat '
                 '/sys/block/vda/ro); sleep 600"')
# the agent's stand-in: say hello over vsock to the host (the runtime's
# log port), with the NIC's name as the guest sees it
KATA_GUEST = ('sh -c "(echo kata-guest-up $(ls /sys/class/net | grep eth))'
              ' | vsock-cat 2 1025; sleep 600"')
WAIT_FOR_VDB = ('while [ $(cat /sys/block/vdb/size) = %s ]; do sleep 0.2; '
                'done; md5sum /dev/vdb')
KATA_RS_GUEST = ('sh -c "vsock-echo 1024 & ' + WAIT_FOR_VDB % "0" +
                 '; sleep 600"')
CONTAINERD_GUEST = ('sh -c "vsock-echo 10789 & ' + WAIT_FOR_VDB % "1" +
                    '; sleep 600"')
FLINTLOCK_GUEST = """
ip addr add 172.16.0.2/30 dev eth0
ip link set eth0 up
ip route add 169.254.169.254/32 dev eth0
wget -q -O - http://169.254.169.254/latest/meta-data
echo "ud=$(wget -q -O - http://169.254.169.254/latest/user-data | head -n 1)"
"""
COUNTER = ('sh -c "i=0; while true; do echo tick $i; i=$((i+1)); '
           'sleep 0.3; done"')
