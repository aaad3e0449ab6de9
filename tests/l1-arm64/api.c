// SPDX-License-Identifier: Apache-2.0
/* A minimal client of microvm's API for the arm64 tests (the arm64
 * machine has no arm64 curl or python): one request over the Unix socket,
 * waiting up to 10 s for the socket to accept; prints the response's
 * body and exits 0 for a 2xx status, 1 otherwise (2: usage or I/O).
 *   api SOCKET METHOD PATH [JSON]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int connect_api(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	int tries;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	for (tries = 0; tries < 500; tries++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		close(fd);
		nanosleep(&pause, NULL);
	}
	return -1;
}

static int send_all(int fd, const char *buf, size_t len)
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

int main(int argc, char **argv)
{
	static char req[65536], resp[65536];
	const char *body = argc > 4 ? argv[4] : "";
	size_t got = 0;
	ssize_t n;
	char *text;
	int fd, len, status = 0;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: api SOCKET METHOD PATH [JSON]\n");
		return 2;
	}
	fd = connect_api(argv[1]);
	len = snprintf(req, sizeof(req),
		       "%s %s HTTP/1.1\r\nHost: localhost\r\n"
		       "Content-Type: application/json\r\n"
		       "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		       argv[2], argv[3], strlen(body), body);
	if (fd < 0 || len < 0 || (size_t)len >= sizeof(req) ||
	    send_all(fd, req, (size_t)len)) {
		fprintf(stderr, "api: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	/* the response ends when microvm closes (Connection: close) */
	while (got < sizeof(resp) - 1 &&
	       (n = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
		got += (size_t)n;
	resp[got] = '\0';
	if (sscanf(resp, "HTTP/1.1 %d", &status) != 1) {
		fprintf(stderr, "api: no HTTP response\n");
		return 2;
	}
	text = strstr(resp, "\r\n\r\n");
	printf("%d %s\n", status, text ? text + 4 : "");
	return status >= 200 && status < 300 ? 0 : 1;
}
