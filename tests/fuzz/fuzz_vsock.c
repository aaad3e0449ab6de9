// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: the vsock muxer fed a hostile guest. The input is a
 * script of records: an action byte, then for packets a 44-byte header
 * and a payload. Guest connects to port 7 reach a real host listener, whose
 * ends the script writes to or closes; packets are drained into rx buffers
 * of fuzzed sizes. ASan/UBSan check every step; each input ends with a
 * reset, which must leave no connection behind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "virtio/virtio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HOST 16

static struct vsock_mux *mux;
static int listener = -1;
static int host[MAX_HOST];
static unsigned nr_host;

static void setup(void)
{
	char dir[] = "/tmp/fuzz-vsock-XXXXXX", path[108];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/v.sock", dir);
	if (vsock_mux_create(3, path, &mux))
		abort();
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_7", path);
	listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (bind(listener, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(listener, 64))
		abort();
}

static void accept_host_ends(void)
{
	int fd;

	while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
		if (nr_host == MAX_HOST)
			close(fd);
		else
			host[nr_host++] = fd;
	}
}

static void drain(size_t room)
{
	static uint8_t buf[VSOCK_HDR_LEN + 8192];
	struct iovec iov[2] = { { buf, room / 2 },
				{ buf + room / 2, room - room / 2 } };
	int i;

	for (i = 0; i < 64 && vsock_mux_has_rx(mux); i++)
		if (!vsock_mux_to_guest(mux, iov, 2))
			break;
}

static size_t guest_packet(const uint8_t *p, size_t left, uint8_t action)
{
	static uint8_t payload[VSOCK_MAX_PAYLOAD];
	struct vsock_hdr h;
	struct iovec iov = { payload, 0 };
	size_t avail;

	if (left < sizeof(h) + 2)
		return left;
	memcpy(&h, p, sizeof(h));
	avail = (size_t)p[sizeof(h)] | (size_t)p[sizeof(h) + 1] << 8;
	if (action & 2) { /* mostly-valid headers get deeper */
		h.src_cid = 3;
		h.dst_cid = VSOCK_HOST_CID;
		h.type = VSOCK_TYPE_STREAM;
		h.dst_port &= 7;
		h.src_port &= 7;
		h.op = (uint16_t)(h.op % 9);
	}
	left -= sizeof(h) + 2;
	p += sizeof(h) + 2;
	iov.iov_len = avail < left ? avail : left;
	memcpy(payload, p, iov.iov_len);
	vsock_mux_from_guest(mux, &h, &iov, 1, iov.iov_len);
	return sizeof(h) + 2 + iov.iov_len;
}

static void host_action(uint8_t action, uint8_t arg)
{
	static const char bytes[512];
	unsigned i = nr_host ? arg % nr_host : 0;

	if (!nr_host)
		return;
	if (action & 2) {
		if (send(host[i], bytes, arg * 2u, MSG_NOSIGNAL) < 0)
			return;
	} else {
		close(host[i]);
		nr_host--;
		host[i] = host[nr_host];
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	if (!mux)
		setup();
	while (off + 2 <= size) {
		uint8_t action = data[off++];

		switch (action & 3) {
		case 0:
		case 2:
			off += guest_packet(data + off, size - off, action);
			break;
		case 1:
			drain(VSOCK_HDR_LEN - 4 + data[off++] * 32u);
			break;
		default:
			host_action(action >> 2, data[off++]);
			break;
		}
		accept_host_ends();
		vsock_mux_poll(mux);
	}
	drain(VSOCK_HDR_LEN + 4096);
	vsock_mux_reset(mux);
	if (vsock_mux_nr_conns(mux))
		abort();
	while (nr_host)
		close(host[--nr_host]);
	return 0;
}
