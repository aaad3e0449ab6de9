// SPDX-License-Identifier: Apache-2.0
/* The vsock muxer against real Unix sockets in a temporary directory, with
 * the guest played by the test: connections both ways, data, credit, and
 * hostile headers (bad CIDs, type, op, lengths, credit) that must end in
 * a reset, never a crash. */
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/unit/unit.h"
#include "virtio/virtio.h"

#define CID 3
#define RXBUF (VSOCK_HDR_LEN + 4096)

struct fixture {
	char dir[64], uds[128];
	struct vsock_mux *m;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/vsock-unit-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->uds, sizeof(f->uds), "%s/v.sock", f->dir);
	if (vsock_mux_create(CID, f->uds, &f->m))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	vsock_mux_destroy(f->m);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd))
		return -1;
	free(f);
	return 0;
}

static void guest_send_hdr(struct vsock_mux *m, struct vsock_hdr h,
			   const void *data, size_t avail)
{
	static char copy[VSOCK_MAX_PAYLOAD];
	struct iovec iov = { copy, avail };

	if (data)
		memcpy(copy, data, avail);
	vsock_mux_from_guest(m, &h, &iov, 1, avail);
}

static struct vsock_hdr hdr(uint16_t op, uint32_t src, uint32_t dst,
			    uint32_t len)
{
	return (struct vsock_hdr){ .src_cid = CID,
				   .dst_cid = VSOCK_HOST_CID,
				   .src_port = src,
				   .dst_port = dst,
				   .len = len,
				   .type = VSOCK_TYPE_STREAM,
				   .op = op,
				   .buf_alloc = 65536 };
}

static void guest_send(struct vsock_mux *m, uint16_t op, uint32_t src,
		       uint32_t dst, const char *data)
{
	size_t len = data ? strlen(data) : 0;

	guest_send_hdr(m, hdr(op, src, dst, (uint32_t)len), data, len);
}

/* The next packet for the guest; its payload (NUL-terminated) in data. */
static size_t guest_recv(struct vsock_mux *m, struct vsock_hdr *h, char *data)
{
	static uint8_t buf[RXBUF + 1];
	struct iovec iov = { buf, RXBUF };
	size_t n = vsock_mux_to_guest(m, &iov, 1);

	memset(h, 0, sizeof(*h));
	if (n >= VSOCK_HDR_LEN) {
		memcpy(h, buf, sizeof(*h));
		assert_int_equal(n, VSOCK_HDR_LEN + h->len);
		if (data) {
			memcpy(data, buf + VSOCK_HDR_LEN, h->len);
			data[h->len] = '\0';
		}
	}
	return n;
}

static void expect_packet(struct vsock_mux *m, uint16_t op, uint32_t src,
			  uint32_t dst)
{
	struct vsock_hdr h;

	assert_true(vsock_mux_has_rx(m));
	assert_true(guest_recv(m, &h, NULL) >= VSOCK_HDR_LEN);
	assert_int_equal(h.op, op);
	assert_int_equal(h.src_port, src);
	assert_int_equal(h.dst_port, dst);
	assert_int_equal(h.src_cid, VSOCK_HOST_CID);
	assert_int_equal(h.dst_cid, CID);
}

static int unix_socket(const char *path, bool listening)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct timeval tv = { 2, 0 };

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (listening)
		unlink(path);
	if (listening)
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
					 listen(fd, 8),
				 0);
	else
		assert_int_equal(
			connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static int host_listener(struct fixture *f, uint32_t port)
{
	char path[160];

	snprintf(path, sizeof(path), "%s_%u", f->uds, port);
	return unix_socket(path, true);
}

/* Guest port 1024 connects to host port 7000: returns the host's end. */
static int guest_connected(struct fixture *f)
{
	int l = host_listener(f, 7000), fd;

	guest_send(f->m, VSOCK_OP_REQUEST, 1024, 7000, NULL);
	expect_packet(f->m, VSOCK_OP_RESPONSE, 7000, 1024);
	fd = accept(l, NULL, NULL);
	close(l);
	assert_true(fd >= 0);
	assert_int_equal(vsock_mux_nr_conns(f->m), 1);
	return fd;
}

static void poll_until_rx(struct vsock_mux *m)
{
	int i;

	for (i = 0; i < 100 && !vsock_mux_has_rx(m); i++) {
		vsock_mux_poll(m);
		usleep(1000);
	}
	assert_true(vsock_mux_has_rx(m));
}

static void test_guest_to_host_data(void **state)
{
	struct fixture *f = *state;
	int fd = guest_connected(f);
	char buf[64];
	struct vsock_hdr h;

	guest_send(f->m, VSOCK_OP_RW, 1024, 7000, "hello");
	assert_int_equal(read(fd, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(write(fd, "world", 5), 5);
	poll_until_rx(f->m);
	assert_int_equal(guest_recv(f->m, &h, buf), VSOCK_HDR_LEN + 5);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_string_equal(buf, "world");
	assert_int_equal(h.fwd_cnt, 5); /* the 5 bytes the host took */
	assert_int_equal(h.buf_alloc, VSOCK_CONN_BUF);
	close(fd);
}

static void test_guest_connect_without_listener(void **state)
{
	struct fixture *f = *state;

	guest_send(f->m, VSOCK_OP_REQUEST, 1024, 7001, NULL);
	expect_packet(f->m, VSOCK_OP_RST, 7001, 1024);
	assert_int_equal(vsock_mux_nr_conns(f->m), 0);
	assert_false(vsock_mux_has_rx(f->m));
}

/* A host client's CONNECT: REQUEST to the guest, OK after RESPONSE. */
static int host_connected(struct fixture *f, uint32_t port)
{
	int fd = unix_socket(f->uds, false);
	char line[32];

	snprintf(line, sizeof(line), "CONNECT %u\n", port);
	assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	poll_until_rx(f->m);
	expect_packet(f->m, VSOCK_OP_REQUEST, VSOCK_FIRST_HOST_PORT, port);
	return fd;
}

static void test_host_connect(void **state)
{
	struct fixture *f = *state;
	int fd = host_connected(f, 5000);
	char buf[64] = { 0 };

	guest_send(f->m, VSOCK_OP_RESPONSE, 5000, VSOCK_FIRST_HOST_PORT, NULL);
	assert_true(read(fd, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "OK 1073741824\n");
	guest_send(f->m, VSOCK_OP_RST, 5000, VSOCK_FIRST_HOST_PORT, NULL);
	assert_int_equal(read(fd, buf, sizeof(buf)), 0); /* closed */
	assert_int_equal(vsock_mux_nr_conns(f->m), 0);
	assert_false(vsock_mux_has_rx(f->m)); /* no RST answers an RST */
	close(fd);
}

static void test_host_connect_refused_by_guest(void **state)
{
	struct fixture *f = *state;
	int fd = host_connected(f, 5001);
	char buf[8];

	guest_send(f->m, VSOCK_OP_RST, 5001, VSOCK_FIRST_HOST_PORT, NULL);
	assert_int_equal(read(fd, buf, sizeof(buf)), 0);
	close(fd);
}

static void test_bad_connect_lines(void **state)
{
	static const char *const lines[] = {
		"CONNECT x\n", "CONNECT 99999999999\n", "HELLO 5\n",
		"CONNECT 5000 junk\n", "CONNECT 1234567890123456789012345678\n"
	};
	struct fixture *f = *state;
	unsigned i, k;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		int fd = unix_socket(f->uds, false);
		char buf[8];

		assert_true(write(fd, lines[i], strlen(lines[i])) > 0);
		for (k = 0; k < 5; k++)
			vsock_mux_poll(f->m);
		/* closed; ECONNRESET when a long line was left unread */
		assert_true(read(fd, buf, sizeof(buf)) <= 0);
		assert_false(vsock_mux_has_rx(f->m));
		close(fd);
	}
	assert_int_equal(vsock_mux_nr_conns(f->m), 0);
}

static void test_hostile_headers(void **state)
{
	struct fixture *f = *state;
	struct vsock_hdr h = hdr(VSOCK_OP_REQUEST, 1024, 7000, 0);
	char big[16] = { 0 };

	h.src_cid = 7; /* not the guest's CID */
	guest_send_hdr(f->m, h, NULL, 0);
	expect_packet(f->m, VSOCK_OP_RST, 7000, 1024);
	h = hdr(VSOCK_OP_REQUEST, 1024, 7000, 0);
	h.dst_cid = 9; /* not the host */
	guest_send_hdr(f->m, h, NULL, 0);
	expect_packet(f->m, VSOCK_OP_RST, 7000, 1024);
	h = hdr(VSOCK_OP_REQUEST, 1024, 7000, 0);
	h.type = 2; /* SEQPACKET */
	guest_send_hdr(f->m, h, NULL, 0);
	expect_packet(f->m, VSOCK_OP_RST, 7000, 1024);
	/* RW with no connection; an RST with none is ignored */
	guest_send(f->m, VSOCK_OP_RW, 1, 2, "x");
	expect_packet(f->m, VSOCK_OP_RST, 2, 1);
	guest_send(f->m, VSOCK_OP_RST, 1, 2, NULL);
	assert_false(vsock_mux_has_rx(f->m));
	/* length beyond the buffer, and beyond the maximum */
	h = hdr(VSOCK_OP_RW, 1, 2, 17);
	guest_send_hdr(f->m, h, big, sizeof(big));
	expect_packet(f->m, VSOCK_OP_RST, 2, 1);
	h = hdr(VSOCK_OP_RW, 1, 2, UINT32_MAX);
	guest_send_hdr(f->m, h, big, sizeof(big));
	expect_packet(f->m, VSOCK_OP_RST, 2, 1);
	assert_false(vsock_mux_has_rx(f->m));
	assert_int_equal(vsock_mux_nr_conns(f->m), 0);
}

/* A bad packet on a live connection resets it and closes the host side. */
static void test_hostile_packet_resets_connection(void **state)
{
	static const uint16_t bad_ops[] = { 0, 99, VSOCK_OP_REQUEST,
					    VSOCK_OP_RESPONSE };
	struct fixture *f = *state;
	unsigned i;

	for (i = 0; i < sizeof(bad_ops) / sizeof(bad_ops[0]); i++) {
		int fd = guest_connected(f);
		char buf[8];

		guest_send(f->m, bad_ops[i], 1024, 7000, NULL);
		expect_packet(f->m, VSOCK_OP_RST, 7000, 1024);
		assert_int_equal(read(fd, buf, sizeof(buf)), 0);
		assert_int_equal(vsock_mux_nr_conns(f->m), 0);
		close(fd);
	}
	/* len past the chain on a live connection */
	{
		int fd = guest_connected(f);
		struct vsock_hdr h = hdr(VSOCK_OP_RW, 1024, 7000, 100);

		guest_send_hdr(f->m, h, "short", 5);
		expect_packet(f->m, VSOCK_OP_RST, 7000, 1024);
		assert_int_equal(vsock_mux_nr_conns(f->m), 0);
		close(fd);
	}
}

static void test_credit_limits_host_data(void **state)
{
	struct fixture *f = *state;
	int fd = guest_connected(f);
	struct vsock_hdr h = hdr(VSOCK_OP_CREDIT_UPDATE, 1024, 7000, 0);
	char buf[64];

	h.buf_alloc = 3;
	guest_send_hdr(f->m, h, NULL, 0);
	assert_int_equal(write(fd, "abcdef", 6), 6);
	poll_until_rx(f->m);
	assert_int_equal(guest_recv(f->m, &h, buf), VSOCK_HDR_LEN + 3);
	assert_string_equal(buf, "abc");
	vsock_mux_poll(f->m);
	assert_false(vsock_mux_has_rx(f->m)); /* no credit left */
	h = hdr(VSOCK_OP_CREDIT_UPDATE, 1024, 7000, 0);
	h.buf_alloc = 3;
	h.fwd_cnt = 3;
	guest_send_hdr(f->m, h, NULL, 0);
	assert_int_equal(guest_recv(f->m, &h, buf), VSOCK_HDR_LEN + 3);
	assert_string_equal(buf, "def");
	/* a forwarded count beyond what was sent gives no credit, not 4 GiB */
	h = hdr(VSOCK_OP_CREDIT_UPDATE, 1024, 7000, 0);
	h.buf_alloc = 3;
	h.fwd_cnt = 1000;
	guest_send_hdr(f->m, h, NULL, 0);
	assert_int_equal(write(fd, "ghi", 3), 3);
	vsock_mux_poll(f->m);
	assert_false(vsock_mux_has_rx(f->m));
	close(fd);
}

/* The guest sends while the host does not read: the ring fills, and a
 * guest that ignores our credit is reset. */
static void test_guest_ignoring_credit_is_reset(void **state)
{
	static char chunk[VSOCK_MAX_PAYLOAD];
	struct fixture *f = *state;
	int fd = guest_connected(f), i;
	struct vsock_hdr h = hdr(VSOCK_OP_RW, 1024, 7000, sizeof(chunk));

	for (i = 0; i < 1000 && vsock_mux_nr_conns(f->m); i++)
		guest_send_hdr(f->m, h, chunk, sizeof(chunk));
	assert_int_equal(vsock_mux_nr_conns(f->m), 0);
	assert_true(i < 1000);
	for (;;) { /* credit updates may come before the RST */
		assert_true(vsock_mux_has_rx(f->m));
		assert_true(guest_recv(f->m, &h, NULL) >= VSOCK_HDR_LEN);
		if (h.op == VSOCK_OP_RST)
			break;
		assert_int_equal(h.op, VSOCK_OP_CREDIT_UPDATE);
	}
	close(fd);
}

static void test_credit_update_after_forwarding(void **state)
{
	static char chunk[4096], sink[VSOCK_CONN_BUF];
	struct fixture *f = *state;
	int fd = guest_connected(f), i;
	struct vsock_hdr h = hdr(VSOCK_OP_RW, 1024, 7000, sizeof(chunk));

	for (i = 0; i < VSOCK_CONN_BUF / 4 / (int)sizeof(chunk); i++)
		guest_send_hdr(f->m, h, chunk, sizeof(chunk));
	assert_true(read(fd, sink, sizeof(sink)) > 0);
	expect_packet(f->m, VSOCK_OP_CREDIT_UPDATE, 7000, 1024);
	close(fd);
}

static void test_guest_shutdown_closes_host(void **state)
{
	struct fixture *f = *state;
	int fd = guest_connected(f);
	struct vsock_hdr h = hdr(VSOCK_OP_SHUTDOWN, 1024, 7000, 0);
	char buf[8];

	guest_send(f->m, VSOCK_OP_RW, 1024, 7000, "bye");
	h.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
	guest_send_hdr(f->m, h, NULL, 0);
	expect_packet(f->m, VSOCK_OP_RST, 7000, 1024);
	assert_int_equal(read(fd, buf, sizeof(buf)), 3);
	assert_int_equal(read(fd, buf, sizeof(buf)), 0);
	close(fd);
}

static void test_host_half_close(void **state)
{
	struct fixture *f = *state;
	int fd = guest_connected(f);
	struct vsock_hdr h;
	char buf[8];

	shutdown(fd, SHUT_WR);
	poll_until_rx(f->m);
	assert_int_equal(guest_recv(f->m, &h, NULL), VSOCK_HDR_LEN);
	assert_int_equal(h.op, VSOCK_OP_SHUTDOWN);
	assert_int_equal(h.flags, VSOCK_SHUTDOWN_SEND);
	/* the guest can still send; then it shuts down too: closed */
	guest_send(f->m, VSOCK_OP_RW, 1024, 7000, "late");
	assert_int_equal(read(fd, buf, sizeof(buf)), 4);
	h = hdr(VSOCK_OP_SHUTDOWN, 1024, 7000, 0);
	h.flags = VSOCK_SHUTDOWN_SEND;
	guest_send_hdr(f->m, h, NULL, 0);
	expect_packet(f->m, VSOCK_OP_RST, 7000, 1024);
	assert_int_equal(vsock_mux_nr_conns(f->m), 0);
	close(fd);
}

static void test_host_gone_and_reset(void **state)
{
	struct fixture *f = *state;
	int fd = guest_connected(f);
	uint8_t tiny[VSOCK_HDR_LEN - 1];
	struct iovec iov = { tiny, sizeof(tiny) };

	close(fd);
	poll_until_rx(f->m);
	assert_int_equal(vsock_mux_to_guest(f->m, &iov, 1), 0); /* too small */
	expect_packet(f->m, VSOCK_OP_RST, 7000, 1024);
	assert_int_equal(vsock_mux_nr_conns(f->m), 0);
	fd = guest_connected(f);
	vsock_mux_reset(f->m);
	assert_int_equal(vsock_mux_nr_conns(f->m), 0);
	assert_false(vsock_mux_has_rx(f->m));
	close(fd);
}

/* A header-only rx buffer (44 bytes) has no room for data: the host's
 * bytes wait for a bigger buffer, never read as end of file (finding 6). */
static void test_header_only_buffer_keeps_host_data(void **state)
{
	struct fixture *f = *state;
	int fd = guest_connected(f);
	uint8_t hdr_only[VSOCK_HDR_LEN];
	struct iovec iov = { hdr_only, sizeof(hdr_only) };
	struct vsock_hdr h;
	char buf[64];

	assert_int_equal(write(fd, "pending", 7), 7);
	poll_until_rx(f->m);
	assert_int_equal(vsock_mux_to_guest(f->m, &iov, 1), 0);
	assert_int_equal(guest_recv(f->m, &h, buf), VSOCK_HDR_LEN + 7);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_string_equal(buf, "pending");
	/* control packets still fit: a credit request is answered in one */
	guest_send(f->m, VSOCK_OP_CREDIT_REQUEST, 1024, 7000, NULL);
	assert_int_equal(vsock_mux_to_guest(f->m, &iov, 1), VSOCK_HDR_LEN);
	memcpy(&h, hdr_only, sizeof(h));
	assert_int_equal(h.op, VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(vsock_mux_nr_conns(f->m), 1);
	close(fd);
}

static bool file_holds(const char *path, const char *text)
{
	char buf[32] = { 0 };
	FILE *fp = fopen(path, "r");
	bool same;

	if (!fp)
		return false;
	same = fread(buf, 1, sizeof(buf) - 1, fp) == strlen(text) &&
	       !strcmp(buf, text);
	fclose(fp);
	return same;
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	fclose(fp);
}

/* uds_path naming an existing regular file: bind fails and the file
 * survives; a file put in place of our socket survives our exit too; our
 * own socket is removed (finding 5). */
static void test_only_own_socket_removed(void **state)
{
	struct fixture *f = *state;
	struct vsock_mux *m;
	char other[160];

	snprintf(other, sizeof(other), "%s/data", f->dir);
	write_file(other, "keep me");
	assert_true(vsock_mux_create(CID, other, &m) < 0);
	assert_null(m);
	assert_true(file_holds(other, "keep me"));

	vsock_mux_destroy(f->m);
	assert_int_equal(access(f->uds, F_OK), -1); /* ours: removed */
	assert_int_equal(vsock_mux_create(CID, f->uds, &f->m), 0);
	assert_int_equal(unlink(f->uds), 0);
	write_file(f->uds, "not yours");
	vsock_mux_destroy(f->m);
	f->m = NULL;
	assert_true(file_holds(f->uds, "not yours"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_guest_to_host_data, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_guest_connect_without_listener, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_connect, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_host_connect_refused_by_guest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_connect_lines, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hostile_headers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_hostile_packet_resets_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credit_limits_host_data,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_guest_ignoring_credit_is_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_credit_update_after_forwarding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_shutdown_closes_host,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_half_close, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_header_only_buffer_keeps_host_data, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_only_own_socket_removed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_gone_and_reset, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
