// SPDX-License-Identifier: Apache-2.0
/* vsock-echo PORT: accepts vsock connections on PORT (any CID) and echoes
 * every byte back; each connection in its own child. When the peer stops
 * sending, the echo finishes and the connection closes. Guest side of the
 * vsock tests and benchmarks. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

static int echo(int fd)
{
	static char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		ssize_t off = 0;

		while (off < n) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));

			if (w < 0)
				return 1;
			off += w;
		}
	}
	shutdown(fd, SHUT_WR);
	return n < 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK,
				  .svm_cid = VMADDR_CID_ANY };
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: vsock-echo PORT\n");
		return 2;
	}
	sa.svm_port = (unsigned)strtoul(argv[1], NULL, 10);
	signal(SIGCHLD, SIG_IGN); /* no zombies */
	fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 256) < 0) {
		perror("vsock-echo");
		return 1;
	}
	printf("vsock-echo: listening on port %u\n", sa.svm_port);
	fflush(stdout);
	for (;;) {
		int c = accept(fd, NULL, NULL);

		if (c < 0) {
			if (errno == EINTR)
				continue;
			perror("vsock-echo: accept");
			return 1;
		}
		if (fork() == 0) {
			close(fd);
			_exit(echo(c));
		}
		close(c);
	}
}
