#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Says where a frozen L1's CPUs are: asks QEMU's monitor for every CPU's
registers a few times and names each RIP with L1's kernel symbols (a copy
of L1's /proc/kallsyms; L1 boots with nokaslr, so they stay put).
Usage: frozen.py MONITOR_SOCKET KALLSYMS"""
import bisect
import os
import re
import socket
import sys
import time


def symbols(path):
    table = []
    if not os.path.exists(path):
        return table
    with open(path) as f:
        for line in f:
            addr, kind, name = line.split()[:3]
            if kind.lower() in "tw":
                table.append((int(addr, 16), name))
    table.sort()
    return table


def name(table, rip):
    i = bisect.bisect_right(table, (rip, "\uffff")) - 1
    if i < 0 or rip - table[i][0] > 0x100000:
        return hex(rip)
    return f"{table[i][1]}+{rip - table[i][0]:#x}"


def registers(path):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(b"info registers -a\n")
        out, end = b"", time.time() + 5
        while time.time() < end:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
            if out.count(b"RIP=") >= 1 and out.rstrip().endswith(b"(qemu)"):
                break
        return out.decode(errors="replace")


def main():
    table = symbols(sys.argv[2])
    for _ in range(5):
        rips = re.findall(r"RIP=([0-9a-f]{16})", registers(sys.argv[1]))
        print("l1: CPUs at " + ", ".join(
            f"CPU#{i} {name(table, int(r, 16))}" for i, r in enumerate(rips)),
            file=sys.stderr)
        time.sleep(1)


if __name__ == "__main__":
    main()
