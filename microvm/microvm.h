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
 *   vm_config, or from a snapshot (snapshot/), in one readable order; and
 *   takes it apart again.
 * - With --warm, the VM, its memory slots and parked vCPU threads exist
 *   before the first request (vm_warm) and every thread is filtered; a
 *   snapshot load then only maps memory, makes devices and sets state
 *   (vm_restore), under the VMM + LOAD filter.
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
/* The same VM from a snapshot: memory from the backend, the devices of
 * cfg in the same slots, then every saved state; the vCPUs have not run. */
struct snap_state;
struct restore_opts {
	bool boot_timer;
	const char *prefetch; /* File backend: working-set file, or NULL */
	struct mmds *mmds; /* the VMM's metadata service */
};
MUST_CHECK int vm_restore(struct vm *vm, const struct vm_config *cfg,
			  const struct snap_state *s,
			  const struct snapshot_load_cfg *l,
			  const struct restore_opts *o,
			  struct event_loop *loop);
/* After vm_restore and vm_start, once the VMM thread's final filter is
 * installed: the devices' first look at the guest's rings (kicks pending
 * at snapshot time, vsock's transport reset). A guest's rings are never
 * read by an unfiltered thread. */
void vm_serve_restored(struct vm *vm);
/* Starts every vCPU thread not yet started and lets them run, or keeps
 * them parked when `paused`. */
MUST_CHECK int vm_start(struct vm *vm, bool paused);
/* A VM made ahead of a snapshot load (--warm): KVM VM and irqchip, memory
 * slots over placeholder anonymous memory of m's size, m's vCPUs with
 * their threads parked. */
MUST_CHECK int vm_warm(struct vm *vm, const struct machine_cfg *m,
		       struct event_loop *loop);
/* Stops the vCPUs and frees everything vm_build made. */
void vm_destroy(struct vm *vm);

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
