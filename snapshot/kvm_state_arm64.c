// SPDX-License-Identifier: Apache-2.0
/* An arm64 VM's KVM state (snapshot/state_arm64.h), as Firecracker keeps
 * it on aarch64. Saving runs on the VMM thread with every vCPU parked:
 * each vCPU's registers (KVM_GET_REG_LIST, KVM_GET_ONE_REG), MPIDR and
 * power state, then the GIC's registers (GICv3, or GICv2 where KVM has
 * no GICv3) through its device attributes.
 * Restoring: each vCPU from its own parked thread, in parallel
 * (vm_run_on_vcpus): every register with KVM_SET_ONE_REG in KVM's order
 * (the timer's are compared at the next KVM_RUN, so their order does not
 * matter), then the power state; then the GIC from the VMM thread (its
 * redistributors are found by the vCPUs' MPIDRs). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "snapshot/snapshot.h"

#define MPIDR_EL1 ARM64_SYS_REG(3, 0, 0, 0, 5)

struct reg_list {
	struct kvm_reg_list hdr;
	uint64_t id[SNAP_MAX_REGS];
};

static int get_reg_list(int fd, struct reg_list *l)
{
	l->hdr.n = SNAP_MAX_REGS;
	return ioctl(fd, KVM_GET_REG_LIST, l) < 0 ? -errno : 0;
}

/* KVM_GET_ONE_REG or KVM_SET_ONE_REG of id, its value at addr. */
static int one_reg(int fd, unsigned long req, uint64_t id, uintptr_t addr)
{
	struct kvm_one_reg r = { .id = id, .addr = addr };

	return ioctl(fd, req, &r) < 0 ? -errno : 0;
}

static int save_vcpu(const struct vcpu *vcpu, struct snap_vcpu *v)
{
	static struct reg_list list;
	uint64_t i;
	int ret = get_reg_list(vcpu->fd, &list);

	memset(v, 0, sizeof(*v));
	v->index = vcpu->index;
	for (i = 0; i < list.hdr.n && !ret; i++) {
		struct snap_reg *r = &v->regs[v->nregs++];

		r->id = list.id[i];
		if (KVM_REG_SIZE(r->id) > SNAP_MAX_REG_BYTES) {
			log_err("snapshot: vCPU %u: register 0x%llx is %llu bytes",
				v->index, (unsigned long long)r->id,
				(unsigned long long)KVM_REG_SIZE(r->id));
			return -E2BIG;
		}
		ret = one_reg(vcpu->fd, KVM_GET_ONE_REG, r->id,
			      (uintptr_t)r->value);
	}
	if (!ret)
		ret = one_reg(vcpu->fd, KVM_GET_ONE_REG, MPIDR_EL1,
			      (uintptr_t)&v->mpidr);
	if (!ret && ioctl(vcpu->fd, KVM_GET_MP_STATE, &v->mp_state) < 0)
		ret = -errno;
	return ret;
}

/* ---- the GIC ---- */

#define DIST KVM_DEV_ARM_VGIC_GRP_DIST_REGS
#define REDIST KVM_DEV_ARM_VGIC_GRP_REDIST_REGS
#define CPU_SYSREGS KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS
#define LEVEL_INFO KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO
#define ALL_BITS 0xffffffffu
/* The line levels of interrupts irq..irq + 31 (LEVEL_INFO's attribute) */
#define LINE_LEVEL(irq)                                      \
	((uint64_t)VGIC_LEVEL_INFO_LINE_LEVEL                \
		 << KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_SHIFT | \
	 (irq))

/* Distributor registers (GIC architecture specification, IHI 0069) with
 * a bit, two bits, a byte or 8 bytes per interrupt. */
#define GICD_CTLR 0x0000
#define GICD_IGROUPR 0x0080
#define GICD_ISENABLER 0x0100
#define GICD_ICENABLER 0x0180
#define GICD_ISPENDR 0x0200
#define GICD_ICPENDR 0x0280
#define GICD_ISACTIVER 0x0300
#define GICD_ICACTIVER 0x0380
#define GICD_IPRIORITYR 0x0400
#define GICD_ICFGR 0x0c00
#define GICD_IROUTER 0x6000
/* A redistributor: its RD frame, then its SGI frame (SGIs and PPIs) with
 * the distributor's layout for interrupts 0-31. */
#define GICR_CTLR 0x0000
#define GICR_SGI 0x10000
/* The CPU interface's registers (KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS takes
 * the low 16 bits of their system register encoding). */
#define ICC(op0, op1, crn, crm, op2) \
	(ARM64_SYS_REG(op0, op1, crn, crm, op2) & 0xffff)
#define ICC_CTLR_EL1 ICC(3, 0, 12, 12, 4)
#define ICC_AP0R_EL1(n) ICC(3, 0, 12, 8, 4 | (n))
#define ICC_AP1R_EL1(n) ICC(3, 0, 12, 9, (n))

struct gic_saver {
	int fd;
	struct snap_vm *s;
	int ret; /* the first failure; nothing more is read after it */
};

/* Appends an attribute with a value of its own (a clear-all). */
static void put_value(struct gic_saver *g, uint32_t group, uint64_t attr,
		      uint64_t value)
{
	if (g->ret)
		return;
	if (g->s->nattrs == SNAP_MAX_GIC_ATTRS) {
		g->ret = -E2BIG;
		return;
	}
	g->s->attrs[g->s->nattrs++] = (struct snap_gic_attr){ .group = group,
							      .attr = attr,
							      .value = value };
}

/* Appends an attribute with its value as KVM gives it. */
static void put(struct gic_saver *g, uint32_t group, uint64_t attr)
{
	uint64_t wide = 0;
	uint32_t narrow = 0;
	struct kvm_device_attr a = {
		.group = group,
		.attr = attr,
		.addr = group == CPU_SYSREGS ? (uintptr_t)&wide :
					       (uintptr_t)&narrow,
	};

	if (g->ret)
		return;
	if (ioctl(g->fd, KVM_GET_DEVICE_ATTR, &a) < 0) {
		g->ret = -errno;
		log_err("snapshot: GIC group %u attribute 0x%llx: %s", group,
			(unsigned long long)attr, strerror(errno));
		return;
	}
	put_value(g, group, attr, group == CPU_SYSREGS ? wide : narrow);
}

/* A set register after its clear twin written with all ones: the saved
 * bits exactly, whatever the VM had. */
static void put_set_bits(struct gic_saver *g, uint32_t group, uint64_t base,
			 uint64_t set, uint64_t clear)
{
	put_value(g, group, base | clear, ALL_BITS);
	put(g, group, base | set);
}

/* The bit-per-interrupt registers of interrupts [first, end), 32 a word,
 * of the distributor or a redistributor's SGI frame at base. */
static void put_irq_bits(struct gic_saver *g, uint32_t group, uint64_t base,
			 unsigned first, unsigned end)
{
	unsigned irq;

	for (irq = first; irq < end; irq += 32)
		put(g, group, base + GICD_IGROUPR + irq / 8);
	for (irq = first; irq < end; irq += 32)
		put_set_bits(g, group, base, GICD_ISENABLER + irq / 8,
			     GICD_ICENABLER + irq / 8);
	for (irq = first; irq < end; irq += 16)
		put(g, group, base + GICD_ICFGR + irq / 4);
	for (irq = first; irq < end; irq += 4)
		put(g, group, base + GICD_IPRIORITYR + irq);
}

static void put_pending_active(struct gic_saver *g, uint32_t group,
			       uint64_t base, unsigned first, unsigned end)
{
	unsigned irq;

	for (irq = first; irq < end; irq += 32) {
		put_set_bits(g, group, base, GICD_ISPENDR + irq / 8,
			     GICD_ICPENDR + irq / 8);
		put_set_bits(g, group, base, GICD_ISACTIVER + irq / 8,
			     GICD_ICACTIVER + irq / 8);
	}
}

/* The distributor: the SPIs (interrupts 32 and up; its registers for
 * 0-31 are the redistributors'), their routes and line levels. */
static void save_dist(struct gic_saver *g, uint64_t vcpu0)
{
	unsigned irq, nr = g->s->nr_irqs;

	put(g, DIST, GICD_CTLR);
	put_irq_bits(g, DIST, 0, 32, nr);
	for (irq = 32; irq < nr; irq++) {
		put(g, DIST, GICD_IROUTER + irq * 8);
		put(g, DIST, GICD_IROUTER + irq * 8 + 4);
	}
	for (irq = 32; irq < nr; irq += 32)
		put(g, LEVEL_INFO, vcpu0 | LINE_LEVEL(irq));
	put_pending_active(g, DIST, 0, 32, nr);
}

/* A vCPU's redistributor (its SGIs and PPIs) and CPU interface; m is its
 * MPIDR as the attributes name it. The active-priority registers that
 * exist follow the priority bits ICC_CTLR_EL1 reports (5 bits: one of
 * each, 6: two, 7: four). */
static void save_cpu(struct gic_saver *g, uint64_t m)
{
	static const uint16_t icc[] = {
		ICC(3, 0, 12, 12, 5) /* SRE */,	    ICC_CTLR_EL1,
		ICC(3, 0, 12, 12, 6) /* IGRPEN0 */, ICC(3, 0, 12, 12, 7),
		ICC(3, 0, 4, 6, 0) /* PMR */,	    ICC(3, 0, 12, 8, 3),
		ICC(3, 0, 12, 12, 3) /* BPR1 */,
	};
	uint64_t ctlr = 0;
	unsigned i, pri_bits, nr_ap;

	put(g, REDIST, m | GICR_CTLR);
	put_irq_bits(g, REDIST, m | GICR_SGI, 0, 32);
	put_pending_active(g, REDIST, m | GICR_SGI, 0, 32);
	for (i = 0; i < ARRAY_SIZE(icc); i++) {
		put(g, CPU_SYSREGS, m | icc[i]);
		if (icc[i] == ICC_CTLR_EL1 && !g->ret)
			ctlr = g->s->attrs[g->s->nattrs - 1].value;
	}
	pri_bits = ((ctlr >> 8) & 7) + 1;
	nr_ap = pri_bits == 7 ? 4 : pri_bits == 6 ? 2 : 1;
	for (i = 0; i < nr_ap; i++) {
		put(g, CPU_SYSREGS, m | ICC_AP0R_EL1(i));
		put(g, CPU_SYSREGS, m | ICC_AP1R_EL1(i));
	}
}

/* GICv2 (IHI 0048): the distributor's registers of interrupts 0-31 are
 * banked per CPU, read and set with the vCPU's index in the attribute;
 * an SGI is pending per source CPU (GICD_SPENDSGIR: ISPENDR0 names only
 * the vCPU itself as the source); the CPU interface has registers of its
 * own (KVM_DEV_ARM_VGIC_GRP_CPU_REGS, 32 bits each). */
#define GICD_IIDR 0x0008
#define GICD_ITARGETSR 0x0800
#define GICD_CPENDSGIR 0x0f10
#define GICD_SPENDSGIR 0x0f20
#define CPU_REGS KVM_DEV_ARM_VGIC_GRP_CPU_REGS
#define V2_VCPU(index) ((uint64_t)(index) << KVM_DEV_ARM_VGIC_CPUID_SHIFT)

/* GICD_IIDR first: once it is written back, KVM lets the groups be set.
 * The SPIs' targets; no line levels (GICv2 has no LEVEL_INFO group). */
static void save_dist_v2(struct gic_saver *g)
{
	unsigned irq, nr = g->s->nr_irqs;

	put(g, DIST, GICD_IIDR);
	put(g, DIST, GICD_CTLR);
	put_irq_bits(g, DIST, 0, 32, nr);
	for (irq = 32; irq < nr; irq += 4)
		put(g, DIST, GICD_ITARGETSR + irq);
	put_pending_active(g, DIST, 0, 32, nr);
}

/* vCPU c's banked distributor registers, its SGIs' sources, then its CPU
 * interface: CTLR, PMR, BPR, ABPR and the four active-priority registers
 * KVM always shows. */
static void save_cpu_v2(struct gic_saver *g, uint64_t c)
{
	static const uint16_t gicc[] = { 0x00, 0x04, 0x08, 0x1c,
					 0xd0, 0xd4, 0xd8, 0xdc };
	unsigned i;

	put_irq_bits(g, DIST, c, 0, 32);
	put_pending_active(g, DIST, c, 0, 32);
	for (i = 0; i < 16; i += 4)
		put_set_bits(g, DIST, c, GICD_SPENDSGIR + i,
			     GICD_CPENDSGIR + i);
	for (i = 0; i < ARRAY_SIZE(gicc); i++)
		put(g, CPU_REGS, c | gicc[i]);
}

/* The affinity fields of an MPIDR where a GIC attribute names its vCPU. */
static uint64_t attr_mpidr(uint64_t mpidr)
{
	uint64_t aff = (mpidr & 0xffffff) | ((mpidr >> 32) & 0xff) << 24;

	return aff << KVM_DEV_ARM_VGIC_V3_MPIDR_SHIFT;
}

static int gic_nr_irqs(int fd, uint32_t *nr)
{
	struct kvm_device_attr a = { .group = KVM_DEV_ARM_VGIC_GRP_NR_IRQS,
				     .addr = (uintptr_t)nr };

	return ioctl(fd, KVM_GET_DEVICE_ATTR, &a) < 0 ? -errno : 0;
}

static int save_gic(const struct vm *vm, struct snap_state *s)
{
	struct gic_saver g = { vm->irqchip_fd, &s->vm, 0 };
	bool v3 = vm->gic_version == 3;
	unsigned i;

	s->vm.gic_version = vm->gic_version;
	g.ret = gic_nr_irqs(g.fd, &s->vm.nr_irqs);
	if (v3) {
		save_dist(&g, attr_mpidr(s->vcpus[0].mpidr));
		for (i = 0; i < s->nr_vcpus; i++)
			save_cpu(&g, attr_mpidr(s->vcpus[i].mpidr));
	} else {
		save_dist_v2(&g);
		for (i = 0; i < s->nr_vcpus; i++)
			save_cpu_v2(&g, V2_VCPU(s->vcpus[i].index));
	}
	if (!g.ret)
		log_info(
			"snapshot: %u vCPUs of %u registers (vCPU 0), GICv%u of %u interrupts in %u registers",
			s->nr_vcpus, s->vcpus[0].nregs, s->vm.gic_version,
			s->vm.nr_irqs, s->vm.nattrs);
	return g.ret;
}

int snap_save_kvm(const struct vm *vm, struct snap_state *s)
{
	unsigned i;
	int ret = 0;

	s->vcpus = calloc(vm->nr_vcpus, sizeof(*s->vcpus));
	if (!s->vcpus)
		return -ENOMEM;
	s->nr_vcpus = vm->nr_vcpus;
	for (i = 0; i < vm->nr_vcpus && !ret; i++)
		ret = save_vcpu(&vm->vcpus[i], &s->vcpus[i]);
	return ret ?: save_gic(vm, s);
}

/* ---- restoring ---- */

static bool listed(const struct reg_list *l, uint64_t id)
{
	uint64_t i;

	for (i = 0; i < l->hdr.n; i++)
		if (l->id[i] == id)
			return true;
	return false;
}

int snap_check_regs(const struct vm *vm, const struct snap_state *s, char *err,
		    size_t err_size)
{
	static struct reg_list list;
	uint32_t nr_irqs = 0;
	unsigned i, k;
	int ret = gic_nr_irqs(vm->irqchip_fd, &nr_irqs);

	if (s->vm.gic_version != vm->gic_version) {
		snprintf(
			err, err_size,
			"the snapshot's GIC is a GICv%u, this host's KVM gives this VM a GICv%u",
			s->vm.gic_version, vm->gic_version);
		return -ENOTSUP;
	}
	if (ret || nr_irqs != s->vm.nr_irqs) {
		snprintf(
			err, err_size,
			"the snapshot's GICv%u has %u interrupts, this VM's %u",
			s->vm.gic_version, s->vm.nr_irqs, nr_irqs);
		return -ENOTSUP;
	}
	for (i = 0; i < s->nr_vcpus; i++) {
		const struct snap_vcpu *v = &s->vcpus[i];

		ret = get_reg_list(vm->vcpus[v->index].fd, &list);
		if (ret) {
			snprintf(err, err_size, "vCPU %u: KVM_GET_REG_LIST: %s",
				 v->index, strerror(-ret));
			return ret;
		}
		for (k = 0; k < v->nregs; k++)
			if (!listed(&list, v->regs[k].id)) {
				snprintf(
					err, err_size,
					"vCPU %u of the snapshot has register 0x%llx, which this host's KVM does not have",
					v->index,
					(unsigned long long)v->regs[k].id);
				return -ENOTSUP;
			}
	}
	return 0;
}

/* What the vCPU threads restore from (vm_run_on_vcpus's argument). */
struct vcpu_restore {
	const struct snap_state *s;
	uint64_t failed_reg[VM_MAX_VCPUS]; /* the register KVM refused */
};

/* On the vCPU's own thread. */
static int restore_vcpu(struct vcpu *vcpu, void *arg)
{
	struct vcpu_restore *r = arg;
	const struct snap_vcpu *v = snap_saved_vcpu(r->s, vcpu->index);
	uint32_t i;
	int ret = v ? 0 : -EINVAL;

	for (i = 0; v && i < v->nregs && !ret; i++) {
		r->failed_reg[vcpu->index] = v->regs[i].id;
		ret = one_reg(vcpu->fd, KVM_SET_ONE_REG, v->regs[i].id,
			      (uintptr_t)v->regs[i].value);
	}
	if (ret)
		return ret;
	r->failed_reg[vcpu->index] = 0; /* 0: the power state */
	return ioctl(vcpu->fd, KVM_SET_MP_STATE, &v->mp_state) < 0 ? -errno : 0;
}

static int restore_gic(struct vm *vm, const struct snap_vm *s, char *err,
		       size_t err_size)
{
	uint32_t i;

	for (i = 0; i < s->nattrs; i++) {
		const struct snap_gic_attr *g = &s->attrs[i];
		uint32_t narrow = (uint32_t)g->value;
		uint64_t wide = g->value;
		struct kvm_device_attr a = {
			.group = g->group,
			.attr = g->attr,
			.addr = g->group == CPU_SYSREGS ? (uintptr_t)&wide :
							  (uintptr_t)&narrow,
		};

		if (ioctl(vm->irqchip_fd, KVM_SET_DEVICE_ATTR, &a) < 0) {
			snprintf(
				err, err_size,
				"GIC register %u of the snapshot (group %u, attribute 0x%llx): %s",
				i, g->group, (unsigned long long)g->attr,
				strerror(errno));
			return -errno;
		}
	}
	return 0;
}

int snap_restore_kvm(struct vm *vm, const struct snap_state *s,
		     bool clock_realtime, bool set_cpuid, char *err,
		     size_t err_size)
{
	struct vcpu_restore r = { .s = s };
	unsigned failed = 0;
	int ret = vm_run_on_vcpus(vm, restore_vcpu, &r, &failed);
	if (ret && r.failed_reg[failed])
		snprintf(err, err_size,
			 "vCPU %u: KVM_SET_ONE_REG of register 0x%llx: %s",
			 failed, (unsigned long long)r.failed_reg[failed],
			 strerror(-ret));
	else if (ret)
		snprintf(err, err_size, "vCPU %u: KVM_SET_MP_STATE: %s", failed,
			 strerror(-ret));
	return ret ?: restore_gic(vm, &s->vm, err, err_size);
}
