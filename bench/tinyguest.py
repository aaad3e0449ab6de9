# SPDX-License-Identifier: Apache-2.0
"""The tiny PVH guest of bench/boot.py: an ELF "kernel" with a PVH entry
note whose first instructions write OUTPUT to the serial port (0x3f8)
and then halt. Every monitor that boots PVH ELF kernels runs it as is
(microvm, QEMU -M microvm through its firmware, build/kvm-floor), so
process start -> its first byte on the monitor's stdout is how long a
monitor takes to get a guest running, with no guest kernel in the way."""
import os
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "integration"))
from test_errors import crash_kernel  # noqa: E402  (a PVH ELF around code)

OUTPUT = b"ok\n"
SERIAL = 0x3f8


def code():
    """32-bit code: mov dx, 0x3f8; (mov al, byte; out dx, al) per byte of
    OUTPUT; then hlt forever (interrupts are off at the PVH entry)."""
    out = bytes([0x66, 0xba]) + SERIAL.to_bytes(2, "little")
    for byte in OUTPUT:
        out += bytes([0xb0, byte, 0xee])
    return out + bytes([0xf4, 0xeb, 0xfd])


def write_kernel(path):
    with open(path, "wb") as f:
        f.write(crash_kernel(code()))
    return path


def first_output(argv, timeout=60):
    """Starts argv and returns (seconds from the start to the first byte
    on its stdout, None) once that byte is OUTPUT's first; (None, why)
    if the process ends, prints something else or times out first."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    first = os.read(proc.stdout.fileno(), 1) if ready else b""
    elapsed = time.perf_counter() - start
    proc.kill()
    _, err = proc.communicate()
    if first == OUTPUT[:1]:
        return elapsed, None
    why = ("printed %r first" % first if first else
           "no output in %d s" % timeout if not ready else
           "exited with status %s" % proc.returncode)
    return None, "%s %s:\n%s" % (argv[0], why,
                                 err.decode(errors="replace")[-2000:])
