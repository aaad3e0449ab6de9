// SPDX-License-Identifier: Apache-2.0
/* The init of kvm-smoke's Linux guest (tests/l1-arm64/kvm-smoke.c): says
 * it runs through the kernel log (which the console prints) and powers
 * the guest off, which arm64 Linux does through PSCI SYSTEM_OFF. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <unistd.h>

int main(void)
{
	int kmsg;

	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	kmsg = open("/dev/kmsg", O_WRONLY);
	dprintf(kmsg, "kvm-smoke-init: running as pid %d\n", getpid());
	reboot(RB_POWER_OFF);
	return 1;
}
