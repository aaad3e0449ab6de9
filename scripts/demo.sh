#!/usr/bin/env bash
# Boots the test guest through the API socket, as an orchestrator would,
# and shows its console and the boot time. Run through `make demo` (which
# first installs deps and builds microvm and the guest).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# No /dev/kvm on this machine: run inside L1, a Linux with KVM under QEMU.
[ -w /dev/kvm ] || exec "$root/tests/l1/run.sh" "$0"
guest="$root/build/guest"
work=$(mktemp -d)
sock="$work/microvm.sock"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

api() { # METHOD PATH [JSON]
	echo "\$ curl --unix-socket microvm.sock -X $1 http://localhost$2 ${3:+-d '$3'}"
	curl -sS --fail-with-body --unix-socket "$sock" -X "$1" "http://localhost$2" \
		${3:+-H 'Content-Type: application/json' -d "$3"}
	echo
}
json_string() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }

args="$("$root/tests/guest/cmdline.sh") -- sh -c \"echo; echo hello from a microVM; uname -sr; echo vCPUs: \$(nproc); free -m\""

echo "== starting: build/microvm --api-sock microvm.sock --boot-timer"
"$root/build/microvm" --api-sock "$sock" --boot-timer 2> "$work/stderr" &
pid=$!
for _ in $(seq 300); do [ -S "$sock" ] && break; sleep 0.01; done
api GET /
api PUT /boot-source "{\"kernel_image_path\": \"$guest/vmlinux\", \"initrd_path\": \"$guest/initrd.cpio\", \"boot_args\": $(json_string "$args")}"
api PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 128}'
api PUT /entropy '{}'
api PUT /actions '{"action_type": "InstanceStart"}'
api GET /
echo "== the guest's console (on this project's nested KVMs, kvm_pvm or L1 under"
echo "   QEMU's emulator, expect 2-15 s; tens of ms on bare-metal KVM)"
rc=0
wait "$pid" || rc=$?
echo
echo "== microvm exited with $rc (0: the guest rebooted cleanly)"
sed -n 's/.*\(Guest-boot-time = .*\)/== \1/p' "$work/stderr"
exit "$rc"
