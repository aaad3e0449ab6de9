// SPDX-License-Identifier: Apache-2.0
/* The MMDS network endpoint driven with raw Ethernet frames as a guest
 * sends them, and its frames checked as a guest's stack would (every
 * checksum recomputed here): ARP, a whole TCP conversation, resets in
 * every state, retransmission on a controlled clock (lost data, lost
 * ACKs of the FIN), the connection cap and SYN floods at it, zero
 * windows and clients that never read, out-of-order, duplicated and
 * overlapping segments, and hostile frames. */
#include <setjmp.h> /* cmocka needs these before its header */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmds/mmds.h"
#include "tests/harness/inet.h"

#define GUEST_IP 0x0a000002u /* 10.0.0.2 */
#define MMDS_IP MMDS_DEFAULT_IPV4
static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t mmds_mac[6] = MMDS_MAC;

static struct mmds m;
static struct mmds_stack *s;
static uint64_t now;

struct seg { /* a segment the stack sent, as the guest sees it */
	uint8_t flags;
	uint16_t port, window, mss;
	uint32_t seq, ack;
	uint8_t data[MMDS_FRAME_MAX];
	size_t len;
};

struct client { /* the guest's side of one connection */
	uint16_t port;
	uint32_t seq; /* next sequence number to send */
	uint32_t ack; /* next expected from the MMDS */
};

struct tcp_opts {
	uint16_t window;
	uint16_t mss; /* 0: no option */
	uint8_t ihl_extra; /* IPv4 option words (NOPs) */
};

/* An Ethernet + IPv4 + TCP frame from the guest to the MMDS; returns its
 * length. Offsets: IPv4 at 14, TCP at 14 + ihl. */
static size_t frame(uint8_t *b, uint16_t sport, uint32_t seq, uint32_t ack,
		    uint8_t flags, const void *data, size_t len,
		    const struct tcp_opts *o)
{
	size_t ihl = 20 + 4u * o->ihl_extra, thl = o->mss ? 24 : 20;
	uint8_t *ip = b + 14, *t = ip + ihl;

	memcpy(b, mmds_mac, 6);
	memcpy(b + 6, guest_mac, 6);
	put16(b + 12, 0x0800);
	memset(ip, 0, ihl);
	ip[0] = (uint8_t)(0x40 | ihl / 4);
	put16(ip + 2, (uint16_t)(ihl + thl + len));
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 6;
	put32(ip + 12, GUEST_IP);
	put32(ip + 16, MMDS_IP);
	memset(ip + 20, 1, ihl - 20); /* NOP options */
	put16(ip + 10, csum(ip, ihl, 0));
	memset(t, 0, thl);
	put16(t, sport);
	put16(t + 2, 80);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = (uint8_t)(thl / 4 << 4);
	t[13] = flags;
	put16(t + 14, o->window);
	if (o->mss) {
		t[20] = 2;
		t[21] = 4;
		put16(t + 22, o->mss);
	}
	if (len)
		memcpy(t + thl, data, len);
	put16(t + 16, csum(t, thl + len, pseudo(GUEST_IP, MMDS_IP, thl + len)));
	return 14 + ihl + thl + len;
}

static const struct tcp_opts plain = { .window = 65535 };
#define REQ "GET /latest/meta-data/ami-id HTTP/1.1\r\n\r\n"

static void send_seg(uint16_t port, uint32_t seq, uint32_t ack, uint8_t flags,
		     const void *data, size_t len)
{
	uint8_t b[4096];
	size_t n = frame(b, port, seq, ack, flags, data, len, &plain);

	assert_true(mmds_stack_from_guest(s, b, n, false, now));
}

/* The next frame for the guest, checked like a guest stack would; false
 * if there is none. */
static bool pull(struct seg *out)
{
	uint8_t b[MMDS_FRAME_MAX];
	size_t n = mmds_stack_to_guest(s, b, sizeof(b), now), ihl, tlen;
	const uint8_t *ip = b + 14, *t;

	if (!n)
		return false;
	assert_memory_equal(b, guest_mac, 6);
	assert_memory_equal(b + 6, mmds_mac, 6);
	assert_int_equal(get16(b + 12), 0x0800);
	ihl = (size_t)(ip[0] & 15) * 4;
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(get16(ip + 2), n - 14);
	assert_int_equal(csum(ip, ihl, 0), 0);
	assert_int_equal(ip[9], 6);
	assert_int_equal(get32(ip + 12), MMDS_IP);
	assert_int_equal(get32(ip + 16), GUEST_IP);
	t = ip + ihl;
	tlen = n - 14 - ihl;
	assert_int_equal(csum(t, tlen, pseudo(MMDS_IP, GUEST_IP, tlen)), 0);
	assert_int_equal(get16(t), 80);
	memset(out, 0, sizeof(*out));
	out->port = get16(t + 2);
	out->seq = get32(t + 4);
	out->ack = get32(t + 8);
	out->flags = t[13];
	out->window = get16(t + 14);
	if ((t[12] >> 4) * 4 == 24 && t[20] == 2)
		out->mss = get16(t + 22);
	out->len = tlen - (size_t)(t[12] >> 4) * 4;
	memcpy(out->data, t + (t[12] >> 4) * 4, out->len);
	return true;
}

static void expect_nothing(void)
{
	struct seg g;

	assert_false(pull(&g));
}

static void expect_seg(struct seg *g, uint8_t flags)
{
	assert_true(pull(g));
	assert_int_equal(g->flags, flags);
}

static int setup(void **state)
{
	static const char data[] =
		"{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-87654321\","
		"\"reservation-id\":\"r-79054aef\"}}}";
	cJSON *v = cJSON_Parse(data);
	const char *err;

	(void)state;
	assert_int_equal(mmds_init(&m, 1 << 20), 0);
	assert_int_equal(mmds_store_put(&m.store, v, &err), 0);
	cJSON_Delete(v);
	s = mmds_stack_create(&m, MMDS_IP);
	assert_non_null(s);
	now = 1000;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mmds_stack_destroy(s);
	mmds_destroy(&m);
	return 0;
}

/* SYN, SYN-ACK, ACK. */
static void handshake(struct client *c, uint16_t port)
{
	uint8_t b[128];
	struct tcp_opts o = { .window = 65535, .mss = 1460 };
	struct seg g;

	c->port = port;
	c->seq = 1000u * port;
	assert_true(mmds_stack_from_guest(
		s, b, frame(b, port, c->seq, 0, TCPF_SYN, NULL, 0, &o), false,
		now));
	expect_seg(&g, TCPF_SYN | TCPF_ACK);
	assert_int_equal(g.port, port);
	assert_int_equal(g.ack, c->seq + 1);
	assert_int_equal(g.mss, MMDS_MSS_MAX);
	assert_int_equal(g.window, MMDS_RCV_BUF);
	c->seq++;
	c->ack = g.seq + 1;
	send_seg(port, c->seq, c->ack, TCPF_ACK, NULL, 0);
	expect_nothing();
}

static void send_data(struct client *c, const char *data)
{
	send_seg(c->port, c->seq, c->ack, TCPF_ACK | TCPF_PSH, data,
		 strlen(data));
	c->seq += (uint32_t)strlen(data);
}

/* Reads (and ACKs) segments until a PSH: the whole response, NUL-ended. */
static size_t read_response(struct client *c, char *buf, size_t cap)
{
	struct seg g;
	size_t n = 0;

	do {
		assert_true(pull(&g));
		assert_true(g.flags & TCPF_ACK);
		assert_int_equal(g.seq, c->ack);
		assert_int_equal(g.ack, c->seq);
		assert_true(n + g.len < cap);
		memcpy(buf + n, g.data, g.len);
		n += g.len;
		c->ack += (uint32_t)g.len;
		if (g.len)
			send_seg(c->port, c->seq, c->ack, TCPF_ACK, NULL, 0);
	} while (!(g.flags & TCPF_PSH));
	buf[n] = '\0';
	return n;
}

static void test_arp(void **state)
{
	uint8_t b[64] = { 0 }, r[MMDS_FRAME_MAX];
	size_t n;

	(void)state;
	memset(b, 0xff, 6);
	memcpy(b + 6, guest_mac, 6);
	put16(b + 12, 0x0806);
	put16(b + 14, 1);
	put16(b + 16, 0x0800);
	b[18] = 6;
	b[19] = 4;
	put16(b + 20, 1); /* request */
	memcpy(b + 22, guest_mac, 6);
	put32(b + 28, GUEST_IP);
	put32(b + 38, MMDS_IP);
	assert_true(mmds_stack_from_guest(s, b, 42, false, now));
	n = mmds_stack_to_guest(s, r, sizeof(r), now);
	assert_int_equal(n, 42);
	assert_memory_equal(r, guest_mac, 6);
	assert_memory_equal(r + 6, mmds_mac, 6);
	assert_int_equal(get16(r + 12), 0x0806);
	assert_int_equal(get16(r + 20), 2); /* reply */
	assert_memory_equal(r + 22, mmds_mac, 6);
	assert_int_equal(get32(r + 28), MMDS_IP);
	assert_memory_equal(r + 32, guest_mac, 6);
	assert_int_equal(get32(r + 38), GUEST_IP);
	expect_nothing();
	/* a reply, or a request for another address: no answer */
	put16(b + 20, 2);
	assert_true(mmds_stack_from_guest(s, b, 42, false, now));
	expect_nothing();
	put16(b + 20, 1);
	put32(b + 38, GUEST_IP + 1);
	assert_false(mmds_stack_from_guest(s, b, 42, false, now));
	/* too short to name a target */
	put32(b + 38, MMDS_IP);
	assert_false(mmds_stack_from_guest(s, b, 41, false, now));
	expect_nothing();
	/* a buffer smaller than a frame gets nothing */
	assert_true(mmds_stack_from_guest(s, b, 42, false, now));
	assert_int_equal(mmds_stack_to_guest(s, r, 100, now), 0);
	assert_int_equal(mmds_stack_to_guest(s, r, sizeof(r), now), 42);
}

static void test_not_mine(void **state)
{
	uint8_t b[128];
	size_t n = frame(b, 5000, 1, 0, TCPF_SYN, NULL, 0, &plain);

	(void)state;
	put32(b + 14 + 16, 0x0a000001); /* another destination */
	assert_false(mmds_stack_from_guest(s, b, n, false, now));
	put32(b + 14 + 16, MMDS_IP);
	put16(b + 12, 0x86dd); /* IPv6 */
	assert_false(mmds_stack_from_guest(s, b, n, false, now));
	put16(b + 12, 0x8100); /* VLAN */
	assert_false(mmds_stack_from_guest(s, b, n, false, now));
	assert_false(mmds_stack_from_guest(s, b, 13, false, now));
	assert_false(mmds_stack_from_guest(s, b, 0, false, now));
	expect_nothing();
}

static void test_conversation(void **state)
{
	static const char want[] =
		"HTTP/1.1 200 \r\nServer: microvm\r\nConnection: keep-alive\r\n"
		"Content-Type: text/plain\r\nContent-Length: 12\r\n\r\n"
		"ami-87654321";
	struct client c;
	struct seg g;
	char buf[1024];

	(void)state;
	handshake(&c, 4000);
	assert_int_equal(mmds_stack_connections(s), 1);
	/* a request split over three segments: each is ACKed */
	send_data(&c, "GET /latest/meta");
	expect_seg(&g, TCPF_ACK);
	assert_int_equal(g.ack, c.seq);
	assert_int_equal(g.window, MMDS_RCV_BUF - 16);
	send_data(&c, "-data/ami-id HTTP/1.1\r\n");
	expect_seg(&g, TCPF_ACK);
	assert_int_equal(g.ack, c.seq);
	send_data(&c, "Host: 169.254.169.254\r\n\r\n");
	read_response(&c, buf, sizeof(buf));
	assert_string_equal(buf, want);
	expect_nothing();
	/* keep-alive: a second request on the same connection */
	send_data(&c, "GET /latest HTTP/1.0\r\n\r\n");
	read_response(&c, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\r\n\r\nmeta-data/"));
	/* the guest closes: ACK and FIN together, then the last ACK */
	send_seg(c.port, c.seq, c.ack, TCPF_FIN | TCPF_ACK, NULL, 0);
	c.seq++;
	expect_seg(&g, TCPF_FIN | TCPF_ACK);
	assert_int_equal(g.seq, c.ack);
	assert_int_equal(g.ack, c.seq);
	send_seg(c.port, c.seq, c.ack + 1, TCPF_ACK, NULL, 0);
	assert_int_equal(mmds_stack_connections(s), 0);
	assert_int_equal(mmds_stack_deadline(s), UINT64_MAX);
	expect_nothing();
}

/* A 64 KiB value in MSS-sized segments, intact. */
static void test_large_response(void **state)
{
	cJSON *v = cJSON_CreateObject();
	char *big = malloc(65537), *buf = malloc(70000);
	const char *err;
	struct client c;
	size_t n;

	(void)state;
	memset(big, 'v', 65536);
	big[65536] = '\0';
	big[100] = 'w';
	cJSON_AddStringToObject(v, "big", big);
	assert_int_equal(mmds_store_patch(&m.store, v, &err), 0);
	cJSON_Delete(v);
	handshake(&c, 4100);
	send_data(&c, "GET /big HTTP/1.1\r\n\r\n");
	n = read_response(&c, buf, 70000);
	assert_non_null(strstr(buf, "Content-Length: 65536\r\n\r\n"));
	assert_string_equal(buf + n - 65536, big);
	send_seg(c.port, c.seq, c.ack, TCPF_RST, NULL, 0);
	assert_int_equal(mmds_stack_connections(s), 0);
	free(big);
	free(buf);
}

/* Part of a response is lost: after the timeout the MMDS goes back to the
 * first unACKed byte; an ACK for all of it (late) stops the resending. */
static void test_lost_segment(void **state)
{
	cJSON *v = cJSON_CreateObject();
	char mid[4001];
	const char *err;
	struct client c;
	struct seg s1, s2, s3, g;

	(void)state;
	memset(mid, 'm', 4000);
	mid[4000] = '\0';
	cJSON_AddStringToObject(v, "mid", mid);
	assert_int_equal(mmds_store_patch(&m.store, v, &err), 0);
	cJSON_Delete(v);
	handshake(&c, 4150);
	send_data(&c, "GET /mid HTTP/1.1\r\n\r\n");
	expect_seg(&s1, TCPF_ACK);
	expect_seg(&s2, TCPF_ACK);
	expect_seg(&s3, TCPF_ACK | TCPF_PSH);
	assert_int_equal(s1.len, 1460);
	assert_int_equal(s2.seq, s1.seq + 1460);
	expect_nothing();
	send_seg(c.port, c.seq, s2.seq, TCPF_ACK, NULL, 0); /* s2 was lost */
	expect_nothing();
	now = mmds_stack_deadline(s);
	expect_seg(&g, TCPF_ACK);
	assert_int_equal(g.seq, s2.seq);
	assert_memory_equal(g.data, s2.data, s2.len);
	send_seg(c.port, c.seq, s3.seq + (uint32_t)s3.len, TCPF_ACK, NULL, 0);
	expect_nothing();
	assert_int_equal(mmds_stack_deadline(s), UINT64_MAX);
	send_seg(c.port, c.seq, 0, TCPF_RST, NULL, 0);
}

/* A rewind: connections, their unsent answers and timers are gone, and
 * the old connection's next segment is a stray (RST); a new one works. */
static void test_reset_forgets_connections(void **state)
{
	struct client c, d;
	struct seg g;
	char buf[1024];

	(void)state;
	handshake(&c, 4100);
	handshake(&d, 4101);
	send_data(&c, "GET /latest HTTP/1.1\r\n\r\n"); /* answer unsent */
	assert_int_equal(mmds_stack_connections(s), 2);
	assert_true(mmds_stack_deadline(s) != UINT64_MAX);
	mmds_stack_reset(s);
	assert_int_equal(mmds_stack_connections(s), 0);
	assert_int_equal(mmds_stack_deadline(s), UINT64_MAX);
	expect_nothing();
	send_seg(d.port, d.seq, d.ack, TCPF_ACK, "x", 1);
	expect_seg(&g, TCPF_RST);
	assert_int_equal(g.seq, d.ack);
	expect_nothing();
	handshake(&c, 4100);
	send_data(&c, "GET /latest HTTP/1.1\r\n\r\n");
	read_response(&c, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\r\n\r\nmeta-data/"));
}

static void test_rst_for_strays(void **state)
{
	struct seg g;

	(void)state;
	send_seg(4200, 77, 12345, TCPF_ACK, "x", 1);
	expect_seg(&g, TCPF_RST);
	assert_int_equal(g.seq, 12345);
	assert_int_equal(g.port, 4200);
	send_seg(4200, 77, 0, TCPF_FIN, "ab", 2);
	expect_seg(&g, TCPF_RST | TCPF_ACK);
	assert_int_equal(g.seq, 0);
	assert_int_equal(g.ack, 77 + 2 + 1);
	send_seg(4200, 77, 0, TCPF_RST, NULL, 0); /* never a RST for a RST */
	send_seg(4200, 77, 0, TCPF_SYN | TCPF_FIN, NULL, 0); /* not a SYN */
	expect_seg(&g, TCPF_RST | TCPF_ACK);
	assert_int_equal(g.ack, 79);
	expect_nothing();
	assert_int_equal(mmds_stack_connections(s), 0);
}

static void test_retransmission(void **state)
{
	struct client c;
	struct seg g, first;
	uint8_t b[128];
	uint32_t isn;
	int i;

	(void)state;
	assert_true(mmds_stack_from_guest(
		s, b, frame(b, 4300, 5, 0, TCPF_SYN, NULL, 0, &plain), false,
		now));
	expect_seg(&g, TCPF_SYN | TCPF_ACK);
	isn = g.seq;
	assert_int_equal(g.mss, MMDS_MSS_MAX);
	assert_int_equal(mmds_stack_deadline(s), now + MMDS_RTO_MS);
	now += MMDS_RTO_MS - 1;
	expect_nothing();
	now++;
	expect_seg(&g, TCPF_SYN | TCPF_ACK); /* the same SYN-ACK again */
	assert_int_equal(g.seq, isn);
	assert_int_equal(mmds_stack_deadline(s), now + 2 * MMDS_RTO_MS);
	/* a retransmitted SYN gets the SYN-ACK again too */
	send_seg(4300, 5, 0, TCPF_SYN, NULL, 0);
	expect_seg(&g, TCPF_SYN | TCPF_ACK);
	assert_int_equal(g.seq, isn);
	c = (struct client){ 4300, 6, isn + 1 };
	send_seg(c.port, c.seq, c.ack, TCPF_ACK, NULL, 0);
	send_data(&c, "GET /latest/meta-data/ami-id HTTP/1.1\r\n\r\n");
	expect_seg(&first, TCPF_ACK | TCPF_PSH);
	/* not ACKed: sent again, the same bytes, with a doubling timeout */
	for (i = 0; i < MMDS_RTO_COUNT_MAX; i++) {
		now = mmds_stack_deadline(s);
		expect_seg(&g, TCPF_ACK | TCPF_PSH);
		assert_int_equal(g.seq, first.seq);
		assert_int_equal(g.len, first.len);
		assert_memory_equal(g.data, first.data, first.len);
		expect_nothing();
	}
	assert_int_equal(mmds_stack_deadline(s), now + MMDS_RTO_MAX_MS);
	now = mmds_stack_deadline(s); /* one too many: reset */
	expect_seg(&g, TCPF_RST | TCPF_ACK);
	assert_int_equal(mmds_stack_connections(s), 0);
	expect_nothing();
}

static void test_connection_limit(void **state)
{
	uint8_t b[128];
	struct seg g;
	int i;

	(void)state;
	for (i = 0; i < MMDS_MAX_CONNECTIONS + 1; i++)
		assert_true(mmds_stack_from_guest(s, b,
						  frame(b, (uint16_t)(5000 + i),
							100, 0, TCPF_SYN, NULL,
							0, &plain),
						  false, now));
	for (i = 0; i < MMDS_MAX_CONNECTIONS + 1; i++) {
		assert_true(pull(&g));
		if (g.port == 5000 + MMDS_MAX_CONNECTIONS) {
			assert_int_equal(g.flags, TCPF_RST | TCPF_ACK);
			assert_int_equal(g.ack, 101);
		} else {
			assert_int_equal(g.flags, TCPF_SYN | TCPF_ACK);
		}
	}
	expect_nothing();
	assert_int_equal(mmds_stack_connections(s), MMDS_MAX_CONNECTIONS);
	/* SYN-ACKs are retransmitted meanwhile; once the half-open ones are
	 * idle long enough, a new SYN takes a slot and the old one a RST */
	now += MMDS_EVICT_IDLE_MS + 1;
	while (pull(&g))
		;
	send_seg(6000, 100, 0, TCPF_SYN, NULL, 0);
	expect_seg(&g, TCPF_RST | TCPF_ACK);
	assert_true(g.port >= 5000 && g.port < 5000 + MMDS_MAX_CONNECTIONS);
	expect_seg(&g, TCPF_SYN | TCPF_ACK);
	assert_int_equal(g.port, 6000);
	assert_int_equal(mmds_stack_connections(s), MMDS_MAX_CONNECTIONS);
	/* every half-open connection gives up after its retransmissions */
	for (i = 0; i < 100 && mmds_stack_connections(s); i++) {
		now = mmds_stack_deadline(s);
		while (pull(&g))
			;
	}
	assert_int_equal(mmds_stack_connections(s), 0);
}

static void fix_ip_csum(uint8_t *f)
{
	put16(f + 14 + 10, 0);
	put16(f + 14 + 10, csum(f + 14, 20, 0));
}

static void test_hostile_frames(void **state)
{
	static const uint8_t first_byte[] = { 0x44, 0x4f, 0x65 };
	static const uint16_t frag[] = { 0x2000, 0x0001, 0x6000 };
	uint8_t b[256], c[256];
	struct tcp_opts opt = { .window = 1000, .mss = 536, .ihl_extra = 1 };
	size_t n, i;
	struct seg g;

	(void)state;
	/* every truncation of a valid SYN: never an answer */
	n = frame(b, 7000, 1, 0, TCPF_SYN, NULL, 0, &plain);
	for (i = 0; i < n; i++) {
		memcpy(c, b, i);
		assert_int_equal(mmds_stack_from_guest(s, c, i, false, now),
				 i >= 34);
		expect_nothing();
	}
	/* bad IPv4 checksum, bad TCP checksum */
	b[14 + 10] ^= 1;
	assert_true(mmds_stack_from_guest(s, b, n, false, now));
	expect_nothing();
	b[14 + 10] ^= 1;
	b[14 + 20 + 16] ^= 1;
	assert_true(mmds_stack_from_guest(s, b, n, false, now));
	expect_nothing();
	/* ... unless the guest left the TCP checksum to the device */
	assert_true(mmds_stack_from_guest(s, b, n, true, now));
	expect_seg(&g, TCPF_SYN | TCPF_ACK);
	send_seg(7000, 2, 0, TCPF_RST, NULL, 0);
	assert_int_equal(mmds_stack_connections(s), 0);
	/* IHL below 5, beyond the packet; a wrong version (a good checksum
	 * over the first 20 bytes each time) */
	n = frame(b, 7001, 1, 0, TCPF_SYN, NULL, 0, &plain);
	for (i = 0; i < 3; i++) {
		memcpy(c, b, n);
		c[14] = first_byte[i];
		fix_ip_csum(c);
		assert_true(mmds_stack_from_guest(s, c, n, false, now));
		expect_nothing();
	}
	/* total length beyond the frame; fragments; not TCP; another port */
	memcpy(c, b, n);
	put16(c + 14 + 2, (uint16_t)(n - 14 + 1));
	fix_ip_csum(c);
	assert_true(mmds_stack_from_guest(s, c, n, false, now));
	for (i = 0; i < 3; i++) {
		memcpy(c, b, n);
		put16(c + 14 + 6, frag[i]);
		fix_ip_csum(c);
		assert_true(mmds_stack_from_guest(s, c, n, false, now));
	}
	memcpy(c, b, n);
	c[14 + 9] = 17; /* UDP */
	fix_ip_csum(c);
	assert_true(mmds_stack_from_guest(s, c, n, false, now));
	memcpy(c, b, n);
	put16(c + 34 + 2, 81);
	assert_true(mmds_stack_from_guest(s, c, n, true, now));
	/* TCP data offset below 5 or beyond the segment */
	memcpy(c, b, n);
	c[34 + 12] = 0x40;
	assert_true(mmds_stack_from_guest(s, c, n, true, now));
	c[34 + 12] = 0x60;
	assert_true(mmds_stack_from_guest(s, c, n, true, now));
	expect_nothing();
	assert_int_equal(mmds_stack_connections(s), 0);
	/* IPv4 options, TCP options and Ethernet padding are fine */
	n = frame(b, 7002, 1, 0, TCPF_SYN, NULL, 0, &opt);
	memset(b + n, 0, 10);
	assert_true(mmds_stack_from_guest(s, b, n + 10, false, now));
	expect_seg(&g, TCPF_SYN | TCPF_ACK);
	send_seg(7002, 2, 0, TCPF_RST, NULL, 0);
	assert_int_equal(mmds_stack_connections(s), 0);
}

static void test_out_of_order_and_overlap(void **state)
{
	static const char req[] =
		"GET /latest/meta-data/ami-id HTTP/1.1\r\n\r\n";
	struct client c;
	struct seg g;
	char buf[1024];
	uint32_t base;

	(void)state;
	handshake(&c, 7100);
	base = c.seq;
	/* the second half first: dropped, a duplicate ACK */
	send_seg(c.port, base + 10, c.ack, TCPF_ACK, req + 10,
		 sizeof(req) - 11);
	expect_seg(&g, TCPF_ACK);
	assert_int_equal(g.ack, base);
	assert_int_equal(g.len, 0);
	/* the first 10 bytes, twice (duplicate) */
	send_seg(c.port, base, c.ack, TCPF_ACK, req, 10);
	send_seg(c.port, base, c.ack, TCPF_ACK, req, 10);
	expect_seg(&g, TCPF_ACK);
	assert_int_equal(g.ack, base + 10);
	expect_nothing();
	/* overlapping: bytes 5.. again with the rest */
	c.seq = base + 5;
	send_data(&c, req + 5);
	read_response(&c, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\r\n\r\nami-87654321"));
	send_seg(c.port, c.seq, c.ack, TCPF_RST, NULL, 0);
}

static void test_rst_in_every_state(void **state)
{
	struct tcp_opts closed = { .window = 0 };
	struct client c;
	uint8_t b[128];
	struct seg g;

	(void)state;
	/* half-open */
	assert_true(mmds_stack_from_guest(
		s, b, frame(b, 7200, 9, 0, TCPF_SYN, NULL, 0, &plain), false,
		now));
	expect_seg(&g, TCPF_SYN | TCPF_ACK);
	send_seg(7200, 10, 0, TCPF_RST, NULL, 0);
	assert_int_equal(mmds_stack_connections(s), 0);
	expect_nothing();
	/* established: outside the window is ignored, inside ends it */
	handshake(&c, 7201);
	send_seg(c.port, c.seq + 100000, 0, TCPF_RST, NULL, 0);
	assert_int_equal(mmds_stack_connections(s), 1);
	send_seg(c.port, c.seq + 3, 0, TCPF_RST, NULL, 0);
	assert_int_equal(mmds_stack_connections(s), 0);
	/* while answering */
	handshake(&c, 7202);
	send_data(&c, "GET /latest HTTP/1.1\r\n\r\n");
	send_seg(c.port, c.seq, 0, TCPF_RST, NULL, 0);
	assert_int_equal(mmds_stack_connections(s), 0);
	expect_nothing();
	/* a SYN on an established connection resets it */
	handshake(&c, 7203);
	send_seg(c.port, 1, 0, TCPF_SYN, NULL, 0);
	expect_seg(&g, TCPF_RST | TCPF_ACK);
	assert_int_equal(mmds_stack_connections(s), 0);
	/* closing: after the guest's FIN */
	handshake(&c, 7204);
	send_seg(c.port, c.seq, c.ack, TCPF_FIN | TCPF_ACK, NULL, 0);
	expect_seg(&g, TCPF_FIN | TCPF_ACK);
	send_seg(c.port, c.seq + 1, 0, TCPF_RST, NULL, 0);
	assert_int_equal(mmds_stack_connections(s), 0);
	expect_nothing();
	/* half-open, a RST outside the window: ignored */
	assert_true(mmds_stack_from_guest(
		s, b, frame(b, 7205, 9, 0, TCPF_SYN, NULL, 0, &plain), false,
		now));
	expect_seg(&g, TCPF_SYN | TCPF_ACK);
	send_seg(7205, 9 + 1 + MMDS_RCV_BUF + 1, 0, TCPF_RST, NULL, 0);
	send_seg(7205, 9, 0, TCPF_RST, NULL, 0); /* before it, too */
	assert_int_equal(mmds_stack_connections(s), 1);
	send_seg(7205, 10, 0, TCPF_RST | TCPF_ACK, NULL, 0);
	assert_int_equal(mmds_stack_connections(s), 0);
	/* the guest's FIN came with the request, the answer is in flight */
	handshake(&c, 7206);
	send_seg(c.port, c.seq, c.ack, TCPF_ACK | TCPF_FIN, REQ, strlen(REQ));
	expect_seg(&g, TCPF_ACK | TCPF_PSH);
	send_seg(c.port, c.seq + (uint32_t)strlen(REQ) + 1, 0, TCPF_RST, NULL,
		 0);
	assert_int_equal(mmds_stack_connections(s), 0);
	assert_int_equal(mmds_stack_deadline(s), UINT64_MAX);
	expect_nothing();
	/* the answer held back by a zero window, probes on the timer */
	handshake(&c, 7207);
	assert_true(
		mmds_stack_from_guest(s, b,
				      frame(b, c.port, c.seq, c.ack, TCPF_ACK,
					    REQ, strlen(REQ), &closed),
				      false, now));
	c.seq += (uint32_t)strlen(REQ);
	expect_seg(&g, TCPF_ACK);
	now = mmds_stack_deadline(s);
	expect_seg(&g, TCPF_ACK); /* a probe */
	send_seg(c.port, c.seq, 0, TCPF_RST, NULL, 0);
	assert_int_equal(mmds_stack_connections(s), 0);
	assert_int_equal(mmds_stack_deadline(s), UINT64_MAX);
	expect_nothing();
}

/* A guest that never reads: its window closes, the MMDS probes it on the
 * timer, and gives up when nothing changes. */
static void test_zero_window(void **state)
{
	struct client c;
	struct seg g;
	uint8_t b[256];
	struct tcp_opts closed = { .window = 0 };
	const char *req = "GET /latest/meta-data/ami-id HTTP/1.1\r\n\r\n";
	int i;

	(void)state;
	handshake(&c, 7300);
	assert_true(
		mmds_stack_from_guest(s, b,
				      frame(b, c.port, c.seq, c.ack, TCPF_ACK,
					    req, strlen(req), &closed),
				      false, now));
	c.seq += (uint32_t)strlen(req);
	expect_seg(&g, TCPF_ACK); /* the request ACKed, no data */
	assert_int_equal(g.len, 0);
	assert_int_equal(g.ack, c.seq);
	expect_nothing();
	now = mmds_stack_deadline(s);
	expect_seg(&g, TCPF_ACK); /* a probe: an old sequence number */
	assert_int_equal(g.len, 0);
	assert_int_equal(g.seq, c.ack - 1);
	/* the window opens: the answer flows */
	send_seg(c.port, c.seq, c.ack, TCPF_ACK, NULL, 0);
	expect_seg(&g, TCPF_ACK | TCPF_PSH);
	assert_int_equal(g.seq, c.ack);
	assert_non_null(memmem(g.data, g.len, "ami-87654321", 12));
	send_seg(c.port, c.seq, c.ack, TCPF_RST, NULL, 0);
	/* never opens: reset after the last probe */
	handshake(&c, 7301);
	assert_true(
		mmds_stack_from_guest(s, b,
				      frame(b, c.port, c.seq, c.ack, TCPF_ACK,
					    req, strlen(req), &closed),
				      false, now));
	for (i = 0; i <= MMDS_RTO_COUNT_MAX; i++) { /* ACK, then probes */
		while (pull(&g)) {
			assert_int_equal(g.len, 0);
			assert_int_equal(g.flags, TCPF_ACK);
		}
		now = mmds_stack_deadline(s);
	}
	expect_seg(&g, TCPF_RST | TCPF_ACK);
	assert_int_equal(mmds_stack_connections(s), 0);
}

static void test_request_too_long(void **state)
{
	struct client c;
	struct seg g;
	char junk[MMDS_RCV_BUF / 2 + 1];

	(void)state;
	memset(junk, 'a', sizeof(junk) - 1);
	junk[sizeof(junk) - 1] = '\0';
	handshake(&c, 7400);
	send_data(&c, junk);
	expect_seg(&g, TCPF_ACK);
	assert_int_equal(g.window, MMDS_RCV_BUF - strlen(junk));
	send_data(&c, junk); /* the buffer is full, no request in it */
	expect_seg(&g, TCPF_RST | TCPF_ACK);
	assert_int_equal(mmds_stack_connections(s), 0);
}

static void test_pipelined_requests(void **state)
{
	struct client c;
	char buf[1024];

	(void)state;
	handshake(&c, 7500);
	send_data(&c, "GET /latest/meta-data/ami-id HTTP/1.1\r\n\r\n"
		      "GET /latest/meta-data/reservation-id HTTP/1.1\r\n\r\n");
	read_response(&c, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\r\n\r\nami-87654321"));
	read_response(&c, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\r\n\r\nr-79054aef"));
	send_seg(c.port, c.seq, c.ack, TCPF_RST, NULL, 0);
	assert_int_equal(mmds_stack_connections(s), 0);
}

/* The guest's request again after it was answered (the guest missed the
 * ACK), an old part of it, duplicate ACKs, an ACK for bytes never sent, a FIN twice: each is
 * ACKed at most, nothing is answered twice, one FIN comes back. */
static void test_duplicates(void **state)
{
	struct client c;
	struct seg g;
	char buf[1024];
	int i;

	(void)state;
	handshake(&c, 7800);
	send_data(&c, REQ);
	read_response(&c, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\r\n\r\nami-87654321"));
	send_seg(c.port, c.seq - (uint32_t)strlen(REQ), c.ack,
		 TCPF_ACK | TCPF_PSH, REQ, strlen(REQ));
	expect_seg(&g, TCPF_ACK);
	assert_int_equal(g.len, 0);
	assert_int_equal(g.ack, c.seq);
	expect_nothing();
	send_seg(c.port, c.seq - (uint32_t)strlen(REQ), c.ack, TCPF_ACK, REQ,
		 10); /* an old part of it */
	expect_seg(&g, TCPF_ACK);
	assert_int_equal(g.len, 0);
	assert_int_equal(g.ack, c.seq);
	assert_int_equal(g.window, MMDS_RCV_BUF);
	expect_nothing();
	for (i = 0; i < 3; i++)
		send_seg(c.port, c.seq, c.ack, TCPF_ACK, NULL, 0);
	expect_nothing();
	send_seg(c.port, c.seq, c.ack + 5000, TCPF_ACK, NULL, 0);
	expect_seg(&g, TCPF_ACK);
	assert_int_equal(g.seq, c.ack);
	assert_int_equal(g.ack, c.seq);
	expect_nothing();
	send_seg(c.port, c.seq, c.ack, TCPF_FIN | TCPF_ACK, NULL, 0);
	c.seq++;
	expect_seg(&g, TCPF_FIN | TCPF_ACK);
	assert_int_equal(g.seq, c.ack);
	send_seg(c.port, c.seq - 1, c.ack, TCPF_FIN | TCPF_ACK, NULL, 0);
	expect_seg(&g, TCPF_ACK); /* the FIN again is ACKed, no second FIN */
	assert_int_equal(g.ack, c.seq);
	assert_int_equal(g.seq, c.ack + 1);
	expect_nothing();
	send_seg(c.port, c.seq, c.ack + 1, TCPF_ACK, NULL, 0);
	assert_int_equal(mmds_stack_connections(s), 0);
	expect_nothing();
}

/* The guest's ACK of the MMDS's FIN is lost: the FIN comes again on the
 * timer, the same sequence number, until it is ACKed. */
static void test_lost_fin_ack(void **state)
{
	struct client c;
	struct seg fin, g;

	(void)state;
	handshake(&c, 7900);
	send_seg(c.port, c.seq, c.ack, TCPF_FIN | TCPF_ACK, NULL, 0);
	c.seq++;
	expect_seg(&fin, TCPF_FIN | TCPF_ACK);
	expect_nothing();
	now = mmds_stack_deadline(s);
	expect_seg(&g, TCPF_FIN | TCPF_ACK);
	assert_int_equal(g.seq, fin.seq);
	assert_int_equal(g.ack, c.seq);
	send_seg(c.port, c.seq, fin.seq + 1, TCPF_ACK, NULL, 0);
	assert_int_equal(mmds_stack_connections(s), 0);
	assert_int_equal(mmds_stack_deadline(s), UINT64_MAX);
	expect_nothing();
}

/* The request and the guest's FIN in one segment (a client that shuts
 * its side at once): the whole answer, then the FIN. */
static void test_request_with_fin(void **state)
{
	struct client c;
	struct seg g;
	char buf[1024];

	(void)state;
	handshake(&c, 7700);
	send_seg(c.port, c.seq, c.ack, TCPF_ACK | TCPF_PSH | TCPF_FIN, REQ,
		 strlen(REQ));
	c.seq += (uint32_t)strlen(REQ) + 1;
	read_response(&c, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\r\n\r\nami-87654321"));
	expect_seg(&g, TCPF_FIN | TCPF_ACK);
	assert_int_equal(g.seq, c.ack);
	assert_int_equal(g.ack, c.seq);
	send_seg(c.port, c.seq, c.ack + 1, TCPF_ACK, NULL, 0);
	assert_int_equal(mmds_stack_connections(s), 0);
}

/* A client that never reads and keeps sending requests: its answer waits
 * for its window, its requests fill the receive buffer until the
 * advertised window is zero, nothing more is taken, and the connection is
 * reset after the last probe. */
static void test_never_reads_keeps_sending(void **state)
{
	struct tcp_opts closed = { .window = 0 };
	size_t len = strlen(REQ), buffered = 0;
	struct client c;
	struct seg g;
	uint8_t b[256];
	uint32_t base;
	int i;

	(void)state;
	handshake(&c, 7600);
	base = c.seq;
	for (i = 0; i < 100; i++) {
		assert_true(mmds_stack_from_guest(s, b,
						  frame(b, c.port, c.seq, c.ack,
							TCPF_ACK | TCPF_PSH,
							REQ, len, &closed),
						  false, now));
		expect_seg(&g, TCPF_ACK);
		assert_int_equal(g.len, 0);
		if (i > 0) /* the first request was taken and answered */
			buffered += (size_t)(g.ack - c.seq);
		assert_int_equal(g.window, MMDS_RCV_BUF - buffered);
		c.seq = g.ack;
		expect_nothing();
	}
	assert_int_equal(g.window, 0);
	assert_int_equal(c.seq, base + len + MMDS_RCV_BUF);
	for (i = 0; i < MMDS_RTO_COUNT_MAX; i++) {
		now = mmds_stack_deadline(s);
		expect_seg(&g, TCPF_ACK); /* a probe */
		assert_int_equal(g.len, 0);
		expect_nothing();
	}
	now = mmds_stack_deadline(s);
	expect_seg(&g, TCPF_RST | TCPF_ACK);
	assert_int_equal(mmds_stack_connections(s), 0);
}

/* Pulls every frame the stack has, counting SYN-ACKs and RSTs; none may
 * be for port `spared`. */
static void drain_counting(uint16_t spared, unsigned *synacks, unsigned *rsts)
{
	struct seg g;

	*synacks = *rsts = 0;
	while (pull(&g)) {
		assert_int_not_equal(g.port, spared);
		*synacks += g.flags == (TCPF_SYN | TCPF_ACK);
		*rsts += g.flags == (TCPF_RST | TCPF_ACK);
	}
}

/* A SYN flood at the connection cap while one connection is in use: the
 * flood takes the free slots, the rest of it gets at most
 * MMDS_MAX_PENDING_RSTS resets; once the half-open connections are idle
 * the next flood takes their slots, never the busy connection's, which
 * keeps getting its answers. */
static void test_syn_flood_spares_busy(void **state)
{
	struct client a;
	unsigned synacks, rsts;
	uint64_t quiet_until;
	char buf[1024];
	int i;

	(void)state;
	handshake(&a, 8000);
	for (i = 0; i < 100; i++)
		send_seg((uint16_t)(9000 + i), 1, 0, TCPF_SYN, NULL, 0);
	drain_counting(a.port, &synacks, &rsts);
	assert_int_equal(synacks, MMDS_MAX_CONNECTIONS - 1);
	assert_int_equal(rsts, MMDS_MAX_PENDING_RSTS);
	assert_int_equal(mmds_stack_connections(s), MMDS_MAX_CONNECTIONS);
	/* the half-open ones resend their SYN-ACKs while idle */
	quiet_until = now + MMDS_EVICT_IDLE_MS + 1;
	while (now < quiet_until) {
		now = mmds_stack_deadline(s) < quiet_until ?
			      mmds_stack_deadline(s) :
			      quiet_until;
		drain_counting(a.port, &synacks, &rsts);
		assert_int_equal(rsts, 0);
	}
	send_data(&a, REQ);
	read_response(&a, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\r\n\r\nami-87654321"));
	for (i = 0; i < 100; i++)
		send_seg((uint16_t)(9100 + i), 1, 0, TCPF_SYN, NULL, 0);
	drain_counting(a.port, &synacks, &rsts);
	assert_int_equal(synacks, MMDS_MAX_CONNECTIONS - 1);
	assert_int_equal(rsts, MMDS_MAX_PENDING_RSTS);
	assert_int_equal(mmds_stack_connections(s), MMDS_MAX_CONNECTIONS);
	send_data(&a, REQ);
	read_response(&a, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\r\n\r\nami-87654321"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_arp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_mine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conversation, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_large_response, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lost_segment, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rst_for_strays, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reset_forgets_connections,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_retransmission, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_connection_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hostile_frames, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order_and_overlap,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_rst_in_every_state, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_zero_window, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_request_too_long, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_requests, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_duplicates, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lost_fin_ack, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_request_with_fin, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_never_reads_keeps_sending,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_syn_flood_spares_busy,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
