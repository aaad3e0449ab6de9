// SPDX-License-Identifier: Apache-2.0
/*
 * The test guest's /init (static, no shell): mounts /proc, /sys and /dev,
 * writes 123 to the boot timer at guest-physical 0xC0000000, runs the
 * command the kernel passed after "--" (argv[1..]), prints its exit status
 * as "microvm-init: exit N", then reboots, which microvm turns into a clean
 * exit (reboot=k makes the kernel pulse the i8042 reset line).
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

#define BOOT_TIMER_ADDR 0xC0000000UL
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

int main(int argc, char **argv)
{
	setenv("PATH", "/bin:/sbin:/usr/bin:/usr/sbin", 1);
	mount_fs("proc", "/proc", "proc");
	mount_fs("sysfs", "/sys", "sysfs");
	mount_fs("devtmpfs", "/dev", "devtmpfs");
	mount_fs("tmpfs", "/tmp", "tmpfs");
	signal_boot_done();
	if (argc > 1)
		printf("microvm-init: exit %d\n", run(argv + 1));
	fflush(stdout);
	sync();
	reboot(RB_AUTOBOOT);
	return 0;
}
