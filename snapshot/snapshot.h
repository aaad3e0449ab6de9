/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshot/ — saving a paused VM to two files and restoring it in a fresh
 * process.
 *
 * Contract:
 * - A snapshot is a state file and a memory file. The memory file is guest
 *   RAM byte for byte (file offset = offset in the single host mapping,
 *   zero pages left as holes), then, with virtio-mem, its whole hot-plug
 *   region (unplugged blocks and zero pages left as holes). The state file
 *   (format.c) is: a 32-byte header (magic "MVMSNAP\0", format version,
 *   architecture, payload length, CRC-32 of the payload) and typed
 *   sections: the VM's configuration as JSON, the VM (irqchips, PIT, KVM
 *   clock), each vCPU (its CPUID included), the serial port and each
 *   virtio device with its queues and its own state (rate-limiter buckets,
 *   virtio-mem's sizes), the CPU template applied at boot, if any
 *   (config/cpu_template.h's encoding), and virtio-mem's region, if any
 *   (its place, its block size and a bit per plugged block).
 *   The VM and vCPU sections are the architecture's: x86's below (and
 *   kvm_state.c), arm64's in state_arm64.h (kvm_state_arm64.c); a file
 *   whose header names the other architecture is refused.
 * - x86: a load gives each vCPU the CPUID it had, after checking that this
 *   host's KVM offers every feature in it (else the load is refused); a
 *   vCPU's saved MSRs include the CPU template's. arm64: a load checks
 *   that this host's KVM has every saved register (snap_check_regs).
 * - The state file is untrusted: snap_read_file() caps its size, checks
 *   the header, the CRC and every section before the caller maps or creates
 *   anything, and names what is wrong.
 * - The mechanisms only: microvm/persist.c orders them into PUT
 *   /snapshot/create (VMM thread, every vCPU parked) and /snapshot/load
 *   (VMM thread of a process that has not started a VM, or whose VM was
 *   made ahead by --warm). Guest memory for Uffd restores is served by a
 *   separate process (uffd/, `microvm-uffd`) over the handshake of
 *   API-CONTRACT.md.
 */
#ifndef MICROVM_SNAPSHOT_H
#define MICROVM_SNAPSHOT_H

#include <linux/kvm.h>
#include <stdint.h>

#include "virtio/virtio.h"

#define SNAP_MAGIC "MVMSNAP"
/* 2: CPUID per vCPU; 3: devices' own state, the CPU template; 4: five
 * queues per device, virtio-mem's region */
#define SNAP_VERSION 4
#define SNAP_ARCH_X86_64 62 /* EM_X86_64 */
#define SNAP_ARCH_AARCH64 183 /* EM_AARCH64 */
#define SNAP_MAX_FILE (4U << 20)
#define SNAP_MAX_CONFIG (64U << 10)

#ifdef __aarch64__
#include "snapshot/state_arm64.h"
#else
#define SNAP_ARCH SNAP_ARCH_X86_64
#define SNAP_ARCH_NAME "x86_64"
#define SNAP_MAX_MSRS 256
#define SNAP_MAX_CPUID 256 /* KVM_MAX_CPUID_ENTRIES */

struct snap_vcpu {
	uint32_t index, nmsrs, ncpuid, reserved;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint32_t xsave[1024]; /* struct kvm_xsave (its region; no extra) */
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp_state;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
	struct kvm_msr_entry msrs[SNAP_MAX_MSRS];
	struct kvm_cpuid_entry2 cpuid[SNAP_MAX_CPUID]; /* what the guest saw */
};

struct snap_vm {
	struct kvm_irqchip pic_master, pic_slave, ioapic;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};
#endif

/* virtio-mem's region: where it is, its blocks, which are plugged. */
struct snap_hotplug {
	uint64_t gpa, size, block_size, nr_blocks;
	uint64_t plugged[]; /* a bit per block, in (nr_blocks + 63) / 64 words */
};
/* Its bytes in the state file. */
size_t snap_hotplug_size(uint64_t nr_blocks);

struct snap_state {
	char *config_json; /* NUL-terminated */
	struct snap_vm vm;
	struct serial_state serial;
	unsigned nr_vcpus, nr_vdevs;
	struct snap_vcpu *vcpus; /* nr_vcpus of them */
	struct vdev_state vdevs[VIRTIO_MAX_DEVICES];
	struct cpu_template *cpu_template; /* malloc'd; NULL: none */
	struct snap_hotplug *hotplug; /* malloc'd; NULL: no virtio-mem */
};

/* ---- format.c: the state file ---- */
/* The architecture's checks of an untrusted vCPU or VM section (x86's in
 * format.c, arm64's in format_arm64.c): 0, or -EINVAL with err saying
 * what is wrong. */
MUST_CHECK int snap_check_vcpu(const struct snap_vcpu *v, char *err,
			       size_t err_size);
MUST_CHECK int snap_check_vm(const struct snap_vm *vm, char *err,
			     size_t err_size);
uint32_t snap_crc32(const void *buf, size_t len);
/* Encodes s into a malloc'd buffer. 0 or -ENOMEM. */
MUST_CHECK int snap_encode(const struct snap_state *s, uint8_t **out,
			   size_t *len);
/* Decodes and checks an untrusted buffer; on error, -EINVAL with err set
 * and s left empty. */
MUST_CHECK int snap_decode(const uint8_t *buf, size_t len, struct snap_state *s,
			   char *err, size_t err_size);
MUST_CHECK int snap_read_file(const char *path, struct snap_state *s, char *err,
			      size_t err_size);
/* The format version a state file's header names (--describe-snapshot),
 * whether or not this microvm reads that version. 0, or -EINVAL with err
 * set when the file cannot be read or is not a microvm snapshot. */
MUST_CHECK int snap_describe(const char *path, uint32_t *version, char *err,
			     size_t err_size);
/* The saved vCPU of this index (the state file's sections may come in
 * any order; the decoder checked they are 0..nr_vcpus - 1), or NULL. */
const struct snap_vcpu *snap_saved_vcpu(const struct snap_state *s,
					unsigned index);
/* Writes atomically (a temporary file renamed over path). 0 or -errno. */
MUST_CHECK int snap_write_file(const char *path, const struct snap_state *s);
void snap_state_free(struct snap_state *s);

/* ---- kvm_state.c: VM and vCPU state through KVM ---- */
MUST_CHECK int snap_save_kvm(const struct vm *vm, struct snap_state *s);
#ifndef __aarch64__ /* arm64: snap_check_regs (state_arm64.h) */
/* 0 if each vCPU's CPUID as this host made it (vcpu->cpuid, read first)
 * offers every CPU feature the saved vCPU had; else -ENOTSUP with err
 * naming the missing bits. */
MUST_CHECK int snap_check_cpuid(const struct vm *vm, const struct snap_state *s,
				char *err, size_t err_size);
#endif
/* Restores the VM's state (VMM thread), then each vCPU's from its own
 * thread, in parallel: every vCPU thread must be started and parked, its
 * seccomp filter allowing the KVM_SET_* of a vCPU's state. With set_cpuid
 * (a load: the vCPUs have not run) each vCPU gets its saved CPUID first,
 * unless it has that one already; a rewind keeps the CPUID the load set
 * (KVM refuses another once a vCPU has run). The KVM clock goes on from
 * its saved value, or with clock_realtime (the state has its real time)
 * advances by the wall time since. */
MUST_CHECK int snap_restore_kvm(struct vm *vm, const struct snap_state *s,
				bool clock_realtime, bool set_cpuid, char *err,
				size_t err_size);

/* ---- memory_file.c: guest RAM to and from the memory file ---- */
/* Full: every non-zero page (the file is truncated to the RAM size first,
 * so zero pages stay holes). Diff: only pages dirtied since the last
 * snapshot (KVM's dirty log plus the pages devices wrote), written in place
 * into the existing file. Either way the dirty logs start again. virtio-
 * mem's region follows RAM: every non-zero page of its plugged blocks,
 * the rest holes (a diff zeroes it and writes those again). */
MUST_CHECK int snap_write_memory(struct vm *vm, const char *path, bool diff,
				 uint64_t *pages_written);

/* virtio-mem's region and its plugged blocks (*out NULL: no region).
 * 0 or -ENOMEM. */
MUST_CHECK int snap_save_hotplug(const struct guest_mem *mem,
				 struct snap_hotplug **out);
/* After a load made the region (the config's, vm->mem.hp, nothing
 * plugged): checks that the saved one (h, untrusted; NULL: none) is the
 * same, maps the memory file's part of it (mem_path; NULL: none) and plugs
 * the saved blocks. 0, or -EINVAL with err set. */
MUST_CHECK int snap_restore_hotplug(struct guest_mem *mem,
				    const struct snap_hotplug *h,
				    const char *mem_path, char *err,
				    size_t err_size);

/* Rewind (a loaded VM with dirty tracking, vCPUs parked, devices reset):
 * every page written since the load or the last rewind (KVM's dirty log,
 * the devices' bitmap, what snapshots took from them meanwhile) is
 * dropped with MADV_DONTNEED, so the next touch sees the snapshot's page
 * again: the memory file's (File: MAP_PRIVATE) or the page server's
 * (Uffd). Its cost follows the pages written, not the VM's size. 0,
 * -ENOTSUP without dirty tracking, or -errno. */
MUST_CHECK int snap_rewind_memory(struct vm *vm, uint64_t *pages_dropped);

/* File backend --prefetch: maps in the pages a working-set file lists
 * (64-bit page numbers, as microvm-uffd --record writes them), in runs,
 * with MADV_POPULATE_READ. At most one entry per guest page is read. */
MUST_CHECK int snap_prefetch(const struct guest_mem *mem, const char *ws_path,
			     uint64_t *pages);

/* ---- uffd.c: the Uffd memory backend ---- */
#define SNAP_UFFD_MESSAGE_MAX 512
/* The handshake's JSON text: an entry for guest RAM (at offset 0 in the
 * memory file) and one for the hot-plug region when there is one (after
 * RAM), each with the page size both in bytes (page_size) and in KiB
 * (page_size_kib: deprecated in Firecracker, and all that E2B-style page
 * servers read). Returns its length. */
size_t snap_uffd_message(const struct guest_mem *mem, char *buf, size_t size);
/* Registers mem (RAM and the hot-plug region) with a new userfaultfd
 * (asking for remove events when remove_events: a balloon or unplugged
 * blocks give pages back) and sends it to the handler on sock_path;
 * *sock_out is the connection, to keep open. 0 or -errno. */
MUST_CHECK int snap_uffd_attach(const struct guest_mem *mem,
				const char *sock_path, bool remove_events,
				int *sock_out);

#endif
