// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: virtio-vsock driven by a hostile guest script
 * (guest_script.h) with real Unix sockets behind it, no config byte, kept
 * from one input to the next (KEPT; end() and the rewind drop every
 * connection). Host events: a host
 * client connects to the device's socket and asks for guest port `arg`
 * (kind 0), a host end sends `arg` % 1024 bytes (1) or closes (2), the
 * host listener on port 7 accepts what the guest connected (3). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/fuzz/guest_script.h"
#include "tests/harness/guest.h"

#define MAX_HOST 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int listener = -1; /* "<uds_path>_7", for the guest's connects */
static int host[MAX_HOST];
static unsigned nr_host;

static void listen_port_7(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_7", guest.uds_path);
	listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (bind(listener, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(listener, 64))
		abort();
}

static int create(uint8_t cfg)
{
	int ret = guest_add_vsock();

	if (!ret && listener < 0)
		listen_port_7();
	return ret;
}

static void add_host(int fd)
{
	if (nr_host == MAX_HOST)
		close(fd);
	else
		host[nr_host++] = fd;
}

static void accept_guest_connects(void)
{
	int fd;

	while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0)
		add_host(fd);
}

static void connect_host(uint16_t port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	char line[32];
	int n = snprintf(line, sizeof(line), "CONNECT %u\n", port);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", guest.uds_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    send(fd, line, (size_t)n, MSG_NOSIGNAL) != n)
		close(fd);
	else
		add_host(fd);
}

static void host_event(uint8_t kind, uint16_t arg)
{
	static const char bytes[1024];
	unsigned i = nr_host ? arg % nr_host : 0;

	if (kind % 4 == 0)
		connect_host(arg);
	else if (kind % 4 == 3)
		accept_guest_connects();
	else if (nr_host && kind % 4 == 1)
		(void)!send(host[i], bytes, arg % sizeof(bytes), MSG_NOSIGNAL);
	else if (nr_host) {
		close(host[i]);
		host[i] = host[--nr_host];
	}
}

/* Nothing left for the next input: host ends, the guest's connects port
 * 7 did not accept, and host clients of the device's own socket (their
 * ends closed: the loop accepts those still in its backlog, reads their
 * EOF and drops them; the restore after end() closes every other
 * connection). */
static void end(uint8_t cfg)
{
	int fd, rounds = 0;

	while (nr_host)
		close(host[--nr_host]);
	while ((fd = accept4(listener, NULL, NULL, 0)) >= 0)
		close(fd);
	while (guest_serve(0) && ++rounds < 16)
		;
}

static const struct script_dev vsock = { .nr_queues = 3,
					 .create = create,
					 .host = host_event,
					 .end = end,
					 .life = KEPT };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	script_run(&vsock, data, size);
	return 0;
}
