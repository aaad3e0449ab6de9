// SPDX-License-Identifier: Apache-2.0
/* microvm-agent PORT: the test guest's command runner for guests restored
 * from a snapshot (tests/integration/microvm_harness.py, BootedSnapshot).
 * Listens on vsock PORT (any CID); each connection, in its own child,
 * sends one line "NONCE COMMAND", the agent runs "/bin/sh -c COMMAND" with
 * stdin from /dev/null and stdout and stderr on the connection, then
 * writes "microvm-agent NONCE exit N" (N: the exit status, 128 + the
 * signal for a killed command). The nonce tells that line from anything
 * the command printed; a command's background jobs may keep the
 * connection open after it, so the host reads up to that line, not to the
 * end of the stream. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define LINE_MAX_BYTES 8192

/* Reads up to the first newline (excluded); returns its length or -1. */
static int read_line(int fd, char *buf, size_t size)
{
	size_t len = 0;

	while (len < size - 1) {
		ssize_t n = read(fd, buf + len, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (buf[len] == '\n')
			break;
		len++;
	}
	buf[len] = '\0';
	return (int)len;
}

static int run_command(int conn, const char *command)
{
	int status, null_fd;
	pid_t pid = fork();

	if (pid == 0) {
		null_fd = open("/dev/null", O_RDONLY);
		dup2(null_fd, 0);
		dup2(conn, 1);
		dup2(conn, 2);
		if (conn > 2) /* background jobs keep only their stdout open */
			close(conn);
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		return 126;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 126;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void serve(int conn)
{
	static char line[LINE_MAX_BYTES];
	char trailer[128];
	char *command;
	int n;

	signal(SIGCHLD, SIG_DFL); /* this child waits for its command */
	if (read_line(conn, line, sizeof(line)) < 0)
		_exit(1);
	command = strchr(line, ' ');
	if (!command)
		_exit(1);
	*command++ = '\0';
	n = snprintf(trailer, sizeof(trailer), "microvm-agent %s exit %d\n",
		     line, run_command(conn, command));
	if (write(conn, trailer, (size_t)n) != n)
		_exit(1);
	_exit(0);
}

int main(int argc, char **argv)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK,
				  .svm_cid = VMADDR_CID_ANY };
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: microvm-agent PORT\n");
		return 2;
	}
	sa.svm_port = (unsigned)strtoul(argv[1], NULL, 10);
	signal(SIGCHLD, SIG_IGN); /* no zombies */
	fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 64) < 0) {
		perror("microvm-agent");
		return 1;
	}
	printf("microvm-agent: listening on port %u\n", sa.svm_port);
	fflush(stdout);
	for (;;) {
		int conn = accept(fd, NULL, NULL);

		if (conn < 0) {
			if (errno == EINTR)
				continue;
			perror("microvm-agent: accept");
			return 1;
		}
		if (fork() == 0) {
			close(fd);
			serve(conn);
		}
		close(conn);
	}
}
