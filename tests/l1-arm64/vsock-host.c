// SPDX-License-Identifier: Apache-2.0
/* The host side of the arm64 vsock test (tests/l1-arm64/test-boot.sh; the
 * arm64 machine has no socat or python), through microvm's Unix socket as
 * Firecracker's vsock documents it:
 *   vsock-host connect UDS PORT TEXT
 *       connects to the guest's PORT ("CONNECT PORT\n", "OK ...\n"),
 *       retrying for up to 60 s while the guest does not listen yet,
 *       sends TEXT, shuts its side down and checks that the guest sends
 *       TEXT back (an echo server); exit 0 when it does.
 *   vsock-host listen UDS_PORT
 *       listens on UDS_PORT (the UDS path + "_" + the port the guest
 *       connects to), accepts one connection within 60 s and echoes what
 *       it reads until the guest shuts its side down; exit 0 then.
 * Exit 1 on a failure (said on stderr), 2 on a usage error. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 60000

static struct sockaddr_un unix_addr(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	return a;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads until EOF or `size - 1` bytes, each read within WAIT_MS; the
 * bytes read, or -1. */
static ssize_t read_all(int fd, char *buf, size_t size)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;

	while (got < size - 1) {
		ssize_t n;

		if (poll(&p, 1, WAIT_MS) != 1)
			return -1;
		n = read(fd, buf + got, size - 1 - got);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return (ssize_t)got;
}

/* Reads the handshake's answer a byte at a time, up to its newline. */
static int read_line(int fd, char *line, size_t size)
{
	size_t i = 0;

	while (i < size - 1 && read(fd, line + i, 1) == 1)
		if (line[i++] == '\n')
			break;
	line[i] = '\0';
	return i > 0 && line[i - 1] == '\n' ? 0 : -1;
}

/* One connection to the guest's port: the socket after "OK", or -1. */
static int connect_port(const char *uds, const char *port)
{
	struct sockaddr_un a = unix_addr(uds);
	char line[64];
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(line, sizeof(line), "CONNECT %s\n", port);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    write_all(fd, line, strlen(line)) == 0 &&
	    read_line(fd, line, sizeof(line)) == 0 && !strncmp(line, "OK ", 3))
		return fd;
	close(fd);
	return -1;
}

static int run_connect(const char *uds, const char *port, const char *text)
{
	struct timespec pause = { 0, 200 * 1000 * 1000 };
	char echo[4096];
	int fd = -1, tries;

	for (tries = 0; fd < 0 && tries < WAIT_MS / 200; tries++)
		if ((fd = connect_port(uds, port)) < 0)
			nanosleep(&pause, NULL);
	if (fd < 0) {
		fprintf(stderr, "vsock-host: no connection to port %s\n", port);
		return 1;
	}
	if (write_all(fd, text, strlen(text)) < 0 || shutdown(fd, SHUT_WR) ||
	    read_all(fd, echo, sizeof(echo)) < 0 || strcmp(echo, text)) {
		fprintf(stderr, "vsock-host: port %s did not echo '%s'\n", port,
			text);
		return 1;
	}
	printf("vsock-host: port %s echoed %zu bytes\n", port, strlen(text));
	return 0;
}

static int run_listen(const char *path)
{
	struct sockaddr_un a = unix_addr(path);
	struct pollfd p = { .events = POLLIN };
	char buf[4096];
	ssize_t n;
	int conn;

	p.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(path);
	if (p.fd < 0 || bind(p.fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(p.fd, 1) || poll(&p, 1, WAIT_MS) != 1 ||
	    (conn = accept(p.fd, NULL, NULL)) < 0) {
		fprintf(stderr, "vsock-host: no connection on %s: %s\n", path,
			errno ? strerror(errno) : "timed out");
		return 1;
	}
	n = read_all(conn, buf, sizeof(buf));
	if (n < 0 || write_all(conn, buf, (size_t)n) < 0) {
		fprintf(stderr, "vsock-host: the guest's bytes were lost\n");
		return 1;
	}
	printf("vsock-host: echoed %zd bytes to the guest\n", n);
	close(conn);
	unlink(path);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "connect"))
		return run_connect(argv[2], argv[3], argv[4]);
	if (argc == 3 && !strcmp(argv[1], "listen"))
		return run_listen(argv[2]);
	fprintf(stderr, "usage: vsock-host connect UDS PORT TEXT | "
			"vsock-host listen UDS_PORT\n");
	return 2;
}
