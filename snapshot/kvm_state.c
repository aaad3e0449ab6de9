// SPDX-License-Identifier: Apache-2.0
/* VM and vCPU state through KVM's get/set ioctls. Saving runs with every
 * vCPU parked; restoring follows the order KVM needs: the irqchips, the
 * PIT and the KVM clock (VMM thread), then each vCPU from its own parked
 * thread, all in parallel (vm_run_on_vcpus), in the order one vCPU needs:
 * CPUID (when it differs), MP state, registers, special registers, XSAVE,
 * XCRs, debug registers, LAPIC, MSRs, pending events. Buffers are on the
 * stack of the thread that uses them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "snapshot/snapshot.h"

struct msr_list {
	struct kvm_msr_list hdr;
	uint32_t index[SNAP_MAX_MSRS * 2];
};

_Static_assert(sizeof(((struct snap_vcpu *)0)->xsave) ==
		       sizeof(struct kvm_xsave),
	       "XSAVE area");

struct one_msr {
	struct kvm_msrs hdr;
	struct kvm_msr_entry e;
};

static bool msr_saved(const struct snap_vcpu *v, uint32_t index)
{
	uint32_t i;

	for (i = 0; i < v->nmsrs; i++)
		if (v->msrs[i].index == index)
			return true;
	return false;
}

/* The CPU template's MSRs that KVM's list lacks (its feature MSRs). */
static int save_template_msrs(const struct vm *vm, int fd, struct snap_vcpu *v)
{
	unsigned i;

	for (i = 0; i < vm->nr_template_msrs; i++) {
		struct one_msr m = { .hdr.nmsrs = 1,
				     .e.index = vm->template_msrs[i] };

		if (msr_saved(v, m.e.index))
			continue;
		if (v->nmsrs == SNAP_MAX_MSRS)
			return -E2BIG;
		if (ioctl(fd, KVM_GET_MSRS, &m) != 1)
			return -EIO;
		v->msrs[v->nmsrs++] = m.e;
	}
	return 0;
}

/* Every MSR KVM lists that this vCPU can read (some listed ones are
 * absent on a given host: they are skipped one by one). */
static int save_msrs(const struct vm *vm, int fd, struct snap_vcpu *v)
{
	static struct msr_list list;
	uint32_t i;

	list.hdr.nmsrs = SNAP_MAX_MSRS * 2;
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &list) < 0)
		return -errno;
	v->nmsrs = 0;
	for (i = 0; i < list.hdr.nmsrs && v->nmsrs < SNAP_MAX_MSRS; i++) {
		struct one_msr m = { .hdr.nmsrs = 1, .e.index = list.index[i] };

		if (ioctl(fd, KVM_GET_MSRS, &m) == 1)
			v->msrs[v->nmsrs++] = m.e;
	}
	return save_template_msrs(vm, fd, v);
}

struct cpuid_buf {
	struct kvm_cpuid2 hdr;
	struct kvm_cpuid_entry2 e[SNAP_MAX_CPUID];
};

/* The CPUID the vCPU has (as the guest saw it). */
static int save_cpuid(int fd, struct snap_vcpu *v)
{
	static struct cpuid_buf c;

	c.hdr.nent = SNAP_MAX_CPUID;
	if (ioctl(fd, KVM_GET_CPUID2, &c) < 0)
		return -errno;
	v->ncpuid = c.hdr.nent;
	memcpy(v->cpuid, c.e, c.hdr.nent * sizeof(c.e[0]));
	return 0;
}

static int save_vcpu(const struct vm *vm, unsigned i, struct snap_vcpu *v)
{
	int fd = vm->vcpus[i].fd;

	memset(v, 0, sizeof(*v));
	v->index = i;
	if (ioctl(fd, KVM_GET_REGS, &v->regs) < 0 ||
	    ioctl(fd, KVM_GET_SREGS, &v->sregs) < 0 ||
	    ioctl(fd, KVM_GET_XSAVE, v->xsave) < 0 ||
	    ioctl(fd, KVM_GET_XCRS, &v->xcrs) < 0 ||
	    ioctl(fd, KVM_GET_LAPIC, &v->lapic) < 0 ||
	    ioctl(fd, KVM_GET_MP_STATE, &v->mp_state) < 0 ||
	    ioctl(fd, KVM_GET_VCPU_EVENTS, &v->events) < 0 ||
	    ioctl(fd, KVM_GET_DEBUGREGS, &v->debugregs) < 0)
		return -errno;
	return save_cpuid(fd, v) ?: save_msrs(vm, fd, v);
}

static int save_vm(const struct vm *vm, struct snap_vm *s)
{
	memset(s, 0, sizeof(*s));
	s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &s->pic_master) < 0 ||
	    ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &s->pic_slave) < 0 ||
	    ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &s->ioapic) < 0 ||
	    ioctl(vm->vm_fd, KVM_GET_PIT2, &s->pit) < 0 ||
	    ioctl(vm->vm_fd, KVM_GET_CLOCK, &s->clock) < 0)
		return -errno;
	return 0;
}

int snap_save_kvm(const struct vm *vm, struct snap_state *s)
{
	unsigned i;
	int ret;

	s->vcpus = calloc(vm->nr_vcpus, sizeof(*s->vcpus));
	if (!s->vcpus)
		return -ENOMEM;
	s->nr_vcpus = vm->nr_vcpus;
	ret = save_vm(vm, &s->vm);
	for (i = 0; i < vm->nr_vcpus && !ret; i++)
		ret = save_vcpu(vm, i, &s->vcpus[i]);
	return ret;
}

#define MSR_TSC 0x10
#define MSR_TSC_DEADLINE 0x6e0

/* MSRs in three passes: the TSC first, then the rest, the TSC deadline
 * last. A deadline set while the fresh vCPU's TSC is still near zero is
 * that many seconds away: the restored guest's timer would stall. */
static int msr_pass(uint32_t index)
{
	return index == MSR_TSC ? 0 : index == MSR_TSC_DEADLINE ? 2 : 1;
}

struct msr_batch {
	struct kvm_msrs hdr;
	struct kvm_msr_entry e[SNAP_MAX_MSRS];
};

/* Sets the MSRs of one pass in as few ioctls as possible: KVM stops a
 * batch at the first MSR it refuses, which is skipped (logged), not fatal. */
static void restore_msr_pass(int fd, const struct snap_vcpu *v, int pass)
{
	struct kvm_msr_entry list[SNAP_MAX_MSRS];
	struct msr_batch b;
	uint32_t i, count = 0, start = 0;

	for (i = 0; i < v->nmsrs; i++)
		if (msr_pass(v->msrs[i].index) == pass)
			list[count++] = v->msrs[i];
	while (start < count) {
		int n;

		b.hdr.nmsrs = count - start;
		memcpy(b.e, list + start, b.hdr.nmsrs * sizeof(b.e[0]));
		n = ioctl(fd, KVM_SET_MSRS, &b);
		n = n < 0 ? 0 : n;
		if ((uint32_t)n < b.hdr.nmsrs)
			log_debug("restore: vCPU %u: MSR 0x%x not set",
				  v->index, b.e[n].index);
		start += (uint32_t)n + 1;
	}
}

static void restore_msrs(int fd, const struct snap_vcpu *v)
{
	int pass;

	for (pass = 0; pass < 3; pass++)
		restore_msr_pass(fd, v, pass);
}

static void saved_cpuid(const struct snap_vcpu *v, struct cpuid_buf *out)
{
	out->hdr.nent = v->ncpuid;
	memcpy(out->e, v->cpuid, v->ncpuid * sizeof(out->e[0]));
}

int snap_check_cpuid(const struct vm *vm, const struct snap_state *s, char *err,
		     size_t err_size)
{
	static struct cpuid_buf want;
	char why[160];
	unsigned i;

	for (i = 0; i < s->nr_vcpus; i++) {
		const struct snap_vcpu *v = &s->vcpus[i];

		saved_cpuid(v, &want);
		if (!cpuid_features_subset(&want.hdr, vm->vcpus[v->index].cpuid,
					   why, sizeof(why))) {
			snprintf(
				err, err_size,
				"vCPU %u of the snapshot needs a CPU feature this host lacks: %s",
				v->index, why);
			return -ENOTSUP;
		}
	}
	return 0;
}

/* What the vCPU threads restore from (vm_run_on_vcpus's argument). */
struct vcpu_restore {
	const struct snap_state *s;
	bool set_cpuid; /* a load: the saved CPUID unless the vCPU has it */
	const char *what[VM_MAX_VCPUS]; /* the ioctl that failed, per vCPU */
};

/* On the vCPU's own thread. */
static int restore_vcpu(struct vcpu *vcpu, void *arg)
{
	struct vcpu_restore *r = arg;
	const struct snap_vcpu *v = snap_saved_vcpu(r->s, vcpu->index);
	const char **what = &r->what[vcpu->index];
	struct cpuid_buf cpuid;
	int fd = vcpu->fd;
	struct kvm_xcrs xcrs;

	if (!v)
		return -EINVAL;
	xcrs = v->xcrs;
	if (xcrs.nr_xcrs > KVM_MAX_XCRS)
		xcrs.nr_xcrs = KVM_MAX_XCRS;
#define SET(req, arg)                        \
	do {                                 \
		*what = #req;                \
		if (ioctl(fd, req, arg) < 0) \
			return -errno;       \
	} while (0)
	saved_cpuid(v, &cpuid); /* first: it decides which MSRs exist */
	if (r->set_cpuid && !cpuid_same(&cpuid.hdr, vcpu->cpuid))
		SET(KVM_SET_CPUID2, &cpuid);
	SET(KVM_SET_MP_STATE, &v->mp_state);
	SET(KVM_SET_REGS, &v->regs);
	SET(KVM_SET_SREGS, &v->sregs);
	SET(KVM_SET_XSAVE, v->xsave);
	SET(KVM_SET_XCRS, &xcrs);
	SET(KVM_SET_DEBUGREGS, &v->debugregs);
	SET(KVM_SET_LAPIC, &v->lapic);
	restore_msrs(fd, v);
	SET(KVM_SET_VCPU_EVENTS, &v->events);
#undef SET
	return 0;
}

/* The KVM clock continues from the saved value: the guest's monotonic
 * time does not jump. (Advancing it by the wall time that passed, with
 * KVM_CLOCK_REALTIME, stalled a restored Linux guest for tens of seconds
 * once minutes had passed: its timers all came due at once.) Only with
 * clock_realtime, as in Firecracker, does it advance; the saved clock has
 * its real time then (microvm/persist.c checked). */
static int restore_vm(struct vm *vm, const struct snap_vm *s,
		      bool clock_realtime, const char **what)
{
	struct kvm_clock_data clock = s->clock;
	struct kvm_irqchip chips[3] = { s->pic_master, s->pic_slave,
					s->ioapic };
	unsigned i;

	clock.flags = clock_realtime ? KVM_CLOCK_REALTIME : 0;
	*what = "KVM_SET_IRQCHIP";
	for (i = 0; i < 3; i++) {
		chips[i].chip_id = i; /* PIC master, slave, IOAPIC */
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chips[i]) < 0)
			return -errno;
	}
	*what = "KVM_SET_PIT2";
	if (ioctl(vm->vm_fd, KVM_SET_PIT2, &s->pit) < 0)
		return -errno;
	*what = "KVM_SET_CLOCK";
	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0)
		return -errno;
	return 0;
}

int snap_restore_kvm(struct vm *vm, const struct snap_state *s,
		     bool clock_realtime, bool set_cpuid, char *err,
		     size_t err_size)
{
	struct vcpu_restore r = { .s = s, .set_cpuid = set_cpuid };
	const char *what = "";
	unsigned failed = 0;
	int ret;

	ret = restore_vm(vm, &s->vm, clock_realtime, &what);
	if (ret) {
		snprintf(err, err_size, "%s: %s", what, strerror(-ret));
		return ret;
	}
	ret = vm_run_on_vcpus(vm, restore_vcpu, &r, &failed);
	if (ret)
		snprintf(err, err_size, "vCPU %u: %s: %s", failed,
			 r.what[failed] ? r.what[failed] : "its thread",
			 strerror(-ret));
	return ret;
}
