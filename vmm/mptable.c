// SPDX-License-Identifier: Apache-2.0
/* An Intel MultiProcessor Specification 1.4 table, so that a guest without
 * ACPI finds every vCPU, the I/O APIC and the ISA interrupt routing. */
#include <errno.h>
#include <string.h>

#include "vmm/vmm.h"

#define MP_APIC_VERSION 0x14
#define MP_IOAPIC_VERSION 0x11
/* Interrupt entries for every I/O APIC pin, as Firecracker's table has:
 * 0-15 are the ISA IRQs, 16-23 the virtio-mmio devices past IRQ 15. */
#define MP_IOAPIC_PINS 24
#define MP_BUS_ISA 0

enum { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_IRQ_INT = 0, MP_IRQ_NMI = 1, MP_IRQ_EXTINT = 3 };

struct mpf_intel { /* floating pointer */
	char signature[4];
	uint32_t physptr;
	uint8_t length, specification, checksum, feature1;
	uint8_t feature2, feature3, feature4, feature5;
} __attribute__((packed));

struct mpc_table { /* configuration table header */
	char signature[4];
	uint16_t length;
	uint8_t spec, checksum;
	char oem[8], productid[12];
	uint32_t oemptr;
	uint16_t oemsize, oemcount;
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum, reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type, apicid, apicver, cpuflag;
	uint32_t cpufeature, featureflag, reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type, busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type, apicid, apicver, flags;
	uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc { /* also the local interrupt entry */
	uint8_t type, irqtype;
	uint16_t irqflag;
	uint8_t srcbus, srcbusirq, dstapic, dstirq;
} __attribute__((packed));

#define MP_TABLE_MAX                                                      \
	(sizeof(struct mpf_intel) + sizeof(struct mpc_table) +            \
	 VM_MAX_VCPUS * sizeof(struct mpc_cpu) + sizeof(struct mpc_bus) + \
	 sizeof(struct mpc_ioapic) +                                      \
	 (MP_IOAPIC_PINS + 2) * sizeof(struct mpc_intsrc))

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return (uint8_t)-sum;
}

/* Appends one entry to the table being built in buf. */
static void put(uint8_t *buf, size_t *off, const void *entry, size_t len)
{
	memcpy(buf + *off, entry, len);
	*off += len;
}

static uint16_t put_cpus(uint8_t *buf, size_t *off, unsigned nr_cpus)
{
	unsigned i;

	for (i = 0; i < nr_cpus; i++) {
		struct mpc_cpu cpu = {
			.type = MP_PROCESSOR,
			.apicid = (uint8_t)i,
			.apicver = MP_APIC_VERSION,
			.cpuflag = 1 | (i == 0 ? 2 : 0), /* enabled, boot CPU */
			.cpufeature = 0x600, /* family 6 */
			.featureflag = (1 << 9) | (1 << 0), /* APIC, FPU */
		};
		put(buf, off, &cpu, sizeof(cpu));
	}
	return (uint16_t)nr_cpus;
}

/* IRQ n goes to I/O APIC pin n, the timer (IRQ 0) included: KVM's default
 * GSI routing sends GSI n, the in-kernel PIT's GSI 0 among them, to pin n
 * (QEMU adds a GSI 0 -> pin 2 route of its own; we do not). IRQ 2 is the
 * cascade of the PICs and has no entry. All on the ISA bus, edge-triggered
 * (an irqfd pulses its line), as Firecracker's table has them. */
static uint16_t put_irqs(uint8_t *buf, size_t *off, uint8_t ioapic_id)
{
	struct mpc_intsrc e = { .type = MP_INTSRC,
				.srcbus = MP_BUS_ISA,
				.dstapic = ioapic_id };
	unsigned irq;

	for (irq = 0; irq < MP_IOAPIC_PINS; irq++) {
		if (irq == 2)
			continue;
		e.irqtype = MP_IRQ_INT;
		e.srcbusirq = (uint8_t)irq;
		e.dstirq = (uint8_t)irq;
		put(buf, off, &e, sizeof(e));
	}
	e = (struct mpc_intsrc){ .type = MP_LINTSRC,
				 .irqtype = MP_IRQ_EXTINT,
				 .dstapic = 0xff,
				 .dstirq = 0 };
	put(buf, off, &e, sizeof(e));
	e.irqtype = MP_IRQ_NMI;
	e.dstirq = 1;
	put(buf, off, &e, sizeof(e));
	return MP_IOAPIC_PINS - 1 + 2;
}

int mptable_write(const struct guest_mem *mem, unsigned nr_cpus)
{
	uint8_t buf[MP_TABLE_MAX];
	size_t off = sizeof(struct mpf_intel) + sizeof(struct mpc_table);
	struct mpf_intel mpf = { .signature = "_MP_",
				 .length = 1,
				 .specification = 4 };
	struct mpc_table hdr = { .signature = "PCMP",
				 .spec = 4,
				 .oem = "MICROVM ",
				 .productid = "MICROVM 0.1 ",
				 .lapic = LAPIC_ADDR };
	struct mpc_bus bus = { .type = MP_BUS,
			       .busid = MP_BUS_ISA,
			       .bustype = "ISA   " };
	struct mpc_ioapic ioapic = { .type = MP_IOAPIC,
				     .apicid = (uint8_t)nr_cpus,
				     .apicver = MP_IOAPIC_VERSION,
				     .flags = 1,
				     .apicaddr = IOAPIC_ADDR };

	if (nr_cpus == 0 || nr_cpus > VM_MAX_VCPUS)
		return -E2BIG;
	memset(buf, 0, sizeof(buf));
	hdr.oemcount = put_cpus(buf, &off, nr_cpus);
	put(buf, &off, &bus, sizeof(bus));
	put(buf, &off, &ioapic, sizeof(ioapic));
	hdr.oemcount += 2 + put_irqs(buf, &off, ioapic.apicid);
	hdr.length = (uint16_t)(off - sizeof(mpf));
	memcpy(buf + sizeof(mpf), &hdr, sizeof(hdr));
	hdr.checksum = checksum(buf + sizeof(mpf), hdr.length);
	memcpy(buf + sizeof(mpf), &hdr, sizeof(hdr));
	mpf.physptr = MPTABLE_ADDR + sizeof(mpf);
	mpf.checksum = checksum(&mpf, sizeof(mpf));
	memcpy(buf, &mpf, sizeof(mpf));
	return gmem_write(mem, MPTABLE_ADDR, buf, off);
}
