/* SPDX-License-Identifier: Apache-2.0 */
/*
 * microvm/ — the program: the top floor, which puts the others together.
 *
 * Contract:
 * - main.c reads the command line and the config file, installs the
 *   seccomp filters, starts the API thread (api/) and becomes the VMM
 *   thread.
 * - controller.c is the VMM thread's state machine: it owns the
 *   configuration before InstanceStart and the VM after it, and answers
 *   every request the api_channel brings, in the order they come.
 * - builder.c assembles a VM (vmm/) with its devices (virtio/) from a
 *   vm_config in one readable order, and takes it apart again.
 * - persist.c is PUT /snapshot/create, /snapshot/load and microvm's own
 *   /snapshot/rewind from end to end: the state file and its
 *   configuration, memory, devices and KVM state, through snapshot/'s
 *   mechanisms and the builder's steps.
 * - With --warm, the VM, its memory slots and parked vCPU threads exist
 *   before the first request (vm_warm) and every thread is filtered; a
 *   snapshot load then only maps memory, makes devices and sets state
 *   (snapshot_load), under the VMM + LOAD filter.
 * - Only main.c exits the process early (bad_args() and the like, before
 *   the guest runs); everything else returns an error.
 * - Nothing below includes this header.
 */
#ifndef MICROVM_MICROVM_H
#define MICROVM_MICROVM_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "mmds/mmds.h"
#include "vmm/vmm.h"

/* ---- builder.c ----
 * Assembles a VM from its config in one readable order; on
 * failure vm->err says why. The VM's exit eventfd is not yet watched. */
MUST_CHECK int vm_build(struct vm *vm, const struct vm_config *cfg,
			bool boot_timer, struct mmds *mmds,
			struct event_loop *loop);
/* Starts every vCPU thread not yet started and lets them run, or keeps
 * them parked when `paused`. */
MUST_CHECK int vm_start(struct vm *vm, bool paused);
/* Stops the vCPUs and frees everything vm_build made. */
void vm_destroy(struct vm *vm);
/* An empty VM (no fd open, nothing mapped): vm_destroy() is safe on it. */
void vm_init_empty(struct vm *vm, struct event_loop *loop);

/* The builder's steps, for persist.c. Each returns 0 or -errno with
 * vm->err (and the log) saying why (vm_fail). */
int vm_fail(struct vm *vm, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Reads a boot file (WHAT: "kernel", "initrd") of at most guest memory's
 * size into a new buffer; 0, or vm_fail's error. */
int vm_read_boot_file(struct vm *vm, const char *what, const char *path,
		      uint8_t **buf, size_t *size);
/* The verdict of an architecture's kernel loader (ret: 0, -ENOEXEC: not
 * FORMAT, else: does not fit) for the kernel at PATH: 0 or vm_fail's. */
int vm_kernel_loaded(struct vm *vm, int ret, const char *path,
		     const char *format);
/* An empty VM, then its KVM VM for nr_vcpus vCPUs. */
MUST_CHECK int vm_open(struct vm *vm, unsigned nr_vcpus,
		       struct event_loop *loop);
MUST_CHECK int vm_create_memory(struct vm *vm, const struct machine_cfg *m);
/* KVM's memory slots over vm->mem (dirty logging when track_dirty). */
MUST_CHECK int vm_register_memory(struct vm *vm, bool track_dirty);
/* ---- boot_x86.c / boot_arm64.c: the architecture's machine ---- */
/* x86: the vCPUs, with the CPU template t (NULL: none) checked and
 * applied (vm_use_cpu_template); arm64: the vCPUs and the GIC (t must be
 * NULL). No registers set (a snapshot load sets them). */
MUST_CHECK int vm_create_vcpus(struct vm *vm, bool smt,
			       const struct cpu_template *t);
/* x86: t checked against this host's CPU and KVM and applied to cpuid
 * (KVM's supported one); its MSRs join what snapshots save. cpuid NULL (a
 * snapshot load): KVM's capabilities only. arm64: refused (no CPU
 * templates). */
struct kvm_cpuid2;
MUST_CHECK int vm_use_cpu_template(struct vm *vm, const struct cpu_template *t,
				   struct kvm_cpuid2 *cpuid);
/* The architecture's devices beside the serial and the boot timer (x86:
 * serial on port I/O, i8042, CMOS; arm64: serial on MMIO, RTC). */
MUST_CHECK int vm_add_arch_devices(struct vm *vm);
/* SendCtrlAltDel: x86's i8042 keys; -ENOTSUP on arm64 (no keyboard). */
MUST_CHECK int vm_send_ctrl_alt_del(struct vm *vm);
/* After vm_create_memory: kernel and initrd loaded, every device added
 * (vm_add_devices), boot data written, vCPUs created, the boot CPU's
 * registers set. */
MUST_CHECK int vm_boot_setup(struct vm *vm, const struct vm_config *cfg,
			     bool boot_timer);
MUST_CHECK int vm_add_devices(struct vm *vm, const struct vm_config *cfg,
			      bool boot_timer);
/* A terminal on stdin becomes the guest's console input. */
MUST_CHECK int vm_setup_stdin(struct vm *vm);

/* ---- persist.c: snapshots, create and load (both architectures; arm64
 * has no --warm and no clock_realtime) ---- */
/* --describe-snapshot: the format version a state file's header names.
 * 0, or -EINVAL with err set. */
MUST_CHECK int snapshot_describe(const char *path, uint32_t *version, char *err,
				 size_t err_size);
/* PUT /snapshot/create of a paused VM: devices quiesced and saved, the
 * KVM state, the memory file, then the state file (written last and
 * atomically, so a state file always names a complete memory file). */
MUST_CHECK int snapshot_create(struct vm *vm, const struct vm_config *cfg,
			       const struct snapshot_create_cfg *c, char *err,
			       size_t err_size);
struct restore_opts {
	bool boot_timer;
	const char *prefetch; /* File backend: working-set file, or NULL */
	struct mmds *mmds; /* the VMM's metadata service */
};
/* PUT /snapshot/load: the untrusted state file and its configuration with
 * the request's overrides, into *cfg (logger and metrics kept); then the
 * VM from it: memory from the backend, the devices of cfg in the same
 * slots, every saved state (each vCPU's from its own thread, started
 * parked); its vCPUs have not run. *kept is the state, kept for rewinds
 * (snapshot_forget frees it). On failure vm->err says why; a VM refused
 * before anything was built is left as it was (a warm one stays warm). */
struct loaded_snapshot;
MUST_CHECK int snapshot_load(struct vm *vm, const struct snapshot_load_cfg *l,
			     struct vm_config *cfg,
			     const struct restore_opts *o,
			     struct event_loop *loop,
			     struct loaded_snapshot **kept);
void snapshot_forget(struct loaded_snapshot *k);
/* Whether PUT /snapshot/rewind can go back to k (NULL: a booted VM):
 * 0, or -EINVAL/-ENOTSUP with err saying why. Nothing is touched. */
MUST_CHECK int snapshot_rewind_check(const struct vm *vm,
				     const struct loaded_snapshot *k, char *err,
				     size_t err_size);
/* PUT /snapshot/rewind of a paused VM (every vCPU thread parked): the
 * devices reset to their saved state (host vsock connections closed;
 * drives keep their files), the pages written since the load dropped,
 * the VM's and each vCPU's state set again as the load did. Then
 * vm_serve_restored, as after a load. 0, or -errno with err saying why. */
MUST_CHECK int snapshot_rewind(struct vm *vm, const struct loaded_snapshot *k,
			       uint64_t *pages_dropped, char *err,
			       size_t err_size);
/* After snapshot_load and vm_start, once the VMM thread's final filter is
 * installed: the devices' first look at the guest's rings (kicks pending
 * at snapshot time, then each device's post-restore hook: vsock's
 * transport reset). A guest's rings are never read by an unfiltered
 * thread. */
void vm_serve_restored(struct vm *vm);
/* A VM made ahead of a snapshot load (--warm): KVM VM and irqchip, memory
 * slots over placeholder anonymous memory of m's size, m's vCPUs with
 * their threads parked. */
MUST_CHECK int vm_warm(struct vm *vm, const struct machine_cfg *m,
		       struct event_loop *loop);

/* ---- controller.c: the VMM thread's state machine ----
 * Owns the configuration before InstanceStart and the VM after it, and
 * answers every API request the api_channel brings. VMM thread. */
enum vmm_state { VMM_NOT_STARTED, VMM_RUNNING, VMM_PAUSED };

struct vmm {
	struct event_loop loop;
	struct vm_config cfg;
	enum vmm_state state;
	struct vm vm;
	char id[72];
	bool boot_timer;
	const char *prefetch; /* --prefetch */
	bool warm; /* --warm: vm was built ahead, for one snapshot load */
	struct api_channel ch;
	struct mmds mmds; /* its data store lives before, through and after
			     InstanceStart; listed interfaces reach it */
	struct loaded_snapshot *loaded; /* since a load: what rewinds go back
					   to; NULL for a booted VM */
	int metrics_timer_fd, signal_fd;
	int exit_code;
};

/* Sets up the event loop, the API channel, the metrics timer and the
 * metadata service (its store capped at mmds_limit bytes). */
MUST_CHECK int vmm_init(struct vmm *m, const char *id, bool boot_timer,
			size_t mmds_limit);
/* Builds and starts the VM from m->cfg. 0, or -errno with err filled. */
MUST_CHECK int vmm_instance_start(struct vmm *m, char *err, size_t err_size);
/* --warm: builds the VM ahead (vm_warm) and watches its exit; then, once
 * the API thread runs, seals the VMM thread with the VMM filter plus what
 * a load needs (the VMM filter proper is stacked after the load). Both
 * return 0 or an exit code. */
int vmm_warm(struct vmm *m, const struct machine_cfg *shape);
int vmm_seal_warm(struct vmm *m);
/* Runs the VMM loop until the guest stops; returns the exit code. */
int vmm_run(struct vmm *m);
void vmm_destroy(struct vmm *m);

#endif
