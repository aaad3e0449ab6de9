// SPDX-License-Identifier: Apache-2.0
/* The MMDS endpoint against Linux's own TCP/IP stack: in a new network
 * namespace, a tap stands for the guest's interface, the kernel is the
 * guest (its ARP, TCP, retransmissions and window), and plain sockets are
 * the guest's HTTP client: V2 token, reads with and without it, a listing,
 * JSON, a 64 KiB value; then curl, run with the README's guest commands
 * (Firecracker's guide's). Skipped without root (and curl). */
#include <setjmp.h> /* cmocka needs these before its header */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mmds/mmds.h"

#define TAP "mmds0"
#define BIG 65536

static struct mmds m;
static struct mmds_stack *s;
static int tap = -1;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int open_tap(void)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), TAP);
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0)
		return -1;
	return fd;
}

static int setup(void **state)
{
	cJSON *v = cJSON_CreateObject(), *md;
	char *big = malloc(BIG + 1);
	const char *err;

	(void)state;
	if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0)
		return 0; /* the tests skip */
	tap = open_tap();
	if (tap < 0 || system("ip link set lo up && ip link set " TAP " up && "
			      "ip addr add 10.0.0.2/24 dev " TAP " && "
			      "ip route add 169.254.169.254 dev " TAP) != 0)
		return -1;
	memset(big, 'x', BIG);
	big[BIG] = '\0';
	md = cJSON_AddObjectToObject(cJSON_AddObjectToObject(v, "latest"),
				     "meta-data");
	cJSON_AddStringToObject(md, "ami-id", "ami-87654321");
	cJSON_AddStringToObject(md, "big", big);
	cJSON_AddObjectToObject(md, "network");
	free(big);
	if (mmds_init(&m, 1 << 20) || mmds_store_put(&m.store, v, &err))
		return -1;
	cJSON_Delete(v);
	m.version = MMDS_V2;
	s = mmds_stack_create(&m, MMDS_DEFAULT_IPV4);
	return s ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	mmds_stack_destroy(s);
	if (tap >= 0) {
		mmds_destroy(&m);
		close(tap);
	}
	return 0;
}

/* Moves frames both ways between the tap and the MMDS. */
static void pump(void)
{
	uint8_t frame[65536];
	ssize_t n;
	size_t len;

	while ((n = read(tap, frame, sizeof(frame))) > 0)
		mmds_stack_from_guest(s, frame, (size_t)n, false, now_ms());
	while ((len = mmds_stack_to_guest(s, frame, sizeof(frame), now_ms())))
		assert_int_equal(write(tap, frame, len), (ssize_t)len);
}

/* One request on a new connection (then the client's FIN): the whole
 * response, NUL-terminated, until the MMDS closes. */
static char *ask(const char *req)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(80),
				  .sin_addr.s_addr = htonl(MMDS_DEFAULT_IPV4) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	size_t sent = 0, got = 0, cap = 2 * BIG;
	char *buf = malloc(cap);
	uint64_t give_up = now_ms() + 10000;

	assert_true(fd >= 0);
	assert_true(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ||
		    errno == EINPROGRESS);
	while (now_ms() < give_up) {
		struct pollfd p[2] = { { tap, POLLIN, 0 },
				       { fd, POLLIN | POLLOUT, 0 } };
		ssize_t n;

		poll(p, 2, 10);
		pump();
		if (sent < strlen(req) && (p[1].revents & POLLOUT)) {
			n = send(fd, req + sent, strlen(req) - sent, 0);
			if (n > 0 && (sent += (size_t)n) == strlen(req))
				shutdown(fd, SHUT_WR);
		}
		n = recv(fd, buf + got, cap - got - 1, 0);
		if (n == 0)
			break;
		if (n > 0)
			got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	return buf;
}

static const char *body(const char *r)
{
	const char *b = strstr(r, "\r\n\r\n");

	assert_non_null(b);
	return b + 4;
}

static void test_v2_session_over_linux_tcp(void **state)
{
	char req[256], tok[64];
	char *r;

	(void)state;
	if (tap < 0)
		skip();
	r = ask("PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\n"
		"X-metadata-token-ttl-seconds: 60\r\n\r\n");
	assert_true(!strncmp(r, "HTTP/1.1 200 ", 13));
	snprintf(tok, sizeof(tok), "%s", body(r));
	assert_int_equal(strlen(tok), MMDS_TOKEN_LEN);
	free(r);
	r = ask("GET /latest/meta-data/ami-id HTTP/1.1\r\n\r\n");
	assert_true(!strncmp(r, "HTTP/1.1 401 ", 13));
	free(r);
	snprintf(req, sizeof(req),
		 "GET /latest/meta-data/ami-id HTTP/1.1\r\n"
		 "X-metadata-token: %s\r\n\r\n",
		 tok);
	r = ask(req);
	assert_string_equal(body(r), "ami-87654321");
	free(r);
	snprintf(
		req, sizeof(req),
		"GET /latest/meta-data HTTP/1.1\r\nX-metadata-token: %s\r\n\r\n",
		tok);
	r = ask(req);
	assert_string_equal(body(r), "ami-id\nbig\nnetwork/");
	free(r);
	snprintf(req, sizeof(req),
		 "GET /latest/meta-data/network HTTP/1.1\r\n"
		 "Accept: application/json\r\nX-metadata-token: %s\r\n\r\n",
		 tok);
	r = ask(req);
	assert_string_equal(body(r), "{}");
	free(r);
	snprintf(req, sizeof(req),
		 "GET /latest/meta-data/big HTTP/1.1\r\n"
		 "X-metadata-token: %s\r\n\r\n",
		 tok);
	r = ask(req);
	assert_int_equal(strlen(body(r)), BIG);
	assert_int_equal(strspn(body(r), "x"), BIG);
	free(r);
	/* every connection closed on both sides and forgotten */
	for (int i = 0; i < 100 && mmds_stack_connections(s); i++) {
		usleep(10000);
		pump();
	}
	assert_int_equal(mmds_stack_connections(s), 0);
}

/* Runs a shell command (a client in the "guest") while moving frames: its
 * output, NUL-terminated, once it exits. */
static char *run(const char *cmd)
{
	char *buf = calloc(1, 4096);
	uint64_t give_up = now_ms() + 20000;
	size_t got = 0;
	int out[2], status;
	pid_t pid;

	assert_int_equal(pipe2(out, O_NONBLOCK), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		unsetenv("http_proxy");
		unsetenv("HTTP_PROXY");
		unsetenv("all_proxy");
		unsetenv("ALL_PROXY");
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	while (now_ms() < give_up && got < 4095) {
		struct pollfd p[2] = { { tap, POLLIN, 0 },
				       { out[0], POLLIN, 0 } };
		ssize_t n;

		poll(p, 2, 10);
		pump();
		n = read(out[0], buf + got, 4095 - got);
		if (n == 0)
			break;
		if (n > 0)
			got += (size_t)n;
	}
	close(out[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return buf;
}

#define CURL_V2                                                          \
	"M=http://169.254.169.254\n"                                     \
	"TOKEN=$(curl -s -X PUT $M/latest/api/token "                    \
	"-H 'X-metadata-token-ttl-seconds: 21600')\n"                    \
	"echo \"leaf=$(curl -s -H \"X-metadata-token: $TOKEN\" "         \
	"$M/latest/meta-data/ami-id)\"\n"                                \
	"echo \"list=$(curl -s -H \"X-metadata-token: $TOKEN\" "         \
	"$M/latest/meta-data/ | tr '\\n' ,)\"\n"                         \
	"echo \"json=$(curl -s -H \"X-metadata-token: $TOKEN\" "         \
	"-H 'Accept: application/json' $M/latest/meta-data/network)\"\n" \
	"echo \"ec2=$(curl -s -H \"X-aws-ec2-metadata-token: $TOKEN\" "  \
	"$M/latest/meta-data/ami-id)\"\n"                                \
	"echo \"none=$(curl -s -o /dev/null -w '%{http_code}' "          \
	"$M/latest/meta-data/ami-id)\"\n"                                \
	"echo \"bad=$(curl -s -H 'X-metadata-token: x' $M/latest/meta-data/)\"\n"

static void test_curl_as_in_the_readme(void **state)
{
	char *out;

	(void)state;
	if (tap < 0 || access("/usr/bin/curl", X_OK))
		skip();
	out = run(CURL_V2);
	assert_string_equal(out, "leaf=ami-87654321\n"
				 "list=ami-id,big,network/\n"
				 "json={}\n"
				 "ec2=ami-87654321\n"
				 "none=401\n"
				 "bad=MMDS token not valid.\n");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v2_session_over_linux_tcp),
		cmocka_unit_test(test_curl_as_in_the_readme),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
