// SPDX-License-Identifier: Apache-2.0
/* http-time ADDR PORT PATH COUNT: COUNT times, opens a TCP connection to
 * ADDR:PORT, sends "GET PATH HTTP/1.1", reads the response to the end of
 * its Content-Length and closes, as wget or curl would. Prints one line per
 * request: the microseconds from connect() to the response's last byte,
 * the status code and the body's length. Exit 1 on any failure. */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 17];

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Reads one response into buf; its total length, -1 on failure. */
static long read_response(int fd, long *body_len)
{
	long got = 0, total = -1;

	while (total < 0 || got < total) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got);
		char *end, *cl;

		if (n <= 0)
			return -1;
		got += n;
		buf[got] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (total >= 0 || !end)
			continue;
		cl = strcasestr(buf, "\r\nContent-Length:");
		if (!cl || cl > end)
			return -1;
		*body_len = strtol(cl + 17, NULL, 10);
		total = (end + 4 - buf) + *body_len;
		if (total >= (long)sizeof(buf))
			return -1;
	}
	return got;
}

static int one_request(const struct sockaddr_in *sa, const char *req)
{
	long long start = now_us();
	long body_len = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0), status;

	if (fd < 0 || connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) ||
	    write(fd, req, strlen(req)) != (ssize_t)strlen(req) ||
	    read_response(fd, &body_len) < 0 ||
	    sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
		perror("http-time");
		return 1;
	}
	printf("%lld %d %ld\n", now_us() - start, status, body_len);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char req[512];
	int i, count;

	if (argc != 5 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "usage: http-time ADDR PORT PATH COUNT\n");
		return 2;
	}
	sa.sin_port = htons((unsigned short)atoi(argv[2]));
	count = atoi(argv[4]);
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n",
		 argv[3], argv[1]);
	for (i = 0; i < count; i++)
		if (one_request(&sa, req))
			return 1;
	return 0;
}
