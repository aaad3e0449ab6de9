// SPDX-License-Identifier: Apache-2.0
/* vCPUs of either architecture: the fd and its kvm_run, and the KVM_RUN
 * loop each vCPU thread runs; a parked thread runs the tasks it is given
 * (vm_run_on_vcpus: setting its own vCPU's state on a snapshot load or a
 * rewind). An exit the monitor cannot handle is reported
 * (arch_report_exit: where the guest was) and stops the VM with a
 * non-zero code; a guest's power-off or reset (PSCI on arm64, the i8042
 * or a triple fault's reset on x86 elsewhere) stops it with 0. A stopped
 * vCPU is kicked out of KVM_RUN with a signal plus immediate_exit. */
#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "vmm/arch.h"
#include "vmm/vmm.h"

/* Only there to interrupt KVM_RUN. */
static void kick_handler(int sig)
{
}

int vcpu_open(struct vm *vm, unsigned index)
{
	struct vcpu *v = &vm->vcpus[index];
	int size;

	v->vm = vm;
	v->index = index;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (v->fd < 0)
		return -errno;
	size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run))
		return -EIO;
	v->run_size = (size_t)size;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return -errno;
	}
	return 0;
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint64_t bytes = (uint64_t)run->io.size * run->io.count;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint32_t i;

	if (run->io.data_offset > v->run_size ||
	    bytes > v->run_size - run->io.data_offset)
		return;
	metrics_inc(run->io.direction == KVM_EXIT_IO_OUT ? M_VCPU_IO_OUT :
							   M_VCPU_IO_IN);
	/* --level Trace: one line per exit, to count the guest's exits by
	 * port (docs/kvm-here.md shows how) */
	log_trace("port-I/O %s 0x%x (%u bytes x %u)",
		  run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
		  run->io.port, run->io.size, run->io.count);
	for (i = 0; i < run->io.count; i++, data += run->io.size)
		bus_dispatch(&v->vm->pio, run->io.port, data, run->io.size,
			     run->io.direction == KVM_EXIT_IO_OUT);
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len <= 8 ? run->mmio.len : 8;

	metrics_inc(run->mmio.is_write ? M_VCPU_MMIO_WRITE : M_VCPU_MMIO_READ);
	bus_dispatch(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len,
		     run->mmio.is_write);
}

/* Handles one exit; returns false when the vCPU must stop. */
static bool handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char what[96];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		return true;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ||
		    run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
			vm_request_exit(v->vm, EXIT_OK);
			return false;
		}
		snprintf(what, sizeof(what), "system event %u",
			 run->system_event.type);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(
			what, sizeof(what), "KVM internal error, suberror %u%s",
			run->internal.suberror,
			run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
				" (instruction emulation failed; the guest died)" :
				"");
		break;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what), "VM entry failed, reason 0x%llx",
			 (unsigned long long)
				 run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_SHUTDOWN:
		snprintf(what, sizeof(what), "guest triple fault (shutdown)");
		break;
	default:
		snprintf(what, sizeof(what), "unhandled exit");
		break;
	}
	arch_report_exit(v, what);
	metrics_inc(M_VCPU_FAILURES);
	vm_request_exit(v->vm, EXIT_INTERNAL);
	return false;
}

/* Lets KVM finish the instruction of the exit just handled (an IN or an
 * MMIO read gets its value on the next KVM_RUN) without running the
 * guest further, so a snapshot of a paused vCPU holds no half-done
 * instruction. */
static void complete_pending_exit(struct vcpu *v)
{
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (ioctl(v->fd, KVM_RUN, 0) == 0)
		log_debug("vCPU %u: KVM_RUN ran despite immediate_exit",
			  v->index);
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

/* A parked vCPU's task (vm_run_on_vcpus): run without the lock, its result
 * recorded, the VMM thread told when the last one is done. */
static void vcpu_run_task(struct vcpu *v)
{
	struct vm *vm = v->vm;
	int ret;

	pthread_mutex_unlock(&vm->run_lock);
	ret = vm->vcpu_task(v, vm->vcpu_task_arg);
	pthread_mutex_lock(&vm->run_lock);
	v->task_ret = ret;
	v->task_pending = false;
	if (--vm->nr_tasks_left == 0)
		pthread_cond_signal(&vm->tasks_cond);
}

/* Applies pause and stop requests; blocks while the VM is paused, running
 * the tasks it is given then. Returns true when the thread must exit.
 * Clearing immediate_exit before reading the flags means a request made
 * after the read still interrupts KVM_RUN. */
static bool vcpu_check_requests(struct vcpu *v)
{
	struct vm *vm = v->vm;
	bool stop;

	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&vm->run_lock);
	while (vm->pause_requested && !v->stop_requested) {
		if (!v->paused) {
			complete_pending_exit(v);
			v->paused = true;
			vm->nr_paused++;
			pthread_cond_broadcast(&vm->run_cond);
		}
		if (v->task_pending)
			vcpu_run_task(v);
		else
			pthread_cond_wait(&vm->run_cond, &vm->run_lock);
	}
	if (v->paused) {
		v->paused = false;
		vm->nr_paused--;
	}
	stop = v->stop_requested;
	pthread_mutex_unlock(&vm->run_lock);
	return stop;
}

/* A task given to a thread that exits (stopped, or its filter refused)
 * fails, so that vm_run_on_vcpus does not wait for it. */
static void vcpu_thread_exit(struct vcpu *v)
{
	pthread_mutex_lock(&v->vm->run_lock);
	if (v->task_pending) {
		v->task_pending = false;
		v->task_ret = -ESRCH;
		if (--v->vm->nr_tasks_left == 0)
			pthread_cond_signal(&v->vm->tasks_cond);
	}
	v->exited = true;
	v->vm->nr_running--;
	pthread_cond_broadcast(&v->vm->run_cond);
	pthread_mutex_unlock(&v->vm->run_lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	char name[16];

	/* The kernel's name for the thread is Firecracker's, "fc_vcpu N":
	 * Kata Containers finds the vCPU threads by it (to pin them). */
	snprintf(name, sizeof(name), "fc_vcpu %u", v->index);
	prctl(PR_SET_NAME, name);
	pthread_mutex_lock(&v->vm->run_lock);
	v->named = true;
	pthread_cond_broadcast(&v->vm->run_cond);
	pthread_mutex_unlock(&v->vm->run_lock);
	snprintf(name, sizeof(name), "vcpu %u", v->index);
	log_set_thread_name(name);
	if (seccomp_enabled && seccomp_install(SECCOMP_THREAD_VCPU)) {
		log_err("vCPU %u: cannot install its seccomp filter", v->index);
		vm_request_exit(v->vm, EXIT_INTERNAL);
		vcpu_thread_exit(v);
		return NULL;
	}
	seccomp_test_hook("vcpu");

	while (!vcpu_check_requests(v)) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			log_err("vCPU %u: KVM_RUN: %s", v->index,
				strerror(errno));
			vm_request_exit(v->vm, EXIT_INTERNAL);
			break;
		}
		if (!handle_exit(v))
			break;
	}
	vcpu_thread_exit(v);
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	static const struct sigaction sa = { .sa_handler = kick_handler };
	int ret;

	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return -errno;
	pthread_mutex_lock(&v->vm->run_lock);
	v->vm->nr_running++;
	pthread_mutex_unlock(&v->vm->run_lock);
	v->exited = v->named = false;
	ret = pthread_create(&v->thread, NULL, vcpu_thread, v);
	if (ret) {
		vcpu_thread_exit(v);
		return -ret;
	}
	v->started = true;
	return 0;
}

void vcpu_wait_named(struct vcpu *v)
{
	pthread_mutex_lock(&v->vm->run_lock);
	while (v->started && !v->named && !v->exited)
		pthread_cond_wait(&v->vm->run_cond, &v->vm->run_lock);
	pthread_mutex_unlock(&v->vm->run_lock);
}

static void vcpu_kick(struct vcpu *v)
{
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_stop(struct vcpu *v)
{
	if (!v->started)
		return;
	pthread_mutex_lock(&v->vm->run_lock);
	v->stop_requested = true;
	pthread_cond_broadcast(&v->vm->run_cond);
	pthread_mutex_unlock(&v->vm->run_lock);
	vcpu_kick(v);
	pthread_join(v->thread, NULL);
	v->started = false;
}

void vm_pause(struct vm *vm)
{
	unsigned i;

	pthread_mutex_lock(&vm->run_lock);
	vm->pause_requested = true;
	pthread_mutex_unlock(&vm->run_lock);
	for (i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].started)
			vcpu_kick(&vm->vcpus[i]);
	pthread_mutex_lock(&vm->run_lock);
	while (vm->nr_paused < vm->nr_running)
		pthread_cond_wait(&vm->run_cond, &vm->run_lock);
	pthread_mutex_unlock(&vm->run_lock);
}

int vm_run_on_vcpus(struct vm *vm, int (*fn)(struct vcpu *v, void *arg),
		    void *arg, unsigned *failed)
{
	unsigned i;
	int ret = 0;

	pthread_mutex_lock(&vm->run_lock);
	vm->vcpu_task = fn;
	vm->vcpu_task_arg = arg;
	vm->nr_tasks_left = 0;
	for (i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		v->task_pending = v->started && !v->exited;
		v->task_ret = v->task_pending ? 0 : -ESRCH;
		vm->nr_tasks_left += v->task_pending;
	}
	pthread_cond_broadcast(&vm->run_cond);
	while (vm->nr_tasks_left)
		pthread_cond_wait(&vm->tasks_cond, &vm->run_lock);
	for (i = 0; i < vm->nr_vcpus && !ret; i++)
		if ((ret = vm->vcpus[i].task_ret))
			*failed = i;
	pthread_mutex_unlock(&vm->run_lock);
	return ret;
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->run_lock);
	vm->pause_requested = false;
	pthread_cond_broadcast(&vm->run_cond);
	pthread_mutex_unlock(&vm->run_lock);
}

void vcpu_destroy(struct vcpu *v)
{
	free(v->cpuid);
	v->cpuid = NULL;
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}
