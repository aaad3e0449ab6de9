// SPDX-License-Identifier: Apache-2.0
/* bench/boot_arm64.sh's stopwatch, run inside the arm64 KVM machine
 * (which has no Python): bench/boot.py's measure for one boot. It starts
 * PROGRAM with its stdout and stderr on a pipe and stdin on /dev/null,
 * reads the pipe until MARKER appears, prints the seconds from just before
 * the fork to that read (CLOCK_MONOTONIC, "%.3f\n" on stdout), kills
 * PROGRAM (SIGKILL) and reaps it. Without the marker within TIMEOUT
 * seconds, or when the pipe closes first, it prints the last output read
 * on stderr and exits 1.
 * Usage: boot_arm64_timer TIMEOUT_S MARKER PROGRAM [ARG...] */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TAIL_BYTES 4096

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pid_t start(char **argv, int *out)
{
	int fds[2];
	pid_t pid;

	if (pipe(fds) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null < 0 || dup2(null, 0) < 0 || dup2(fds[1], 1) < 0 ||
		    dup2(fds[1], 2) < 0)
			_exit(126);
		close(fds[0]);
		execvp(argv[0], argv);
		dprintf(2, "boot_arm64_timer: %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	*out = fds[0];
	return pid;
}

/* Reads until the marker is in `tail` (the last output, NUL-terminated):
 * 0 when it is, -1 on end of output or at the deadline. */
static int wait_for_marker(int fd, const char *marker, double deadline,
			   char *tail)
{
	size_t used = 0, keep = strlen(marker);

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		double left = deadline - now();
		ssize_t got;

		if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			return -1;
		if (used + 1024 >= TAIL_BYTES) { /* keep the last bytes only */
			memmove(tail, tail + used - keep, keep);
			used = keep;
		}
		got = read(fd, tail + used, TAIL_BYTES - 1 - used);
		if (got <= 0)
			return -1;
		used += (size_t)got;
		tail[used] = '\0';
		if (memmem(tail, used, marker, keep))
			return 0;
	}
}

int main(int argc, char **argv)
{
	static char tail[TAIL_BYTES];
	double begin, deadline;
	int out, found;
	pid_t pid;

	if (argc < 4 || atof(argv[1]) <= 0 || !argv[2][0]) {
		fprintf(stderr, "usage: %s TIMEOUT_S MARKER PROGRAM [ARG...]\n",
			argv[0]);
		return 2;
	}
	begin = now();
	deadline = begin + atof(argv[1]);
	pid = start(argv + 3, &out);
	if (pid < 0) {
		perror("boot_arm64_timer: start");
		return 1;
	}
	found = wait_for_marker(out, argv[2], deadline, tail) == 0;
	if (found)
		printf("%.3f\n", now() - begin);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (!found)
		fprintf(stderr,
			"boot_arm64_timer: no '%s' from %s; its last "
			"output:\n%s\n",
			argv[2], argv[3], tail);
	return found ? 0 : 1;
}
