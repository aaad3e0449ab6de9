#!/usr/bin/env bash
# Snapshot and warm restore, as a serverless platform uses them: boot a
# guest that serves a vsock echo, snapshot it, then restore it into a cold
# microvm and into a warm one (--warm) and talk to each restored guest over
# vsock. Shows each load's time as microvm logs it. Run through
# `make demo-snapshot` (which first installs deps and builds everything).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# No /dev/kvm on this machine: run inside L1, a Linux with KVM under QEMU.
[ -w /dev/kvm ] || exec "$root/tests/l1/run.sh" "$0"
guest="$root/build/guest"
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT

api() { # SOCKET METHOD PATH [JSON]
	echo "\$ curl --unix-socket $(basename "$1") -X $2 http://localhost$3 ${4:+-d '$4'}"
	curl -sS --fail-with-body --unix-socket "$1" -X "$2" "http://localhost$3" \
		${4:+-H 'Content-Type: application/json' -d "$4"}
	echo
}
start() { # NAME [ARGS...]: a microvm with its API on $work/NAME.sock
	local name=$1
	shift
	"$root/build/microvm" --api-sock "$work/$name.sock" "$@" \
		> "$work/$name.out" 2> "$work/$name.err" &
	pids+=($!)
	for _ in $(seq 500); do [ -S "$work/$name.sock" ] && return; sleep 0.01; done
	echo "microvm $name did not start:" >&2
	cat "$work/$name.err" >&2
	exit 1
}
echo_over_vsock() { # UDS: CONNECT to the guest's port 5000, send, read back
	python3 - "$1" <<-'EOF'
	import socket, sys, time
	t = time.monotonic()
	s = socket.socket(socket.AF_UNIX)
	s.settimeout(60)
	s.connect(sys.argv[1])
	s.sendall(b"CONNECT 5000\nhello from the host\n")
	got = b""
	while not got.endswith(b"hello from the host\n"):
	    got += s.recv(256)
	print("   guest echoed %r, %.0f ms after the connect"
	      % (got.split(b"\n", 1)[1].decode().strip(), (time.monotonic() - t) * 1e3))
	EOF
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }
load_time() { sed -n 's/.*\(loaded (.*) in [0-9]* us\).*/== \1/p' "$work/$1.err"; }

script='sh -c "vsock-echo 5000 & sleep 1; echo snapshot-me; sleep 36000"'
args="$("$root/tests/guest/cmdline.sh") -- $script"
json_args=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$args")

echo "== 0. start a warm microvm for step 4, as a platform keeps a pool:"
echo "   build/microvm --api-sock warm.sock --warm vcpus=1,mem_mib=128"
start warm --warm vcpus=1,mem_mib=128
echo "== 1. boot a guest that serves a vsock echo on port 5000 (~15 s here)"
start base
api "$work/base.sock" PUT /boot-source "{\"kernel_image_path\": \"$guest/vmlinux\", \"initrd_path\": \"$guest/initrd.cpio\", \"boot_args\": $json_args}"
api "$work/base.sock" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128}'
api "$work/base.sock" PUT /vsock "{\"guest_cid\": 3, \"uds_path\": \"$work/base.vsock\"}"
api "$work/base.sock" PUT /actions '{"action_type": "InstanceStart"}'
for _ in $(seq 1200); do grep -q snapshot-me "$work/base.out" && break; sleep 0.1; done
grep -q snapshot-me "$work/base.out" || { echo "the guest did not come up" >&2; exit 1; }

echo "== 2. pause it and snapshot it"
api "$work/base.sock" PATCH /vm '{"state": "Paused"}'
api "$work/base.sock" PUT /snapshot/create "{\"snapshot_path\": \"$work/state\", \"mem_file_path\": \"$work/mem\", \"snapshot_type\": \"Full\"}"
echo "   state file $(du -k "$work/state" | cut -f1) KiB, memory file $(du -m "$work/mem" | cut -f1) MiB on disk (of 128)"
stop "${pids[1]}"

load='{"snapshot_path": "'$work/state'", "mem_backend": {"backend_type": "File", "backend_path": "'$work/mem'"}, "resume_vm": true, "vsock_override": {"uds_path": "'$work/NAME.vsock'"}}'
echo "== 3. restore it into a fresh (cold) microvm"
start cold
api "$work/cold.sock" PUT /snapshot/load "${load/NAME/cold}"
load_time cold
echo_over_vsock "$work/cold.vsock"
stop "${pids[2]}"
sleep 1 # on 2 cores, the stopped VM's teardown would slow the next load

echo "== 4. restore it into the warm microvm (its KVM VM, memory slots and"
echo "   vCPU were made in step 0)"
api "$work/warm.sock" PUT /snapshot/load "${load/NAME/warm}"
load_time warm
echo_over_vsock "$work/warm.vsock"
echo "== each restored guest is its own copy; the memory file is unchanged (MAP_PRIVATE)"
