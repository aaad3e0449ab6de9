// SPDX-License-Identifier: Apache-2.0
/* The init of kvm-smoke's Linux guest (tests/l1-arm64/kvm-smoke.c): says
 * it runs through the kernel log (which the console prints) and powers
 * the guest off, which arm64 Linux does through PSCI SYSTEM_OFF; when it
 * cannot write the log it reboots instead (PSCI SYSTEM_RESET), which
 * kvm-smoke reports as a failure. With the argument `reboot` (boot args
 * "... -- reboot") it reboots after its line (tests/l1-arm64/test-boot.sh). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char line[64];
	int kmsg, len;

	if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) < 0 &&
	    errno != EBUSY)
		reboot(RB_AUTOBOOT);
	kmsg = open("/dev/kmsg", O_WRONLY);
	len = snprintf(line, sizeof(line),
		       "<2>kvm-smoke-init: running as pid %d\n", getpid());
	if (kmsg < 0 || write(kmsg, line, (size_t)len) != len)
		reboot(RB_AUTOBOOT);
	reboot(argc > 1 && !strcmp(argv[1], "reboot") ? RB_AUTOBOOT :
							RB_POWER_OFF);
	return 1;
}
