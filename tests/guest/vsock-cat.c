// SPDX-License-Identifier: Apache-2.0
/* vsock-cat CID PORT: connects to CID:PORT, copies stdin to the socket and
 * the socket to stdout. At the end of stdin it shuts down its sending
 * side; it exits when the peer closes. Exit 1 when the connection fails. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

static char buf[65536];

/* Copies one read's worth from `from` to `to`; 0 at end of input. */
static ssize_t pump(int from, int to)
{
	ssize_t n = read(from, buf, sizeof(buf)), off = 0;

	while (n > 0 && off < n) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));

		if (w < 0)
			return -1;
		off += w;
	}
	return n;
}

int main(int argc, char **argv)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK };
	struct pollfd p[2];
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: vsock-cat CID PORT\n");
		return 2;
	}
	sa.svm_cid = (unsigned)strtoul(argv[1], NULL, 10);
	sa.svm_port = (unsigned)strtoul(argv[2], NULL, 10);
	fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("vsock-cat: connect");
		return 1;
	}
	p[0] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = fd, .events = POLLIN };
	for (;;) {
		ssize_t n;

		if (poll(p, 2, -1) < 0)
			return 1;
		if (p[0].revents) {
			n = pump(STDIN_FILENO, fd);
			if (n < 0)
				return 1;
			if (n == 0) {
				shutdown(fd, SHUT_WR);
				p[0].fd = -1;
			}
		}
		if (p[1].revents) {
			n = pump(fd, STDOUT_FILENO);
			if (n <= 0)
				return n < 0;
		}
	}
}
