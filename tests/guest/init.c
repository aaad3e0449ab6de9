// SPDX-License-Identifier: Apache-2.0
/*
 * The test guest's /init (static, no shell): mounts /proc, /sys and /dev,
 * writes 123 to the boot timer (guest-physical 0xC0000000; on arm64
 * 0x40000000, vmm/arm64/layout.h), runs the
 * command that follows " -- " on the kernel command line (read from
 * /proc/cmdline: the kernel also hands init every parameter it does not know,
 * such as noxsave, so argv cannot tell them apart), prints its exit status
 * as "microvm-init: exit N", then reboots, which microvm turns into a clean
 * exit (reboot=k makes the kernel pulse the i8042 reset line; arm64 Linux
 * calls PSCI SYSTEM_RESET).
 * Words are split on spaces; "double quotes" group words.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef __aarch64__
#define BOOT_TIMER_ADDR 0x40000000UL
#else
#define BOOT_TIMER_ADDR 0xC0000000UL
#endif
#define BOOT_TIMER_MAGIC 123

static void mount_fs(const char *src, const char *dir, const char *type)
{
	mkdir(dir, 0755);
	if (mount(src, dir, type, 0, NULL) && strcmp(type, "devtmpfs"))
		fprintf(stderr, "microvm-init: mount %s: %m\n", dir);
}

static void signal_boot_done(void)
{
	long page = sysconf(_SC_PAGESIZE);
	int fd = open("/dev/mem", O_RDWR | O_SYNC);
	volatile unsigned char *p;

	if (fd < 0)
		return;
	p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)BOOT_TIMER_ADDR);
	if (p != MAP_FAILED) {
		*p = BOOT_TIMER_MAGIC;
		munmap((void *)p, (size_t)page);
	}
	close(fd);
}

static int run(char **argv)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "microvm-init: exec %s: %m\n", argv[0]);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return 126;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Splits the text after " -- " in /proc/cmdline into argv; returns argc. */
static int command_from_cmdline(char *buf, size_t size, char **argv, int max)
{
	int fd = open("/proc/cmdline", O_RDONLY), argc = 0;
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);
	char *p;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, " -- ");
	if (!p)
		return 0;
	for (p += 4; *p && argc < max - 1;) {
		char end = ' ';

		while (*p == ' ' || *p == '\n')
			p++;
		if (!*p)
			break;
		if (*p == '"')
			end = *p++;
		argv[argc++] = p;
		while (*p && *p != end && (end == '"' || *p != '\n'))
			p++;
		if (*p)
			*p++ = '\0';
	}
	argv[argc] = NULL;
	return argc;
}

int main(void)
{
	static char cmdline[4096];
	char *argv[64];
	int argc;

	setenv("PATH", "/bin:/sbin:/usr/bin:/usr/sbin", 1);
	mount_fs("proc", "/proc", "proc");
	mount_fs("sysfs", "/sys", "sysfs");
	mount_fs("devtmpfs", "/dev", "devtmpfs");
	mount_fs("tmpfs", "/tmp", "tmpfs");
	signal_boot_done();
	argc = command_from_cmdline(cmdline, sizeof(cmdline), argv,
				    (int)(sizeof(argv) / sizeof(argv[0])));
	if (argc > 0)
		printf("microvm-init: exit %d\n", run(argv));
	fflush(stdout);
	sync();
	reboot(RB_AUTOBOOT);
	return 0;
}
