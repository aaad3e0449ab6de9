// SPDX-License-Identifier: Apache-2.0
/* The boot timer (API-CONTRACT.md): the guest writes 123 to guest-physical
 * 0xC0000000 and we log the wall and CPU time since InstanceStart. */
#include "vmm/vmm.h"

void boot_timer_start(struct boot_timer *t)
{
	pthread_mutex_init(&t->lock, NULL);
	t->reported = false;
	clock_gettime(CLOCK_MONOTONIC, &t->start_wall);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t->start_cpu);
}

void boot_timer_access(void *dev, uint64_t off, uint8_t *data, uint32_t len,
		       bool is_write)
{
	struct boot_timer *t = dev;
	uint64_t wall, cpu;

	if (!is_write) {
		*data = 0;
		return;
	}
	if (off != 0 || len != 1 || *data != BOOT_TIMER_MAGIC)
		return;
	pthread_mutex_lock(&t->lock);
	if (!t->reported) {
		t->reported = true;
		wall = elapsed_us(&t->start_wall, CLOCK_MONOTONIC);
		cpu = elapsed_us(&t->start_cpu, CLOCK_PROCESS_CPUTIME_ID);
		log_info(
			"Guest-boot-time = %llu us %llu ms, %llu CPU us %llu CPU ms",
			(unsigned long long)wall,
			(unsigned long long)(wall / 1000),
			(unsigned long long)cpu,
			(unsigned long long)(cpu / 1000));
	}
	pthread_mutex_unlock(&t->lock);
}
